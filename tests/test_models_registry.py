import subprocess
import sys

import pytest
import torch

from fsr_edge import WeightsError, create_model, list_models, load_model, save_model
from fsr_edge.profile import count_macs, count_params

# One parametrized test over every registered builder (timm-style): shape contract, feature contract, backward,
# export.
ARCHES = [a for a in list_models()]


@pytest.mark.parametrize("arch", ARCHES)
def test_forward_features_backward_contract(arch):
    """``forward_features(x) -> (sr, feats)`` with one ``feature_info`` entry per map (num_chs, reduction in
    output pixels, the module that makes it); ``forward`` is its first half; gradients reach the parameters."""
    model = create_model(arch)
    torch.manual_seed(0)
    lr_face = torch.rand(2, 3, model.lr_size, model.lr_size)
    sr_face, feats = model.forward_features(lr_face)
    side = model.lr_size * model.scale
    assert sr_face.shape == (2, 3, side, side)
    assert torch.isfinite(sr_face).all()
    torch.testing.assert_close(model(lr_face), sr_face)
    info = model.feature_info
    assert isinstance(feats, list) and len(feats) == len(info)
    for feat, entry in zip(feats, info):
        assert set(entry) >= {"num_chs", "reduction", "module"}
        assert feat.shape[:2] == (2, entry["num_chs"])
        assert feat.shape[-2:] == (side // entry["reduction"], side // entry["reduction"])
        model.get_submodule(entry["module"])   # names a real submodule
    params = [p for p in model.parameters() if p.requires_grad]
    if params:
        (sr_face.mean() + sum(f.mean() for f in feats)).backward()
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in params)


def test_importing_the_models_does_not_import_training():
    """Models hold architectures only: the training code depends on them, never the reverse."""
    code = "import fsr_edge.models, sys; assert 'fsr_edge.training' not in sys.modules, sorted(sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.parametrize("arch", ARCHES)
def test_torch_export(arch):
    model = create_model(arch).eval()
    example = torch.rand(1, 3, model.lr_size, model.lr_size)
    ep = torch.export.export(model, (example,))
    torch.testing.assert_close(ep.module()(example), model(example), rtol=1e-4, atol=1e-5)


def test_save_load_roundtrip_keeps_arch(tmp_path):
    model = create_model("fsrcnn_x8", d=32, s=8, m=2).eval()
    path = save_model(model, tmp_path / "m.safetensors", arch="fsrcnn_x8", kwargs={"d": 32, "s": 8, "m": 2})
    loaded = load_model(path)
    x = torch.rand(1, 3, 32, 32)
    torch.testing.assert_close(loaded(x), model(x))


def test_bad_weights_give_clear_errors(tmp_path):
    with pytest.raises(WeightsError, match="neither a bundled model name"):
        load_model(tmp_path / "missing.safetensors")
    pickle_file = tmp_path / "m.pt"
    pickle_file.write_bytes(b"not really")
    with pytest.raises(WeightsError, match="only .safetensors"):
        load_model(pickle_file)
    good = save_model(create_model("fsrcnn_x8"), tmp_path / "good.safetensors", arch="fsrcnn_x8")
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(good.read_bytes()[:500])
    with pytest.raises(WeightsError, match="truncated or corrupt"):
        load_model(truncated)
    wrong = save_model(create_model("fsrcnn_x8", d=16), tmp_path / "wrong.safetensors", arch="fsrcnn_x8")
    # metadata says default kwargs but tensors are d=16: a wrong-architecture file
    from safetensors.torch import load_file, save_file
    save_file(load_file(str(wrong)), str(wrong), metadata={"fsr_edge.arch": "fsrcnn_x8", "fsr_edge.kwargs": "{}"})
    with pytest.raises(WeightsError, match="wrong shape"):
        load_model(wrong)


def test_macs_and_params_count_real_layers():
    model = create_model("fsrcnn_x8", upsampler="pixelshuffle")
    # extract conv alone: 32*32 positions * 56 out * 3 in * 25 taps
    assert count_macs(model, (1, 3, 32, 32)) > 32 * 32 * 56 * 3 * 25
    assert count_params(model) == sum(p.numel() for p in model.parameters()) > 50_000
    assert count_macs(create_model("bicubic_x8"), (1, 3, 32, 32)) == 0
