package org.fsredge.demo.core

import org.json.JSONArray
import org.json.JSONObject
import kotlin.math.ceil
import kotlin.math.floor
import kotlin.math.sqrt

/** Steady-state latency of N timed runs, computed as `fsr_edge/bench/_worker.py` computes it (milliseconds). */
data class LatencySummary(
    val iterations: Int,
    val warmupIterations: Int,
    val stopReason: String,
    val meanMs: Double,
    val stdMs: Double,
    val minMs: Double,
    val p50Ms: Double,
    val p90Ms: Double,
    val p99Ms: Double,
    val medianCi95Rel: Double,
    val wallS: Double,
) {
    fun toJson(): JSONObject {
        val k = BenchKeys.Latency
        return JSONObject()
            .put(k.WARMUP_ITERATIONS, warmupIterations).put(k.ITERATIONS, iterations).put(k.STOP_REASON, stopReason)
            .put(k.MEAN_MS, meanMs).put(k.STD_MS, stdMs).put(k.MIN_MS, minMs)
            .put(k.P50_MS, p50Ms).put(k.P90_MS, p90Ms).put(k.P99_MS, p99Ms)
            .put(k.MEDIAN_CI95_REL, medianCi95Rel).put(k.WALL_S, wallS)
    }

    companion object {
        /** The desktop harness needs 8 samples for a median confidence interval; so does the phone. */
        const val MIN_ITERATIONS = 8

        fun of(samplesMs: DoubleArray, warmupIterations: Int, stopReason: String, wallS: Double): LatencySummary {
            require(samplesMs.size >= MIN_ITERATIONS) { "need >= $MIN_ITERATIONS timed runs, got ${samplesMs.size}" }
            val s = samplesMs.sortedArray()
            val mean = s.average()
            val std = sqrt(s.sumOf { (it - mean) * (it - mean) } / s.size)  // numpy's np.std (population)
            return LatencySummary(s.size, warmupIterations, stopReason, mean, std, s[0], percentile(s, 50.0),
                percentile(s, 90.0), percentile(s, 99.0), medianCi95Rel(s), wallS)
        }

        /** numpy's default ("linear") percentile of an ascending array. */
        fun percentile(sorted: DoubleArray, q: Double): Double {
            val pos = q / 100.0 * (sorted.size - 1)
            val lo = floor(pos).toInt()
            val hi = ceil(pos).toInt()
            return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo)
        }

        /** Relative half width of the distribution-free 95% CI of the median (order statistics, normal approx.). */
        fun medianCi95Rel(sorted: DoubleArray): Double {
            val n = sorted.size
            val half = 1.96 * sqrt(n.toDouble()) / 2
            val lo = maxOf(0, floor(n / 2.0 - half).toInt())
            val hi = minOf(n - 1, ceil(n / 2.0 + half).toInt())
            val med = sorted[n / 2]
            return if (med > 0) (sorted[hi] - sorted[lo]) / (2 * med) else Double.MAX_VALUE
        }
    }
}

/** The phone, in the fields `fsr_edge.bench.machine.machine_info` reports for a desktop. */
data class DeviceInfo(
    val hostname: String,
    val platform: String,
    val cpuModel: String,
    val logicalCpus: Int,
    val usableCpus: Int,
    val cpuMhz: Double?,
)

/** What one artifact's benchmark measured on the phone; [status] "measured" or "failed" (then [reason] says why). */
data class BenchRow(
    val artifact: ManifestArtifact,
    val status: String,
    val reason: String? = null,
    val threads: Int = 0,
    val loadS: Double? = null,
    val firstInferenceMs: Double? = null,
    val outputShape: List<Int>? = null,
    val golden: GoldenCheck? = null,
    val latency: LatencySummary? = null,
    val peakRssMb: Double? = null,
    val rssBeforeLoadMb: Double? = null,
)

/**
 * A `bench.json` as `fsr-edge bench` writes it, for the rows a phone can measure: the student's ExecuTorch
 * artifacts. The teacher, the quality set, the GEMM peak and the photo pipeline are reported as not measured
 * (with the reason), never filled with numbers the phone did not take.
 */
