"""One measurement in its own process: ``python _worker.py SPEC.json RESULT.json``.

Run by file path, not as ``fsr_edge.bench._worker``: importing the package would import torch, and the ONNX
Runtime / OpenVINO rows would then carry torch's few hundred MB in their memory numbers. So this file imports
only the standard library, numpy and the one runtime it measures (torch only for the PyTorch and ExecuTorch
rows, whose runtimes need it; the ExecuTorch row also opens its .pte through ``fsr_edge.safety``). ONNX files are
checked with ``fsr_edge.safety.check_onnx_file`` by the harness before this process starts.

SPEC keys: runtime (pytorch|onnxruntime|openvino|executorch|tensorrt|coreml), path (artifact file) or model
(bundled name / .safetensors for pytorch), input_shape, threads, device (cpu|cuda), precision, iterations (fixed
count, or null: adaptive), min_iterations, max_iterations, time_cap_s, min_time_s, warmup_s, rel_ci (target
relative half width of the median's 95% CI), golden_input / golden_output (.bin raw float32 LE), eval_lr (.npy, N x C x H x W),
sr_out (.npy written with the outputs for eval_lr), paired (student specs, each with an id, timed alternately with
this model: ``_paired_ratios``) and paired_time_s.

Steady state is timed call by call with perf_counter_ns; a call returns when the output is on the host (CUDA is
synchronised), so every row measures the same thing: input in host memory -> output in host memory.
"""

from __future__ import annotations

import json
import math
import os
import resource
import sys
import time
import traceback

if sys.path and sys.path[0] == os.path.dirname(os.path.abspath(__file__)):
    sys.path.pop(0)  # this folder's module names must not shadow anything

import numpy as np


def _status_mb(field: str) -> float | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _rss_mb() -> float | None:
    return _status_mb("VmRSS")


def _ru_maxrss_mb() -> float:
    # KiB on Linux, bytes on macOS
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _peak_rss_mb() -> float:
    """Peak RSS of this process image. On Linux ru_maxrss also keeps the parent's RSS at fork time (the forked
    copy's page tables count until exec), so a worker started from a big parent would report the parent's size;
    VmHWM is the high-water mark of this image only."""
    hwm = _status_mb("VmHWM")
    return hwm if hwm is not None else _ru_maxrss_mb()


# ---------------------------------------------------------------- runtimes: each returns (infer, info)
# infer(x: np.ndarray float32 NCHW) -> np.ndarray float32 NCHW, output on the host


def _load_pytorch(spec):
    import torch

    torch.set_num_threads(spec["threads"])
    from fsr_edge.models import load_model

    model = load_model(spec.get("model") or spec["path"])
    # e.g. {"detect_landmarks": true}: a model setting that its weights file does not carry (a training run's
    # teacher was saved with the landmark step off; at inference it is on)
    for name, value in (spec.get("model_attrs") or {}).items():
        if not hasattr(model, name):
            raise ValueError(f"model_attrs: {type(model).__name__} has no attribute {name!r}")
        setattr(model, name, value)
    device = torch.device(spec.get("device", "cpu"))
    dtype = torch.float16 if spec.get("precision") == "fp16" else torch.float32
    model = model.to(device=device, dtype=dtype).eval()
    info = {"torch": torch.__version__, "device": str(device)}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        torch.cuda.reset_peak_memory_stats(device)

    @torch.inference_mode()
    def infer(x):
        y = model(torch.from_numpy(x).to(device=device, dtype=dtype))
        return y.float().cpu().numpy()  # .cpu() synchronises CUDA

    return infer, info


