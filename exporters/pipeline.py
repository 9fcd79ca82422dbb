"""Export one student to many targets, verify each artifact, write DIST/manifest.json (``fsr-edge export``).

Flat steps:
  1. load the student (bundled name or .safetensors) and the verification suite (val, wild and stress subsets
     of a face folder, or the bundled London val faces and their stress set: exporters/verify.py);
  2. INT8 provenance: a calibration set (given manifest, face folder's train split, or built-in), then the
     NNCF-quantized student for the Q/DQ targets: the bundled QAT state when it was made from exactly these
     weights, else PTQ;
  3. per target x precision: export -> load the saved file in its runtime -> verify vs fp32 PyTorch on every
     subset -> golden pair (the fp32 PyTorch output, with the tolerance the runtime must meet);
  4. manifest (schema: exporters/manifest.py), with the sha256 of every file each artifact needs.
A lock file in the output folder refuses a second export into it while one is running.
"""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path
from typing import Iterable

import numpy as np
import torch
from torch import nn

from fsr_edge import targets as target_table
from fsr_edge.errors import ConfigError, FsrEdgeError
from fsr_edge.targets import TargetSpec

from . import manifest as mf
from .artifact import INPUT_NAME, OUTPUT_NAME, Artifact, Precision, RuntimeUnavailable, io_contract, load_runner
from .verify import GOLDEN_MIN_PSNR_DB, VerificationSuite, psnr, val_psnr, verify

# The student the toolkit ships (chosen in docs/results/student_study.md); a build without its weights uses the
# first registered fallback.
DEFAULT_STUDENT = "sesr-x8"
FALLBACK_STUDENTS = ("mskd-x8", "pisr-x8")


def default_student() -> str:
    """DEFAULT_STUDENT if this install registers it, else the first registered fallback."""
    from fsr_edge.models import list_models

    registered = set(list_models(pretrained=True))
    for name in (DEFAULT_STUDENT, *FALLBACK_STUDENTS):
        if name in registered:
            return name
    raise ConfigError(f"no bundled student registered ({DEFAULT_STUDENT} or {', '.join(FALLBACK_STUDENTS)}); "
                      "pass --model PATH.safetensors")


def bundled_qat_path(model_name: str) -> Path:
    from fsr_edge.models._registry import WEIGHTS_DIR

    return WEIGHTS_DIR / f"{model_name}_qat_int8.safetensors"


def export_student(model: str, out_dir: str | Path, *, targets: Iterable[str] | None = None,
                   precisions: Iterable[str] = ("fp32", "fp16", "int8"), faces_dir: str | Path | None = None,
                   calibration: str | Path | None = None, calibration_size: int = 32, qat_state: str = "auto",
                   shapes: list[tuple[int, int]] | None = None, overwrite: bool = False, seed: int = 0,
                   progress: bool = True, log=print) -> dict:
    """Run the whole export (see the module docstring); returns the manifest dict (also written to disk).
    ``targets``: names of rows of fsr_edge.targets.TARGETS (default: every row)."""
    out_dir = Path(out_dir)
    if (out_dir / "manifest.json").exists() and not overwrite:
        raise ConfigError(f"{out_dir}/manifest.json exists; choose another -o or pass --overwrite")
    with mf.export_lock(out_dir):
        return _export_student(model, out_dir, targets=targets, precisions=precisions, faces_dir=faces_dir,
                               calibration=calibration, calibration_size=calibration_size, qat_state=qat_state,
                               shapes=shapes, seed=seed, log=log)


def _export_student(model: str, out_dir: Path, *, targets, precisions, faces_dir, calibration, calibration_size: int,
                    qat_state: str, shapes, seed: int, log) -> dict:
    from fsr_edge.models import load_model
    from fsr_edge.profile import count_macs, count_params

    from .quantize import weights_sha256

    targets = [target_table.get(t) for t in (target_table.names() if targets is None else targets)]
    precisions = [Precision(p) for p in precisions]
    student = load_model(model).eval()
    arch, kwargs = _arch_of(model)
    lr_size = int(student.lr_size)
    shapes = shapes or [(lr_size, lr_size)]

    # 1. verification suite
    suite = verification_suite(faces_dir, scale=student.scale, hr_size=lr_size * student.scale, seed=seed)
    for subset in suite.subsets:
        log(f"verification faces: {subset.name}: {subset.source}")
    references = suite.references(student)
    check_finite(references, what=f"the fp32 PyTorch student {model}")
    fp32_val = val_psnr(references[0], suite.subsets[0])
    sha = weights_sha256(student)
    manifest = mf.new_manifest(
        model={"name": str(model), "arch": arch, "kwargs": kwargs, "scale": int(student.scale), "lr_size": lr_size,
               "params": count_params(student), "macs": count_macs(student, (1, 3, lr_size, lr_size)),
               "weights_sha256": sha, "fp32_val_psnr_db": None if fp32_val is None else round(fp32_val, 4)},
        calibration=None, verification_faces=suite.describe())

    # 2. INT8 provenance
    calib = qmodel = None
    if Precision.INT8 in precisions and any(Precision.INT8.value in t.precisions for t in targets):
        calib, calib_info = _calibration(calibration, faces_dir, calibration_size, student, seed)
        qmodel, q_info = _quantized_student(model, student, calib, sha, qat_state, log)
        manifest["calibration"] = {**calib_info, **q_info}
        log(f"INT8: {q_info['method']} ({calib_info['source']}, {calib_info['size']} images)")

    # 3. artifacts
    out_dir.mkdir(parents=True, exist_ok=True)
    for h, w in shapes:
        example = torch.zeros(1, 3, h, w)
        shape_suite = suite if (h, w) == (lr_size, lr_size) else suite.resized(h)
        shape_refs = references if shape_suite is suite else shape_suite.references(student)
        for target in targets:
            for precision in precisions:
                if precision.value not in target.precisions:
                    continue
                entry = _one(target, precision, student, example, out_dir, calib, qmodel, shape_suite, shape_refs,
                             log)
                manifest["artifacts"].append(entry)
                mf.write_manifest(out_dir, manifest)   # partial progress is visible and valid
    mf.write_manifest(out_dir, manifest)
    return manifest


