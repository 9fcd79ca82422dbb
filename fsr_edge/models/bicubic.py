"""Bicubic upsampling as a model: the baseline row of every table, and a parameter-free CLI smoke test."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._registry import register_model, register_pretrained


class Bicubic(nn.Module):
    """No layers, so no intermediate features: ``forward_features`` returns ``(sr_face, [])``."""

    feature_info: list[dict] = []

    def __init__(self, scale: int, lr_size: int | None = None):
        super().__init__()
        self.scale = scale
        self.lr_size = lr_size or 256 // scale

    def forward_features(self, lr_face: Tensor) -> tuple[Tensor, list[Tensor]]:
        return self.forward(lr_face), []

    def forward(self, lr_face: Tensor) -> Tensor:
        return F.interpolate(lr_face, scale_factor=self.scale, mode="bicubic", align_corners=False).clamp(0, 1)


@register_model
def bicubic_x4(**kw) -> Bicubic:
    return Bicubic(scale=4, **kw)


@register_model
def bicubic_x8(**kw) -> Bicubic:
    return Bicubic(scale=8, **kw)


register_pretrained("bicubic-x4", arch="bicubic_x4", weights=None, description="bicubic baseline, 64->256")
register_pretrained("bicubic-x8", arch="bicubic_x8", weights=None, description="bicubic baseline, 32->256")
