"""OutputKD: L1 to the HR face plus L1 to a frozen teacher's SR; the teacher never trains and never leaves eval."""

from __future__ import annotations

import torch

from fsr_edge.models import create_model, save_model
from fsr_edge.training import OutputKD


def _teacher_file(tmp_path):
    torch.manual_seed(0)
    teacher = create_model("sesr_x4", f=8, m=1, expand=8, deploy=True)
    return teacher, save_model(teacher, tmp_path / "teacher.safetensors", arch="sesr_x4",
                               kwargs={"f": 8, "m": 1, "expand": 8, "deploy": True})


def test_output_kd_loss_terms_and_frozen_teacher(tmp_path):
    teacher, path = _teacher_file(tmp_path)
    method = OutputKD(teacher=str(path), lambda_kd=0.5)
    batch = {"lr_face": torch.rand(2, 3, 8, 8), "hr_face": torch.rand(2, 3, 32, 32)}
    # a student equal to the teacher: no distillation loss, the total is the L1 to HR alone
    out = method.losses(teacher, batch)
    assert float(out["kd"]) < 1e-7 and torch.allclose(out["loss"], out["l1"])
    student = create_model("sesr_x4", f=8, m=1, expand=8)
    out = method.losses(student, batch)
    assert torch.allclose(out["loss"], out["l1"] + 0.5 * out["kd"]) and float(out["kd"]) > 0
    out["loss"].backward()
    assert all(p.grad is None for p in method.teacher.parameters())
    assert not any(p.requires_grad for p in method.teacher.parameters())
    assert not method.main_parameters()          # nothing of the teacher reaches the optimizer
    method.train()
    assert not method.teacher.training


def test_output_kd_starts_from_init_from(tmp_path):
    teacher, path = _teacher_file(tmp_path)
    student = create_model("sesr_x4", f=8, m=1, expand=8, deploy=True)
    OutputKD(teacher=str(path), init_from=str(path)).prepare(student)
    assert all(torch.equal(a, b) for a, b in zip(student.state_dict().values(), teacher.state_dict().values()))


def test_output_kd_teacher_flip_targets_the_mirrored_pair_mean(tmp_path):
    teacher, path = _teacher_file(tmp_path)
    batch = {"lr_face": torch.rand(2, 3, 8, 8), "hr_face": torch.rand(2, 3, 32, 32)}
    flip = OutputKD(teacher=str(path), teacher_flip=True)
    with torch.no_grad():
        pair_mean = 0.5 * (teacher(batch["lr_face"]) + teacher(batch["lr_face"].flip(-1)).flip(-1))
    # a student that outputs exactly the mirrored-pair mean has no distillation loss, while the plain teacher does
    # (a random net is not mirror-symmetric), so the flag really changes the target
    assert float(flip.losses(lambda lr: pair_mean, batch)["kd"]) < 1e-7
    assert float(flip.losses(teacher, batch)["kd"]) > 1e-4
    assert float(OutputKD(teacher=str(path)).losses(teacher, batch)["kd"]) < 1e-7
