"""Whole-photo face super-resolution: detect, align, restore every face with an SR model, paste back.

The model contract is fsr_edge's: ``sr_face = model(lr_face)``, (B, 3, lr, lr) -> (B, 3, lr*scale, lr*scale),
RGB float32 in [0, 1], with ``model.scale`` and ``model.lr_size``. A model that needs landmarks (the DFDNet
teacher) finds them itself: this pipeline stays generic.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ImageError
from ..io import MAX_PIXELS
from .align import AlignedFace, align_face, paste_face
from .detect import Detector, Face, detect_faces

# Faces per model call: bounds memory on group photos, big enough to amortise the call overhead.
_BATCH = 16


@dataclass
class UpscaledPhoto:
    rgb: np.ndarray                    # (H*scale, W*scale, 3) float32 in [0, 1]
    alpha: np.ndarray | None           # (H*scale, W*scale) float32, bicubic-upscaled input alpha
    faces: list[Face] = field(default_factory=list)       # detections in the input photo's pixels
    aligned: list[AlignedFace] = field(default_factory=list)  # HR-size aligned crops (matrix: photo -> crop)


def check_upscaled_size(height: int, width: int, scale: int, *, name: str = "photo") -> None:
    """Refuse an output over fsr_edge's pixel limit before spending any time on it."""
    out_h, out_w = height * scale, width * scale
    if out_h * out_w > MAX_PIXELS:
        raise ImageError(f"{name}: {width}x{height} upscaled x{scale} would be {out_w}x{out_h} "
                         f"({out_w * out_h / 1e6:.1f} MP), over the {MAX_PIXELS // 1_000_000} MP output limit; "
                         "crop or downscale it first, or upscale aligned face crops with --aligned")


def bicubic_upscale(image: np.ndarray, scale: int) -> np.ndarray:
    """(H, W, C) float32 -> (H*scale, W*scale, C), the same bicubic as the ``bicubic-x*`` baseline models."""
    chw = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)).permute(2, 0, 1)[None]
    up = F.interpolate(chw, scale_factor=scale, mode="bicubic", align_corners=False).clamp_(0.0, 1.0)
    return np.ascontiguousarray(up[0].permute(1, 2, 0).numpy())


def lr_face_from_photo(rgb: np.ndarray, landmarks68: np.ndarray, *, lr_size: int, scale: int) -> tuple[AlignedFace, torch.Tensor]:
    """Aligned HR-size crop and the model's (3, lr_size, lr_size) input made from it.

    Aligning at the HR size and then downsampling with the training pairs' own antialiased bicubic
    (``fsr_edge.data.bicubic_downsample``) gives the model inputs made exactly like its training LR faces
    (84 dB PSNR to them on the raw test photos at 32 px, vs 48 dB when aligning straight to 32 px, whose
    Lanczos-antialiased warp is a slightly different low-pass filter).
    """
    from ..data.degradations import bicubic_downsample

    aligned = align_face(rgb, landmarks68, size=lr_size * scale)
    hr_face = torch.from_numpy(aligned.crop).permute(2, 0, 1)
    return aligned, bicubic_downsample(hr_face, scale)


@torch.inference_mode()
def upscale_photo(rgb: np.ndarray, model: nn.Module, *, alpha: np.ndarray | None = None, upsample: int = 1,
                  max_side: int = 800, detector: Detector | str = Detector.HOG, name: str = "photo") -> UpscaledPhoto:
    """Upscale a whole photo by ``model.scale``: bicubic background, every detected face restored by ``model``."""
    scale, lr_size = int(model.scale), int(model.lr_size)
    h, w = rgb.shape[:2]
    check_upscaled_size(h, w, scale, name=name)
    faces = detect_faces(rgb, upsample=upsample, max_side=max_side, detector=detector)
    layers = rgb if alpha is None else np.concatenate([rgb, alpha[..., None]], axis=2)
    background = bicubic_upscale(layers, scale)
    out_rgb = np.ascontiguousarray(background[..., :3])
    out_alpha = None if alpha is None else np.ascontiguousarray(background[..., 3])
    del background
    pairs = [lr_face_from_photo(rgb, f.landmarks68, lr_size=lr_size, scale=scale) for f in faces]
    aligned = [a for a, _ in pairs]
    # Smallest faces first (detections come largest first), so where two crops overlap the larger face,
    # restored from more pixels, ends on top.
    order = pairs[::-1]
    for start in range(0, len(order), _BATCH):
        chunk = order[start:start + _BATCH]
        lr_faces = torch.stack([lr for _, lr in chunk]).to(_device_of(model))
        sr_faces = model(lr_faces).clamp(0.0, 1.0).cpu()
        for (face, _), sr_face in zip(chunk, sr_faces):
            crop = np.ascontiguousarray(sr_face.permute(1, 2, 0).float().numpy())
            paste_face(out_rgb, crop, face.matrix, scale=scale, crop_size=face.size, inplace=True)
    return UpscaledPhoto(out_rgb, out_alpha, faces, aligned)


@torch.inference_mode()
def upscale_aligned(lr_face: np.ndarray, model: nn.Module, *, name: str = "face") -> np.ndarray:
    """One aligned LR crop (lr_size, lr_size, 3) -> (lr_size*scale, lr_size*scale, 3) through ``model``."""
    lr_size = int(model.lr_size)
    h, w = lr_face.shape[:2]
    if (h, w) != (lr_size, lr_size):
        raise ImageError(f"{name}: aligned input must be {lr_size}x{lr_size} (the model's input size), got {w}x{h}")
    x = torch.from_numpy(np.ascontiguousarray(lr_face, dtype=np.float32)).permute(2, 0, 1)[None]
    sr_face = model(x.to(_device_of(model))).clamp(0.0, 1.0)[0].cpu()
    return np.ascontiguousarray(sr_face.permute(1, 2, 0).float().numpy())


def _device_of(model: nn.Module) -> torch.device:
    """Where the model's weights live (CPU for parameter-free models like bicubic)."""
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")
