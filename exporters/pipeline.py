"""Export one student to many targets, verify each artifact, write DIST/manifest.json (``fsr-edge export``).

Flat steps:
  1. load the student (bundled name or .safetensors) and the evaluation faces (val split, or built-in);
  2. INT8 provenance: a calibration set (given manifest, face folder, or built-in), then the NNCF-quantized
     student for the Q/DQ targets: the bundled QAT state when it was made from exactly these weights, else PTQ;
  3. per target x precision: export -> load the saved file in its runtime -> verify vs fp32 PyTorch -> golden pair;
  4. manifest (schema: exporters/manifest.py).
"""

from __future__ import annotations

import json
import shutil
import sys
import traceback
from pathlib import Path
from typing import Iterable

import numpy as np
import torch
from torch import nn

from fsr_edge.errors import ConfigError, FsrEdgeError

from . import manifest as mf
from .artifact import (INPUT_NAME, OUTPUT_NAME, SUPPORTED, Artifact, Precision, RuntimeUnavailable, Target,
                       io_contract)
from .verify import GOLDEN_MIN_PSNR_DB, EvalSet, reference_outputs, val_psnr, verify

# The student the toolkit ships; until the MSKD student is registered the PISR student stands in.
DEFAULT_STUDENT = "mskd-x8"
FALLBACK_STUDENTS = ("pisr-x8",)
EXTRAS = {Target.ONNX: "onnx", Target.OPENVINO: "openvino", Target.EXECUTORCH: "executorch",
          Target.COREML: "coreml", Target.TENSORRT: "tensorrt"}


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


def export_student(model: str, out_dir: str | Path, *, targets: Iterable[str] = tuple(t.value for t in Target),
                   precisions: Iterable[str] = ("fp32", "fp16", "int8"), faces_dir: str | Path | None = None,
                   calibration: str | Path | None = None, calibration_size: int = 32, qat_state: str = "auto",
                   shapes: list[tuple[int, int]] | None = None, overwrite: bool = False, seed: int = 0,
                   progress: bool = True, log=print) -> dict:
    """Run the whole export (see the module docstring); returns the manifest dict (also written to disk)."""
    from fsr_edge.models import load_model, pretrained_spec, read_metadata
    from fsr_edge.profile import count_macs, count_params

    from .quantize import weights_sha256

    out_dir = Path(out_dir)
    if (out_dir / "manifest.json").exists() and not overwrite:
        raise ConfigError(f"{out_dir}/manifest.json exists; choose another -o or pass --overwrite")
    targets = [Target(t) for t in targets]
    precisions = [Precision(p) for p in precisions]
    student = load_model(model).eval()
    arch, kwargs = _arch_of(model)
    lr_size = int(student.lr_size)
    shapes = shapes or [(lr_size, lr_size)]

    # 1. evaluation faces
    if faces_dir is not None and (Path(faces_dir) / "manifest.csv").exists():
        eval_set = EvalSet.from_faces(faces_dir, split="val", scale=student.scale, hr_size=lr_size * student.scale,
                                      seed=seed)
    else:
        eval_set = EvalSet.builtin(scale=student.scale, hr_size=lr_size * student.scale, seed=seed)
    log(f"verification faces: {eval_set.source}")
    reference = reference_outputs(student, eval_set)
    fp32_val = val_psnr(reference, eval_set)
    sha = weights_sha256(student)
    manifest = mf.new_manifest(
        model={"name": str(model), "arch": arch, "kwargs": kwargs, "scale": int(student.scale), "lr_size": lr_size,
               "params": count_params(student), "macs": count_macs(student, (1, 3, lr_size, lr_size)),
               "weights_sha256": sha, "fp32_val_psnr_db": None if fp32_val is None else round(fp32_val, 4)},
        calibration=None, verification_faces=eval_set.source)

    # 2. INT8 provenance
    calib = qmodel = None
    if Precision.INT8 in precisions and any(Precision.INT8 in SUPPORTED[t] for t in targets):
        calib, calib_info = _calibration(calibration, faces_dir, calibration_size, student, seed)
        qmodel, q_info = _quantized_student(model, student, calib, sha, qat_state, log)
        manifest["calibration"] = {**calib_info, **q_info}
        log(f"INT8: {q_info['method']} ({calib_info['source']}, {calib_info['size']} images)")

    # 3. artifacts
    out_dir.mkdir(parents=True, exist_ok=True)
    for h, w in shapes:
        example = torch.zeros(1, 3, h, w)
        shape_eval = eval_set if (h, w) == (lr_size, lr_size) else eval_set.resized(h)
        shape_ref = reference if shape_eval is eval_set else reference_outputs(student, shape_eval)
        shape_fp32_val = fp32_val if shape_eval is eval_set else None
        for target in targets:
            for precision in precisions:
                if precision not in SUPPORTED[target]:
                    continue
                entry = _one(target, precision, student, example, out_dir, calib, qmodel, shape_eval, shape_ref,
                             shape_fp32_val, log)
                manifest["artifacts"].append(entry)
                mf.write_manifest(out_dir, manifest)   # partial progress is visible and valid
    mf.write_manifest(out_dir, manifest)
    return manifest


