"""Photometric changes of an HR face: what other cameras, light and backgrounds do to the pixels.

Two uses, one set of operations:
  - ``sample_photometric(seed=...)`` draws a random change (brightness, contrast, gamma, colour balance,
    saturation, and sometimes a flat dark or bright background around a smaller face) for calibration and
    training sets that must cover what a runtime will see, not only one studio's exposure;
  - ``STRESS_CASES`` are fixed, named extremes (dark, bright, low/high contrast, saturated colour, full-range
    ramps, faces on white and black backgrounds) for the verification stress set.

Tensor contract: ``hr_face`` (3, H, W), RGB float32 in [0, 1]; every output is clamped to [0, 1].
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .degradations import Seed, _rng

# Ranges of the random draw (``sample_photometric``): wide enough to cover under- and over-exposure, flat and
# punchy contrast, warm and cold white balance and faces small on a flat backdrop.
GAIN = (0.45, 1.6)
GAMMA = (0.6, 1.7)
CONTRAST = (0.55, 1.5)
COLOUR_GAIN = (0.8, 1.2)
SATURATION = (0.4, 1.8)
P_BACKGROUND = 0.3
FACE_FRACTION = (0.55, 0.9)
_PHOTOMETRIC_STREAM = 7   # RNG stream id: independent of the degradation draws of the same seed


@dataclass(frozen=True)
class PhotometricParams:
    """One drawn change; ``to_dict`` / ``from_dict`` replay it exactly."""

    gain: float = 1.0
    gamma: float = 1.0
    contrast: float = 1.0
    colour_gain: tuple[float, float, float] = (1.0, 1.0, 1.0)
    saturation: float = 1.0
    background: float | None = None    # flat grey level around the face, None = keep the photo's own
    face_fraction: float = 1.0         # side of the face relative to the frame when a background is set

    def to_dict(self) -> dict:
        return {**asdict(self), "colour_gain": list(self.colour_gain)}

    @classmethod
    def from_dict(cls, d: dict) -> "PhotometricParams":
        return cls(**{**d, "colour_gain": tuple(d.get("colour_gain", (1.0, 1.0, 1.0)))})


def sample_photometric(*, seed: Seed) -> PhotometricParams:
    """A random change, seeded per item like the degradations (same seed, same change)."""
    rng = _rng(seed, _PHOTOMETRIC_STREAM)
    u = lambda lo_hi: float(rng.uniform(*lo_hi))  # noqa: E731
    params = dict(gain=u(GAIN), gamma=u(GAMMA), contrast=u(CONTRAST),
                  colour_gain=tuple(u(COLOUR_GAIN) for _ in range(3)), saturation=u(SATURATION))
    if rng.uniform() < P_BACKGROUND:
        params.update(background=float(rng.choice([0.0, 0.04, 0.5, 0.96, 1.0])), face_fraction=u(FACE_FRACTION))
    return PhotometricParams(**params)


def apply_photometric(hr_face: Tensor, params: PhotometricParams) -> Tensor:
    """The change applied to one face: gamma, gain, contrast about mid-grey, colour gains, saturation, then the
    optional background; clamped to [0, 1]."""
    face = hr_face.clamp(0, 1) ** params.gamma * params.gain
    face = 0.5 + (face - 0.5) * params.contrast
    face = face * torch.tensor(params.colour_gain, dtype=face.dtype).view(3, 1, 1)
    grey = face.mean(dim=0, keepdim=True)
    face = (grey + (face - grey) * params.saturation).clamp(0, 1)
    if params.background is not None:
        face = on_background(face, params.background, params.face_fraction)
    return face.contiguous()


def on_background(hr_face: Tensor, level: float, fraction: float) -> Tensor:
    """The face shrunk to ``fraction`` of the frame, centred on a flat background of grey ``level``."""
    _, h, w = hr_face.shape
    fh, fw = max(1, round(h * fraction)), max(1, round(w * fraction))
    small = F.interpolate(hr_face[None], size=(fh, fw), mode="bilinear", align_corners=False, antialias=True)[0]
    out = torch.full_like(hr_face, float(level))
    top, left = (h - fh) // 2, (w - fw) // 2
    out[:, top:top + fh, left:left + fw] = small.clamp(0, 1)
    return out


def ramp(size: int) -> Tensor:
    """A full-range test card: R ramps 0 -> 1 left to right, G top to bottom, B along the diagonal."""
    t = torch.linspace(0, 1, size)
    r = t.view(1, -1).expand(size, size)
    g = t.view(-1, 1).expand(size, size)
    return torch.stack([r, g, (r + g) / 2]).contiguous()


def _contrast(k: float) -> Callable[[Tensor], Tensor]:
    return lambda f: (0.5 + (f - 0.5) * k).clamp(0, 1)


def _saturate(k: float) -> Callable[[Tensor], Tensor]:
    def go(f: Tensor) -> Tensor:
        grey = f.mean(dim=0, keepdim=True)
        return (grey + (f - grey) * k).clamp(0, 1)
    return go


# Named HR-side extremes for the stress set. The LR-side ones (noise, heavy JPEG) live in STRESS_LR_CASES.
STRESS_CASES: dict[str, Callable[[Tensor], Tensor]] = {
    "dark": lambda f: f * 0.3,
    "bright": lambda f: f.clamp(0, 1) ** 0.45,
    "overexposed": lambda f: (f * 1.5 + 0.08).clamp(0, 1),
    "low_contrast": _contrast(0.35),
    "high_contrast": _contrast(1.9),
    "saturated": _saturate(2.4),
    "white_background": lambda f: on_background(f, 1.0, 0.6),
    "black_background": lambda f: on_background(f, 0.0, 0.6),
    "ramp": lambda f: ramp(f.shape[-1]),
}
# LR-side extremes: (Gaussian noise sigma on the [0, 1] scale, JPEG quality or None).
STRESS_LR_CASES: dict[str, tuple[float, int | None]] = {"noise": (20 / 255, None), "heavy_jpeg": (0.0, 15)}


def stress_lr(lr_face: Tensor, case: str, *, seed: Seed) -> Tensor:
    """An LR-side stress case applied to a clean LR face (seeded noise, then JPEG)."""
    from .degradations import _jpeg

    sigma, quality = STRESS_LR_CASES[case]
    out = lr_face
    if sigma:
        rng = _rng(seed, _PHOTOMETRIC_STREAM + 1)
        noise = torch.from_numpy(rng.normal(0.0, sigma, size=tuple(out.shape)).astype(np.float32))
        out = (out + noise).clamp(0, 1)
    if quality is not None:
        out = _jpeg(out, quality)
    return out