def _load_onnxruntime(spec):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = spec["threads"]
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if not spec.get("spin"):
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    providers = ["CPUExecutionProvider"]
    if spec.get("device") == "cuda":
        providers = [p for p in ("TensorrtExecutionProvider", "CUDAExecutionProvider")
                     if p in ort.get_available_providers()] + providers
    sess = ort.InferenceSession(spec["path"], opts, providers=providers)
    name = sess.get_inputs()[0].name
    info = {"onnxruntime": ort.__version__, "providers": sess.get_providers(), "allow_spinning": bool(spec.get("spin"))}
    return (lambda x: sess.run(None, {name: x})[0]), info


def _load_openvino(spec):
    import openvino as ov

    core = ov.Core()
    config = {"PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": "1", "INFERENCE_NUM_THREADS": str(spec["threads"]),
              "ENABLE_CPU_PINNING": bool(spec.get("spin"))}
    if spec.get("ov_hint"):  # the manifest's runtime_config (e.g. f32: this CPU would default to bf16)
        config["INFERENCE_PRECISION_HINT"] = spec["ov_hint"]
    compiled = core.compile_model(spec["path"], spec.get("ov_device", "CPU"), config)
    request = compiled.create_infer_request()
    info = {"openvino": ov.get_version(),
            "execution_precision": _ov_type_name(compiled.get_property("INFERENCE_PRECISION_HINT")),
            "threads_effective": int(compiled.get_property("INFERENCE_NUM_THREADS")),
            "cpu_pinning": bool(compiled.get_property("ENABLE_CPU_PINNING"))}

    def infer(x):
        # shared in/out: the Python binding would otherwise copy the input and every output on top of the one
        # copy out below (measured: ~0.9 ms per call for this x8 output, +29% vs benchmark_app at 3 ms)
        request.infer({0: x}, share_inputs=True, share_outputs=True)
        return request.get_output_tensor(0).data.copy()

    return infer, info


def _ov_type_name(t) -> str:
    return t.get_type_name() if hasattr(t, "get_type_name") else str(t)  # "f32", "bf16", ...


def _load_executorch(spec):
    import torch

    from executorch.extension.pybindings import portable_lib

    portable_lib._unsafe_reset_threadpool(spec["threads"])  # XNNPACK's pool: the only thread knob it has
    from executorch.runtime import Runtime

    from fsr_edge.safety import load_executorch_method  # torch is loaded already: no extra memory in the numbers

    method = load_executorch_method(spec["path"])  # verified: a corrupt .pte is refused, not executed
    info = {"executorch_threads": int(portable_lib._threadpool_get_thread_count()),
            "backends": sorted(Runtime.get().backend_registry.registered_backend_names)}

    def infer(x):
        return method.execute([torch.from_numpy(x)])[0].numpy()

    return infer, info


def _load_tensorrt(spec):
    # Behind checks: only reached where CUDA and TensorRT exist (Jetson, desktop GPU).
    import tensorrt as trt
    import torch

    logger = trt.Logger(trt.Logger.WARNING)
    with open(spec["path"], "rb") as f:
        engine = trt.Runtime(logger).deserialize_cuda_engine(f.read())
    context = engine.create_execution_context()
    names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
    in_name = next(n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT)
    out_name = next(n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT)
    out_shape = tuple(engine.get_tensor_shape(out_name))
    out_buf = torch.empty(out_shape, dtype=torch.float32, device="cuda")
    stream = torch.cuda.Stream()
    torch.cuda.reset_peak_memory_stats()

    def infer(x):
        x_dev = torch.from_numpy(x).cuda()
        context.set_tensor_address(in_name, x_dev.data_ptr())
        context.set_tensor_address(out_name, out_buf.data_ptr())
        context.execute_async_v3(stream.cuda_stream)
        stream.synchronize()
        return out_buf.cpu().numpy()

    return infer, {"tensorrt": trt.__version__, "gpu": torch.cuda.get_device_name()}


def _load_coreml(spec):
    import coremltools as ct

    if sys.platform != "darwin":
        raise RuntimeError("Core ML prediction needs macOS")
    model = ct.models.MLModel(spec["path"])
    in_name = model.get_spec().description.input[0].name
    out_name = model.get_spec().description.output[0].name
    return (lambda x: np.asarray(model.predict({in_name: x})[out_name])), {"coremltools": ct.__version__}