def verification_suite(faces_dir, *, scale: int, hr_size: int, seed: int = 0) -> VerificationSuite:
    """The face folder's val/wild/stress suite when it has a manifest, else the bundled faces' suite."""
    if faces_dir is not None and (Path(faces_dir) / "manifest.csv").exists():
        return VerificationSuite.from_faces(faces_dir, scale=scale, hr_size=hr_size, seed=seed)
    return VerificationSuite.bundled(scale=scale, hr_size=hr_size, seed=seed)


def check_finite(outputs: list[list[np.ndarray]], *, what: str) -> None:
    """Refuse a model whose outputs hold NaN or Inf (e.g. NaN weights in a well-formed file)."""
    if not all(np.all(np.isfinite(o)) for subset in outputs for o in subset):
        raise FsrEdgeError(f"{what} gives non-finite outputs (NaN or Inf); its weights are corrupt or diverged")


def _one(target: TargetSpec, precision: Precision, student: nn.Module, example: torch.Tensor, out_dir: Path, calib,
         qmodel, suite: VerificationSuite, references: list[list[np.ndarray]], log) -> dict:
    shape = "x".join(str(s) for s in example.shape[-2:])
    art_id = f"{target.name}-{precision.value}-{shape}"
    out_shape = tuple(references[0][0].shape)
    entry = {"id": art_id, "target": target.name, "precision": precision.value, "file": None, "extra_files": [],
             "sha256": None, "size_bytes": None, "runtime": None, "runtime_config": {},
             "inputs": [io_contract(INPUT_NAME, tuple(example.shape))],
             "outputs": [io_contract(OUTPUT_NAME, out_shape)], "tool_versions": {}, "delegation": None,
             "golden": None, "export_status": "exported", "export_reason": "", "notes": []}
    try:
        art: Artifact = target.export_module().export(student, example, out_dir, precision=precision,
                                                      calibration=calib, quantized_model=qmodel,
                                                      name=f"{target.name}/model")
    except ImportError as err:
        reason = f"{err.name or err} is not installed; pip install 'fsr_edge[{target.extra}]'"
        entry.update(export_status="not_available", export_reason=reason)
        entry["verification"] = verify(None, None, suite, references, skip_reason=reason)[0]
        log(f"  {art_id:<26} skipped: {reason}")
        return entry
    except (FsrEdgeError, RuntimeError, ValueError, AssertionError) as err:
        reason = f"{type(err).__name__}: {str(err).splitlines()[0][:300] if str(err) else ''}"
        entry.update(export_status="error", export_reason=reason)
        entry["verification"] = {**verify(None, None, suite, references)[0], "status": "failed",
                                 "reason": f"export failed: {reason}"}
        if "FSR_EDGE_DEBUG" in __import__("os").environ:
            traceback.print_exc(file=sys.stderr)
        log(f"  {art_id:<26} FAILED to export: {reason}")
        return entry
    entry.update(runtime=art.runtime, runtime_config=art.runtime_config, tool_versions=art.tool_versions,
                 delegation=art.delegation, notes=art.notes, export_status=art.status, export_reason=art.reason)
    runner, skip = None, art.reason
    if art.file is not None:
        rel = Path(art.file).relative_to(out_dir)
        entry["file"] = rel.as_posix()
        entry["extra_files"] = [Path(p).relative_to(out_dir).as_posix() for p in art.extra_files]
        entry["sha256"], entry["size_bytes"] = mf.digest(art.file)
        if art.extra_files:
            entry["size_bytes"] += sum(mf.digest(p)[1] for p in art.extra_files)
        try:
            runner = load_runner(art)
        except RuntimeUnavailable as err:
            skip = str(err)
    record, outputs = verify(art, runner, suite, references, skip_reason=skip)
    # Golden pair: the first verification face and the fp32 PyTorch student's output on it, with the tolerance
    # this precision must meet, so any runtime (the Android app included) self-checks against the reference,
    # not against its own earlier output. The artifact itself must meet that tolerance here.
    golden_min = GOLDEN_MIN_PSNR_DB[precision]
    if outputs is not None:
        golden_psnr = psnr(outputs[0], references[0][0])
        record["golden_psnr_db"] = round(golden_psnr, 4)
        if golden_psnr < golden_min:
            record.update(status="failed", reason="; ".join(filter(None, [
                record["reason"], f"golden face: {golden_psnr:.2f} dB vs the reference < {golden_min} dB"])))
    entry["verification"] = record
    base = (out_dir / entry["file"]).parent if entry["file"] else out_dir / target.name
    stem = f"{art_id}.golden"
    gin = mf.write_golden(suite.golden_input, base / f"{stem}_input.bin")
    gout = mf.write_golden(references[0][0], base / f"{stem}_output.bin")
    rel_base = base.relative_to(out_dir).as_posix()
    gin["file"], gout["file"] = f"{rel_base}/{gin['file']}", f"{rel_base}/{gout['file']}"
    entry["golden"] = {"input": gin, "output": gout, "output_source": "pytorch_fp32_reference",
                       "min_psnr_db": golden_min}
    entry["files"] = mf.file_digests(out_dir, mf.artifact_paths(entry))
    v = record
    log(f"  {art_id:<26} {v['status']:<7} vs-ref min {_f(v['psnr_vs_reference_db'])} dB  drop mean "
        f"{_f(v['drop_db'], 3)} worst {_f(v.get('worst_drop_db'), 3)} dB  {(art.delegation or {}).get('summary', '')}"
        f"{'  (' + v['reason'] + ')' if v['reason'] else ''}")
    return entry


