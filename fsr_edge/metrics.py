"""Quality metrics for super-resolved faces, computed the way the SR literature computes them.

Tensor contract for every function here: ``sr_face`` and ``hr_face`` are (B, 3, H, W), RGB, float32 in [0, 1],
same shape. Per-image metrics return a (B,) tensor; set metrics (FD-VGG19) return one float.

Conventions (stated once, used everywhere):
- data range 1.0; ``MetricSuite`` first rounds both images to 8-bit levels (``round(x * 255) / 255``), as SR
  papers measure saved uint8 images;
- ``*_y`` metrics use the BT.601 luma of MATLAB's ``rgb2ycbcr`` (studio swing, Y in [16, 235] / 255), the
  channel SR papers report PSNR-Y / SSIM-Y on;
- ``crop_border`` (0 by default; SR papers crop ``scale`` pixels) removes that many pixels on each side before
  the pixel metrics (PSNR, SSIM, MS-SSIM); the feature metrics always see the whole face;
- SSIM: Gaussian window 11x11, sigma 1.5, K1 0.01, K2 0.03, averaged over the "valid" region (the 5-pixel
  border the window overhangs is excluded), i.e. Wang et al.'s reference and scikit-image's
  ``structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False)``; torchmetrics'
  default mean includes that border and reads ~0.01 higher on faces, so we average its full SSIM map ourselves;
- MS-SSIM: torchmetrics' implementation with its defaults (5 scales, Wang et al.'s betas, kernel 11, "relu"
  normalisation so that negative contrast terms cannot give NaN); it needs H, W >= 176 at 5 scales.

Substitutes, because the real thing needs weights that no registry ships (no download is ever triggered):
- ``fd_vgg19``: Frechet distance between Gaussians fitted to VGG19 features of the SR set and the HR set, the
  FID formula on ImageNet VGG19 (``fsr_edge.vgg``) instead of Inception-v3. NOT comparable with published FID.
- ``vgg_perceptual_distance``: LPIPS' recipe without its learned layer weights (the "baseline" variant of
  Zhang et al. 2018) on VGG19 relu1_2..relu5_4. NOT LPIPS; lower is better, 0 for identical images.
- ``identity_cosine`` / ``identity_distance``: cosine similarity / Euclidean distance of dlib's 128-d face-identity
  embeddings (``fsr_edge.faces``) of SR and HR. dlib's rule: distance < 0.6 = same person. On the 24 val HR
  faces, the same person (neutral vs smiling) gives cosine 0.98-1.0 / distance 0.22 on average, different people
  cosine 0.85 (at most 0.92) / distance 0.81 (at least 0.60): read the cosine on that compressed scale. Both are
  reported as unavailable, never as a number, when the faces extra is not installed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from enum import Enum
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .vgg import DEFAULT_LAYERS, VGG19

__all__ = ["DEFAULT_METRICS", "HIGHER_IS_BETTER", "IDENTITY_METRICS", "Metric", "MetricSuite", "MetricUnavailable",
           "PIXEL_METRICS", "evaluate_model", "evaluate_pairs", "fd_vgg19", "frechet_distance", "identity_cosine",
           "identity_distance", "ms_ssim", "psnr", "quantize_8bit", "rgb_to_y", "ssim", "vgg19_embedding",
           "vgg_perceptual_distance"]


class Metric(str, Enum):
    PSNR = "psnr"
    PSNR_Y = "psnr_y"
    SSIM = "ssim"
    SSIM_Y = "ssim_y"
    MS_SSIM = "ms_ssim"
    FD_VGG19 = "fd_vgg19"
    VGG_PERCEPTUAL = "vgg_perceptual"
    IDENTITY = "identity_cosine"
    IDENTITY_DISTANCE = "identity_distance"


PIXEL_METRICS = (Metric.PSNR, Metric.PSNR_Y, Metric.SSIM, Metric.SSIM_Y, Metric.MS_SSIM)
IDENTITY_METRICS = (Metric.IDENTITY, Metric.IDENTITY_DISTANCE)
DEFAULT_METRICS = (*PIXEL_METRICS, Metric.FD_VGG19, Metric.VGG_PERCEPTUAL, *IDENTITY_METRICS)
# Higher is better for these; lower for FD-VGG19, the perceptual distance and the identity distance.
HIGHER_IS_BETTER = {Metric.PSNR, Metric.PSNR_Y, Metric.SSIM, Metric.SSIM_Y, Metric.MS_SSIM, Metric.IDENTITY}

# FD-VGG19 embeds each face as its global-average-pooled relu5_4 (512-d): the most semantic VGG layer, and a
# pooled vector, as FID pools Inception's last block.
FD_LAYER = "relu5_4"
_SSIM_SIGMA = 1.5
_SSIM_MARGIN = int(3.5 * _SSIM_SIGMA + 0.5)  # 5: half the 11-tap Gaussian window (torchmetrics' and skimage's)
# MATLAB rgb2ycbcr's Y row for RGB in [0, 1], result in [0, 1] (studio swing 16..235 over 255).
_BT601_Y = (65.481 / 255.0, 128.553 / 255.0, 24.966 / 255.0)
_BT601_Y_OFFSET = 16.0 / 255.0


class MetricUnavailable(RuntimeError):
    """A metric cannot be computed in this install (missing optional dependency); never reported as a number."""


def quantize_8bit(rgb: Tensor) -> Tensor:
    """Round to the 256 levels an 8-bit image file holds, as SR papers measure saved outputs."""
    return torch.round(rgb.clamp(0, 1) * 255.0) / 255.0


def rgb_to_y(rgb: Tensor) -> Tensor:
    """(B, 3, H, W) RGB in [0, 1] -> (B, 1, H, W) BT.601 luma in [16/255, 235/255] (MATLAB ``rgb2ycbcr``)."""
    w = torch.tensor(_BT601_Y, dtype=rgb.dtype, device=rgb.device).view(1, 3, 1, 1)
    return (rgb * w).sum(1, keepdim=True) + _BT601_Y_OFFSET


def _prepare(sr_face: Tensor, hr_face: Tensor, *, y_channel: bool, crop_border: int,
             dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor]:
    if sr_face.shape != hr_face.shape or sr_face.ndim != 4:
        raise ValueError(f"sr_face {tuple(sr_face.shape)} and hr_face {tuple(hr_face.shape)} must be the same (B, C, H, W)")
    sr_face, hr_face = sr_face.to(dtype), hr_face.to(dtype)
    if y_channel:
        sr_face, hr_face = rgb_to_y(sr_face), rgb_to_y(hr_face)
    if crop_border:
        c = crop_border
        sr_face, hr_face = sr_face[..., c:-c, c:-c], hr_face[..., c:-c, c:-c]
    return sr_face, hr_face


def psnr(sr_face: Tensor, hr_face: Tensor, *, y_channel: bool = False, crop_border: int = 0) -> Tensor:
    """Per-image PSNR in dB, data range 1.0; ``inf`` for identical images."""
    from torchmetrics.functional.image import peak_signal_noise_ratio

    # float64 costs nothing here and keeps the dB exact for near-identical images; SSIM's grouped float64
    # convolutions would be 20x slower on CPU for a 1e-6 difference.
    sr_face, hr_face = _prepare(sr_face, hr_face, y_channel=y_channel, crop_border=crop_border, dtype=torch.float64)
    return peak_signal_noise_ratio(sr_face, hr_face, data_range=1.0, reduction="none", dim=(1, 2, 3)).float()


def ssim(sr_face: Tensor, hr_face: Tensor, *, y_channel: bool = False, crop_border: int = 0) -> Tensor:
    """Per-image SSIM (Wang et al. 2004; Gaussian 11x11 window, sigma 1.5), mean over channels and valid pixels."""
    from torchmetrics.functional.image import structural_similarity_index_measure

    sr_face, hr_face = _prepare(sr_face, hr_face, y_channel=y_channel, crop_border=crop_border)
    _, ssim_map = structural_similarity_index_measure(sr_face, hr_face, gaussian_kernel=True, sigma=_SSIM_SIGMA,
                                                      data_range=1.0, reduction="none", return_full_image=True)
    m = _SSIM_MARGIN
    return ssim_map[..., m:-m, m:-m].mean(dim=(1, 2, 3)).float()


def ms_ssim(sr_face: Tensor, hr_face: Tensor, *, y_channel: bool = False, crop_border: int = 0) -> Tensor:
    """Per-image MS-SSIM (Wang et al. 2003), torchmetrics' defaults: 5 scales, kernel 11, needs H, W >= 176."""
    from torchmetrics.functional.image import multiscale_structural_similarity_index_measure

    sr_face, hr_face = _prepare(sr_face, hr_face, y_channel=y_channel, crop_border=crop_border)
    if min(sr_face.shape[-2:]) < 176:
        raise ValueError(f"MS-SSIM at 5 scales with an 11-pixel window needs images of at least 176 px; "
                         f"got {tuple(sr_face.shape[-2:])} after a {crop_border}-pixel crop")
    return multiscale_structural_similarity_index_measure(sr_face, hr_face, data_range=1.0, reduction="none").float()