class BenchReport(
    private val manifestJson: JSONObject,
    private val manifest: Manifest,
    private val device: DeviceInfo,
    private val threads: Int,
    private val createdAt: String,
    private val settings: Map<String, Any>,
    private val rows: List<BenchRow>,
) {
    fun toJson(): JSONObject {
        val k = BenchKeys.Report
        val nm = BenchKeys.NotMeasured
        val model = manifestJson.getJSONObject(ManifestKeys.Root.MODEL)
        val notOnPhone = "not measured on the phone"
        return JSONObject()
            .put(k.FSR_EDGE_VERSION, manifest.fsrEdgeVersion)
            .put(k.CREATED_AT, createdAt)
            .put(k.DIST, "android assets: ${MANIFEST_ASSET}")
            .put(k.MANIFEST_MODEL, model)
            .put(k.MANIFEST_CREATED_AT, manifestJson.opt(ManifestKeys.Root.CREATED_AT) ?: JSONObject.NULL)
            .put(k.MACHINE, machineJson())
            .put(k.THREADS, threads)
            .put(k.PEAKS, JSONObject()
                .put(BenchKeys.Peak.MEASURED, JSONObject().put(BenchKeys.Peak.GFLOPS, JSONObject.NULL)
                    .put(BenchKeys.Peak.HOW, "$notOnPhone (the app has no GEMM probe)"))
                .put(BenchKeys.Peak.THEORETICAL, JSONObject().put(BenchKeys.Peak.GFLOPS, JSONObject.NULL)
                    .put(BenchKeys.Peak.HOW, "$notOnPhone (CPU flags are not read)")))
            .put(k.SETTINGS, JSONObject(settings))
            .put(k.EVAL_SET, JSONObject().put(nm.SOURCE, "$notOnPhone (no quality set in the app)").put(nm.IMAGES, 0))
            .put(k.TEACHER, JSONObject.NULL)
            .put(k.ROWS, JSONArray().apply { rows.forEach { put(rowJson(it, model)) } })
            .put(k.RATIOS, JSONObject().put(nm.STATUS, "not measured")
                .put(nm.REASON, "the phone benchmarks the student's artifacts only; the teacher runs on desktop"))
            .put(k.CROSSCHECKS, JSONArray())
            .put(k.PHOTO_PIPELINE, JSONObject().put(nm.STATUS, "not measured")
                .put(nm.REASON, "the camera screen shows its per-stage times live; they are not in bench.json"))
    }

    private fun machineJson(): JSONObject {
        val m = BenchKeys.Machine
        return JSONObject()
            .put(m.HOSTNAME, device.hostname).put(m.PLATFORM, device.platform).put(m.CPU_MODEL, device.cpuModel)
            .put(m.LOGICAL_CPUS, device.logicalCpus).put(m.USABLE_CPUS, device.usableCpus)
            .put(m.CPU_MHZ, device.cpuMhz ?: JSONObject.NULL).put(m.ISA, JSONArray())
            .put(m.GPU, JSONObject.NULL).put(m.LOAD_AVG_1M, JSONObject.NULL)
    }

    private fun rowJson(row: BenchRow, model: JSONObject): JSONObject {
        val r = BenchKeys.Row
        val a = row.artifact
        val json = JSONObject()
            .put(r.ID, a.id).put(r.ROLE, "student").put(r.MODEL, model.optString(ManifestKeys.Model.NAME))
            .put(r.TARGET, a.target).put(r.RUNTIME, a.runtime.ifEmpty { a.target }).put(r.PRECISION, a.precision)
            .put(r.DEVICE, "cpu").put(r.FILE, a.file ?: JSONObject.NULL).put(r.SIZE_BYTES, a.sizeBytes)
            .put(r.VERIFICATION, a.verificationStatus ?: JSONObject.NULL)
            .put(r.STATUS, row.status).put(r.REASON, row.reason ?: JSONObject.NULL)
        if (row.status != STATUS_MEASURED) return json
        val latency = requireNotNull(row.latency) { "a measured row needs its latency" }
        val peak = requireNotNull(row.peakRssMb) { "a measured row needs its peak RSS" }
        val macs = model.optDouble(ManifestKeys.Model.MACS, Double.NaN)
        json.put(r.THREADS, row.threads).put(r.LOAD_S, row.loadS).put(r.FIRST_INFERENCE_MS, row.firstInferenceMs)
            .put(r.OUTPUT_SHAPE, JSONArray(row.outputShape ?: a.output.shape))
            .put(r.LATENCY, latency.toJson())
            .put(r.PEAK_RSS_MB, peak)
            .put(r.PEAK_RSS_DELTA_MB, peak - (row.rssBeforeLoadMb ?: peak))
            .put(r.GFLOPS_ACHIEVED, if (macs.isNaN()) JSONObject.NULL else 2 * macs / (latency.p50Ms / 1e3) / 1e9)
            .put(r.FRACTION_OF_MEASURED_PEAK, JSONObject.NULL)
        row.golden?.let {
            // JSON has no Infinity: an exact match is written as a large finite PSNR and the max error shows 0.
            json.put(r.GOLDEN_PSNR_DB, if (it.psnrDb.isInfinite()) EXACT_MATCH_PSNR_DB else it.psnrDb)
                .put(r.GOLDEN_MAX_ABS_ERR, it.maxAbsError.toDouble())
        }
        return json
    }

    companion object {
        const val MANIFEST_ASSET = "manifest.json"
        const val STATUS_MEASURED = "measured"
        const val STATUS_FAILED = "failed"
        const val EXACT_MATCH_PSNR_DB = 999.0
    }
}

/**
 * Resident set size in MiB for one `/proc/self/status` field: `VmHWM` (the peak, what the desktop harness reports
 * as peak_rss_mb) or `VmRSS` (now); null when the field is absent.
 */
fun procStatusMb(statusText: String, field: String): Double? {
    val line = statusText.lineSequence().firstOrNull { it.startsWith("$field:") } ?: return null
    val kb = line.removePrefix("$field:").trim().split(Regex("\\s+")).first().toDoubleOrNull() ?: return null
    return kb / 1024.0
}
