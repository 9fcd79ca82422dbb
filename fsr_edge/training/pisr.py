"""PISR's two training methods (brief section 2; seeds/002): the HR-seeing teacher, then the distilled student.

Batch entries, ``(B, 3, H, W)`` RGB float32 in [0, 1]: ``hr_face``, ``lr_face`` (real, degraded LR: the
student's input), ``lr_clean`` (antialiased bicubic LR: the teacher's imitation target).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..losses import laplace_vid_loss
from .methods import Method


class PISRTeacherMethod(Method):
    """``L^T = L1(sr_face, hr_face) + lambda_imitation * L1(compressed, lr_clean)``; the model is a PISRTeacher."""

    def __init__(self, *, lambda_imitation: float = 1.0):
        super().__init__()
        self.lambda_imitation = lambda_imitation

    def losses(self, model: nn.Module, batch: dict[str, Any]) -> dict[str, Tensor]:
        sr_face, _, compressed = model.forward_features(batch["hr_face"])
        recon = F.l1_loss(sr_face, batch["hr_face"])
        imitation = F.l1_loss(compressed, batch["lr_clean"])
        return {"loss": recon + self.lambda_imitation * imitation, "recon": recon, "imitation": imitation}

    def predict(self, model: nn.Module, batch: dict[str, Any]) -> Tensor:
        return model(batch["hr_face"])  # the teacher's own reconstruction: it sees HR


class LaplaceHead(nn.Module):
    """From a student feature (B, C_s, h, w), predict the teacher feature's Laplace location ``mu`` and scale ``b > 0``
    (B, C_t, h, w). Training only: dropped with the method, never part of the shipped student."""

    def __init__(self, student_channels: int, teacher_channels: int, *, hidden: int = 64, min_scale: float = 0.05):
        super().__init__()
        # A floor on b bounds the 1/b gain of the distillation gradient: where the student already matches the
        # teacher (clean LR, decoder init) b would otherwise collapse and the VID term swamp the L1 term.
        self.min_scale = min_scale
        self.body = nn.Sequential(nn.Conv2d(student_channels, hidden, 3, padding=1), nn.PReLU(hidden),
                                  nn.Conv2d(hidden, 2 * teacher_channels, 1))

    def forward(self, student_feat: Tensor) -> tuple[Tensor, Tensor]:
        mu, raw_b = self.body(student_feat).chunk(2, dim=1)
        return mu, F.softplus(raw_b) + self.min_scale


class PISRStudent(Method):
    """``L^S = L1(sr_face, hr_face) + lambda_distill * mean(log b + |f_T - mu| / b)`` at one decoder layer.

    ``teacher``: weights of a trained PISRTeacher (``.safetensors`` from ``save_model`` or a bundled name); frozen.
    ``distill_layer``: index into ``forward_features``' list (0 extract, 1 shrink, 2..m+1 mapping, m+2 expand;
    negative counts from the end); never the output. ``init_from_teacher``: start the student from the
    teacher's decoder (the paper). ``lambda_distill=0`` gives the w/o-KD baseline with the same init.
    """

    frozen_modules = ("teacher",)

    def __init__(self, *, teacher: str, distill_layer: int = -1, lambda_distill: float = 1.0,
                 init_from_teacher: bool = True, head_hidden: int = 64, min_scale: float = 0.05):
        super().__init__()
        from ..models import load_model

        self.teacher = load_model(teacher).requires_grad_(False).eval()  # offline KD: the teacher must not drift
        self.distill_layer, self.lambda_distill, self.init_from_teacher = distill_layer, lambda_distill, init_from_teacher
        self.head: LaplaceHead | None = None
        if lambda_distill > 0:
            with torch.no_grad():
                probe = torch.zeros(1, 3, 2 * self.teacher.sr_scale, 2 * self.teacher.sr_scale)
                channels = self.teacher.forward_features(probe)[1][distill_layer].shape[1]
            # the student has the decoder's structure, so its feature has the teacher's channel count
            self.head = LaplaceHead(channels, channels, hidden=head_hidden, min_scale=min_scale)

    def prepare(self, model: nn.Module) -> None:
        if self.init_from_teacher:
            model.load_state_dict(self.teacher.decoder.state_dict())

    def train(self, mode: bool = True) -> "PISRStudent":
        super().train(mode)
        self.teacher.eval()
        return self

    def losses(self, model: nn.Module, batch: dict[str, Any]) -> dict[str, Tensor]:
        sr_face, student_feats = model.forward_features(batch["lr_face"])
        recon = F.l1_loss(sr_face, batch["hr_face"])
        out = {"recon": recon}
        loss = recon
        if self.head is not None:
            with torch.no_grad():
                _, teacher_feats, _ = self.teacher.forward_features(batch["hr_face"])
            mu, b = self.head(student_feats[self.distill_layer])
            distill = laplace_vid_loss(teacher_feats[self.distill_layer], mu, b)
            loss = loss + self.lambda_distill * distill
            out["distill"] = distill
        out["loss"] = loss
        return out
