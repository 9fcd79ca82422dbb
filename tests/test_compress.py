"""Compression: NNCF INT8 state save/load (config + state, safetensors), QAT moves the loss, magnitude
pruning zeroes weights, structured pruning really removes channels and still exports."""

from __future__ import annotations

import pytest
import torch

from fsr_edge.calibration import builtin_calibration_set
from fsr_edge.exporters import Precision, load_quantized, qat_finetune, quantize_ptq, save_quantized, weights_sha256
from fsr_edge.exporters.prune import magnitude_prune, prune_channels, sparsity
from fsr_edge.models import create_model, load_model, save_model
from fsr_edge.profile import count_macs, count_params

LR = 16


@pytest.fixture(scope="module")
def student():
    torch.manual_seed(0)
    return create_model("edge_sr_x8", channels=(16, 16, 16), blocks=2, lr_size=LR).eval()


@pytest.fixture(scope="module")
def calib():
    return builtin_calibration_set(size=4, hr_size=LR * 8)


def test_quantized_state_round_trips_through_safetensors(student, calib, tmp_path):
    q = quantize_ptq(student, calib)
    path = save_quantized(q, tmp_path / "q.safetensors", arch="edge_sr_x8",
                          kwargs={"channels": [16, 16, 16], "blocks": 2, "lr_size": LR},
                          base_weights_sha256=weights_sha256(student))
    q2, meta = load_quantized(path)
    assert meta["base_weights_sha256"] == weights_sha256(student)
    x = calib.lr_faces()[0]
    with torch.no_grad():
        assert torch.equal(q(x), q2(x))
        assert not torch.equal(q(x), student(x)), "fake quantization must change the output"
    with open(path, "rb") as f:
        assert b"pickle" not in f.read(200)


def test_qat_lowers_the_distillation_loss(student):
    import torch.nn.functional as F

    from fsr_edge.calibration import CalibrationSet

    lr_faces = [torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(i)) for i in range(4)]

    class _Tiny(CalibrationSet):   # calibration on the same small faces (keeps this test fast)
        def lr_faces(self):
            return lr_faces

    q = quantize_ptq(student, _Tiny(items=[None] * 4, root="test"))
    lr_all = torch.cat(lr_faces)
    with torch.no_grad():
        before = F.l1_loss(q(lr_all), student(lr_all)).item()
    qat_finetune(q, teacher=student, lr_faces=lr_faces, steps=6, lr=1e-4, batch_size=4, progress=False)
    with torch.no_grad():
        after = F.l1_loss(q(lr_all), student(lr_all)).item()
    assert after < before
    assert all(not p.requires_grad for p in student.parameters()), "the teacher must stay frozen"


def test_magnitude_pruning_zeroes_weights_but_keeps_shapes(student):
    x = torch.rand(1, 3, LR, LR)
    pruned = magnitude_prune(student, ratio=0.5, example_input=x)
    assert abs(sparsity(pruned) - 0.5) < 0.02
    assert count_params(pruned) == count_params(student)


def test_channel_pruning_removes_channels_and_reloads(student, tmp_path):
    same, _ = prune_channels(student, ratio=0.0)
    x = torch.rand(1, 3, LR, LR)
    with torch.no_grad():
        torch.testing.assert_close(same(x), student(x))
    pruned, kwargs = prune_channels(student, ratio=0.5)
    assert kwargs["channels"] == [16, 8, 8] and kwargs["block_channels"] == [8, 8]
    assert count_macs(pruned, (1, 3, LR, LR)) < 0.7 * count_macs(student, (1, 3, LR, LR))
    path = save_model(pruned, tmp_path / "pruned.safetensors", arch="edge_sr_x8", kwargs=kwargs)
    again = load_model(path)
    with torch.no_grad():
        torch.testing.assert_close(again(x), pruned(x))


def test_pruned_student_exports_to_onnx(student, tmp_path):
    from fsr_edge.exporters import onnx as ox

    pruned, _ = prune_channels(student, ratio=0.5)
    art = ox.export(pruned, torch.rand(1, 3, LR, LR), tmp_path, precision=Precision.FP32)
    run = ox.load_runner(art)
    x = torch.rand(1, 3, LR, LR)
    with torch.no_grad():
        assert abs(run(x.numpy()) - pruned(x).numpy()).max() < 1e-4


def test_channel_pruning_of_the_fsrcnn_student(tmp_path):
    torch.manual_seed(0)
    fsrcnn = create_model("pisr_student_x8", d=24, s=16, lr_size=LR).eval()
    x = torch.rand(1, 3, LR, LR)
    same, _ = prune_channels(fsrcnn, ratio=0.0)
    with torch.no_grad():
        torch.testing.assert_close(same(x), fsrcnn(x))
    pruned, kwargs = prune_channels(fsrcnn, ratio=0.5)
    assert (kwargs["d"], kwargs["s"]) == (16, 8)
    assert count_macs(pruned, (1, 3, LR, LR)) < 0.7 * count_macs(fsrcnn, (1, 3, LR, LR))
    path = save_model(pruned, tmp_path / "p.safetensors", arch="pisr_student_x8", kwargs=kwargs)
    with torch.no_grad():
        torch.testing.assert_close(load_model(path)(x), pruned(x))


@pytest.mark.parametrize("arch,kwargs", [
    ("edge_sr_x8", dict(channels=(16, 16, 16), blocks=2, lr_size=LR)),
    ("fsrcnn_x8", dict(d=32, s=16, m=2, upsampler="pixelshuffle", lr_size=LR)),
    ("fsrcnn_x8", dict(d=32, s=16, m=2, lr_size=LR)),
    ("sesr_x8", dict(f=32, m=3, expand=32, lr_size=LR)),
])
def test_structured_pruning_of_any_student_through_torch_pruning(arch, kwargs, tmp_path):
    """torch-pruning removes channels of every student (residuals, PReLU, deconv and depth-to-space included):
    fewer MACs, the same input/output contract and feature contract, and the result still exports."""
    pytest.importorskip("torch_pruning", reason="the [prune] extra (torch-pruning) is not installed")
    from fsr_edge.exporters.prune import prune_structured

    torch.manual_seed(0)
    model = create_model(arch, **kwargs).eval()
    if hasattr(model, "reparameterize"):
        model.reparameterize()
    x = torch.rand(1, 3, LR, LR)
    same = prune_structured(model, ratio=0.0)
    torch.testing.assert_close(same(x), model(x))
    pruned = prune_structured(model, ratio=0.5)
    # EdgeSR keeps its x2 stages whole (they feed depth-to-space), where most of its MACs are
    assert count_macs(pruned, (1, 3, LR, LR)) < 0.9 * count_macs(model, (1, 3, LR, LR))
    sr_face, feats = pruned.forward_features(x)
    assert sr_face.shape == model(x).shape and torch.isfinite(sr_face).all()
    assert [f.shape[1] for f in feats] == [i["num_chs"] for i in pruned.feature_info]
    assert count_params(model) == count_params(create_model(arch, **kwargs).eval().reparameterize()
                                                if hasattr(model, "reparameterize") else create_model(arch, **kwargs))
    ep = torch.export.export(pruned, (x,))
    torch.testing.assert_close(ep.module()(x), pruned(x), rtol=1e-4, atol=1e-5)
    with pytest.raises(Exception, match="ratio"):
        prune_structured(model, ratio=1.0)
    # a frozen model (a teacher, a model loaded for inference) prunes the same and keeps its flags
    model.requires_grad_(False)
    frozen = prune_structured(model, ratio=0.5)
    assert count_params(frozen) == count_params(pruned) and not any(p.requires_grad for p in frozen.parameters())
