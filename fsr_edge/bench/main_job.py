"""The main job, ``fsr-edge pipeline``: export the bundled student to every target this machine can build, verify
each artifact, benchmark them against the bundled teacher, and leave ``dist/`` (artifacts + manifest.json) and
``dist/report/`` (report.md, bench.json, plots).

Steps, flat:
    1. resolve   the student (the export library's default: the bundled MSKD student) and the teacher
    2. export    every target and precision through fsr_edge.exporters (verification included)
    3. bench     every artifact, the student in PyTorch eager, the teacher and bicubic, each in its own process
    4. publish   the finished folder replaces ``dist/`` in one rename; a half-done run never leaves a half ``dist/``

A non-empty output folder that is not a previous pipeline output is refused unless ``overwrite=True``.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import ConfigError, FsrEdgeError  # noqa: F401  (FsrEdgeError: raised by the steps)

MARKER = ".fsr-edge-pipeline.json"  # marks a folder this job wrote, so a re-run may replace it


@dataclass(frozen=True)
class PipelineResult:
    out_dir: Path
    manifest: dict
    report: dict
    notes: list[str]
    seconds: float


def resolve_student(model: str | None) -> tuple[str, list[str]]:
    """The student to ship (the export library's default) and notes for the report: a fallback is never silent."""
    from ..exporters import DEFAULT_STUDENT, default_student

    if model:
        return model, []
    name = default_student()
    notes = [] if name == DEFAULT_STUDENT else [
        f"student: the default {DEFAULT_STUDENT!r} is not bundled in this build; used {name!r} instead"]
    return name, notes


def check_output_dir(out_dir: Path, *, overwrite: bool) -> None:
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise FsrEdgeError(f"{out_dir}: exists and is not a folder; choose another -o")
    if not any(out_dir.iterdir()) or (out_dir / MARKER).exists() or overwrite:
        return
    raise FsrEdgeError(f"{out_dir}: folder is not empty and was not written by fsr-edge pipeline; "
                       "choose another -o or pass --overwrite to replace it")


# --quick: the two fastest targets, fp32 and INT8 (still the whole flow: PTQ, verification, golden pairs)
QUICK_TARGETS, QUICK_PRECISIONS = ("onnx", "openvino"), ("fp32", "int8")


def _export(model: str, out_dir: Path, *, data: str | Path | None, quick: bool, say: Callable[[str], None]) -> dict:
    """Every target and precision the export library can build here, each verified; returns the manifest.

    TensorRT joins only where its engines can be built (CUDA + TensorRT): on a CPU machine its INT8 Q/DQ ONNX is
    exported and gated by ``fsr-edge export --targets tensorrt`` (ONNX Runtime as the stand-in), not by the main
    job, whose report is about what runs here."""
    from ..exporters import export_student
    from ..targets import TARGETS, unavailable

    if quick:
        kw = {"targets": QUICK_TARGETS, "precisions": QUICK_PRECISIONS}
    else:
        kw = {"targets": []}
        for t in TARGETS:
            why = unavailable(t.name) if t.build_needs_runtime else None
            if why:
                say(f"[export] {t.name}: {why}; its artifacts are not built here")
            else:
                kw["targets"].append(t.name)
    return export_student(model, out_dir, faces_dir=data, overwrite=True, progress=False,
                          log=lambda m: say(f"[export] {m}"), **kw)


def run_pipeline(out_dir: str | Path = "dist", *, model: str | None = None, teacher: str | None = None,
                 data: str | Path | None = None, quick: bool = False, overwrite: bool = False,
                 threads: int | None = None, photo_pipeline: bool | None = None, spin: bool = False,
                 say: Callable[[str], None] = print) -> PipelineResult:
    from . import BenchOptions, bench_dist, default_teacher

    t_start = time.perf_counter()
    out_dir = Path(out_dir)
    check_output_dir(out_dir, overwrite=overwrite)
    if threads is not None and threads < 1:
        raise ConfigError(f"--threads must be >= 1, got {threads}")
    student, notes = resolve_student(model)
    teacher = teacher or default_teacher()
    if teacher is None:
        notes.append("teacher: not available in this build (no bundled teacher); teacher rows and ratios not measured")
    for note in notes:
        say(f"[pipeline] note: {note}")

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        say(f"[pipeline] 1/3 export {student} to every target available here -> {out_dir}/")
        manifest = _export(student, work, data=data, quick=quick, say=say)  # its log says each artifact's status
        say(f"[pipeline] 2/3 benchmark against {teacher or 'no teacher'} -> {out_dir}/report/")
        options = BenchOptions(threads=threads, time_cap_s=1.0 if quick else 5.0, crosscheck_s=1.0 if quick else 10.0,
                               teacher_time_cap_s=10.0 if quick else 60.0, min_time_s=0.5 if quick else 2.0,
                               eval_limit=4 if quick else None, min_iterations=20 if quick else 50,
                               photo_pipeline=(not quick) if photo_pipeline is None else photo_pipeline, spin=spin)
        report = bench_dist(work, work / "report", teacher=teacher, data=data, options=options, progress=say,
                            notes=notes, dist_label=str(out_dir))
        (work / MARKER).write_text(json.dumps({
            "written_by": "fsr-edge pipeline", "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "student": student, "teacher": teacher, "quick": quick}, indent=1))
        say("[pipeline] 3/3 publish")
        _publish(work, out_dir)
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    return PipelineResult(out_dir, manifest, report, notes, time.perf_counter() - t_start)


def _publish(work: Path, out_dir: Path) -> None:
    """Replace ``out_dir`` by the finished ``work`` folder: rename aside, rename in, then delete the old one."""
    share_modes(work)
    old = None
    if out_dir.exists():
        old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
        os.replace(out_dir, old)
    try:
        os.replace(work, out_dir)
    except OSError:
        if old is not None:
            os.replace(old, out_dir)  # put the previous output back
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def share_modes(root: Path) -> None:
    """The usual modes under ``root`` (0777/0666 minus the umask: 0755 folders, 0644 files with umask 022):
    ``tempfile.mkdtemp`` makes the work folder owner-only (0700), and a published ``dist/`` is meant to be shared."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(root, 0o777 & ~mask)
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            os.chmod(os.path.join(folder, name), 0o777 & ~mask)
        for name in files:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                os.chmod(path, (0o777 if os.access(path, os.X_OK) else 0o666) & ~mask)