def _unit_channels(feat: Tensor, eps: float = 1e-10) -> Tensor:
    # LPIPS' normalize_tensor: each spatial position's feature vector scaled to unit L2 norm over channels.
    return feat / (feat.pow(2).sum(1, keepdim=True).sqrt() + eps)


def _perceptual_from_features(sr_feats: Sequence[Tensor], hr_feats: Sequence[Tensor]) -> Tensor:
    per_layer = [(_unit_channels(s) - _unit_channels(h)).pow(2).sum(1).mean(dim=(1, 2)) for s, h in zip(sr_feats, hr_feats)]
    return torch.stack(per_layer).sum(0)


@torch.no_grad()
def vgg_perceptual_distance(sr_face: Tensor, hr_face: Tensor, *, vgg: VGG19 | None = None) -> Tensor:
    """Per-image LPIPS-like distance on VGG19 (not LPIPS): for relu1_2, relu2_2, relu3_4, relu4_4, relu5_4,
    unit-normalise each position's channel vector, square the differences, sum over channels, average over
    positions, and sum the 5 layers with equal weights. 0 for identical images; each layer adds at most 2
    (ReLU features are non-negative), so the distance lies in [0, 10]."""
    vgg = vgg or _vgg()
    feats = vgg.forward_intermediates(torch.cat([sr_face, hr_face]).float(), DEFAULT_LAYERS)
    b = sr_face.shape[0]
    return _perceptual_from_features([f[:b] for f in feats], [f[b:] for f in feats])


