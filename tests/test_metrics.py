"""Metrics: agreement with scikit-image on real faces, sanity properties, FD-VGG19, the accumulating suite."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch
from skimage.color import rgb2ycbcr
from skimage.metrics import peak_signal_noise_ratio as sk_psnr
from skimage.metrics import structural_similarity as sk_ssim

from fsr_edge import metrics as M
from fsr_edge.models import load_model


@pytest.fixture(scope="module")
def val_pairs(faces_dir):
    """First 4 val faces at 256 px and their bicubic x8 reconstructions from the clean 32 px LR."""
    from fsr_edge.data import FaceDataset

    ds = FaceDataset(faces_dir, split="val", hr_size=256, scale=8, degradation="clean", train=False, preload=False)
    items = [ds[i] for i in range(4)]
    hr_face = torch.stack([it["hr_face"] for it in items])
    with torch.no_grad():
        sr_face = load_model("bicubic-x8")(torch.stack([it["lr_face"] for it in items]))
    return M.quantize_8bit(sr_face), M.quantize_8bit(hr_face)


def _hwc(t: torch.Tensor) -> np.ndarray:
    return t.permute(1, 2, 0).double().numpy()


@pytest.mark.parametrize("crop", [0, 8])
def test_psnr_ssim_rgb_agree_with_skimage_on_real_faces(val_pairs, crop):
    sr_face, hr_face = val_pairs
    ours_psnr = M.psnr(sr_face, hr_face, crop_border=crop)
    ours_ssim = M.ssim(sr_face, hr_face, crop_border=crop)
    c = slice(crop, -crop) if crop else slice(None)
    for i in range(len(sr_face)):
        a, b = _hwc(sr_face[i])[c, c], _hwc(hr_face[i])[c, c]
        assert ours_psnr[i].item() == pytest.approx(sk_psnr(b, a, data_range=1.0), abs=1e-3)
        ref = sk_ssim(a, b, channel_axis=2, data_range=1.0, gaussian_weights=True, sigma=1.5,
                      use_sample_covariance=False)
        assert ours_ssim[i].item() == pytest.approx(ref, abs=1e-3)
    # bicubic x8 of a face is a poor but recognisable reconstruction: the published VGGFace2 figure is 25.7 dB
    assert 20 < ours_psnr.mean().item() < 35 and 0.5 < ours_ssim.mean().item() < 0.95


def test_y_channel_metrics_agree_with_skimage_bt601(val_pairs):
    sr_face, hr_face = val_pairs
    ours_psnr = M.psnr(sr_face, hr_face, y_channel=True, crop_border=8)
    ours_ssim = M.ssim(sr_face, hr_face, y_channel=True, crop_border=8)
    for i in range(len(sr_face)):
        # skimage's rgb2ycbcr: ITU-R BT.601 studio swing, Y in [16, 235]; an independent implementation.
        a = rgb2ycbcr(_hwc(sr_face[i]))[8:-8, 8:-8, 0] / 255.0
        b = rgb2ycbcr(_hwc(hr_face[i]))[8:-8, 8:-8, 0] / 255.0
        assert ours_psnr[i].item() == pytest.approx(sk_psnr(b, a, data_range=1.0), abs=1e-3)
        ref = sk_ssim(a, b, data_range=1.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
        assert ours_ssim[i].item() == pytest.approx(ref, abs=1e-3)


def test_y_is_bt601_studio_swing():
    rgb = torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]).T.reshape(1, 3, 1, 2)
    y = M.rgb_to_y(rgb).flatten()
    assert y[0].item() == pytest.approx(16 / 255) and y[1].item() == pytest.approx(235 / 255, abs=1e-4)


def test_identical_images_and_noise_ordering():
    gen = torch.Generator().manual_seed(0)
    hr_face = torch.rand(1, 3, 180, 180, generator=gen)
    hr_face = torch.nn.functional.avg_pool2d(hr_face, 5, 1, 2)  # some structure, not pure noise
    assert torch.isinf(M.psnr(hr_face, hr_face)).all()
    assert torch.allclose(M.ssim(hr_face, hr_face), torch.ones(1), atol=1e-6)
    assert torch.allclose(M.ms_ssim(hr_face, hr_face), torch.ones(1), atol=1e-6)
    last = (math.inf, 1.0, 1.0)
    for sigma in (0.01, 0.05, 0.2):
        noisy = (hr_face + sigma * torch.randn(hr_face.shape, generator=gen)).clamp(0, 1)
        now = (M.psnr(noisy, hr_face).mean().item(), M.ssim(noisy, hr_face).mean().item(),
               M.ms_ssim(noisy, hr_face).mean().item())
        assert all(n < l for n, l in zip(now, last)), (sigma, now, last)
        last = now


def test_ms_ssim_runs_at_256_with_defaults_and_refuses_small_images():
    x = torch.rand(1, 3, 256, 256)
    y = (x + 0.05 * torch.randn_like(x)).clamp(0, 1)
    value = M.ms_ssim(y, x, crop_border=8).item()
    assert 0 < value < 1 and math.isfinite(value)
    with pytest.raises(ValueError, match="176"):
        M.ms_ssim(torch.rand(1, 3, 128, 128), torch.rand(1, 3, 128, 128))


def test_frechet_distance_matches_scipy_sqrtm_and_closed_forms():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(400, 8))
    b = rng.normal(size=(300, 8)) @ rng.normal(size=(8, 8)) + 1.5
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    ref = ((mu_a - mu_b) ** 2).sum() + np.trace(s_a + s_b - 2 * scipy.linalg.sqrtm(s_a @ s_b).real)
    assert M.frechet_distance(a, b) == pytest.approx(ref, rel=1e-6)
    assert M.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)
    shift = np.arange(8.0)
    assert M.frechet_distance(a, a + shift) == pytest.approx((shift ** 2).sum(), rel=1e-8)
    # Rank-deficient case (fewer samples than dimensions, as with 24 faces in 512-d): still finite and ~0 for itself
    few = rng.normal(size=(24, 512))
    assert M.frechet_distance(few, few) == pytest.approx(0.0, abs=1e-6)
    assert M.frechet_distance(few, few[::-1] * 1.5) > 1.0


def test_vgg_metrics_sanity():
    gen = torch.Generator().manual_seed(1)
    hr_face = torch.nn.functional.avg_pool2d(torch.rand(3, 3, 48, 48, generator=gen), 3, 1, 1)
    noisy = (hr_face + 0.1 * torch.randn(hr_face.shape, generator=gen)).clamp(0, 1)
    blurred = torch.nn.functional.avg_pool2d(hr_face, 5, 1, 2)
    assert torch.allclose(M.vgg_perceptual_distance(hr_face, hr_face), torch.zeros(3), atol=1e-6)
    d_noise = M.vgg_perceptual_distance(noisy, hr_face)
    assert ((d_noise > 0.05) & (d_noise < 10)).all()
    assert M.fd_vgg19(hr_face, hr_face) == pytest.approx(0.0, abs=1e-6)
    emb_hr, emb_noisy, emb_blurred = M.vgg19_embedding(torch.cat([hr_face, noisy, blurred])).split(3)
    assert emb_hr.shape == (3, 512)
    assert M.frechet_distance(emb_noisy, emb_hr) > 0 and M.frechet_distance(emb_blurred, emb_hr) > 0


def test_suite_accumulates_batches_like_one_pass():
    gen = torch.Generator().manual_seed(2)
    hr_face = torch.rand(5, 3, 48, 48, generator=gen)
    sr_face = (hr_face + 0.05 * torch.randn(hr_face.shape, generator=gen)).clamp(0, 1)
    chosen = ("psnr", "ssim_y", "vgg_perceptual", "fd_vgg19")
    whole = M.evaluate_pairs(sr_face, hr_face, scale=8, metrics=chosen, batch_size=5)
    parts = M.evaluate_pairs(sr_face, hr_face, scale=8, metrics=chosen, batch_size=2)
    assert whole["n_images"] == parts["n_images"] == 5
    assert list(whole["means"]) == list(chosen)
    for name in chosen:
        assert whole["means"][name] == pytest.approx(parts["means"][name], rel=1e-4, abs=1e-6)
    assert len(parts["per_image"]["psnr"]) == 5 and "fd_vgg19" not in parts["per_image"]
    assert parts["means"]["psnr"] == pytest.approx(np.mean(parts["per_image"]["psnr"]))


def test_identity_metric_is_a_number_or_reported_unavailable():
    hr_face = torch.rand(1, 3, 64, 64)   # noise: no face in it
    result = M.evaluate_pairs(hr_face, hr_face, scale=8, metrics=["psnr", "identity_cosine", "identity_distance"])
    if "identity_cosine" in result["unavailable"]:
        assert "identity_cosine" not in result["means"] and "dlib" in result["unavailable"]["identity_cosine"]
        assert "identity_distance" in result["unavailable"]
    else:  # no face found: the image is skipped, its value is not made up
        assert math.isnan(result["means"]["identity_cosine"]) and math.isnan(result["means"]["identity_distance"])
        assert result["skipped"] == {"identity_cosine": 1, "identity_distance": 1}


def test_identity_cosine_on_real_faces(val_pairs, faces_dir):
    pytest.importorskip("dlib", reason="identity similarity needs the fsr_edge[faces] extra (dlib)")
    sr_face, hr_face = val_pairs
    same = M.identity_cosine(hr_face[:2], hr_face[:2])               # landmarks found by dlib on the HR
    assert torch.allclose(same, torch.ones(2), atol=1e-5)
    degraded = M.identity_cosine(sr_face[:2], hr_face[:2])
    assert ((degraded > 0.5) & (degraded < 0.9999)).all(), degraded
    assert torch.allclose(M.identity_distance(hr_face[:2], hr_face[:2]), torch.zeros(2), atol=1e-4)
    # bicubic x8 of a clean 32 px face: still the same person by dlib's 0.6 rule, but not the same embedding
    dist = M.identity_distance(sr_face[:2], hr_face[:2])
    assert ((dist > 0.01) & (dist < 0.6)).all(), dist


def test_evaluate_model_runs_in_eval_mode_restores_mode_and_checks_scale():
    from fsr_edge.errors import ConfigError
    from fsr_edge.models import Bicubic

    class _Pairs(torch.utils.data.Dataset):   # the FaceDataset item contract, minus the files
        scale = 8

        def __init__(self):
            gen = torch.Generator().manual_seed(4)
            self.hr = torch.nn.functional.avg_pool2d(torch.rand(3, 3, 64, 64, generator=gen), 3, 1, 1)

        def __len__(self):
            return len(self.hr)

        def __getitem__(self, i):
            lr = torch.nn.functional.interpolate(self.hr[i:i + 1], size=8, mode="bicubic", antialias=True)[0]
            return {"hr_face": self.hr[i], "lr_face": lr.clamp(0, 1), "name": f"face{i}"}

    model = Bicubic(scale=8).train()
    result = M.evaluate_model(model, _Pairs(), metrics=["psnr", "ssim"], batch_size=2, progress=False)
    assert model.training and result["names"] == ["face0", "face1", "face2"]
    expected = M.psnr(M.quantize_8bit(model(torch.stack([_Pairs()[i]["lr_face"] for i in range(3)]))),
                      M.quantize_8bit(_Pairs().hr))
    assert result["per_image"]["psnr"] == pytest.approx(expected.tolist(), abs=1e-6)
    with pytest.raises(ConfigError, match="x4"):
        M.evaluate_model(Bicubic(scale=4), _Pairs(), metrics=["psnr"], progress=False)
