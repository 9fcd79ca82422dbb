"""A re-parameterisable student: SESR-style collapsible linear blocks (Bhardwaj et al., "Collapsible Linear
Blocks for Super-Efficient Super Resolution", MLSys 2022).

At training time every conv is a *linear* block: a k x k conv to a wide ``expand`` width, then a 1x1 conv back,
plus an identity residual where the widths agree; no non-linearity inside, so the block is one k x k conv in
disguise. The extra width only changes how gradient descent walks (over-parameterisation helps small nets
train); :meth:`SESR.reparameterize` folds every block into that single plain conv, and the exported network is
a chain of plain 3x3/5x5 convs with PReLU, pixel shuffle and the bilinear skip: nothing a CPU runtime or an
INT8 quantizer has to special-case.

Shape: head 5x5 (3 -> f), ``m`` 3x3 blocks (f -> f) each followed by PReLU, a long residual over the body,
tail 3x3 by default (f -> 3 scale^2), depth-to-space, plus the bilinear upsample of the input.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._registry import register_model

__all__ = ["CollapsibleConv", "SESR", "sesr_x4", "sesr_x8"]


class CollapsibleConv(nn.Module):
    """k x k conv (cin -> expand) then 1x1 (expand -> cout), + x when cin == cout; or, once folded, one k x k conv.

    (B, cin, H, W) -> (B, cout, H, W).
    """

    def __init__(self, cin: int, cout: int, k: int, expand: int, *, deploy: bool = False):
        super().__init__()
        self.cin, self.cout, self.k = cin, cout, k
        self.residual = cin == cout
        if deploy:
            self.conv = nn.Conv2d(cin, cout, k, padding=k // 2)
        else:
            self.expand = nn.Conv2d(cin, expand, k, padding=k // 2)
            self.squeeze = nn.Conv2d(expand, cout, 1)

    @property
    def folded(self) -> bool:
        return hasattr(self, "conv")

    def forward(self, x: Tensor) -> Tensor:
        if self.folded:
            return self.conv(x)
        y = self.squeeze(self.expand(x))
        return y + x if self.residual else y

    @torch.no_grad()
    def fold(self) -> nn.Conv2d:
        """The single conv equal to this block: W = W_1x1 . W_kxk (+ identity at the centre tap)."""
        if self.folded:
            return self.conv
        w1, b1 = self.expand.weight, self.expand.bias            # (E, cin, k, k), (E,)
        w2 = self.squeeze.weight[:, :, 0, 0]                      # (cout, E)
        weight = torch.einsum("oe,eikl->oikl", w2, w1)
        bias = w2 @ b1 + self.squeeze.bias
        if self.residual:
            weight[torch.arange(self.cout), torch.arange(self.cin), self.k // 2, self.k // 2] += 1.0
        conv = nn.Conv2d(self.cin, self.cout, self.k, padding=self.k // 2).to(weight.device, weight.dtype)
        conv.weight.copy_(weight)
        conv.bias.copy_(bias)
        return conv

    def reparameterize(self) -> None:
        """Replace the expanded branches by the folded conv, in place."""
        if not self.folded:
            conv = self.fold()
            del self.expand, self.squeeze
            self.conv = conv


class SESR(nn.Module):
    """(B, 3, h, w) RGB [0, 1] -> (B, 3, h*scale, w*scale).

    f: body width; m: number of 3x3 blocks; expand: training-time width inside each block (SESR uses 256);
    tail_kernel: the output conv's kernel (SESR's 5x5 costs 2.8x the 3x3 there, where 3 scale^2 outputs dominate);
    deploy=True builds the folded network directly (what a saved, reparameterized model loads into).
    """

    def __init__(self, scale: int, f: int = 32, m: int = 6, expand: int = 128, *, tail_kernel: int = 3,
                 lr_size: int | None = None, deploy: bool = False):
        super().__init__()
        self.scale, self.lr_size = scale, lr_size or 256 // scale
        self.head = CollapsibleConv(3, f, 5, expand, deploy=deploy)
        self.head_act = nn.PReLU(f)
        self.body = nn.ModuleList(CollapsibleConv(f, f, 3, expand, deploy=deploy) for _ in range(m))
        self.body_act = nn.ModuleList(nn.PReLU(f) for _ in range(m))
        self.tail = CollapsibleConv(f, 3 * scale * scale, tail_kernel, expand, deploy=deploy)
        self.shuffle = nn.PixelShuffle(scale)
        self.feature_info = ([dict(num_chs=f, reduction=scale, module="head_act")]
                             + [dict(num_chs=f, reduction=scale, module=f"body_act.{i}") for i in range(m)])
        self._init_weights()

    def _init_weights(self) -> None:
        # A near-zero output layer: training starts from the bilinear skip rather than from noise on top of it.
        last = self.tail.conv if self.tail.folded else self.tail.squeeze
        nn.init.normal_(last.weight, std=1e-3)
        nn.init.zeros_(last.bias)

    def forward_features(self, lr_face: Tensor) -> tuple[Tensor, list[Tensor]]:
        """SR output and the body's maps, in order: head, block_1..m (each after its PReLU)."""
        feats = [self.head_act(self.head(lr_face))]
        x = feats[0]
        for block, act in zip(self.body, self.body_act):
            x = act(block(x))
            feats.append(x)
        sr_face = self.shuffle(self.tail(x + feats[0]))   # long residual over the body
        sr_face = sr_face + F.interpolate(lr_face, scale_factor=self.scale, mode="bilinear", align_corners=False)
        return sr_face, feats

    def forward(self, lr_face: Tensor) -> Tensor:
        return self.forward_features(lr_face)[0]

    def reparameterize(self) -> "SESR":
        """Fold every collapsible block into one plain conv (in place; outputs unchanged to float rounding).
        Save the result with ``deploy=True`` in its kwargs so it loads into the folded shape."""
        for module in self.modules():
            if isinstance(module, CollapsibleConv):
                module.reparameterize()
        return self


@register_model
def sesr_x8(**kw) -> SESR:
    return SESR(scale=8, **kw)


@register_model
def sesr_x4(**kw) -> SESR:
    return SESR(scale=4, **kw)


def _register_bundled() -> None:
    """``sesr-x8``: the SESR x8 student trained by the recipes/sesr_x8*.yaml chain (seed 0), folded for export."""
    from ._registry import WEIGHTS_DIR, register_pretrained

    if (WEIGHTS_DIR / "sesr_x8.safetensors").exists():
        register_pretrained("sesr-x8", arch="sesr_x8", weights="sesr_x8.safetensors",
                            description="SESR x8 student (collapsible blocks folded into plain 3x3 convs), output "
                                        "distillation from pisr-x8, trained with photometric and crop jitter",
                            f=48, m=6, expand=96, deploy=True)


_register_bundled()
