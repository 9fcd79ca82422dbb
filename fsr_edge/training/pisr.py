"""PISR's two training methods (Lee et al., ECCV 2020): the HR-seeing teacher, then the distilled student.

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
        compressed = model.encoder(batch["hr_face"])
        sr_face, _ = model.decoder.forward_features(compressed)
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
    ``teacher_cache_mb``: memory for the teacher's features per HR view (0: recompute every batch).
    """

    frozen_modules = ("teacher",)

    def __init__(self, *, teacher: str, distill_layer: int = -1, lambda_distill: float = 1.0,
                 init_from_teacher: bool = True, head_hidden: int = 64, min_scale: float = 0.05,
                 teacher_cache_mb: float = 1024):
        super().__init__()
        from ..models import load_model

        self.teacher = load_model(teacher).requires_grad_(False).eval()  # offline KD: the teacher must not drift
        self.distill_layer, self.lambda_distill, self.init_from_teacher = distill_layer, lambda_distill, init_from_teacher
        self.head: LaplaceHead | None = None
        # The frozen teacher's distilled feature per HR view (face + crop/flip, batch["view"]): on whole faces
        # with flips there are only 2 x n_faces views, and the teacher's HR-resolution encoder costs more than
        # the student's own step on a CPU. Computed one face at a time, so a cached feature is bit-identical
        # to a fresh one whatever batch it first came in (resume and DDP stay exact). Bounded in bytes; with crop
        # jitter nearly every view is new, so such recipes set teacher_cache_mb: 0 rather than hold dead memory.
        self._teacher_cache: dict[str, Tensor] = {}
        self._teacher_cache_bytes, self.teacher_cache_mb = 0, float(teacher_cache_mb)
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
            mu, b = self.head(student_feats[self.distill_layer])
            distill = laplace_vid_loss(self.teacher_feature(batch), mu, b)
            loss = loss + self.lambda_distill * distill
            out["distill"] = distill
        out["loss"] = loss
        return out

    @torch.no_grad()
    def teacher_feature(self, batch: dict[str, Any]) -> Tensor:
        """The teacher's feature at ``distill_layer`` for the batch's HR faces, from the per-view cache when the
        batch names its views (``FaceDataset`` items do; wrappers that drop ``view`` get a batched forward)."""
        hr_face, views = batch["hr_face"], batch.get("view")
        if views is None:
            return self.teacher.forward_features(hr_face)[1][self.distill_layer]
        feats = []
        for i, view in enumerate(views):
            feat = self._teacher_cache.get(view)
            if feat is None:
                feat = self.teacher.forward_features(hr_face[i:i + 1])[1][self.distill_layer][0]
                size = feat.numel() * feat.element_size()
                if self._teacher_cache_bytes + size <= self.teacher_cache_mb * 2**20:
                    self._teacher_cache[view] = feat
                    self._teacher_cache_bytes += size
            feats.append(feat)
        return torch.stack(feats)
