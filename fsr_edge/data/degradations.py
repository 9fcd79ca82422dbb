"""LR faces from HR faces: the MSKD paper's blind degradation (eq. 8) and a clean bicubic mode.

    I_LR = ((I_HR (*) k) down_r + n_sigma)_JPEG_q

``k`` is a random Gaussian (isotropic or anisotropic, rotated) or motion-blur kernel, ``down_r`` an antialiased
bicubic downsample by the scale factor, ``n_sigma`` additive Gaussian noise and ``JPEG_q`` an in-memory Pillow
JPEG round trip at a random quality. Every range lives in :class:`BlindDegradation`.

Tensor contract: ``hr_face`` is (3, H, W), RGB, float32 in [0, 1], H and W divisible by ``scale``;
the result ``lr_face`` is (3, H // scale, W // scale), RGB, float32 in [0, 1].

Reproducibility: the parameters are drawn from ``numpy.random.default_rng(seed)`` only (never a global RNG),
and the noise comes from a seed stored in the drawn parameters, so the same ``seed`` (an int or a tuple of ints
such as ``(seed, index)`` or ``(seed, epoch, index)``) gives the same LR bit for bit, and a
:class:`DegradationParams` written to JSON replays the exact degradation with :func:`apply_degradation`.

Split in three steps so callers can log what was drawn::

    params = sample_degradation(scale=8, mode=DegradationMode.BLIND, seed=(0, index))
    lr_face = apply_degradation(hr_face, params)       # == degrade(hr_face, scale=8, mode=..., seed=(0, index))
"""

from __future__ import annotations

import io
import math
from dataclasses import asdict, dataclass
from enum import Enum
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..errors import ConfigError, ImageError

Seed = int | Sequence[int]

# Kernels are at most this wide (HR pixels): sigma 3 needs 19 taps to reach 3 sigma; wider only costs time.
MAX_KERNEL_SIZE = 21


class DegradationMode(str, Enum):
    """How an LR face is made from its HR face."""

    CLEAN = "clean"   # antialiased bicubic downsample only (the "ideal" LR, PISR's imitation target)
    BLIND = "blind"   # eq. 8: random blur, downsample, noise, JPEG
    MIX = "mix"       # per sample: BLIND with probability p_blind, else CLEAN (training)


