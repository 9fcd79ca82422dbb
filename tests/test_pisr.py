"""PISR models and methods: teacher/student shapes, decoder == student structure, VID head, bundled weights."""

from __future__ import annotations

import pytest
import torch

from fsr_edge.models import create_model, list_models, load_model, save_model
from fsr_edge.training.pisr import LaplaceHead, PISRStudent, PISRTeacherMethod

TINY = {"d": 8, "s": 4, "m": 1}


@pytest.mark.parametrize("scale", [4, 8])
def test_teacher_compresses_hr_to_lr_size_and_its_decoder_is_the_student(scale):
    teacher = create_model(f"pisr_teacher_x{scale}")
    student = create_model(f"pisr_student_x{scale}")
    assert (teacher.scale, teacher.lr_size, teacher.sr_scale) == (1, 256, scale)  # registry contract: HR -> HR
    hr_face = torch.rand(2, 3, 64, 64)
    sr_face, feats = teacher.forward_features(hr_face)
    compressed = teacher.encoder(hr_face)
    assert compressed.shape == (2, 3, 64 // scale, 64 // scale)
    assert sr_face.shape == hr_face.shape
    dec, stu = teacher.decoder.state_dict(), student.state_dict()
    assert dec.keys() == stu.keys() and all(dec[k].shape == stu[k].shape for k in dec)
    _, student_feats = student.forward_features(compressed)
    assert [f.shape for f in student_feats] == [f.shape for f in feats]


@pytest.mark.parametrize("upsampler", ["pixelshuffle", "deconv"])
def test_a_deep_fsrcnn_starts_at_the_bilinear_skip_with_a_live_body(upsampler):
    # With PyTorch's default conv init a 12-layer mapping shrank the signal to nothing and training stayed at the
    # bilinear output (measured); He init keeps the last mapping feature alive, and the near-zero output layer
    # makes the untrained network start at the bilinear upsample.
    torch.manual_seed(0)
    model = create_model("fsrcnn_x8", d=32, s=32, m=12, upsampler=upsampler)
    lr_face = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        sr_face, feats = model.forward_features(lr_face)
    bilinear = torch.nn.functional.interpolate(lr_face, scale_factor=8, mode="bilinear", align_corners=False)
    assert (sr_face - bilinear).abs().max() < 0.05
    assert feats[-2].std() > 0.2 * feats[1].std()   # last mapping layer vs shrink


def test_student_is_initialised_from_the_decoder_and_ships_without_the_head(tmp_path):
    teacher = create_model("pisr_teacher_x4", **TINY)
    path = save_model(teacher, tmp_path / "t.safetensors", arch="pisr_teacher_x4", kwargs=TINY)
    method = PISRStudent(teacher=str(path), distill_layer=-2, lambda_distill=0.5)
    student = create_model("pisr_student_x4", **TINY)
    method.prepare(student)
    assert all(torch.equal(a, b) for a, b in zip(student.state_dict().values(), teacher.decoder.state_dict().values()))
    batch = {"hr_face": torch.rand(2, 3, 32, 32), "lr_face": torch.rand(2, 3, 8, 8)}
    losses = method.losses(student, batch)
    assert set(losses) == {"loss", "recon", "distill"}
    losses["loss"].backward()
    assert method.head.body[0].weight.grad is not None                     # the head trains...
    assert all(p.grad is None for p in method.teacher.parameters())        # ...the teacher does not
    assert {id(p) for p in method.main_parameters()} == {id(p) for p in method.head.parameters()}
    assert not any("head" in k for k in student.state_dict())             # the shipped student has no head
    baseline = PISRStudent(teacher=str(path), lambda_distill=0.0)
    assert baseline.head is None and set(baseline.losses(student, batch)) == {"loss", "recon"}


def test_teacher_features_are_cached_per_view_and_match_a_fresh_forward(tmp_path):
    teacher = create_model("pisr_teacher_x4", **TINY)
    path = save_model(teacher, tmp_path / "t.safetensors", arch="pisr_teacher_x4", kwargs=TINY)
    method = PISRStudent(teacher=str(path), distill_layer=-2, lambda_distill=0.5)
    hr_face = torch.rand(3, 3, 32, 32)
    fresh = teacher.eval().forward_features(hr_face)[1][-2]
    first = method.teacher_feature({"hr_face": hr_face, "view": ["a|full", "b|full", "a|full|hflip"]})
    assert torch.allclose(first, fresh, atol=1e-6)
    assert len(method._teacher_cache) == 3
    # a later batch in another order: served from the cache, bit-identical to the first computation
    again = method.teacher_feature({"hr_face": hr_face.flip(0), "view": ["a|full|hflip", "b|full", "a|full"]})
    assert torch.equal(again, first.flip(0))
    # the byte bound: nothing more is kept once the budget is spent, and results stay correct
    method.teacher_cache_mb = 0
    extra = method.teacher_feature({"hr_face": hr_face[:1], "view": ["c|full"]})
    assert "c|full" not in method._teacher_cache and torch.allclose(extra, fresh[:1], atol=1e-6)
    # teacher_cache_mb=0 from the config (crop-jitter recipes): every batch recomputed, nothing held
    uncached = PISRStudent(teacher=str(path), distill_layer=-2, lambda_distill=0.5, teacher_cache_mb=0)
    assert torch.allclose(uncached.teacher_feature({"hr_face": hr_face, "view": ["a|full"] * 3}), fresh, atol=1e-6)
    assert not uncached._teacher_cache


def test_face_dataset_views_name_the_crop_and_flip(faces_dir):
    from fsr_edge.data import FaceDataset

    ds = FaceDataset(faces_dir, split="val", hr_size=64, scale=8, degradation="clean", crop=None, train=True,
                     progress=False)
    views = {}
    for epoch in range(4):
        ds.set_epoch(epoch)
        item = ds[0]
        prev = views.setdefault(item["view"], item["hr_face"])
        assert torch.equal(prev, item["hr_face"])      # same view, same HR face
    assert set(views) <= {f"{item['name']}|full", f"{item['name']}|full|hflip"}


def test_laplace_head_scale_is_positive_and_the_loss_prefers_the_right_scale():
    from fsr_edge.losses import laplace_vid_loss

    head = LaplaceHead(4, 6)
    mu, b = head(torch.randn(2, 4, 5, 5) * 10)
    assert mu.shape == b.shape == (2, 6, 5, 5) and bool((b > 0).all())
    f_t = torch.randn(1000)
    mu = torch.zeros_like(f_t)
    best = f_t.abs().mean()
    assert laplace_vid_loss(f_t, mu, best.expand_as(f_t)) < laplace_vid_loss(f_t, mu, (2 * best).expand_as(f_t))
    assert laplace_vid_loss(f_t, mu, best.expand_as(f_t)) < laplace_vid_loss(f_t, mu, (best / 2).expand_as(f_t))


def test_teacher_method_losses_and_prediction_use_the_hr_face():
    teacher = create_model("pisr_teacher_x8", **TINY)
    method = PISRTeacherMethod(lambda_imitation=2.0)
    batch = {"hr_face": torch.rand(2, 3, 32, 32), "lr_clean": torch.rand(2, 3, 4, 4)}
    losses = method.losses(teacher, batch)
    assert torch.allclose(losses["loss"], losses["recon"] + 2.0 * losses["imitation"])
    assert method.predict(teacher, batch).shape == (2, 3, 32, 32)


BUNDLED = [n for n in list_models(pretrained=True) if n.startswith("pisr-")]


def test_pisr_x8_is_bundled():
    assert "pisr-x8" in BUNDLED, "fsr_edge/models/weights/pisr_x8.safetensors is missing"


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_pisr_weights_load_and_upscale(name):
    model = load_model(name)
    out = model(torch.rand(1, 3, model.lr_size, model.lr_size))  # the teacher's lr_size is its HR input side
    assert out.shape == (1, 3, 256, 256) and torch.isfinite(out).all()


def test_upscale_cli_with_the_bundled_pisr_x8(tmp_path):
    """`fsr-edge upscale --model pisr-x8 --aligned` on a 32x32 face crop (skimage's astronaut: no data folder needed)."""
    import numpy as np
    from PIL import Image
    from skimage.data import astronaut

    from fsr_edge.cli import main

    face = Image.fromarray(astronaut()[30:230, 140:340]).resize((32, 32), Image.BICUBIC)
    face.save(tmp_path / "face.png")
    assert main(["upscale", str(tmp_path / "face.png"), "-o", str(tmp_path / "out"), "--model", "pisr-x8",
                 "--aligned", "--no-progress"]) == 0
    out = np.asarray(Image.open(tmp_path / "out" / "face.png"))
    assert out.shape[:2] == (256, 256)