@torch.no_grad()
def vgg19_embedding(face: Tensor, *, vgg: VGG19 | None = None, layer: str = FD_LAYER) -> Tensor:
    """(B, 3, H, W) faces -> (B, C) global-average-pooled VGG19 features (512-d for relu5_4)."""
    vgg = vgg or _vgg()
    (feat,) = vgg.forward_intermediates(face.float(), (layer,))
    return feat.mean(dim=(2, 3))


def frechet_distance(feats_a: Tensor | np.ndarray, feats_b: Tensor | np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to two (N, D) feature sets (the FID formula):
    ``|mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a^1/2 S_b S_a^1/2)^1/2)``.

    Computed in float64 through symmetric eigendecompositions, which stay exact when the covariances are
    singular (N <= D, e.g. 24 faces in 512 dimensions); ``scipy.linalg.sqrtm`` of ``S_a S_b`` would go complex.
    """
    a = np.asarray(feats_a, dtype=np.float64)
    b = np.asarray(feats_b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(len(a), len(b)) < 2:
        raise ValueError(f"need two (N>=2, D) feature sets of the same D; got {a.shape} and {b.shape}")
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    sqrt_a = _psd_sqrt(cov_a)
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(sqrt_a @ cov_b @ sqrt_a), 0, None)).sum()
    value = float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2.0 * cross)
    return max(value, 0.0)  # round-off can leave -1e-12 for identical sets


def _psd_sqrt(cov: np.ndarray) -> np.ndarray:
    vals, vecs = np.linalg.eigh((cov + cov.T) / 2)
    return (vecs * np.sqrt(np.clip(vals, 0, None))) @ vecs.T


def fd_vgg19(sr_faces: Tensor, hr_faces: Tensor, *, vgg: VGG19 | None = None) -> float:
    """FD-VGG19 of two sets of faces (an offline stand-in for FID; see the module docstring)."""
    vgg = vgg or _vgg()
    return frechet_distance(vgg19_embedding(sr_faces, vgg=vgg), vgg19_embedding(hr_faces, vgg=vgg))


def _identity_backend():
    """``(identity_embedding, identity_similarity)`` from fsr_edge.faces, or MetricUnavailable with the reason."""
    from .errors import FsrEdgeError

    try:
        from .faces import _dlib, identity_embedding, identity_similarity

        _dlib.model("recognizer")  # dlib and its model file: the import alone does not load them
    except (ImportError, FsrEdgeError) as err:
        raise MetricUnavailable(f"face-identity similarity needs dlib and face_recognition_models "
                                f"(pip install 'fsr_edge[faces]'): {err}") from None
    return identity_embedding, identity_similarity


def identity_cosine(sr_face: Tensor, hr_face: Tensor, *, landmarks68: Tensor | None = None) -> Tensor:
    """Per-image cosine similarity of dlib's 128-d identity embeddings of SR and HR (1 = same embedding).

    Both faces are aligned by the SAME landmarks, so only their pixels differ: ``landmarks68`` (B, 68, 2) in
    HR pixel coordinates when given (FaceDataset items carry them), else dlib's landmarks of the HR face.
    An image with neither (no face found in the HR) gets NaN. Raises MetricUnavailable where dlib is
    missing: report "n/a", never a number.
    """
    return _identity_scores(sr_face, hr_face, landmarks68=landmarks68)[0]


def identity_distance(sr_face: Tensor, hr_face: Tensor, *, landmarks68: Tensor | None = None) -> Tensor:
    """Per-image Euclidean distance of dlib's identity embeddings (dlib: < 0.6 = same person); as ``identity_cosine``."""
    return _identity_scores(sr_face, hr_face, landmarks68=landmarks68)[1]


