"""RoIAlign / reverse RoIAlign (affine_grid + grid_sample) against direct crops and resizes."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from fsr_edge.roi import reverse_roi_align, roi_align


def _feat(b=2, c=3, h=32, w=40):
    torch.manual_seed(0)
    return torch.randn(b, c, h, w)


def test_integer_box_of_out_size_is_an_exact_crop():
    feat = _feat()
    boxes = torch.tensor([[4.0, 6.0, 14.0, 16.0], [20.0, 3.0, 30.0, 13.0]])
    patches = roi_align(feat, boxes, out_size=10)
    torch.testing.assert_close(patches[0], feat[0, :, 6:16, 4:14], atol=1e-5, rtol=0)
    torch.testing.assert_close(patches[1], feat[1, :, 3:13, 20:30], atol=1e-5, rtol=0)


def test_resized_box_matches_bilinear_interpolate_of_the_crop():
    feat = _feat()
    boxes = torch.tensor([[8.0, 8.0, 24.0, 24.0], [2.0, 10.0, 10.0, 18.0]])
    for out_size in (8, 12, 24):
        patches = roi_align(feat, boxes, out_size=out_size)
        for i, (x0, y0, x1, y1) in enumerate(boxes.long().tolist()):
            crop = feat[i : i + 1, :, y0:y1, x0:x1]
            want = F.interpolate(crop, size=(out_size, out_size), mode="bilinear", align_corners=False)
            # interior samples only: at the crop's own border interpolate clamps inside the crop while
            # roi_align reads the true neighbours from the full map (which is the point of RoIAlign)
            torch.testing.assert_close(patches[i, :, 1:-1, 1:-1], want[0, :, 1:-1, 1:-1], atol=1e-4, rtol=0)


def test_reverse_pastes_back_inside_and_keeps_outside():
    feat = _feat()
    boxes = torch.tensor([[4.0, 6.0, 14.0, 16.0], [20.0, 3.0, 30.0, 13.0]])
    patches = torch.full((2, 3, 10, 10), 7.0)
    out = reverse_roi_align(feat, patches, boxes)
    for i, (x0, y0, x1, y1) in enumerate(boxes.long().tolist()):
        torch.testing.assert_close(out[i, :, y0 + 1 : y1 - 1, x0 + 1 : x1 - 1],
                                   torch.full_like(out[i, :, y0 + 1 : y1 - 1, x0 + 1 : x1 - 1], 7.0))
        outside = torch.ones(out.shape[2:], dtype=torch.bool)
        outside[y0:y1, x0:x1] = False
        torch.testing.assert_close(out[i][:, outside], feat[i][:, outside])


def test_roundtrip_of_a_resized_patch_is_close_to_identity():
    # a smooth map survives crop -> 2x upsample -> paste back (resampling error only)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 32), torch.linspace(0, 1, 32), indexing="ij")
    feat = torch.stack([torch.sin(3 * xx) + yy, xx * yy]).unsqueeze(0)
    boxes = torch.tensor([[8.0, 8.0, 24.0, 24.0]])
    back = reverse_roi_align(torch.zeros_like(feat), roi_align(feat, boxes, out_size=32), boxes)
    torch.testing.assert_close(back[..., 10:22, 10:22], feat[..., 10:22, 10:22], atol=2e-3, rtol=0)


def test_gradients_flow_to_features_and_patches():
    feat = _feat().requires_grad_(True)
    boxes = torch.tensor([[4.0, 6.0, 14.0, 16.0], [20.0, 3.0, 30.0, 13.0]])
    patches = roi_align(feat, boxes, out_size=5)
    out = reverse_roi_align(feat, patches * 2, boxes)
    out.sum().backward()
    assert feat.grad is not None and feat.grad.abs().sum() > 0


def test_windowed_paste_equals_whole_map_paste():
    from fsr_edge.roi import _paste

    torch.manual_seed(1)
    feat = torch.randn(3, 4, 40, 48)
    boxes = torch.tensor([[3.3, 5.7, 17.1, 19.5], [30.2, 1.0, 47.9, 18.7], [0.0, 20.0, 9.0, 40.0]])
    for side in (4, 7, 16):
        patches = torch.randn(3, 4, side, side)
        torch.testing.assert_close(reverse_roi_align(feat, patches, boxes), _paste(feat, patches, boxes),
                                   atol=1e-6, rtol=0)
