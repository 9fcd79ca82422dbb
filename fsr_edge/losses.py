"""Training losses of the two recipes, as small modules and pure functions.

- MSKD (Table/eqs. 3-7): ``VGGPerceptualLoss`` (L_vgg), ``lsgan_generator_loss`` / ``lsgan_discriminator_loss``
  (per-scale feature discriminators) and ``feature_l2_loss`` (L2 feature matching); the recipe writes
  ``loss = 100 * mse + 20 * vgg + kd``.
- PISR: ``laplace_vid_loss`` (variational information distillation with a Laplace model).

Image contract: (B, 3, H, W), RGB, float32 in [0, 1]. Teacher tensors are detached here: distillation is
offline, the teacher never receives gradients from the student's loss.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .vgg import DEFAULT_LAYERS, VGG19

__all__ = ["FeatureNorm", "VGGPerceptualLoss", "feature_l2_loss", "laplace_vid_loss", "lsgan_discriminator_loss",
           "lsgan_generator_loss"]


class FeatureNorm(str, Enum):
    RELATIVE = "relative"   # each layer's L1 divided by the mean |f_i(GT)| of the batch: dimensionless
    NONE = "none"           # raw Caffe-scale features (layer means span 0.2 .. 300 on faces)


# Chosen so that, on real aligned faces at the bicubic x8 starting point, 20 * L_vgg is about 100 * MSE
# (measured on 15 train faces at 256 px: relative L_vgg summed over 5 layers 4.46, MSE 0.00229, so
# 100 * MSE / (20 * 4.46) = 1 / 390). On the 24 val faces: 20 * L_vgg = 0.226, 100 * MSE = 0.268, and the
# VGG term's gradient w.r.t. the SR pixels is 5.9x the MSE term's: neither term of the paper's 100 / 20
# weighting drowns the other. tests/test_losses.py re-measures the ratio on the val faces.
DEFAULT_SCALE = 1.0 / 400.0


class VGGPerceptualLoss(nn.Module):
    """MSKD's ``L_vgg = sum_{i=1..5} w_i ||f_i(I_SR) - f_i(I_GT)||_1``, f_i = VGG19 relu1_2..relu5_4.

    ``||.||_1`` is the mean absolute difference (every implementation's reading). With the Caffe weights the
    five layers' activations differ by three orders of magnitude (relu3_4 ~300, relu5_4 ~0.25 on faces), so
    by default (``FeatureNorm.RELATIVE``) each layer's L1 is divided by the mean activation of the GT
    features of the batch: every layer then counts by its relative error, as the equal weights intend. The
    sum is multiplied by ``scale`` (see ``DEFAULT_SCALE``). ``layer_weights`` defaults to equal weights.
    """

    def __init__(self, *, layers: Sequence[str] = DEFAULT_LAYERS, layer_weights: Sequence[float] | None = None,
                 normalize: FeatureNorm | str = FeatureNorm.RELATIVE, scale: float = DEFAULT_SCALE,
                 vgg: VGG19 | None = None):
        super().__init__()
        self.layers = tuple(layers)
        weights = tuple(layer_weights) if layer_weights is not None else (1.0,) * len(self.layers)
        if len(weights) != len(self.layers):
            raise ValueError(f"{len(weights)} layer_weights for {len(self.layers)} layers {self.layers}")
        self.layer_weights = weights
        self.normalize = FeatureNorm(normalize)
        self.scale = scale
        self.vgg = vgg if vgg is not None else VGG19()
        self.vgg.requires_grad_(False).eval()

    def forward(self, sr_face: Tensor, hr_face: Tensor) -> Tensor:
        dtype = self.vgg.conv1_1.weight.dtype   # e.g. fp16 cached HR faces meet the fp32 VGG
        sr_feats = self.vgg.forward_intermediates(sr_face.to(dtype), self.layers)
        with torch.no_grad():
            hr_feats = self.vgg.forward_intermediates(hr_face.to(dtype), self.layers)
        loss = sr_face.new_zeros(())
        for w, sr_f, hr_f in zip(self.layer_weights, sr_feats, hr_feats):
            term = F.l1_loss(sr_f, hr_f)
            if self.normalize is FeatureNorm.RELATIVE:
                term = term / hr_f.abs().mean().clamp_min(1e-8)
            loss = loss + w * term
        return self.scale * loss

    def train(self, mode: bool = True) -> "VGGPerceptualLoss":
        super().train(mode)
        self.vgg.eval()  # a frozen feature extractor: never in training mode
        return self


def lsgan_generator_loss(d_fake: Tensor) -> Tensor:
    """LSGAN generator term ``E[(D(fake) - 1)^2]`` (MSKD: D_i applied to the student's features)."""
    return (d_fake - 1).pow(2).mean()


def lsgan_discriminator_loss(d_real: Tensor, d_fake: Tensor) -> Tensor:
    """LSGAN discriminator loss ``E[(D(real) - 1)^2] + E[D(fake)^2]`` (MSKD eq. 7: teacher real, student fake).

    Pass ``d_fake`` computed on detached student features, so this loss trains only the discriminator.
    """
    return (d_real - 1).pow(2).mean() + d_fake.pow(2).mean()


def feature_l2_loss(student_feat: Tensor, teacher_feat: Tensor) -> Tensor:
    """``E[(F_S - F_T)^2]``: L2 feature matching; the teacher side is detached (offline distillation)."""
    if student_feat.shape != teacher_feat.shape:
        raise ValueError(f"student feature {tuple(student_feat.shape)} and teacher feature "
                         f"{tuple(teacher_feat.shape)} must have the same shape (add an adapter conv)")
    return F.mse_loss(student_feat, teacher_feat.detach())


def laplace_vid_loss(teacher_feat: Tensor, mu: Tensor, b: Tensor, *, eps: float = 1e-6) -> Tensor:
    """PISR's variational information distillation with a Laplace model: ``mean(log b + |f_T - mu| / b)``.

    ``mu`` and ``b`` are the location and scale predicted from the student's feature (same shape as f_T, or
    ``b`` broadcastable to it, e.g. one learned scale per channel); ``b`` must be positive (softplus it).
    This is the Laplace negative log-likelihood of f_T without its constant ``log 2``: for a fixed ``mu`` it
    is minimised at ``b = mean |f_T - mu|`` over the elements sharing ``b``, and for any ``b`` at ``mu = f_T``.
    """
    b = b.clamp_min(eps)
    return (torch.log(b) + (teacher_feat.detach() - mu).abs() / b).mean()