_LOADERS = {"pytorch": _load_pytorch, "onnxruntime": _load_onnxruntime, "openvino": _load_openvino,
            "executorch": _load_executorch, "tensorrt": _load_tensorrt, "coreml": _load_coreml}

_RUNTIME_MODULES = {"pytorch": "torch", "onnxruntime": "onnxruntime", "openvino": "openvino",
                    "executorch": "executorch.runtime", "tensorrt": "tensorrt", "coreml": "coremltools"}


# ---------------------------------------------------------------- timing


def _median_ci(sorted_ms: list[float]) -> tuple[float, float] | None:
    """Distribution-free 95% CI of the median: the order statistics n/2 -+ 1.96 sqrt(n)/2 (the binomial(n, 1/2)
    count below the median, normal approximation); None with fewer than 8 samples."""
    n = len(sorted_ms)
    if n < 8:
        return None
    half = 1.96 * math.sqrt(n) / 2
    lo, hi = max(0, math.floor(n / 2 - half)), min(n - 1, math.ceil(n / 2 + half))
    return sorted_ms[lo], sorted_ms[hi]


def _median_ci_rel(sorted_ms: list[float]) -> float:
    """Relative half width of the median's 95% CI (``_median_ci``): (hi - lo) / (2 median)."""
    ci = _median_ci(sorted_ms)
    med = sorted_ms[len(sorted_ms) // 2] if sorted_ms else 0.0
    return (ci[1] - ci[0]) / (2 * med) if ci and med > 0 else math.inf


def _batch_median_ci(times_ms: list[float], batches: int = 10) -> tuple[float, float] | None:
    """95% CI of the median from the medians of consecutive batches of calls, in the order they ran: on a shared
    machine the load drifts, so neighbouring calls are alike and the order-statistic CI (which assumes independent
    calls) is too narrow; batch medians carry the drift. Ranks j and k+1-j of k batch medians, j the largest with
    P(Binomial(k, 1/2) < j) <= 2.5%. None with fewer than 6 batches of 5 calls."""
    k = min(batches, len(times_ms) // 5)
    if k < 6:
        return None
    size = len(times_ms) // k
    medians = sorted(float(np.median(times_ms[i * size:(i + 1) * size])) for i in range(k))
    j, below = 0, 0.0
    while below + math.comb(k, j) / 2**k <= 0.025:
        below += math.comb(k, j) / 2**k
        j += 1
    j = max(j, 1)
    return medians[j - 1], medians[k - j]


def _median_ci_in_order(times_ms: list[float]) -> tuple[tuple[float, float] | None, float]:
    """The median's 95% CI (and its relative half width) from calls in the order they ran: the span of the
    order-statistic CI and the batch-median CI, so neither independent noise nor drift is left out."""
    s = sorted(times_ms)
    cis = [ci for ci in (_median_ci(s), _batch_median_ci(times_ms)) if ci]
    if not cis:
        return None, math.inf
    lo, hi = min(c[0] for c in cis), max(c[1] for c in cis)
    med = s[len(s) // 2]
    return (lo, hi), ((hi - lo) / (2 * med) if med > 0 else math.inf)


def _steady_state(infer, x, spec) -> dict:
    warm_end = time.perf_counter() + spec.get("warmup_s", 0.5)
    warm = 0
    while warm < 3 or (time.perf_counter() < warm_end and warm < 200):
        infer(x)
        warm += 1
    fixed = spec.get("iterations")
    cap_s = spec.get("time_cap_s", 8.0)
    min_n, max_n = spec.get("min_iterations", 30), spec.get("max_iterations", 20000)
    rel_ci = spec.get("rel_ci", 0.01)
    min_time_s = spec.get("min_time_s", 0.0)  # spread the calls over time, past a brief lull in the load
    times_ms: list[float] = []
    start = time.perf_counter()
    stop_reason = "fixed iteration count"
    while True:
        t0 = time.perf_counter_ns()
        infer(x)
        times_ms.append((time.perf_counter_ns() - t0) / 1e6)
        n = len(times_ms)
        if fixed:
            if n >= fixed:
                break
            continue
        if n >= max_n:
            stop_reason = "iteration cap"
            break
        if time.perf_counter() - start > cap_s and n >= min(min_n, 8):
            stop_reason = f"time cap {cap_s:g} s"
            break
        # slow rows (the teacher) are checked after every call, fast ones every 10 calls
        if (n >= min_n and (n % 10 == 0 or n < 200) and time.perf_counter() - start >= min_time_s
                and _median_ci_in_order(times_ms)[1] <= rel_ci):
            stop_reason = f"median 95% CI within +-{rel_ci:.0%}"
            break
    s = sorted(times_ms)
    n = len(s)
    pct = lambda q: float(np.percentile(s, q))  # noqa: E731
    ci, ci_rel = _median_ci_in_order(times_ms)
    return {"warmup_iterations": warm, "iterations": n, "stop_reason": stop_reason,
            "mean_ms": float(np.mean(s)), "std_ms": float(np.std(s)), "min_ms": s[0],
            "p50_ms": pct(50), "p90_ms": pct(90), "p99_ms": pct(99),
            "median_ci95_ms": list(ci) if ci else None, "median_ci95_rel": ci_rel,
            "ci_target_rel": None if fixed else rel_ci, "ci_reached": (not fixed) and ci_rel <= rel_ci,
            "wall_s": time.perf_counter() - start}


def _paired_ratios(teacher_infer, teacher_x, spec) -> dict:
    """Student/teacher time ratios timed alternately in this one process: one teacher call, then 3 calls of each
    student in ``spec["paired"]`` (their median), one ratio per round. Whatever load the machine has at that moment
    slows both sides of a round, so the ratio holds still where two rows measured a minute apart would not.
    Rounds go on until every ratio's median CI (``_median_ci_in_order``) is within ``rel_ci``, or ``paired_time_s``
    and 8 rounds. Returns {student id: {time_ratio, time_ratio_ci, ci_rel, ci_reached, rounds, stop_reason}}."""
    students = []
    for partner in spec["paired"]:
        __import__(_RUNTIME_MODULES[partner["runtime"]])
        infer, _ = _LOADERS[partner["runtime"]]({**partner, "threads": spec["threads"]})
        x = np.ascontiguousarray(np.random.default_rng(0).random(tuple(partner["input_shape"]), dtype=np.float32))
        for _ in range(3):
            infer(x)
        students.append((partner["id"], infer, x))
    rel_ci, cap_s = spec.get("rel_ci", 0.01), spec.get("paired_time_s", 20.0)
    ratios: dict[str, list[float]] = {sid: [] for sid, _, _ in students}
    start, stop_reason = time.perf_counter(), ""
    while True:
        t0 = time.perf_counter_ns()
        teacher_infer(teacher_x)
        teacher_ns = time.perf_counter_ns() - t0
        for sid, infer, x in students:
            calls = []
            for _ in range(3):
                t0 = time.perf_counter_ns()
                infer(x)
                calls.append(time.perf_counter_ns() - t0)
            ratios[sid].append(float(np.median(calls)) / teacher_ns)
        rounds = len(ratios[students[0][0]])
        if rounds >= 10 and all(_median_ci_in_order(r)[1] <= rel_ci for r in ratios.values()):
            stop_reason = f"ratio's 95% CI within +-{rel_ci:.0%}"
            break
        if time.perf_counter() - start > cap_s and rounds >= 8:
            stop_reason = f"time cap {cap_s:g} s"
            break
    out = {}
    for sid, r in ratios.items():
        ci, rel = _median_ci_in_order(r)
        out[sid] = {"time_ratio": float(np.median(r)), "time_ratio_ci": list(ci) if ci else None, "ci_rel": rel,
                    "ci_reached": rel <= rel_ci, "rounds": len(r), "stop_reason": stop_reason}
    return out


def _read_bin(path, shape):
    return np.fromfile(path, dtype="<f4").reshape(shape)


def _psnr(a, b):
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * math.log10(1.0 / mse)


def measure(spec: dict) -> dict:
    runtime = spec["runtime"]
    res: dict = {"runtime": runtime, "threads": spec["threads"], "pid": os.getpid()}
    res["rss_start_mb"] = _rss_mb()
    t0 = time.perf_counter()
    __import__(_RUNTIME_MODULES[runtime])
    if runtime == "executorch":
        import fsr_edge.safety  # noqa: F401  the .pte guard; counted with the runtime's import, not its load
    res["import_s"] = time.perf_counter() - t0
    res["rss_after_import_mb"] = _rss_mb()

    t0 = time.perf_counter()
    infer, info = _LOADERS[runtime](spec)
    res["load_s"] = time.perf_counter() - t0
    res["runtime_info"] = info
    res["rss_after_load_mb"] = _rss_mb()

    shape = tuple(spec["input_shape"])
    if spec.get("golden_input"):
        x = _read_bin(spec["golden_input"], shape)
    else:
        x = np.random.default_rng(0).random(shape, dtype=np.float32)
    x = np.ascontiguousarray(x, dtype=np.float32)
    t0 = time.perf_counter()
    y = infer(x)
    res["first_inference_ms"] = (time.perf_counter() - t0) * 1e3
    res["output_shape"] = list(y.shape)
    if spec.get("golden_output"):
        golden = _read_bin(spec["golden_output"], y.shape)
        res["golden_psnr_db"] = _psnr(y, golden)
        res["golden_max_abs_err"] = float(np.max(np.abs(y - golden)))

    res["latency"] = _steady_state(infer, x, spec)
    # Memory is read before the quality pass so the eval images do not count.
    res["peak_rss_mb"] = _peak_rss_mb()
    res["ru_maxrss_mb"] = _ru_maxrss_mb()
    res["load_avg_1m_end"] = os.getloadavg()[0]
    res["rss_end_mb"] = _rss_mb()
    res["peak_rss_delta_mb"] = res["peak_rss_mb"] - res["rss_after_import_mb"]
    if runtime in ("pytorch", "tensorrt") and (spec.get("device") == "cuda" or runtime == "tensorrt"):
        import torch  # torch's allocator sees these runtimes' GPU memory (not ONNX Runtime's own arena)

        res["gpu_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20

    if spec.get("paired"):  # after the memory reading: the students loaded here must not count in the teacher's
        res["paired"] = _paired_ratios(infer, x, spec)

    if spec.get("eval_lr"):
        lr = np.load(spec["eval_lr"])
        t0 = time.perf_counter()
        sr = np.stack([infer(np.ascontiguousarray(lr[i:i + 1]))[0] for i in range(len(lr))])
        res["eval_images"] = len(lr)
        res["eval_s"] = time.perf_counter() - t0
        np.save(spec["sr_out"], sr.astype(np.float32))
    return res


def main(argv: list[str]) -> int:
    spec_path, result_path = argv[1], argv[2]
    with open(spec_path) as f:
        spec = json.load(f)
    try:
        res = {"status": "ok", **measure(spec)}
    except Exception as err:  # reported as a failed row; the parent shows the reason
        res = {"status": "failed", "reason": f"{type(err).__name__}: {str(err).splitlines()[0][:300] if str(err) else ''}",
               "traceback": traceback.format_exc()[-2000:]}
    tmp = result_path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(res, f, indent=1, default=float)
    os.replace(tmp, result_path)
    return 0 if res["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
