"""The MSKD eq. 8 degradation: every component applied, seeded bit for bit, replayable from its parameters."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from fsr_edge.data import (BlindDegradation, DegradationMode, DegradationParams, apply_degradation,
                           bicubic_downsample, blur_kernel, degrade, sample_degradation)
from fsr_edge.errors import ConfigError, ImageError

ONLY_BLUR = BlindDegradation(noise_prob=0.0, jpeg_prob=0.0)


def _face_like(size: int = 256, seed: int = 0) -> torch.Tensor:
    """Smooth shapes plus fine texture: enough detail for blur/JPEG to change, values away from 0 and 1."""
    g = torch.Generator().manual_seed(seed)
    y, x = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    base = 0.5 + 0.25 * torch.stack([torch.sin(5 * x + 3 * y), torch.cos(4 * y), torch.sin(7 * x * y)])
    texture = 0.1 * (torch.rand(3, size, size, generator=g) - 0.5)
    return (base + texture).clamp(0, 1)


@pytest.mark.parametrize("scale,lr_side", [(4, 64), (8, 32)])
@pytest.mark.parametrize("mode", list(DegradationMode))
def test_shapes_and_range(scale, lr_side, mode):
    lr_face = degrade(_face_like(), scale=scale, mode=mode, seed=1)
    assert lr_face.shape == (3, lr_side, lr_side) and lr_face.dtype == torch.float32
    assert 0.0 <= float(lr_face.min()) and float(lr_face.max()) <= 1.0


def test_same_seed_same_bits_other_seed_differs():
    hr_face = _face_like()
    a = degrade(hr_face, scale=8, mode="blind", seed=(3, 7))
    b = degrade(hr_face.clone(), scale=8, mode=DegradationMode.BLIND, seed=(3, 7))
    assert torch.equal(a, b)
    assert not torch.equal(a, degrade(hr_face, scale=8, mode="blind", seed=(3, 8)))
    assert not torch.equal(a, degrade(hr_face, scale=8, mode="blind", seed=(4, 7)))
    # numpy's SeedSequence ignores trailing zeros; the seed's length must still tell these apart
    assert not torch.equal(degrade(hr_face, scale=8, mode="blind", seed=5),
                           degrade(hr_face, scale=8, mode="blind", seed=(5, 0)))


def test_same_bits_whatever_the_thread_count():
    hr_face = _face_like()
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = [degrade(hr_face, scale=8, mode="blind", seed=(0, i)) for i in range(6)]
        torch.set_num_threads(2)
        two = [degrade(hr_face, scale=8, mode="blind", seed=(0, i)) for i in range(6)]
    finally:
        torch.set_num_threads(threads)
    assert all(torch.equal(a, b) for a, b in zip(one, two))


def test_params_replay_exactly_after_json_round_trip():
    import json

    hr_face = _face_like()
    for index in range(6):
        params = sample_degradation(scale=8, mode="blind", seed=(0, index))
        replayed = DegradationParams.from_dict(json.loads(json.dumps(params.to_dict())))
        assert torch.equal(apply_degradation(hr_face, replayed), degrade(hr_face, scale=8, mode="blind",
                                                                          seed=(0, index)))


def test_clean_is_antialiased_bicubic_and_blind_differs():
    hr_face = _face_like()
    clean = degrade(hr_face, scale=8, mode="clean", seed=0)
    assert torch.equal(clean, bicubic_downsample(hr_face, 8))
    # antialiasing: a 1-px checkerboard averages to grey instead of aliasing to black/white
    checker = ((torch.arange(256)[:, None] + torch.arange(256)[None, :]) % 2).float().expand(3, -1, -1)
    assert float((bicubic_downsample(checker, 8) - 0.5).abs().max()) < 0.02
    for index in range(5):
        blind = degrade(hr_face, scale=8, mode="blind", seed=(0, index))
        assert float((blind - clean).abs().mean()) > 1e-3


def test_blur_is_applied_and_grows_with_sigma():
    # Stripes of a 16-px period: a Gaussian of sigma s keeps exp(-2 pi^2 s^2 / 16^2) of their amplitude
    # (0.99 at s=0.3, 0.50 at s=3), and the x4 antialiased downsample keeps them visible at 4-px period.
    x = torch.arange(256, dtype=torch.float32)
    hr_face = (0.5 + 0.3 * torch.sin(2 * math.pi * x / 16)).expand(3, 256, 256).contiguous()
    amplitude = {}
    for sigma in (0.3, 3.0):
        cfg = BlindDegradation(blur_sigma=(sigma, sigma), motion_prob=0.0, anisotropic_prob=0.0,
                               noise_prob=0.0, jpeg_prob=0.0)
        amplitude[sigma] = float(degrade(hr_face, scale=4, mode="blind", seed=0, config=cfg).std())
    clean_amplitude = float(bicubic_downsample(hr_face, 4).std())
    assert amplitude[0.3] == pytest.approx(clean_amplitude, rel=0.02)
    assert amplitude[3.0] / amplitude[0.3] == pytest.approx(math.exp(-2 * math.pi**2 * 9 / 256), abs=0.05)


def test_kernels_sum_to_one_and_point_where_drawn():
    for index in range(30):
        params = sample_degradation(scale=8, mode="blind", seed=index, config=ONLY_BLUR)
        kern = blur_kernel(params)
        assert kern.shape == (params.kernel_size, params.kernel_size) and params.kernel_size % 2 == 1
        assert math.isclose(float(kern.sum()), 1.0, rel_tol=1e-5) and float(kern.min()) >= 0
    # motion blur: the kernel's principal axis follows theta
    cfg = BlindDegradation(motion_prob=1.0, motion_length=(13.0, 13.0), noise_prob=0.0, jpeg_prob=0.0)
    params = sample_degradation(scale=8, mode="blind", seed=5, config=cfg)
    kern = blur_kernel(params).double()
    assert params.kernel == "motion"
    r = (kern.shape[0] - 1) / 2
    ys, xs = torch.meshgrid(torch.arange(kern.shape[0]) - r, torch.arange(kern.shape[0]) - r, indexing="ij")
    cov = torch.tensor([[(kern * xs * xs).sum(), (kern * xs * ys).sum()],
                        [(kern * xs * ys).sum(), (kern * ys * ys).sum()]])
    evals, evecs = torch.linalg.eigh(cov)
    axis = evecs[:, -1]
    assert abs(float(axis[0] * math.cos(params.theta) + axis[1] * math.sin(params.theta))) > 0.98
    assert evals[-1] > 5 * evals[0]  # a line, not a blob
    # anisotropic Gaussian: elongated along its own theta
    cfg = BlindDegradation(anisotropic_prob=1.0, motion_prob=0.0, noise_prob=0.0, jpeg_prob=0.0)
    params = next(p for p in (sample_degradation(scale=8, mode="blind", seed=s, config=cfg) for s in range(100))
                  if p.sigma_x > 2 * p.sigma_y and p.sigma_y > 0.5)
    kern = blur_kernel(params).double()
    r = (kern.shape[0] - 1) / 2
    ys, xs = torch.meshgrid(torch.arange(kern.shape[0]) - r, torch.arange(kern.shape[0]) - r, indexing="ij")
    along = (kern * (xs * math.cos(params.theta) + ys * math.sin(params.theta)) ** 2).sum()
    across = (kern * (-xs * math.sin(params.theta) + ys * math.cos(params.theta)) ** 2).sum()
    assert along > 2 * across


def test_separable_isotropic_blur_matches_the_2d_kernel():
    import torch.nn.functional as F

    from fsr_edge.data.degradations import _blur

    hr_face = _face_like(64)
    cfg = BlindDegradation(motion_prob=0.0, anisotropic_prob=0.0, noise_prob=0.0, jpeg_prob=0.0)
    params = sample_degradation(scale=4, mode="blind", seed=1, config=cfg)
    assert params.kernel == "isotropic"
    kern = blur_kernel(params)
    pad = kern.shape[0] // 2
    full = F.conv2d(F.pad(hr_face[None], (pad,) * 4, mode="reflect"), kern.expand(3, 1, *kern.shape), groups=3)[0]
    torch.testing.assert_close(_blur(hr_face, params), full, atol=1e-5, rtol=0)


def test_noise_std_matches_sigma():
    hr_face = torch.full((3, 256, 256), 0.5)  # flat grey: no clipping, the difference is the noise alone
    for sigma in (5 / 255, 15 / 255):
        cfg = BlindDegradation(blur_prob=0.0, jpeg_prob=0.0, noise_sigma=(sigma, sigma))
        lr_face = degrade(hr_face, scale=4, mode="blind", seed=2, config=cfg)
        noise = lr_face - bicubic_downsample(hr_face, 4)
        assert abs(float(noise.mean())) < 0.1 * sigma
        assert float(noise.std()) == pytest.approx(sigma, rel=0.1)


def test_jpeg_quality_matters_and_output_is_8bit():
    hr_face = _face_like()
    clean = bicubic_downsample(hr_face, 4)
    errs = {}
    for q in (40, 90):
        cfg = BlindDegradation(blur_prob=0.0, noise_prob=0.0, jpeg_quality=(q, q))
        params = sample_degradation(scale=4, mode="blind", seed=0, config=cfg)
        assert params.jpeg_quality == q and params.noise_sigma == 0.0 and params.kernel == "none"
        lr_face = apply_degradation(hr_face, params)
        assert torch.equal(lr_face, (lr_face * 255).round() / 255)
        errs[q] = float((lr_face - clean).abs().mean())
    assert errs[40] > 1.3 * errs[90] > 0


def test_drawn_parameters_stay_in_their_ranges():
    cfg = BlindDegradation()
    kinds = set()
    for index in range(200):
        p = sample_degradation(scale=8, mode="blind", seed=(9, index), config=cfg)
        kinds.add(p.kernel)
        assert cfg.noise_sigma[0] <= p.noise_sigma <= cfg.noise_sigma[1]
        assert cfg.jpeg_quality[0] <= p.jpeg_quality <= cfg.jpeg_quality[1]
        if p.kernel in ("isotropic", "anisotropic"):
            assert cfg.blur_sigma[0] <= min(p.sigma_x, p.sigma_y) <= max(p.sigma_x, p.sigma_y) <= cfg.blur_sigma[1]
        if p.kernel == "motion":
            assert cfg.motion_length[0] <= p.motion_length <= cfg.motion_length[1]
    assert kinds == {"isotropic", "anisotropic", "motion"}


def test_mix_follows_p_blind_and_reuses_blind_params():
    seeds = [(1, i) for i in range(400)]
    modes = [sample_degradation(scale=8, mode="mix", seed=s, p_blind=0.3).mode for s in seeds]
    assert 0.22 < modes.count("blind") / len(modes) < 0.38
    assert {sample_degradation(scale=8, mode="mix", seed=s, p_blind=0.0).mode for s in seeds[:50]} == {"clean"}
    assert {sample_degradation(scale=8, mode="mix", seed=s, p_blind=1.0).mode for s in seeds[:50]} == {"blind"}
    for s in seeds[:20]:
        mixed = sample_degradation(scale=8, mode="mix", seed=s, p_blind=1.0)
        assert mixed == sample_degradation(scale=8, mode="blind", seed=s)


def test_numpy_hwc_in_numpy_out():
    hr_face = _face_like()
    out = degrade(hr_face.permute(1, 2, 0).numpy(), scale=8, mode="blind", seed=4)
    assert isinstance(out, np.ndarray) and out.shape == (32, 32, 3)
    assert np.array_equal(out, degrade(hr_face, scale=8, mode="blind", seed=4).permute(1, 2, 0).numpy())


def test_bad_inputs_raise_one_line_errors():
    with pytest.raises(ImageError, match="not divisible by scale 8"):
        degrade(torch.rand(3, 100, 100), scale=8, mode="clean", seed=0)
    with pytest.raises(ImageError, match=r"expected \(3, H, W\)"):
        degrade(torch.rand(1, 3, 64, 64), scale=8, mode="clean", seed=0)
    with pytest.raises(ConfigError, match="choose one of clean, blind, mix"):
        degrade(torch.rand(3, 64, 64), scale=8, mode="sharp", seed=0)
    with pytest.raises(ConfigError, match="jpeg_quality"):
        BlindDegradation(jpeg_quality=(90, 40))
    with pytest.raises(ConfigError, match="noise_prob"):
        BlindDegradation(noise_prob=1.5)


def test_real_face_blind_is_reproducible_and_degraded(faces_dir):
    from fsr_edge.io import read_image

    rgb = read_image(faces_dir / "aligned512" / "london-001_neutral.jpg").rgb
    hr_face = bicubic_downsample(torch.from_numpy(rgb).permute(2, 0, 1), 2)   # (3, 256, 256)
    clean = degrade(hr_face, scale=8, mode="clean", seed=0)
    blind = [degrade(hr_face, scale=8, mode="blind", seed=(0, i)) for i in range(4)]
    assert all(torch.equal(b, degrade(hr_face, scale=8, mode="blind", seed=(0, i))) for i, b in enumerate(blind))
    psnrs = [float(-10 * torch.log10(((b - clean) ** 2).mean())) for b in blind]
    assert all(15.0 < p < 45.0 for p in psnrs), psnrs
