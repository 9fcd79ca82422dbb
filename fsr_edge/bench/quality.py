"""The face set a benchmark measures quality on: HR faces, their clean LR inputs, and PSNR/SSIM of SR outputs.

HR faces come from ``--data`` (a folder with ``manifest.csv``: its ``val`` split; or any folder of aligned face
crops), resized to ``lr_size * scale``. With no face data (a fresh install) the one face that ships in a
registry package is used: a crop of ``skimage.data.astronaut()``; the report says so, one image is a smoke
check of quality, not a benchmark of it.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# (rows, cols) of the face in skimage.data.astronaut(), 512x512; loose crop like an aligned face
_ASTRONAUT_FACE = (slice(5, 205), slice(125, 325))


@dataclass
class EvalSet:
    lr_faces: np.ndarray   # (N, 3, lr, lr) float32 RGB [0, 1]
    hr_faces: np.ndarray   # (N, 3, lr*scale, lr*scale)
    source: str            # what the images are, for the report
    names: list[str]


def _resize(rgb: np.ndarray, size: int) -> np.ndarray:
    """(H, W, 3) -> (3, size, size), antialiased bicubic (torch), clamped to [0, 1]."""
    import torch
    import torch.nn.functional as F

    t = torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))[None].float()
    return F.interpolate(t, size=(size, size), mode="bicubic", antialias=True, align_corners=False)[0].clamp(0, 1).numpy()


def _face_files(data: Path, limit: int | None) -> list[Path]:
    manifest = data / "manifest.csv"
    if manifest.exists():
        with open(manifest, newline="") as f:
            rows = list(csv.DictReader(f))
        files = [data / r["file"] for r in rows if r.get("split", "val") == "val"] or [data / r["file"] for r in rows]
    else:
        from ..io import list_images

        files = list_images([data])
    return files[:limit] if limit else files


def load_eval_set(data: str | Path | None, *, scale: int, lr_size: int, limit: int | None = None) -> EvalSet:
    from ..errors import FsrEdgeError

    hr_size = lr_size * scale
    if data is None:
        import skimage.data

        rgb = skimage.data.astronaut()[_ASTRONAUT_FACE].astype(np.float32) / 255
        hr = _resize(rgb, hr_size)[None]
        names, source = ["astronaut"], "1 face crop of skimage.data.astronaut() (no face data given: a smoke check, not a benchmark)"
    else:
        from ..io import read_image

        data = Path(data)
        files = _face_files(data, limit)
        if not files:
            raise FsrEdgeError(f"{data}: no face images found for the quality columns; pass a folder of aligned faces")
        hr = np.stack([_resize(read_image(p).rgb, hr_size) for p in files])
        names = [p.stem for p in files]
        split = "val split of " if (data / "manifest.csv").exists() else ""
        source = f"{len(files)} faces, {split}{data}"
    import torch

    from ..data.degradations import bicubic_downsample

    lr = bicubic_downsample(torch.from_numpy(hr), scale).numpy()  # the "clean" degradation of the data pipeline
    return EvalSet(lr.astype(np.float32), hr.astype(np.float32), source + f"; LR = clean antialiased bicubic /{scale}", names)


def psnr_ssim(sr_faces: np.ndarray, hr_faces: np.ndarray) -> dict:
    """Mean PSNR (dB) and SSIM on RGB in [0, 1] (fsr_edge.metrics), per image then averaged."""
    import torch

    from .. import metrics

    sr = torch.from_numpy(np.clip(sr_faces, 0, 1)).float()
    hr = torch.from_numpy(hr_faces).float()
    return {"psnr_db": float(metrics.psnr(sr, hr).mean()), "ssim": float(metrics.ssim(sr, hr).mean()), "images": len(sr)}