def _identity_scores(sr_face: Tensor, hr_face: Tensor, *, landmarks68: Tensor | None) -> tuple[Tensor, Tensor]:
    from .errors import ImageError

    embed, similarity = _identity_backend()
    cosines, distances = [], []
    for i, (sr, hr) in enumerate(zip(sr_face, hr_face)):
        lm = None
        if landmarks68 is not None and torch.isfinite(landmarks68[i]).all():
            lm = landmarks68[i].detach().cpu().double().numpy()
        try:
            if lm is None:
                from .faces import detect_faces

                found = detect_faces(_to_hwc(hr))
                if not found:
                    raise ImageError("no face found in the HR image")
                lm = found[0].landmarks68
            e_sr, e_hr = embed(_to_hwc(sr), landmarks68=lm), embed(_to_hwc(hr), landmarks68=lm)
            cosines.append(similarity(e_sr, e_hr))
            distances.append(float(np.linalg.norm(np.asarray(e_sr, np.float64) - np.asarray(e_hr, np.float64))))
        except ImageError:
            cosines.append(math.nan)
            distances.append(math.nan)
    return torch.tensor(cosines, dtype=torch.float32), torch.tensor(distances, dtype=torch.float32)


def _to_hwc(face: Tensor) -> np.ndarray:
    return face.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()


@lru_cache(maxsize=1)
def _vgg() -> VGG19:
    # One frozen CPU VGG19 per process: building it and de-quantising its 20 MB of weights takes seconds.
    return VGG19()


