"""``Method``: what a recipe optimises, as an ``nn.Module`` the loop can checkpoint and wrap in DDP.

Tensor contract for every batch entry the methods read: ``(B, 3, H, W)`` RGB float32 in [0, 1]
(``lr_face``: the degraded LR input; ``hr_face``: ground truth; ``lr_clean``: antialiased bicubic LR).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class Method(nn.Module):
    """Base class; see ``fsr_edge.training`` for the API the loop relies on."""

    frozen_modules: tuple[str, ...] = ()

    def prepare(self, model: nn.Module) -> None:
        """Once, before DDP and before any checkpoint restore (a resumed run overwrites what this sets)."""

    def losses(self, model: nn.Module, batch: dict[str, Any]) -> dict[str, Tensor]:
        raise NotImplementedError

    def on_step(self, step: int, max_steps: int) -> None:
        """Before each training step, with the number of steps done (e.g. a loss weight schedule). Derive
        everything from ``step``: a resumed run calls it again from the restored step, with no state saved."""

    def aux_modules(self) -> dict[str, nn.Module]:
        return {}

    def aux_losses(self, model: nn.Module, batch: dict[str, Any]) -> dict[str, Tensor]:
        raise NotImplementedError(f"{type(self).__name__} has aux_modules() but no aux_losses()")

    def predict(self, model: nn.Module, batch: dict[str, Any]) -> Tensor:
        return model(batch["lr_face"])

    def main_parameters(self) -> list[nn.Parameter]:
        """The method's own params trained with the model (e.g. a distillation head)."""
        skip = {id(p) for m in self.aux_modules().values() for p in m.parameters()}
        for name in self.frozen_modules:
            skip |= {id(p) for p in getattr(self, name).parameters()}
        return [p for p in self.parameters() if p.requires_grad and id(p) not in skip]

    def forward(self, model: nn.Module, batch: dict[str, Any], aux: bool = False) -> dict[str, Tensor]:
        # DDP calls this through the loop's wrapper; routing both phases through forward keeps grads synced
        return self.aux_losses(model, batch) if aux else self.losses(model, batch)


def load_initial_weights(model: nn.Module, weights: str | None) -> None:
    """Start ``model`` from saved weights (a bundled name or a run's ``.safetensors``: a fine-tuning stage);
    nothing when ``weights`` is None. Called from ``Method.prepare``, so a resumed run still restores its own
    checkpoint over it."""
    if weights:
        from ..models import load_model

        model.load_state_dict(load_model(weights).state_dict())


class L1SR(Method):
    """Plain supervised SR: ``L = mean |sr_face - hr_face|`` (the w/o-KD baseline)."""

    def __init__(self, *, init_from: str | None = None):
        super().__init__()
        self.init_from = init_from

    def prepare(self, model: nn.Module) -> None:
        load_initial_weights(model, self.init_from)

    def losses(self, model: nn.Module, batch: dict[str, Any]) -> dict[str, Tensor]:
        sr_face = model(batch["lr_face"])
        l1 = F.l1_loss(sr_face, batch["hr_face"])
        return {"loss": l1, "l1": l1}


class OutputKD(L1SR):
    """L1 to the HR face plus L1 to a frozen teacher's SR of the same LR face (output distillation):
    ``L = mean |sr_face - hr_face| + lambda_kd * mean |sr_face - teacher(lr_face)|``.

    ``teacher``: an LR -> HR model of the same scale (a bundled name or a ``.safetensors``), frozen and in eval
    mode throughout; ``teacher_flip``: the target is the mean of the teacher's SR of the face and of its mirror
    image (flipped back), a self-ensemble that is a better target than one pass (pisr-x8 on wild, clean LR:
    +0.17 dB) at twice the teacher's cost per step; ``init_from``: as in :class:`L1SR`.
    """

    frozen_modules = ("teacher",)

    def __init__(self, *, teacher: str, lambda_kd: float = 1.0, teacher_flip: bool = False,
                 init_from: str | None = None):
        super().__init__(init_from=init_from)
        from ..models import load_model

        self.teacher = load_model(teacher).requires_grad_(False).eval()
        self.lambda_kd = float(lambda_kd)
        self.teacher_flip = bool(teacher_flip)

    def train(self, mode: bool = True) -> "OutputKD":
        super().train(mode)
        self.teacher.eval()
        return self

    def losses(self, model: nn.Module, batch: dict[str, Any]) -> dict[str, Tensor]:
        sr_face = model(batch["lr_face"])
        with torch.no_grad():
            target = self.teacher(batch["lr_face"])
            if self.teacher_flip:
                target = 0.5 * (target + self.teacher(batch["lr_face"].flip(-1)).flip(-1))
        l1 = F.l1_loss(sr_face, batch["hr_face"])
        kd = F.l1_loss(sr_face, target)
        return {"loss": l1 + self.lambda_kd * kd, "l1": l1, "kd": kd}
