"""RoIAlign and its reverse (paste back) from plain ``F.affine_grid`` + ``F.grid_sample``.

torchvision's ``roi_align`` is not usable here (no CPU build that imports beside this torch), and these two ops
export cleanly to ONNX. Tensor contract, stated once:

    feat:   (B, C, H, W) feature map
    boxes:  (B, 4) one box per image, (x0, y0, x1, y1) in the feature map's continuous pixel coordinates
            (pixel i covers [i, i + 1), like torchvision's ``aligned=True``)
    patch:  (B, C, S, S) the box resampled to S x S (one bilinear sample per output bin, at the bin centre)

``roi_align`` of an integer box whose size equals ``out_size`` is an exact crop; for other sizes it equals
``F.interpolate(crop, size, mode="bilinear", align_corners=False)`` (same sample positions).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["roi_align", "reverse_roi_align", "scale_boxes"]


def _check(feat: Tensor, boxes: Tensor) -> None:
    if boxes.dim() != 2 or boxes.shape[1] != 4 or boxes.shape[0] != feat.shape[0]:
        raise ValueError(f"boxes must be (B, 4) with B = {feat.shape[0]}, got {tuple(boxes.shape)}")


def roi_align(feat: Tensor, boxes: Tensor, *, out_size: int | tuple[int, int]) -> Tensor:
    """Crop each image's box from ``feat`` and resample it to ``out_size`` (bilinear, border padding)."""
    _check(feat, boxes)
    out_h, out_w = (out_size, out_size) if isinstance(out_size, int) else out_size
    b, c, h, w = feat.shape
    boxes = boxes.to(feat.dtype)
    x0, y0, x1, y1 = boxes.unbind(1)
    bw, bh = x1 - x0, y1 - y0
    # Normalised output coordinate v in [-1, 1] -> normalised input coordinate: v * (bw / W) + (2 x0 + bw) / W - 1
    zero = torch.zeros_like(x0)
    theta = torch.stack([torch.stack([bw / w, zero, (2 * x0 + bw) / w - 1], 1),
                         torch.stack([zero, bh / h, (2 * y0 + bh) / h - 1], 1)], 1)
    grid = F.affine_grid(theta, [b, c, out_h, out_w], align_corners=False)
    return F.grid_sample(feat, grid, mode="bilinear", padding_mode="border", align_corners=False)


def reverse_roi_align(base: Tensor, patches: Tensor, boxes: Tensor) -> Tensor:
    """Paste ``patches`` (B, C, S, S) back into ``base`` (B, C, H, W) at ``boxes``; the inverse resampling of
    ``roi_align``. Outside the box ``base`` is kept; the box's one-pixel rim blends bilinearly (the sampled mask
    fades there), so pasting never leaves a hard seam.

    Eagerly only the window around the boxes is resampled (the same values: the mask is exactly 0 beyond half
    a patch pixel outside a box); under tracing/export the whole map is, so the graph has static shapes."""
    _check(base, boxes)
    if torch.compiler.is_compiling() or torch.jit.is_tracing() or torch.onnx.is_in_onnx_export():
        return _paste(base, patches, boxes)
    h, w = base.shape[-2:]
    side = patches.shape[-1]
    with torch.no_grad():
        margin = int(torch.ceil((boxes[:, 2:] - boxes[:, :2]).max() / side).item()) + 1
        x_lo, y_lo = (max(0, int(v) - margin) for v in boxes[:, :2].min(0).values.floor().tolist())
        x_hi, y_hi = (int(v) + margin for v in boxes[:, 2:].max(0).values.ceil().tolist())
    x_hi, y_hi = min(w, x_hi), min(h, y_hi)
    if x_lo >= x_hi or y_lo >= y_hi:   # every box lies outside the map
        return base
    shift = boxes.new_tensor([x_lo, y_lo, x_lo, y_lo])
    window = _paste(base[..., y_lo:y_hi, x_lo:x_hi], patches, boxes - shift)
    out = base.clone()
    out[..., y_lo:y_hi, x_lo:x_hi] = window
    return out


def _paste(base: Tensor, patches: Tensor, boxes: Tensor) -> Tensor:
    b, c, h, w = base.shape
    boxes = boxes.to(base.dtype)
    x0, y0, x1, y1 = boxes.unbind(1)
    bw, bh = x1 - x0, y1 - y0
    # Inverse map: normalised base coordinate X -> patch coordinate u = X * W / bw + (W - 2 x0) / bw - 1
    zero = torch.zeros_like(x0)
    theta = torch.stack([torch.stack([w / bw, zero, (w - 2 * x0) / bw - 1], 1),
                         torch.stack([zero, h / bh, (h - 2 * y0) / bh - 1], 1)], 1)
    grid = F.affine_grid(theta, [b, c, h, w], align_corners=False)
    pasted = F.grid_sample(patches, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    ones = torch.ones_like(patches[:, :1])
    mask = F.grid_sample(ones, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return base * (1 - mask) + pasted


def scale_boxes(boxes: Tensor, factor: float) -> Tensor:
    """Boxes from image pixels to a feature map ``factor`` times the image size (e.g. 1/4 for stride 4)."""
    return boxes * factor
