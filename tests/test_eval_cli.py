"""``fsr-edge eval`` end to end on real val faces; its PSNR/SSIM re-derived independently with scikit-image."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skimage.metrics import peak_signal_noise_ratio as sk_psnr
from skimage.metrics import structural_similarity as sk_ssim

from fsr_edge.cli import main
from fsr_edge.models import create_model, save_model


def _eval(faces_dir, out, *extra):
    return main(["eval", "--data", str(faces_dir), "--scale", "8", "--degradation", "clean", "--no-progress",
                 "-o", str(out), *extra])


def test_bicubic_row_matches_scikit_image_on_val_faces(faces_dir, tmp_path, capsys):
    out = tmp_path / "eval.json"
    assert _eval(faces_dir, out, "--limit", "3", "--metrics", "psnr,ssim", "--crop-border", "8") == 0
    table = capsys.readouterr().out
    assert table.splitlines()[2].startswith("| bicubic-x8 |")
    doc = json.loads(out.read_text())
    assert doc["settings"]["split"] == "val" and doc["settings"]["n_images"] == 3
    row = doc["models"][0]
    assert row["model"] == "bicubic-x8" and row["names"] and len(row["per_image"]["psnr"]) == 3
    assert "torch" in doc["versions"] and "fd_vgg19" in doc["conventions"]

    # Independent re-derivation: the val faces as the data layer serves them, bicubic x8 by torch, metrics by
    # scikit-image on the 8-bit images with an 8-pixel border crop.
    from fsr_edge.data import FaceDataset

    ds = FaceDataset(faces_dir, split="val", hr_size=256, scale=8, degradation="clean", train=False, preload=False)
    for i in range(3):
        item = ds[i]
        assert item["name"] == row["names"][i]
        sr = F.interpolate(item["lr_face"][None], scale_factor=8, mode="bicubic", align_corners=False)[0]
        to_u8 = lambda t: (t.clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)[8:-8, 8:-8]
        sr_u8, hr_u8 = to_u8(sr), to_u8(item["hr_face"])
        assert row["per_image"]["psnr"][i] == pytest.approx(sk_psnr(hr_u8, sr_u8, data_range=255), abs=1e-3)
        ref_ssim = sk_ssim(hr_u8, sr_u8, channel_axis=2, data_range=255, gaussian_weights=True, sigma=1.5,
                           use_sample_covariance=False)
        assert row["per_image"]["ssim"][i] == pytest.approx(ref_ssim, abs=1e-3)
    assert row["means"]["psnr"] == pytest.approx(np.mean(row["per_image"]["psnr"]))


def test_saved_student_is_a_second_row_with_params_and_macs(faces_dir, tmp_path, capsys):
    torch.manual_seed(0)
    weights = save_model(create_model("fsrcnn_x8"), tmp_path / "student.safetensors", arch="fsrcnn_x8")
    out = tmp_path / "eval.json"
    assert _eval(faces_dir, out, "--limit", "2", "--metrics", "psnr,identity_cosine", "--model", str(weights)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[2].startswith("| bicubic-x8 |") and lines[3].startswith(f"| {weights} |")
    doc = json.loads(out.read_text())
    student = doc["models"][1]
    assert student["params"] > 0 and student["macs"] > 0 and doc["models"][0]["macs"] == 0
    # identity: a number per face where dlib is installed, otherwise reported unavailable (n/a), never made up
    if "identity_cosine" in student["unavailable"]:
        assert "n/a" in lines[3]
    else:
        assert len(student["per_image"]["identity_cosine"]) == 2


def test_user_errors_are_one_line_and_exit_2(faces_dir, tmp_path, capsys):
    out = tmp_path / "eval.json"
    assert _eval(faces_dir, out, "--model", "bicubic-x4") == 2
    assert "bicubic-x4: upscales x4, but --scale is 8" in capsys.readouterr().err
    assert _eval(faces_dir, out, "--metrics", "psnr,lpips") == 2
    assert "unknown metric 'lpips'" in capsys.readouterr().err
    out.write_text("{}")
    assert _eval(faces_dir, out) == 2
    assert "output exists" in capsys.readouterr().err
    assert out.read_text() == "{}"
    assert _eval(faces_dir, tmp_path / "x.json", "--model", str(tmp_path / "nope.safetensors")) == 2
    assert "nope.safetensors" in capsys.readouterr().err


def test_unreadable_face_is_skipped_with_exit_1_and_the_rest_evaluated(tmp_path, capsys):
    from PIL import Image
    from skimage.data import astronaut

    faces = tmp_path / "faces"
    faces.mkdir()
    face = Image.fromarray(astronaut()[0:256, 128:384])        # her face, roughly centred, 256x256
    face.save(faces / "a.png")
    face.transpose(Image.FLIP_LEFT_RIGHT).save(faces / "b.png")
    (faces / "c.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    (faces / "manifest.csv").write_text("file\na.png\nb.png\nc.png\n")
    out = tmp_path / "eval.json"
    assert main(["eval", "--data", str(faces), "--scale", "8", "--metrics", "psnr", "--no-progress",
                 "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "c.png" in err and "1 unreadable face file(s) skipped" in err
    doc = json.loads(out.read_text())
    assert doc["settings"]["split"] is None and doc["models"][0]["names"] == ["a", "b"]
