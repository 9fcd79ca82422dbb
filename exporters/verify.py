"""Verify an exported artifact against the fp32 PyTorch student, on real faces.

Two numbers per artifact, both from the saved file run in its own runtime:
  - ``psnr_vs_reference_db``: the artifact's raw output vs the fp32 PyTorch output on the same LR faces (pooled
    over the set). fp32 / fp16 artifacts must reach ``MIN_PSNR_VS_REFERENCE_DB``.
  - ``val_psnr_db``: the artifact's output (clamped to [0, 1], as a user sees it) vs the ground-truth HR faces;
    ``drop_db = fp32_val_psnr_db - val_psnr_db``. INT8 artifacts must keep ``drop_db <= MAX_INT8_DROP_DB``.
An artifact that misses its bar is marked ``failed`` with the reason; one whose runtime does not exist here is
``skipped`` with the reason. PSNR is scikit-image's ``peak_signal_noise_ratio`` with data range 1.

Evaluation faces: the val split of a face folder (``EvalSet.from_faces``), degraded blind (MSKD eq. 8) with a
fixed seed; without face data, the built-in astronaut crops (``EvalSet.builtin``), and the manifest says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from .artifact import Artifact, Precision, RuntimeUnavailable

MIN_PSNR_VS_REFERENCE_DB = 45.0
MAX_INT8_DROP_DB = 0.1
PSNR_CAP_DB = 200.0   # bit-identical outputs: JSON has no infinity
# What a device re-running the golden input must reach against the stored golden output (different CPUs round
# INT8 and fp16 differently, so the bar is below the verification bar).
GOLDEN_MIN_PSNR_DB = {Precision.FP32: 45.0, Precision.FP16: 35.0, Precision.INT8: 30.0}


@dataclass
class EvalSet:
    """LR faces (1, 3, h, w) and their HR faces (1, 3, H, W), float32 numpy, RGB [0, 1]."""

    lr_faces: list[np.ndarray]
    hr_faces: list[np.ndarray]
    names: list[str]
    source: str           # human-readable: which faces, which degradation

    @classmethod
    def from_faces(cls, root: str | Path, *, split: str = "val", scale: int = 8, hr_size: int = 256,
                   mode: str = "blind", seed: int = 0, limit: int | None = None) -> "EvalSet":
        from fsr_edge.data import FaceDataset

        ds = FaceDataset(root, split=split, hr_size=hr_size, scale=scale, degradation=mode, train=False, seed=seed,
                         preload=False, progress=False)
        n = len(ds) if limit is None else min(limit, len(ds))
        items = [ds[i] for i in range(n)]
        return cls([it["lr_face"][None].numpy() for it in items], [it["hr_face"][None].numpy() for it in items],
                   [it["name"] for it in items], f"{root} split={split}, {n} faces, degradation={mode} seed={seed}")

    @classmethod
    def builtin(cls, *, scale: int = 8, hr_size: int = 256, mode: str = "blind", seed: int = 0) -> "EvalSet":
        from fsr_edge.calibration import builtin_calibration_set

        calib = builtin_calibration_set(size=8, seed=seed + 1000, scale=scale, hr_size=hr_size, mode=mode)
        hr = calib.hr_faces()
        lr = calib.lr_faces()
        return cls([x.numpy() for x in lr], [h[None].numpy() for h in hr], [it.path for it in calib.items],
                   f"built-in skimage astronaut crops (no face data found), {len(lr)} variants, "
                   f"degradation={mode} seed={seed + 1000}")

    def resized(self, lr_size: int) -> "EvalSet":
        """The same faces at another LR size (for extra export shapes): reference comparison only."""
        from fsr_edge.data import resize_bicubic

        lr = [resize_bicubic(torch.from_numpy(x), lr_size).numpy() for x in self.lr_faces]
        return EvalSet(lr, [], self.names, self.source + f", LR resized to {lr_size}x{lr_size}")


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    from skimage.metrics import peak_signal_noise_ratio

    if np.array_equal(a, b):
        return PSNR_CAP_DB
    return min(PSNR_CAP_DB, float(peak_signal_noise_ratio(b.astype(np.float64), a.astype(np.float64), data_range=1.0)))


def reference_outputs(model: nn.Module, eval_set: EvalSet) -> list[np.ndarray]:
    with torch.no_grad():
        return [model(torch.from_numpy(x)).numpy() for x in eval_set.lr_faces]


def val_psnr(outputs: list[np.ndarray], eval_set: EvalSet) -> float | None:
    if not eval_set.hr_faces:
        return None
    return float(np.mean([psnr(np.clip(o, 0, 1), hr) for o, hr in zip(outputs, eval_set.hr_faces)]))


def verify(artifact: Artifact, runner: Callable[[np.ndarray], np.ndarray] | None, eval_set: EvalSet,
           reference: list[np.ndarray], *, fp32_val_psnr_db: float | None, skip_reason: str = "") -> tuple[dict, list[np.ndarray] | None]:
    """(verification record for the manifest, the artifact's outputs or None)."""
    record = {"status": "skipped", "reason": skip_reason, "psnr_vs_reference_db": None, "val_psnr_db": None,
              "fp32_val_psnr_db": _r(fp32_val_psnr_db), "drop_db": None, "faces": eval_set.source,
              "thresholds": {"min_psnr_vs_reference_db": MIN_PSNR_VS_REFERENCE_DB, "max_int8_drop_db": MAX_INT8_DROP_DB}}
    if runner is None:
        return record, None
    try:
        outputs = [np.asarray(runner(x), dtype=np.float32) for x in eval_set.lr_faces]
    except RuntimeUnavailable as err:
        record["reason"] = str(err)
        return record, None
    except Exception as err:  # a runtime that rejects its own file is a failed artifact, not a crash
        record.update(status="failed", reason=f"runtime error: {type(err).__name__}: {str(err).splitlines()[0][:200]}")
        return record, None
    bad_shape = next((o.shape for o, r in zip(outputs, reference) if o.shape != r.shape), None)
    if bad_shape is not None:
        record.update(status="failed", reason=f"output shape {bad_shape} != reference {reference[0].shape}")
        return record, outputs
    vs_ref = psnr(np.concatenate(outputs), np.concatenate(reference))
    own_val = val_psnr(outputs, eval_set)
    record["psnr_vs_reference_db"] = _r(vs_ref)
    record["val_psnr_db"] = _r(own_val)
    if own_val is not None and fp32_val_psnr_db is not None:
        record["drop_db"] = _r(fp32_val_psnr_db - own_val)
    problems = []
    if not np.all(np.isfinite(np.concatenate(outputs))):
        problems.append("non-finite outputs")
    if artifact.precision is Precision.INT8:
        if record["drop_db"] is not None and record["drop_db"] > MAX_INT8_DROP_DB:
            problems.append(f"INT8 val PSNR drop {record['drop_db']:.3f} dB > {MAX_INT8_DROP_DB} dB")
        elif record["drop_db"] is None and vs_ref < 30.0:
            problems.append(f"output PSNR vs reference {vs_ref:.2f} dB < 30 dB (no ground truth to judge the drop)")
    elif vs_ref < MIN_PSNR_VS_REFERENCE_DB:
        problems.append(f"output PSNR vs reference {vs_ref:.2f} dB < {MIN_PSNR_VS_REFERENCE_DB} dB")
    record.update(status="failed" if problems else "passed", reason="; ".join(problems))
    return record, outputs


def _r(x: float | None) -> float | None:
    if x is None:
        return None
    return round(float(x), 4)