def _calibration(calibration, faces_dir, size: int, student: nn.Module, seed: int):
    from fsr_edge.calibration import CalibrationSet, builtin_calibration_set, select_calibration_set

    hr_size = student.lr_size * student.scale
    if calibration is not None:
        calib = CalibrationSet.load(calibration)
        source = str(calibration)
    elif faces_dir is not None and Path(faces_dir).exists():
        calib = select_calibration_set(faces_dir, size=size, seed=seed, split="train", scale=student.scale,
                                       hr_size=hr_size)
        source = f"{faces_dir} (train split)"
    else:
        calib = builtin_calibration_set(size=8, seed=seed, scale=student.scale, hr_size=hr_size)
        source = "built-in skimage astronaut crops (no face data given)"
    if calib.scale != student.scale:
        raise ConfigError(f"calibration set is for x{calib.scale}, the student is x{student.scale}")
    return calib, {"source": source, "size": len(calib), "seed": calib.seed, "rule": calib.rule,
                   "degradation_mode": calib.mode}


def _quantized_student(model_name: str, student: nn.Module, calib, sha: str, qat_state: str, log):
    """The NNCF fake-quantized student: a QAT state when one fits these exact weights, else PTQ now."""
    from .quantize import load_quantized, quantize_ptq

    candidates = []
    if qat_state not in ("auto", "none"):
        candidates.append(Path(qat_state))
    elif qat_state == "auto":
        candidates.append(bundled_qat_path(str(model_name)))
    for path in candidates:
        if not path.exists():
            if qat_state not in ("auto", "none"):
                raise ConfigError(f"{path}: QAT state file not found")
            continue
        qmodel, meta = load_quantized(path)
        if meta.get("base_weights_sha256") != sha:
            msg = (f"{path.name} was trained from other fp32 weights (sha256 {meta.get('base_weights_sha256', '?')[:12]}"
                   f" != {sha[:12]}); using PTQ instead")
            if qat_state != "auto":
                raise ConfigError(f"{path}: {msg}")
            log(f"note: {msg}")
            continue
        return qmodel, {"method": f"QAT state {path.name}", "qat_state": path.name,
                        "qat": json.loads(meta.get("qat", "{}"))}
    return quantize_ptq(student, calib), {"method": "NNCF PTQ", "qat_state": None}


def _arch_of(model: str) -> tuple[str, dict]:
    from fsr_edge.models import list_models, pretrained_spec, read_metadata

    if model in list_models(pretrained=True):
        spec = pretrained_spec(model)
        return spec.arch, dict(spec.kwargs)
    meta = read_metadata(model)
    return meta.get("fsr_edge.arch", "?"), json.loads(meta.get("fsr_edge.kwargs", "{}"))


def _f(x, nd: int = 2) -> str:
    return "  -  " if x is None else f"{x:.{nd}f}"
