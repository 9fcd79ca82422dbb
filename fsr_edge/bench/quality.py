"""The faces a benchmark measures quality on, and PSNR/SSIM of an artifact's outputs against ground truth.

The set is the export library's own evaluation set (``fsr_edge.exporters.EvalSet``): the val split of ``--data``
(or a folder of aligned faces), degraded the same way the export verification did (blind MSKD eq. 8 with a fixed
seed by default, or clean bicubic), so a row's PSNR here and the manifest's ``val_psnr_db`` are the same
measurement. With no face data (a fresh install) it is the bundled London val faces (24 faces, CC BY 4.0, shipped
in ``fsr_edge/data/bundled_faces``), and the report names them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class EvalSet:
    lr_faces: np.ndarray   # (N, 3, lr, lr) float32 RGB [0, 1]
    hr_faces: np.ndarray   # (N, 3, lr*scale, lr*scale)
    source: str            # what the images are and how they were degraded, for the report
    names: list[str]


def load_eval_set(data: str | Path | None, *, scale: int, lr_size: int, limit: int | None = None,
                  degradation: str = "blind", seed: int = 0) -> EvalSet:
    from ..exporters import EvalSet as _ExportEvalSet

    hr_size = lr_size * scale
    if data is None:
        ev = _ExportEvalSet.builtin(scale=scale, hr_size=hr_size, mode=degradation, seed=seed)
    else:
        ev = _ExportEvalSet.from_faces(data, split="val", scale=scale, hr_size=hr_size, mode=degradation, seed=seed,
                                       limit=limit)
    n = len(ev.lr_faces) if limit is None else min(limit, len(ev.lr_faces))
    return EvalSet(np.concatenate(ev.lr_faces[:n]).astype(np.float32), np.concatenate(ev.hr_faces[:n]).astype(np.float32),
                   ev.source, list(ev.names[:n]))


def psnr_ssim(sr_faces: np.ndarray, hr_faces: np.ndarray) -> dict:
    """Mean PSNR (dB) and SSIM on RGB in [0, 1] (fsr_edge.metrics), per image then averaged; outputs clamped
    to [0, 1] as a user sees them."""
    import torch

    from .. import metrics

    sr = torch.from_numpy(np.clip(sr_faces, 0, 1)).float()
    hr = torch.from_numpy(hr_faces).float()
    return {"psnr_db": float(metrics.psnr(sr, hr).mean()), "ssim": float(metrics.ssim(sr, hr).mean()), "images": len(sr)}
