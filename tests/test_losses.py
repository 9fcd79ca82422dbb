"""Losses: values at known points, minimisers, gradient flow, and the VGG loss' scale on real faces."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from fsr_edge.losses import (DEFAULT_SCALE, VGGPerceptualLoss, feature_l2_loss, laplace_vid_loss,
                             lsgan_discriminator_loss, lsgan_generator_loss)
from fsr_edge.vgg import VGG19


@pytest.fixture(scope="module")
def vgg_loss():
    return VGGPerceptualLoss()


def test_vgg_loss_zero_on_identical_positive_otherwise_and_gradients_reach_only_sr(vgg_loss):
    gen = torch.Generator().manual_seed(0)
    hr_face = torch.rand(2, 3, 48, 48, generator=gen)
    assert vgg_loss(hr_face, hr_face).item() == pytest.approx(0.0, abs=1e-7)
    sr_face = (hr_face + 0.1 * torch.randn(hr_face.shape, generator=gen)).clamp(0, 1).requires_grad_(True)
    loss = vgg_loss(sr_face, hr_face)
    loss.backward()
    assert loss.item() > 0 and sr_face.grad is not None and sr_face.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in vgg_loss.vgg.parameters())
    vgg_loss.train()
    assert not vgg_loss.vgg.training


def test_vgg_loss_options_are_honoured():
    vgg = VGG19(max_block=2)
    hr_face = torch.rand(1, 3, 32, 32)
    sr_face = torch.rand(1, 3, 32, 32)
    raw = VGGPerceptualLoss(layers=("relu1_2", "relu2_2"), normalize="none", scale=1.0, vgg=vgg)
    feats_sr, feats_hr = vgg.forward_intermediates(sr_face, raw.layers), vgg.forward_intermediates(hr_face, raw.layers)
    expected = sum((a - b).abs().mean() for a, b in zip(feats_sr, feats_hr))
    assert raw(sr_face, hr_face).item() == pytest.approx(expected.item(), rel=1e-5)
    assert raw(sr_face, hr_face.half()).item() == pytest.approx(expected.item(), rel=1e-2)  # fp16 HR cache
    only_first = VGGPerceptualLoss(layers=("relu1_2", "relu2_2"), layer_weights=(1.0, 0.0), normalize="none",
                                   scale=1.0, vgg=vgg)
    assert only_first(sr_face, hr_face).item() == pytest.approx((feats_sr[0] - feats_hr[0]).abs().mean().item(), rel=1e-5)
    with pytest.raises(ValueError, match="layer_weights"):
        VGGPerceptualLoss(layers=("relu1_2",), layer_weights=(1.0, 1.0), vgg=vgg)


def test_vgg_loss_scale_balances_the_papers_weights_on_real_faces(faces_dir, vgg_loss):
    """DEFAULT_SCALE claims 20 * L_vgg ~ 100 * MSE at the bicubic x8 start; re-measure on the val faces."""
    from fsr_edge.data import FaceDataset
    from fsr_edge.models import load_model

    ds = FaceDataset(faces_dir, split="val", hr_size=128, scale=8, degradation="clean", train=False, progress=False)
    items = [ds[i] for i in range(0, len(ds), 6)]
    hr_face = torch.stack([it["hr_face"] for it in items])
    with torch.no_grad():
        sr_face = load_model("bicubic-x8")(torch.stack([it["lr_face"] for it in items]))
        ratio = (20 * vgg_loss(sr_face, hr_face)) / (100 * F.mse_loss(sr_face, hr_face))
    assert 1 / 3 < ratio.item() < 3, f"20*L_vgg / 100*MSE = {ratio.item():.2f} (DEFAULT_SCALE={DEFAULT_SCALE})"


def test_lsgan_losses():
    ones, zeros = torch.ones(4, 1, 3, 3), torch.zeros(4, 1, 3, 3)
    assert lsgan_generator_loss(ones).item() == 0.0
    assert lsgan_generator_loss(zeros).item() == 1.0
    assert lsgan_discriminator_loss(ones, zeros).item() == 0.0
    assert lsgan_discriminator_loss(zeros, ones).item() == 2.0
    assert lsgan_discriminator_loss(torch.full((2,), 0.5), torch.full((2,), 0.5)).item() == pytest.approx(0.5)
    d_fake = torch.zeros(3, requires_grad=True)
    lsgan_generator_loss(d_fake).backward()
    assert torch.allclose(d_fake.grad, torch.full((3,), -2 / 3))   # pushes D(fake) up towards 1


def test_feature_l2_loss_detaches_teacher_and_checks_shapes():
    student = torch.randn(2, 8, 4, 4, requires_grad=True)
    teacher = torch.randn(2, 8, 4, 4, requires_grad=True)
    loss = feature_l2_loss(student, teacher)
    assert loss.item() == pytest.approx(F.mse_loss(student, teacher).item())
    loss.backward()
    assert student.grad is not None and teacher.grad is None
    with pytest.raises(ValueError, match="same shape"):
        feature_l2_loss(student, torch.randn(2, 4, 4, 4))


def test_laplace_vid_loss_minimisers_and_gradients():
    gen = torch.Generator().manual_seed(3)
    teacher = torch.randn(2, 4, 5, 5, generator=gen)
    mu = teacher + 0.3 * torch.randn(teacher.shape, generator=gen)
    # For a fixed mu and one shared scale b, the minimum is at b = mean |f_T - mu|.
    b_star = (teacher - mu).abs().mean()
    best = laplace_vid_loss(teacher, mu, b_star)
    assert best.item() == pytest.approx((torch.log(b_star) + 1).item(), rel=1e-6)
    for factor in (0.5, 0.9, 1.1, 2.0):
        assert laplace_vid_loss(teacher, mu, b_star * factor) > best
    # For any b, mu = f_T is best.
    assert laplace_vid_loss(teacher, teacher, b_star) < laplace_vid_loss(teacher, mu, b_star)
    # Per-channel b broadcasts; gradients reach mu and b (the student's head), not the teacher.
    mu_p = mu.clone().requires_grad_(True)
    log_b = torch.zeros(1, 4, 1, 1, requires_grad=True)
    t = teacher.clone().requires_grad_(True)
    laplace_vid_loss(t, mu_p, log_b.exp()).backward()
    assert mu_p.grad.abs().sum() > 0 and log_b.grad.abs().sum() > 0 and t.grad is None
    # Gradient descent on b finds b*.
    b = torch.tensor(1.0, requires_grad=True)
    opt = torch.optim.Adam([b], lr=0.05)
    for _ in range(300):
        opt.zero_grad()
        laplace_vid_loss(teacher, mu, b).backward()
        opt.step()
    assert b.item() == pytest.approx(b_star.item(), rel=0.02)
