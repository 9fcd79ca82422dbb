"""The edge student: a small SR network shaped for mobile/edge runtimes, with explicit multi-scale features.

LR body at the input size, then progressive x2 stages (conv -> depth-to-space), so the features at 1/8, 1/4
and 1/2 of the output size are real tensors the MSKD recipe can match to the teacher's scales through 1x1
adapters (training only). Plain ReLU (quantizes and fuses well everywhere), channel counts in multiples of 16.

Deployment shape (measured in docs/results/export_int8.md): the defaults below are the shipped shape.
INT8 beats fp32 on OpenVINO (VNNI) and ExecuTorch/XNNPACK delegates the whole graph (pixel shuffle and the
bilinear skip included). What costs time on CPU runtimes is not the shape but how pixel shuffle is lowered
(DepthToSpace, not 6-D transposes: the exporters go through ONNX for OpenVINO) and quantizing the
full-resolution output add (kept float). A learned conv skip (3 -> 192 + depth-to-space) instead of the
bilinear one was measured and was not faster. ``block_channels`` only exists so structured pruning
(fsr_edge.exporters.prune) can narrow each residual block's inner width; training uses the default.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from ._registry import register_model


def _conv(cin: int, cout: int, k: int = 3) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, padding=k // 2)


class _ResBlock(nn.Module):
    def __init__(self, ch: int, inner: int | None = None):
        super().__init__()
        inner = inner or ch
        self.conv1, self.conv2 = _conv(ch, inner), _conv(inner, ch)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv2(F.relu(self.conv1(x)))


class EdgeSR(nn.Module):
    """(B, 3, h, w) RGB [0, 1] -> (B, 3, 8h, 8w).

    ``forward_features`` returns the SR face and features coarse to fine: ``feature_channels[i]`` channels at
    ``feature_strides[i]`` (output pixels per feature pixel), e.g. 32x32, 64x64, 128x128 for a 32x32 input.
    """

    def __init__(self, scale: int = 8, *, channels: tuple[int, int, int] = (32, 32, 16), blocks: int = 4,
                 lr_size: int | None = None, block_channels: tuple[int, ...] | None = None):
        super().__init__()
        if scale != 8:
            raise ValueError("EdgeSR is built for x8 (three x2 stages)")
        c0, c1, c2 = channels
        self.scale, self.lr_size = scale, lr_size or 256 // scale
        self.feature_channels = (c0, c1, c2)
        self.feature_strides = (8, 4, 2)
        self.feature_info = [dict(num_chs=c, reduction=r, module=m)
                             for c, r, m in zip(self.feature_channels, self.feature_strides, ("body", "up1", "up2"))]
        self.head = _conv(3, c0)
        if block_channels is not None and len(block_channels) != blocks:
            raise ValueError(f"block_channels has {len(block_channels)} entries for {blocks} blocks")
        inner = tuple(block_channels) if block_channels is not None else (c0,) * blocks
        self.body = nn.Sequential(*[_ResBlock(c0, w) for w in inner])
        self.up1 = nn.Sequential(_conv(c0, 4 * c1), nn.PixelShuffle(2), nn.ReLU())
        self.up2 = nn.Sequential(_conv(c1, 4 * c2), nn.PixelShuffle(2), nn.ReLU())
        self.to_rgb = nn.Sequential(_conv(c2, 4 * 3), nn.PixelShuffle(2))

    def forward_features(self, lr_face: Tensor, *, pre_activation: bool = False) -> tuple[Tensor, list[Tensor]]:
        """``pre_activation``: the 1/4 and 1/2 maps before their ReLU (what feature distillation should match:
        the ReLU drops the negative half, which the teacher's maps have; Heo et al., ICCV 2019). The 1/8 map is
        a residual sum, never rectified. The SR face is the same either way."""
        f8 = self.body(self.head(lr_face))          # 1/8 of the output size
        if pre_activation:                          # training only: conv, depth-to-space, keep it, then ReLU
            conv4, shuffle4, relu4 = self.up1
            conv2, shuffle2, relu2 = self.up2
            p4 = shuffle4(conv4(f8))
            f4 = relu4(p4)
            p2 = shuffle2(conv2(f4))
            f2 = relu2(p2)
        else:                                       # the exported graph: whole blocks (QAT states name their nodes)
            f4 = self.up1(f8)                       # 1/4
            f2 = self.up2(f4)                       # 1/2
        sr_face = self.to_rgb(f2) + F.interpolate(lr_face, scale_factor=self.scale, mode="bilinear",
                                                  align_corners=False)
        return sr_face, [f8, p4, p2] if pre_activation else [f8, f4, f2]

    def forward(self, lr_face: Tensor) -> Tensor:
        return self.forward_features(lr_face)[0]


@register_model
def edge_sr_x8(**kw) -> EdgeSR:
    return EdgeSR(scale=8, **kw)
