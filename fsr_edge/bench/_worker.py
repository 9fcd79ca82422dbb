"""One measurement in its own process: ``python _worker.py SPEC.json RESULT.json``.

Run by file path, not as ``fsr_edge.bench._worker``: importing the package would import torch, and the ONNX
Runtime / OpenVINO rows would then carry torch's few hundred MB in their memory numbers. So this file imports
only the standard library, numpy, the torch-free target table (``fsr_edge.targets``) and the one runtime it
measures, through the same loader (``fsr_edge.runtimes``) that export verification uses (torch only for the
PyTorch, ExecuTorch and TensorRT rows, whose runtimes need it; the ExecuTorch row also opens its .pte through
``fsr_edge.safety``). ONNX files are checked (``fsr_edge.targets.check_file``) by the harness before this
process starts.

SPEC keys: runtime (pytorch or a target's runtime in fsr_edge.targets), path (artifact file) or model (bundled
name / .safetensors for pytorch), input_shape, threads, device (cpu|cuda), precision, runtime_config (the
manifest's), ov_hint, model_attrs (the session: fsr_edge.runtimes.Session.from_spec), iterations (fixed
count, or null: adaptive), min_iterations, max_iterations, time_cap_s, min_time_s, warmup_s, rel_ci (target
relative half width of the median's 95% CI), golden_input / golden_output (.bin raw float32 LE), eval_lr (.npy, N x C x H x W),
sr_out (.npy written with the outputs for eval_lr), paired (student specs, each with an id, timed alternately with
this model: ``_paired_ratios``) and paired_time_s.

Steady state is timed call by call with perf_counter_ns; a call returns when the output is on the host (CUDA is
synchronised), so every row measures the same thing: input in host memory -> output in host memory.
"""

from __future__ import annotations

import importlib
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

from fsr_edge.runtimes import Session  # torch-free: the target table and the loaders' names
from fsr_edge.targets import get as get_target
from fsr_edge.targets import load
from fsr_edge.timing import median_ci_in_order, summarize  # numpy and the standard library only


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


# ---------------------------------------------------------------- runtimes


def _load(spec: dict, **overrides):
    """(infer, info) for the spec's runtime: its row's loader in fsr_edge.targets, the one verification uses too,
    with the session the spec asks for. infer(x: float32 NCHW array) -> float32 NCHW array on the host."""
    spec = {**spec, **overrides}
    return load(spec["runtime"], spec.get("path") or spec.get("model"), Session.from_spec(spec))


# ---------------------------------------------------------------- timing


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
                and median_ci_in_order(times_ms)[1] <= rel_ci):
            stop_reason = f"median 95% CI within +-{rel_ci:.0%}"
            break
    out = {"warmup_iterations": warm, "stop_reason": stop_reason, **summarize(times_ms, rel_ci=None if fixed else rel_ci),
           "wall_s": time.perf_counter() - start}
    if spec.get("keep_times"):   # the harness merges passes of one row from their calls (fsr_edge.timing.merge_passes)
        out["times_ms"] = times_ms
    return out


def _paired_ratios(teacher_infer, teacher_x, spec) -> dict:
    """Student/teacher time ratios timed alternately in this one process: one teacher call, then 3 calls of each
    student in ``spec["paired"]`` (their median), one ratio per round. Whatever load the machine has at that moment
    slows both sides of a round, so the ratio holds still where two rows measured a minute apart would not.
    Rounds go on until every ratio's median CI (``_median_ci_in_order``) is within ``rel_ci``, or ``paired_time_s``
    and 8 rounds. Returns {student id: {time_ratio, time_ratio_ci, ci_rel, ci_reached, rounds, stop_reason}}."""
    students = []
    for partner in spec["paired"]:
        infer, _ = _load(partner, threads=spec["threads"])
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
        if rounds >= 10 and all(median_ci_in_order(r)[1] <= rel_ci for r in ratios.values()):
            stop_reason = f"ratio's 95% CI within +-{rel_ci:.0%}"
            break
        if time.perf_counter() - start > cap_s and rounds >= 8:
            stop_reason = f"time cap {cap_s:g} s"
            break
    out = {}
    for sid, r in ratios.items():
        ci, rel = median_ci_in_order(r)
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
    for module in get_target(runtime).packages:  # the .pte guard too: counted with the runtime's import
        importlib.import_module(module)
    res["import_s"] = time.perf_counter() - t0
    res["rss_after_import_mb"] = _rss_mb()

    t0 = time.perf_counter()
    infer, info = _load(spec)
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
