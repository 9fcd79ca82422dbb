"""Short distillation fine-tune shared by QAT and pruning: the compressed student matches the frozen fp32
student on the training degradations (and the ground truth when given)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def distill_finetune(student: nn.Module, *, teacher: nn.Module, lr_faces: list[Tensor],
                     hr_faces: list[Tensor] | None = None, steps: int = 100, lr: float = 1e-5, batch_size: int = 8,
                     gt_weight: float = 0.5, seed: int = 0, progress: bool = True, desc: str = "fine-tune") -> dict:
    """``lr_faces``: (1, 3, h, w) tensors; ``hr_faces``: matching (3, H, W) tensors or None.

    loss = L1(student(lr), teacher(lr)) + gt_weight * L1(student(lr), hr). Returns first/last loss.
    """
    from tqdm import tqdm

    teacher = teacher.eval().requires_grad_(False)   # offline KD: the teacher must not drift
    lr_all = torch.cat(lr_faces)
    hr_all = torch.stack(hr_faces) if hr_faces is not None else None
    with torch.no_grad():
        teacher_sr = torch.cat([teacher(lr_all[i:i + 16]) for i in range(0, len(lr_all), 16)])
    student.train()
    opt = torch.optim.Adam([p for p in student.parameters() if p.requires_grad], lr=lr)
    gen = torch.Generator().manual_seed(seed)
    first = last = float("nan")
    bar = tqdm(range(steps), desc=desc, unit="step", disable=not progress)
    for step in bar:
        idx = torch.randperm(len(lr_all), generator=gen)[:batch_size]
        sr_face = student(lr_all[idx])
        loss = F.l1_loss(sr_face, teacher_sr[idx])
        if hr_all is not None and gt_weight > 0:
            loss = loss + gt_weight * F.l1_loss(sr_face, hr_all[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        last = loss.item()
        first = last if step == 0 else first
        bar.set_postfix(loss=f"{last:.4f}")
    student.eval()
    return {"first_loss": first, "last_loss": last, "steps": steps}
