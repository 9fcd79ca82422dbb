"""The bundled MSKD models (mskd-x8, mskd-teacher-x8): load on a fresh install, honour the SR contract, and the
shipped files stay small. Skipped with the reason when the weights are not bundled in this checkout."""

from __future__ import annotations

import torch

from fsr_edge.models import list_models, load_model, pretrained_spec
from fsr_edge.models._registry import WEIGHTS_DIR

from conftest import require


def _need(name: str) -> None:
    require(name in list_models(pretrained=True),
            f"{name} weights are not bundled in this checkout (python -m research.bundle mskd)")


def test_mskd_x8_edge_student_contract_and_size():
    _need("mskd-x8")
    model = load_model("mskd-x8")
    assert (WEIGHTS_DIR / pretrained_spec("mskd-x8").weights).stat().st_size < 4 * 2**20
    with torch.no_grad():
        sr_face, feats = model.forward_features(torch.rand(1, 3, 32, 32))
    assert sr_face.shape == (1, 3, 256, 256) and len(feats) == 3 and torch.isfinite(sr_face).all()


def test_mskd_teacher_ships_with_its_fp16_dictionary_and_template():
    _need("mskd-teacher-x8")
    spec = pretrained_spec("mskd-teacher-x8")
    files = [spec.weights, *spec.kwargs["dictionary"]]
    assert all((WEIGHTS_DIR / f).stat().st_size < 4 * 2**20 for f in files)
    teacher = load_model("mskd-teacher-x8")
    teacher.detect_landmarks = False          # the template path; detection is exercised by the upscale CLI
    assert teacher.template_landmarks.abs().sum() > 0     # a real mean face, not zeros
    assert float(teacher.atoms_left_eye_relu3_4.abs().sum()) > 0
    with torch.no_grad():
        sr_face = teacher(torch.rand(1, 3, 32, 32))
    assert sr_face.shape == (1, 3, 256, 256) and torch.isfinite(sr_face).all()
