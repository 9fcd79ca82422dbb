"""FSRCNN-style networks: the PISR decoder / student, and the default edge-sized SR body.

FSRCNN (Dong et al. 2016): extract (5x5, d) -> shrink (1x1, s) -> m x map (3x3, s) -> expand (1x1, d) -> upsample.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from ._registry import register_model


class FSRCNN(nn.Module):
    """(B, 3, h, w) RGB [0, 1] -> (B, 3, h*scale, w*scale).

    upsampler: "deconv" (the paper's transposed conv) or "pixelshuffle" (conv to 3*scale^2 then depth-to-space).
    skip: add a bilinear upsample of the input, so the network learns only the residual detail.
    """

    def __init__(self, scale: int, d: int = 56, s: int = 12, m: int = 4, *, lr_size: int | None = None,
                 upsampler: str = "deconv", skip: bool = True):
        super().__init__()
        if upsampler not in ("deconv", "pixelshuffle"):
            raise ValueError(f"upsampler must be 'deconv' or 'pixelshuffle', got {upsampler!r}")
        self.scale, self.lr_size, self.skip = scale, lr_size or 256 // scale, skip
        self.extract = nn.Sequential(nn.Conv2d(3, d, 5, padding=2), nn.PReLU(d))
        self.shrink = nn.Sequential(nn.Conv2d(d, s, 1), nn.PReLU(s))
        self.mapping = nn.ModuleList(nn.Sequential(nn.Conv2d(s, s, 3, padding=1), nn.PReLU(s)) for _ in range(m))
        self.expand = nn.Sequential(nn.Conv2d(s, d, 1), nn.PReLU(d))
        if upsampler == "deconv":
            # kernel 2*scale, stride scale, padding scale/2: output is exactly scale x the input
            self.upsample = nn.ConvTranspose2d(d, 3, 2 * scale, stride=scale, padding=scale // 2)
        else:
            self.upsample = nn.Sequential(nn.Conv2d(d, 3 * scale * scale, 3, padding=1), nn.PixelShuffle(scale))
        # every body map is at the LR input's size: scale output pixels per feature pixel
        self.feature_info = ([dict(num_chs=d, reduction=scale, module="extract"),
                              dict(num_chs=s, reduction=scale, module="shrink")]
                             + [dict(num_chs=s, reduction=scale, module=f"mapping.{i}") for i in range(m)]
                             + [dict(num_chs=d, reduction=scale, module="expand")])
        self._init_weights()

    def _init_weights(self) -> None:
        # He init for the PReLU body (PyTorch's default conv init shrinks the signal layer by layer: a 12-layer
        # mapping trained from it stayed at the bilinear output, measured), and a near-zero output layer so
        # training starts from the bilinear skip (or from zero) rather than from noise on top of it.
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, a=0.25, nonlinearity="leaky_relu")
                nn.init.zeros_(module.bias)
        out_conv = self.upsample if isinstance(self.upsample, nn.ConvTranspose2d) else self.upsample[0]
        nn.init.normal_(out_conv.weight, std=1e-3)
        nn.init.zeros_(out_conv.bias)

    def forward_features(self, lr_face: Tensor) -> tuple[Tensor, list[Tensor]]:
        """SR output and every intermediate feature map, in order: extract, shrink, map_1..m, expand."""
        feats = [self.extract(lr_face)]
        feats.append(self.shrink(feats[-1]))
        for layer in self.mapping:
            feats.append(layer(feats[-1]))
        feats.append(self.expand(feats[-1]))
        sr_face = self.upsample(feats[-1])
        if self.skip:
            sr_face = sr_face + F.interpolate(lr_face, scale_factor=self.scale, mode="bilinear", align_corners=False)
        return sr_face, feats

    def forward(self, lr_face: Tensor) -> Tensor:
        return self.forward_features(lr_face)[0]


@register_model
def fsrcnn_x4(**kw) -> FSRCNN:
    return FSRCNN(scale=4, **kw)


@register_model
def fsrcnn_x8(**kw) -> FSRCNN:
    return FSRCNN(scale=8, **kw)