class MetricSuite:
    """Accumulates per-image metric values over batches; ``compute()`` returns means and per-image lists.

    ``update`` takes (B, 3, H, W) RGB [0, 1] tensors. One VGG19 pass over SR and HR per batch feeds both the
    perceptual distance and FD-VGG19 (whose pooled embeddings are kept; FD needs the whole set). A metric that
    cannot run here (identity without dlib) is recorded under ``unavailable`` with the reason.
    """

    def __init__(self, metrics: Iterable[Metric | str] = DEFAULT_METRICS, *, crop_border: int = 0,
                 quantize: bool = True, vgg: VGG19 | None = None, device: str | torch.device = "cpu"):
        self.metrics = [Metric(m) for m in metrics]
        self.device = torch.device(device)   # where the VGG19 runs; the pixel metrics stay on the CPU
        self.crop_border = crop_border
        self.quantize = quantize
        self._vgg_model = vgg
        self.per_image: dict[str, list[float]] = {m.value: [] for m in self.metrics if m is not Metric.FD_VGG19}
        self.unavailable: dict[str, str] = {}
        self._emb_sr: list[Tensor] = []
        self._emb_hr: list[Tensor] = []
        if any(m in self.metrics for m in IDENTITY_METRICS):
            try:
                _identity_backend()
            except MetricUnavailable as err:
                for metric in IDENTITY_METRICS:
                    if metric in self.metrics:
                        self._mark_unavailable(metric, str(err))

    def _mark_unavailable(self, metric: Metric, reason: str) -> None:
        self.unavailable[metric.value] = reason
        self.per_image.pop(metric.value, None)

    @torch.no_grad()
    def update(self, sr_face: Tensor, hr_face: Tensor, *, landmarks68: Tensor | None = None) -> None:
        """Add a batch. ``landmarks68`` (B, 68, 2) in HR pixels, when known, aligns the identity embedding."""
        if self.quantize:
            sr_face, hr_face = quantize_8bit(sr_face), quantize_8bit(hr_face)
        crop = self.crop_border
        pixel_fns = {Metric.PSNR: (psnr, False), Metric.PSNR_Y: (psnr, True), Metric.SSIM: (ssim, False),
                     Metric.SSIM_Y: (ssim, True), Metric.MS_SSIM: (ms_ssim, False)}
        for metric in self.metrics:
            if metric in pixel_fns:
                fn, y = pixel_fns[metric]
                self.per_image[metric.value] += fn(sr_face, hr_face, y_channel=y, crop_border=crop).tolist()
        if Metric.VGG_PERCEPTUAL in self.metrics or Metric.FD_VGG19 in self.metrics:
            self._update_vgg(sr_face, hr_face)
        wanted = [m for m in IDENTITY_METRICS if m.value in self.per_image]
        if wanted:  # one pair of embeddings per face feeds both identity scores
            scores = dict(zip(IDENTITY_METRICS, _identity_scores(sr_face, hr_face, landmarks68=landmarks68)))
            for metric in wanted:
                self.per_image[metric.value] += scores[metric].tolist()

    def _update_vgg(self, sr_face: Tensor, hr_face: Tensor) -> None:
        if self._vgg_model is None:
            # the process-wide CPU instance, or a private copy on an accelerator (the shared one stays on CPU)
            self._vgg_model = _vgg() if self.device.type == "cpu" else VGG19().to(self.device)
        both = torch.cat([sr_face, hr_face]).float().to(self.device)
        feats = self._vgg_model.forward_intermediates(both, DEFAULT_LAYERS)
        b = sr_face.shape[0]
        if Metric.VGG_PERCEPTUAL in self.metrics:
            value = _perceptual_from_features([f[:b] for f in feats], [f[b:] for f in feats])
            self.per_image[Metric.VGG_PERCEPTUAL.value] += value.cpu().tolist()
        if Metric.FD_VGG19 in self.metrics:
            pooled = feats[DEFAULT_LAYERS.index(FD_LAYER)].mean(dim=(2, 3))
            self._emb_sr.append(pooled[:b].cpu())
            self._emb_hr.append(pooled[b:].cpu())

    def compute(self) -> dict:
        """``{"means": {metric: float}, "per_image": {metric: [float]}, "unavailable": {metric: reason}, "n_images": N}``.

        PSNR means are means of per-image dB (the papers' convention); an image pair with PSNR ``inf``
        (identical) makes the mean ``inf``. NaN per-image values (identity where no face was found) are left
        out of the means and counted under ``skipped``.
        """
        means = {name: _mean(values) for name, values in self.per_image.items()}
        if Metric.FD_VGG19 in self.metrics and self._emb_sr:
            emb_sr, emb_hr = torch.cat(self._emb_sr), torch.cat(self._emb_hr)
            if len(emb_sr) >= 2:
                means[Metric.FD_VGG19.value] = frechet_distance(emb_sr, emb_hr)
            else:
                self.unavailable[Metric.FD_VGG19.value] = "FD-VGG19 needs at least 2 images"
        n_images = max((len(v) for v in self.per_image.values()), default=sum(len(e) for e in self._emb_sr))
        ordered = {m.value: means[m.value] for m in self.metrics if m.value in means}
        skipped = {name: int(np.isnan(values).sum()) for name, values in self.per_image.items()
                   if values and np.isnan(values).any()}
        return {"means": ordered, "per_image": dict(self.per_image), "unavailable": dict(self.unavailable),
                "skipped": skipped, "n_images": n_images}