def _one(target: Target, precision: Precision, student: nn.Module, example: torch.Tensor, out_dir: Path, calib,
         qmodel, eval_set: EvalSet, reference: list[np.ndarray], fp32_val: float | None, log) -> dict:
    import importlib

    shape = "x".join(str(s) for s in example.shape[-2:])
    art_id = f"{target.value}-{precision.value}-{shape}"
    out_shape = tuple(reference[0].shape)
    entry = {"id": art_id, "target": target.value, "precision": precision.value, "file": None, "extra_files": [],
             "sha256": None, "size_bytes": None, "runtime": None, "runtime_config": {},
             "inputs": [io_contract(INPUT_NAME, tuple(example.shape))],
             "outputs": [io_contract(OUTPUT_NAME, out_shape)], "tool_versions": {}, "delegation": None,
             "golden": None, "export_status": "exported", "export_reason": "", "notes": []}
    try:
        module = importlib.import_module(f"fsr_edge.exporters.{target.value}")
        art: Artifact = module.export(student, example, out_dir, precision=precision, calibration=calib,
                                      quantized_model=qmodel, name=f"{target.value}/model")
    except ImportError as err:
        reason = f"{err.name or err} is not installed; pip install 'fsr_edge[{EXTRAS[target]}]'"
        entry.update(export_status="not_available", export_reason=reason)
        entry["verification"] = _skipped(reason, fp32_val, eval_set)
        log(f"  {art_id:<26} skipped: {reason}")
        return entry
    except (FsrEdgeError, RuntimeError, ValueError, AssertionError) as err:
        reason = f"{type(err).__name__}: {str(err).splitlines()[0][:300] if str(err) else ''}"
        entry.update(export_status="error", export_reason=reason)
        entry["verification"] = {**_skipped("", fp32_val, eval_set), "status": "failed",
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
            runner = module.load_runner(art)
        except RuntimeUnavailable as err:
            skip = str(err)
    record, outputs = verify(art, runner, eval_set, reference, fp32_val_psnr_db=fp32_val, skip_reason=skip)
    entry["verification"] = record
    # Golden pair: the first evaluation face and this artifact's own output (the fp32 reference where the
    # runtime cannot run here), so any runtime, the Android app included, can self-check.
    base = (out_dir / entry["file"]).parent if entry["file"] else out_dir / target.value
    stem = f"{art_id}.golden"
    gin = mf.write_golden(eval_set.lr_faces[0], base / f"{stem}_input.bin")
    gout_arr, source = (outputs[0], "artifact") if outputs is not None else (reference[0], "pytorch_fp32_reference")
    gout = mf.write_golden(gout_arr, base / f"{stem}_output.bin")
    rel_base = base.relative_to(out_dir).as_posix()
    gin["file"], gout["file"] = f"{rel_base}/{gin['file']}", f"{rel_base}/{gout['file']}"
    entry["golden"] = {"input": gin, "output": gout, "output_source": source,
                       "min_psnr_db": GOLDEN_MIN_PSNR_DB[precision]}
    v = record
    log(f"  {art_id:<26} {v['status']:<7} vs-ref {_f(v['psnr_vs_reference_db'])} dB  val {_f(v['val_psnr_db'])} dB"
        f"  drop {_f(v['drop_db'], 3)}  {(art.delegation or {}).get('summary', '')}"
        f"{'  (' + v['reason'] + ')' if v['reason'] else ''}")
    return entry


def _skipped(reason: str, fp32_val, eval_set: EvalSet) -> dict:
    return {"status": "skipped", "reason": reason, "psnr_vs_reference_db": None, "val_psnr_db": None,
            "fp32_val_psnr_db": fp32_val, "drop_db": None, "faces": eval_set.source}


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
