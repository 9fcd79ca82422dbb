package org.fsredge.demo.core

/**
 * Every JSON key the app reads from `manifest.json` or writes into a bench result, in one place.
 *
 * Each nested object is one JSON object of the file (its path is in the KDoc); the Python test
 * `tests/test_android_contract.py` parses this file and asserts that every key exists at that path in a
 * manifest really exported by `fsr-edge export`, and that the bench keys are exactly those `fsr-edge bench` writes.
 * Nothing else in the app may spell a JSON key as a literal.
 */
object ManifestKeys {
    /** path: manifest */
    object Root {
        const val FORMAT = "format"
        const val VERSION = "fsr_edge_version"
        const val CREATED_AT = "created_at"
        const val MODEL = "model"
        const val ARTIFACTS = "artifacts"
    }

    /** path: manifest.model */
    object Model {
        const val NAME = "name"
        const val ARCH = "arch"
        const val SCALE = "scale"
        const val LR_SIZE = "lr_size"
        const val PARAMS = "params"
        const val MACS = "macs"
    }

    /** path: manifest.artifacts[] */
    object Artifact {
        const val ID = "id"
        const val TARGET = "target"
        const val PRECISION = "precision"
        const val FILE = "file"
        const val SHA256 = "sha256"
        const val SIZE_BYTES = "size_bytes"
        const val RUNTIME = "runtime"
        const val INPUTS = "inputs"
        const val OUTPUTS = "outputs"
        const val GOLDEN = "golden"
        const val VERIFICATION = "verification"
        const val EXPORT_STATUS = "export_status"
    }

    /** path: manifest.artifacts[].inputs[] and manifest.artifacts[].outputs[] */
    object TensorSpec {
        const val NAME = "name"
        const val SHAPE = "shape"
        const val DTYPE = "dtype"
        const val LAYOUT = "layout"
        const val CHANNEL_ORDER = "channel_order"
        const val VALUE_RANGE = "value_range"
        const val NORMALIZATION = "normalization"
    }

    /** path: manifest.artifacts[].inputs[].normalization, only where it is an object rather than "none" */
    object NormalizationSpec {
        const val MEAN = "mean"
        const val STD = "std"
    }

    /** path: manifest.artifacts[].golden */
    object Golden {
        const val INPUT = "input"
        const val OUTPUT = "output"
        const val MIN_PSNR_DB = "min_psnr_db"
    }

    /** path: manifest.artifacts[].golden.input and manifest.artifacts[].golden.output */
    object GoldenFile {
        const val FILE = "file"
        const val SHAPE = "shape"
        const val DTYPE = "dtype"
        const val BYTE_ORDER = "byte_order"
    }

    /** path: manifest.artifacts[].verification */
    object Verification {
        const val STATUS = "status"
    }
}

/**
 * Keys of the `bench.json` the phone writes: the file `fsr-edge bench -o DIR` writes (top level, `rows[]`,
 * `rows[].latency`), so `fsr-edge report` reads and merges a phone's file like a desktop's. The Python contract test
 * feeds a file written by [BenchReport] to `fsr_edge.bench.report` (load, render, merge).
 */
object BenchKeys {
    /** path: bench.json */
    object Report {
        const val FSR_EDGE_VERSION = "fsr_edge_version"
        const val CREATED_AT = "created_at"
        const val DIST = "dist"
        const val MANIFEST_MODEL = "manifest_model"
        const val MANIFEST_CREATED_AT = "manifest_created_at"
        const val MACHINE = "machine"
        const val THREADS = "threads"
        const val PEAKS = "peaks"
        const val SETTINGS = "settings"
        const val EVAL_SET = "eval_set"
        const val TEACHER = "teacher"
        const val ROWS = "rows"
        const val RATIOS = "ratios"
        const val CROSSCHECKS = "crosschecks"
        const val PHOTO_PIPELINE = "photo_pipeline"
    }

    /** path: bench.json .machine */
    object Machine {
        const val HOSTNAME = "hostname"
        const val PLATFORM = "platform"
        const val CPU_MODEL = "cpu_model"
        const val LOGICAL_CPUS = "logical_cpus"
        const val USABLE_CPUS = "usable_cpus"
        const val CPU_MHZ = "cpu_mhz"
        const val ISA = "isa"
        const val GPU = "gpu"
        const val LOAD_AVG_1M = "load_avg_1m"
    }

    /** path: bench.json .peaks.measured and .peaks.theoretical */
    object Peak {
        const val MEASURED = "measured"
        const val THEORETICAL = "theoretical"
        const val GFLOPS = "gflops"
        const val HOW = "how"
    }

    /** path: bench.json .rows[] */
    object Row {
        const val ID = "id"
        const val ROLE = "role"
        const val MODEL = "model"
        const val TARGET = "target"
        const val RUNTIME = "runtime"
        const val PRECISION = "precision"
        const val DEVICE = "device"
        const val FILE = "file"
        const val SIZE_BYTES = "size_bytes"
        const val VERIFICATION = "verification"
        const val STATUS = "status"
        const val REASON = "reason"
        const val THREADS = "threads"
        const val LOAD_S = "load_s"
        const val FIRST_INFERENCE_MS = "first_inference_ms"
        const val OUTPUT_SHAPE = "output_shape"
        const val GOLDEN_PSNR_DB = "golden_psnr_db"
        const val GOLDEN_MAX_ABS_ERR = "golden_max_abs_err"
        const val LATENCY = "latency"
        const val PEAK_RSS_MB = "peak_rss_mb"
        const val PEAK_RSS_DELTA_MB = "peak_rss_delta_mb"
        const val GFLOPS_ACHIEVED = "gflops_achieved"
        const val FRACTION_OF_MEASURED_PEAK = "fraction_of_measured_peak"
    }

    /** path: bench.json .rows[].latency */
    object Latency {
        const val WARMUP_ITERATIONS = "warmup_iterations"
        const val ITERATIONS = "iterations"
        const val STOP_REASON = "stop_reason"
        const val MEAN_MS = "mean_ms"
        const val STD_MS = "std_ms"
        const val MIN_MS = "min_ms"
        const val P50_MS = "p50_ms"
        const val P90_MS = "p90_ms"
        const val P99_MS = "p99_ms"
        const val MEDIAN_CI95_REL = "median_ci95_rel"
        const val WALL_S = "wall_s"
    }

    /** path: bench.json .ratios, .eval_set, .photo_pipeline (the parts the phone reports as not measured) */
    object NotMeasured {
        const val STATUS = "status"
        const val REASON = "reason"
        const val SOURCE = "source"
        const val IMAGES = "images"
    }
}