def _mean(values: list[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return float(np.mean(finite)) if finite else math.nan


def evaluate_pairs(sr_faces: Tensor | Iterable[Tensor], hr_faces: Tensor | Iterable[Tensor], *, scale: int | None = None,
                   metrics: Iterable[Metric | str] = DEFAULT_METRICS, crop_border: int = 0,
                   quantize: bool = True, batch_size: int = 8) -> dict:
    """Metrics of SR faces against their HR faces: (N, 3, H, W) tensors or iterables of (B, 3, H, W) batches.

    ``crop_border`` defaults to 0 (faces are aligned crops: their borders matter); pass ``crop_border=scale``
    to follow the SR-paper convention. Returns ``MetricSuite.compute()``'s dict plus the ``settings`` used.
    """
    suite = MetricSuite(metrics, crop_border=crop_border, quantize=quantize)
    if isinstance(sr_faces, Tensor):
        sr_faces, hr_faces = sr_faces.split(batch_size), hr_faces.split(batch_size)
    for sr, hr in zip(sr_faces, hr_faces, strict=True):
        suite.update(sr, hr)
    return {**suite.compute(), "settings": {"scale": scale, "crop_border": crop_border, "quantize_8bit": quantize}}


def evaluate_model(model: torch.nn.Module, dataset, *, metrics: Iterable[Metric | str] = DEFAULT_METRICS,
                   batch_size: int = 8, crop_border: int = 0, quantize: bool = True,
                   device: str | torch.device | None = None, progress: bool = True, desc: str | None = None) -> dict:
    """Run ``model`` over an evaluation set and measure its SR faces against the HR faces.

    ``dataset`` yields dicts with ``lr_face`` (3, h, w) and ``hr_face`` (3, h*scale, w*scale) and optionally
    ``name`` (``fsr_edge.data.FaceDataset(..., train=False)`` does). The model runs in eval mode under
    ``no_grad``; its training mode is restored afterwards. Returns ``MetricSuite.compute()``'s dict plus
    ``names`` (per-image order), ``seconds`` (model time only) and ``settings``.
    """
    import time

    from torch.utils.data import DataLoader
    from tqdm import tqdm

    from .errors import ConfigError

    data_scale = getattr(dataset, "scale", None)
    model_scale = getattr(model, "scale", None)
    if data_scale is not None and model_scale is not None and int(data_scale) != int(model_scale):
        raise ConfigError(f"model {desc or type(model).__name__} upscales x{model_scale} but the evaluation set "
                          f"is x{data_scale}; pick a x{data_scale} model or change --scale")
    if device is None:
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
    suite = MetricSuite(metrics, crop_border=crop_border, quantize=quantize, device=device)
    names: list[str] = []
    seconds = 0.0
    was_training = model.training
    model.eval()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0)
    try:
        with torch.no_grad():
            for batch in tqdm(loader, desc=desc or "evaluating", unit="batch", disable=not progress, leave=False):
                lr_face, hr_face = batch["lr_face"].to(device), batch["hr_face"]
                t0 = time.perf_counter()
                sr_face = model(lr_face)
                if sr_face.is_cuda:
                    torch.cuda.synchronize(sr_face.device)   # kernels are asynchronous: time their completion
                seconds += time.perf_counter() - t0
                if sr_face.shape != hr_face.shape:
                    raise ConfigError(f"model {desc or type(model).__name__} turned {tuple(lr_face.shape)} into "
                                      f"{tuple(sr_face.shape)}, expected {tuple(hr_face.shape)}")
                suite.update(sr_face.float().cpu().clamp(0, 1), hr_face, landmarks68=batch.get("landmarks68"))
                names += list(batch.get("name", [str(len(names) + i) for i in range(len(hr_face))]))
    finally:
        model.train(was_training)
    return {**suite.compute(), "names": names, "seconds": seconds,
            "settings": {"crop_border": crop_border, "quantize_8bit": quantize, "batch_size": batch_size,
                         "scale": model_scale or data_scale}}