@dataclass(frozen=True)
class BlindDegradation:
    """Ranges of the blind degradation; each parameter is drawn uniformly from its (low, high) per image.

    Blur sizes are in HR pixels (the blur happens before the downsample). ``blur_prob``, ``noise_prob`` and
    ``jpeg_prob`` let a component be skipped for some images; the defaults apply all three to every image,
    as in eq. 8.
    """

    blur_prob: float = 1.0
    motion_prob: float = 0.2              # of the blurred images, this fraction gets motion blur
    anisotropic_prob: float = 0.5         # of the Gaussian ones, this fraction is anisotropic and rotated
    blur_sigma: tuple[float, float] = (0.2, 3.0)
    motion_length: tuple[float, float] = (3.0, 15.0)
    noise_prob: float = 1.0
    noise_sigma: tuple[float, float] = (0.0, 15 / 255)
    jpeg_prob: float = 1.0
    jpeg_quality: tuple[int, int] = (40, 90)

    def __post_init__(self):
        for name in ("blur_prob", "motion_prob", "anisotropic_prob", "noise_prob", "jpeg_prob"):
            p = getattr(self, name)
            if not 0.0 <= p <= 1.0:
                raise ConfigError(f"BlindDegradation.{name}={p}: must be a probability in [0, 1]")
        for name in ("blur_sigma", "motion_length", "noise_sigma", "jpeg_quality"):
            lo, hi = getattr(self, name)
            if lo > hi or lo < 0:
                raise ConfigError(f"BlindDegradation.{name}=({lo}, {hi}): need 0 <= low <= high")
        if self.blur_sigma[0] <= 0:
            raise ConfigError(f"BlindDegradation.blur_sigma={self.blur_sigma}: low must be > 0")
        if not (1 <= self.jpeg_quality[0] and self.jpeg_quality[1] <= 100):
            raise ConfigError(f"BlindDegradation.jpeg_quality={self.jpeg_quality}: must lie in [1, 100]")
        if self.motion_length[1] > MAX_KERNEL_SIZE:
            raise ConfigError(f"BlindDegradation.motion_length={self.motion_length}: at most {MAX_KERNEL_SIZE} px")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "BlindDegradation":
        """From a YAML/JSON mapping (lists become ranges); unknown keys are a ConfigError, not silently dropped."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"blind degradation config: unknown key(s) {', '.join(unknown)} "
                              f"(known: {', '.join(sorted(known))})")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


@dataclass(frozen=True)
class DegradationParams:
    """The exact parameters drawn for one image: enough to replay its degradation bit for bit."""

    mode: str                              # "clean" or "blind" (MIX resolves to one of them per image)
    scale: int
    kernel: str = "none"                   # "none", "isotropic", "anisotropic", "motion"
    sigma_x: float = 0.0                   # Gaussian std along the rotated x axis (HR px)
    sigma_y: float = 0.0
    theta: float = 0.0                     # rotation of the Gaussian / direction of the motion (radians)
    motion_length: float = 0.0             # motion blur length (HR px)
    kernel_size: int = 0
    noise_sigma: float = 0.0               # in [0, 1] units
    noise_seed: int = 0
    jpeg_quality: int | None = None        # None: no JPEG step

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "DegradationParams":
        return cls(**d)


def _rng(seed: Seed, stream: int) -> np.random.Generator:
    # Independent streams for the MIX decision (0) and the blind parameters (1), so a seed gives the same
    # blind parameters whether the image was degraded in BLIND mode or picked as blind by MIX; FaceDataset's
    # crops and flips use stream 2.
    # The stream and the tuple's length lead: SeedSequence ignores trailing zeros, so [s, 0] would equal [s].
    entropy = [int(seed)] if isinstance(seed, (int, np.integer)) else [int(s) for s in seed]
    if any(s < 0 for s in entropy):
        raise ConfigError(f"seed {seed}: seeds must be non-negative integers")
    return np.random.default_rng([stream, len(entropy), *entropy])


def _check_mode(mode: DegradationMode | str) -> DegradationMode:
    try:
        return DegradationMode(mode)
    except ValueError:
        raise ConfigError(f"degradation mode {mode!r}: choose one of "
                          f"{', '.join(m.value for m in DegradationMode)}") from None


def _uniform(rng: np.random.Generator, lo_hi: tuple[float, float]) -> float:
    lo, hi = lo_hi
    return float(rng.uniform(lo, hi)) if hi > lo else float(lo)


def sample_degradation(*, scale: int, mode: DegradationMode | str, seed: Seed,
                       config: BlindDegradation | None = None, p_blind: float = 0.5) -> DegradationParams:
    """Draw the degradation parameters for one image (no pixels touched).

    ``mode=MIX`` picks BLIND with probability ``p_blind`` (seeded), else CLEAN.
    """
    mode = _check_mode(mode)
    if int(scale) != scale or scale < 1:
        raise ConfigError(f"scale {scale}: must be a positive integer")
    scale = int(scale)
    if mode is DegradationMode.MIX:
        if not 0.0 <= p_blind <= 1.0:
            raise ConfigError(f"p_blind={p_blind}: must be a probability in [0, 1]")
        mode = DegradationMode.BLIND if _rng(seed, 0).random() < p_blind else DegradationMode.CLEAN
    if mode is DegradationMode.CLEAN:
        return DegradationParams(mode="clean", scale=scale)

    cfg = config or BlindDegradation()
    rng = _rng(seed, 1)
    # Draw every value unconditionally, in a fixed order, so changing one probability does not reshuffle the rest.
    u_blur, u_motion, u_aniso, u_noise, u_jpeg = rng.random(5)
    sigma_a = _uniform(rng, cfg.blur_sigma)
    sigma_b = _uniform(rng, cfg.blur_sigma)
    theta = float(rng.uniform(0.0, math.pi))
    length = _uniform(rng, cfg.motion_length)
    noise_sigma = _uniform(rng, cfg.noise_sigma)
    noise_seed = int(rng.integers(0, 2**31 - 1))
    quality = int(rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1))

    kw: dict = {}
    if u_blur < cfg.blur_prob:
        if u_motion < cfg.motion_prob:
            size = min(MAX_KERNEL_SIZE, 2 * math.ceil(length / 2) + 1)
            kw = dict(kernel="motion", theta=theta, motion_length=length, kernel_size=size)
        elif u_aniso < cfg.anisotropic_prob:
            size = min(MAX_KERNEL_SIZE, 2 * math.ceil(3 * max(sigma_a, sigma_b)) + 1)
            kw = dict(kernel="anisotropic", sigma_x=sigma_a, sigma_y=sigma_b, theta=theta, kernel_size=size)
        else:
            size = min(MAX_KERNEL_SIZE, 2 * math.ceil(3 * sigma_a) + 1)
            kw = dict(kernel="isotropic", sigma_x=sigma_a, sigma_y=sigma_a, kernel_size=size)
    return DegradationParams(
        mode="blind", scale=scale, **kw,
        noise_sigma=noise_sigma if u_noise < cfg.noise_prob else 0.0, noise_seed=noise_seed,
        jpeg_quality=quality if u_jpeg < cfg.jpeg_prob else None,
    )


def blur_kernel(params: DegradationParams) -> torch.Tensor | None:
    """The (k, k) float32 kernel (sums to 1) described by ``params``, or None when there is no blur."""
    if params.kernel == "none":
        return None
    k = params.kernel_size
    r = (k - 1) / 2
    ax = torch.arange(k, dtype=torch.float64) - r
    y, x = torch.meshgrid(ax, ax, indexing="ij")
    c, s = math.cos(params.theta), math.sin(params.theta)
    if params.kernel in ("isotropic", "anisotropic"):
        u = c * x + s * y            # coordinates along the rotated axes
        v = -s * x + c * y
        kern = torch.exp(-0.5 * ((u / params.sigma_x) ** 2 + (v / params.sigma_y) ** 2))
    elif params.kernel == "motion":
        # A segment of the given length through the centre, drawn antialiased by splatting many samples
        # bilinearly, then softened by a tiny Gaussian so short lengths are not single pixels.
        kern = torch.zeros(k, k, dtype=torch.float64)
        n = max(2, int(params.motion_length * 8))
        t = torch.linspace(-params.motion_length / 2, params.motion_length / 2, n, dtype=torch.float64)
        px, py = t * c + r, t * s + r
        x0, y0 = px.floor(), py.floor()
        for dx in (0, 1):
            for dy in (0, 1):
                w = (1 - (px - x0 - dx).abs()) * (1 - (py - y0 - dy).abs())
                xi, yi = (x0 + dx).long(), (y0 + dy).long()
                ok = (xi >= 0) & (xi < k) & (yi >= 0) & (yi < k)
                kern.index_put_((yi[ok], xi[ok]), w[ok], accumulate=True)
        soft = torch.exp(-0.5 * (ax / 0.5) ** 2)
        soft = soft / soft.sum()
        kern = F.conv2d(kern[None, None], (soft[:, None] * soft[None, :])[None, None], padding=k // 2)[0, 0]
    else:
        raise ConfigError(f"unknown blur kernel {params.kernel!r}")
    return (kern / kern.sum()).float()


def resize_bicubic(face: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """Antialiased bicubic resize of (3, H, W) or (B, 3, H, W) float faces to ``size`` (side or (h, w)),
    clamped to [0, 1]: the one resize the data pipeline uses (HR from aligned faces, clean LR from HR)."""
    squeeze = face.dim() == 3
    x = face[None] if squeeze else face
    size = (size, size) if isinstance(size, int) else tuple(size)
    out = F.interpolate(x.float(), size=size, mode="bicubic", antialias=True, align_corners=False).clamp_(0.0, 1.0)
    return out[0] if squeeze else out


def bicubic_downsample(hr_face: torch.Tensor, scale: int) -> torch.Tensor:
    """The clean LR: antialiased bicubic downsample by ``scale``, (..., 3, H, W) -> (..., 3, H/scale, W/scale)."""
    h, w = hr_face.shape[-2:]
    return resize_bicubic(hr_face, (h // scale, w // scale))


def _blur(face: torch.Tensor, params: DegradationParams) -> torch.Tensor:
    """(3, H, W) convolved with the drawn kernel, reflect-padded so the face border does not darken."""
    kern = blur_kernel(params)
    if kern is None:
        return face
    h, w = face.shape[-2:]
    pad = kern.shape[-1] // 2
    xp = F.pad(face[None], (pad, pad, pad, pad), mode="reflect" if pad < min(h, w) else "replicate")
    if params.kernel == "isotropic":
        # Separable: two 1-D passes cost 2k instead of k^2 multiply-adds per pixel.
        g = kern.sum(dim=0)
        xp = F.conv2d(xp, g.view(1, 1, 1, -1).expand(3, 1, 1, -1).contiguous(), groups=3)
        return F.conv2d(xp, g.view(1, 1, -1, 1).expand(3, 1, -1, 1).contiguous(), groups=3)[0]
    return F.conv2d(xp, kern.expand(3, 1, *kern.shape).contiguous(), groups=3)[0]


def _jpeg(lr_face: torch.Tensor, quality: int) -> torch.Tensor:
    arr = (lr_face.permute(1, 2, 0).numpy() * 255.0).round().clip(0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    with Image.open(buf) as img:
        out = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(out).permute(2, 0, 1).contiguous()


def apply_degradation(hr_face: torch.Tensor | np.ndarray, params: DegradationParams) -> torch.Tensor | np.ndarray:
    """Degrade one HR face with exactly these parameters (deterministic).

    ``hr_face``: (3, H, W) float tensor in [0, 1], or an (H, W, 3) numpy array (the result is then numpy too).
    Returns ``lr_face`` (3, H/scale, W/scale) float32 in [0, 1] (or (H/scale, W/scale, 3) numpy).
    """
    as_numpy = isinstance(hr_face, np.ndarray)
    x = _as_chw(hr_face)
    scale = params.scale
    h, w = x.shape[-2:]
    if h % scale or w % scale:
        raise ImageError(f"HR face {w}x{h} is not divisible by scale {scale}; resize or crop it first")
    if params.mode == "clean":
        lr = bicubic_downsample(x, scale)
    else:
        x = _blur(x, params)
        lr = bicubic_downsample(x, scale)
        if params.noise_sigma > 0:
            noise = np.random.default_rng(params.noise_seed).standard_normal(lr.shape, dtype=np.float32)
            lr = (lr + torch.from_numpy(noise) * params.noise_sigma).clamp_(0.0, 1.0)
        if params.jpeg_quality is not None:
            lr = _jpeg(lr, params.jpeg_quality)
    lr = lr.contiguous()
    return lr.permute(1, 2, 0).numpy().copy() if as_numpy else lr


def degrade(hr_face: torch.Tensor | np.ndarray, *, scale: int, mode: DegradationMode | str, seed: Seed,
            config: BlindDegradation | None = None, p_blind: float = 0.5) -> torch.Tensor | np.ndarray:
    """Make the LR face for ``hr_face`` (see the module docstring for the tensor contract).

    ``seed``: an int or a tuple of ints, e.g. ``(seed, index)``; the same seed gives the same LR bit for bit.
    ``config``: the blind ranges (default :class:`BlindDegradation()`), ignored for CLEAN.
    ``p_blind``: for ``mode=MIX``, the probability that this image is degraded blind rather than clean.
    """
    params = sample_degradation(scale=scale, mode=mode, seed=seed, config=config, p_blind=p_blind)
    return apply_degradation(hr_face, params)


def _as_chw(hr_face: torch.Tensor | np.ndarray) -> torch.Tensor:
    if isinstance(hr_face, np.ndarray):
        if hr_face.ndim != 3 or hr_face.shape[2] != 3:
            raise ImageError(f"HR face array of shape {hr_face.shape}: expected (H, W, 3)")
        return torch.from_numpy(np.ascontiguousarray(hr_face, dtype=np.float32)).permute(2, 0, 1)
    if hr_face.dim() != 3 or hr_face.shape[0] != 3:
        raise ImageError(f"HR face tensor of shape {tuple(hr_face.shape)}: expected (3, H, W)")
    return hr_face.detach().to(device="cpu", dtype=torch.float32)
