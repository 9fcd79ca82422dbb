"""``fsr-edge upscale`` end to end through ``fsr_edge.cli.main``: aligned crops, whole photos with real faces,
alpha and 16-bit carried through, and every refusal as one line without a traceback."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from fsr_edge.cli import main
from fsr_edge.io import read_image
from fsr_edge.models import load_model

pytest.importorskip("dlib", reason="fsr_edge[faces] (dlib-bin) not installed")


def _save(path, arr):
    Image.fromarray(arr).save(path)
    return path


def _crops(folder, n=2, size=64, mode="RGB"):
    folder.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    channels = 4 if mode == "RGBA" else 3
    return [_save(folder / f"crop{k}.png", (rng.random((size, size, channels)) * 255).astype(np.uint8))
            for k in range(n)]


def _run(capsys, *argv):
    code = main(["upscale", *map(str, argv), "--no-progress"])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def test_aligned_crops_match_the_model(tmp_path, capsys):
    files = _crops(tmp_path / "in")
    code, out, err = _run(capsys, tmp_path / "in", "-o", tmp_path / "out", "--model", "bicubic-x4", "--aligned")
    assert code == 0, err
    assert "upscaled 2 of 2" in out
    model = load_model("bicubic-x4")
    for f in files:
        got = read_image(tmp_path / "out" / f"{f.stem}.png")
        assert got.rgb.shape == (256, 256, 3) and got.alpha is None and got.bit_depth == 8
        lr = torch.from_numpy(read_image(f).rgb).permute(2, 0, 1)[None]
        want = model(lr)[0].permute(1, 2, 0).numpy()
        assert np.abs(got.rgb - want).max() <= 0.5 / 255 + 1e-6


def test_aligned_wrong_size_fails_that_file_only(tmp_path, capsys):
    _crops(tmp_path / "in")
    _save(tmp_path / "in" / "big.png", np.zeros((50, 70, 3), np.uint8))
    code, out, err = _run(capsys, tmp_path / "in", "-o", tmp_path / "out", "--model", "bicubic-x4", "--aligned")
    assert code == 1
    lines = [ln for ln in err.splitlines() if "big.png" in ln]
    assert lines and all("64x64" in ln and "70x50" in ln for ln in lines)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["crop0.png", "crop1.png"]  # batch went on
    assert "upscaled 2 of 3" in out and "1 failed" in out


def test_alpha_and_16bit_carried_through(tmp_path, capsys):
    import png

    (tmp_path / "in").mkdir()
    rng = np.random.default_rng(4)
    ramp = np.tile(np.linspace(0, 255, 64), (64, 1))                   # alpha: a left-to-right fade
    rgba = np.dstack([(rng.random((64, 64, 3)) * 255), ramp]).astype(np.uint8)
    _save(tmp_path / "in" / "crop0.png", rgba)
    deep = (rng.random((64, 64, 3)) * 65535).astype(np.uint16)
    png.Writer(64, 64, greyscale=False, bitdepth=16).write(open(tmp_path / "in" / "deep.png", "wb"),
                                                          deep.reshape(64, -1).tolist())
    code, _, err = _run(capsys, tmp_path / "in", "-o", tmp_path / "out", "--model", "bicubic-x4", "--aligned")
    assert code == 0, err
    rgba = read_image(tmp_path / "out" / "crop0.png")
    src = read_image(tmp_path / "in" / "crop0.png")
    assert rgba.alpha is not None and rgba.alpha.shape == (256, 256)
    # alpha went through a bicubic x4 (the model's own upsampling, applied to the alpha plane)
    want = torch.nn.functional.interpolate(torch.from_numpy(src.alpha)[None, None], scale_factor=4, mode="bicubic",
                                           align_corners=False).clamp(0, 1)[0, 0].numpy()
    assert np.abs(rgba.alpha - want).max() <= 0.5 / 255 + 1e-6
    assert rgba.alpha[:, :8].mean() < 0.05 and rgba.alpha[:, -8:].mean() > 0.95
    out16 = read_image(tmp_path / "out" / "deep.png")
    assert out16.bit_depth == 16
    assert len(np.unique(out16.rgb)) > 256 * 4   # far more levels than 8 bits could hold


def test_photo_faces_restored_and_pasted(tmp_path, capsys, raw_photos):
    photo = Image.open(raw_photos[0]).convert("RGB").resize((256, 256), Image.LANCZOS)
    photo.save(tmp_path / "photo.jpg", quality=95)
    code, out, err = _run(capsys, tmp_path / "photo.jpg", "-o", tmp_path / "out", "--model", "bicubic-x4")
    assert code == 0, err
    assert "no face" not in err
    got = read_image(tmp_path / "out" / "photo.png").rgb
    assert got.shape == (1024, 1024, 3)
    from fsr_edge.faces import bicubic_upscale, detect_faces

    rgb = read_image(tmp_path / "photo.jpg").rgb
    background = bicubic_upscale(rgb, 4)
    changed = np.abs(got - background).max(2) > 1.01 / 255      # beyond 8-bit rounding of the output
    x0, y0, x1, y1 = (4 * v for v in detect_faces(rgb)[0].box)
    # the face was replaced (model output went through a 64 px bottleneck: visibly different) ...
    assert changed[int(y0):int(y1), int(x0):int(x1)].mean() > 0.5
    # ... in the right place: the restored face is a blurred copy of the same face, not a shifted one
    face = (slice(int(y0), int(y1)), slice(int(x0), int(x1)))
    err_face = np.mean((got[face] - background[face]) ** 2)
    assert 10 * np.log10(1 / err_face) > 25.0
    # ... and the corners of the photo are the bicubic upscale, untouched
    assert not changed[:60, :60].any() and not changed[-60:, -60:].any()


def test_photo_without_face(tmp_path, capsys):
    rng = np.random.default_rng(5)
    _save(tmp_path / "noise.png", (rng.random((40, 48, 3)) * 255).astype(np.uint8))
    code, _, err = _run(capsys, tmp_path / "noise.png", "-o", tmp_path / "out", "--model", "bicubic-x4")
    assert code == 0
    assert "warning" in err and "no face" in err
    assert read_image(tmp_path / "out" / "noise.png").rgb.shape == (160, 192, 3)
    code, _, err = _run(capsys, tmp_path / "noise.png", "-o", tmp_path / "out2", "--model", "bicubic-x4",
                        "--no-face", "fail")
    assert code == 1 and "no face" in err
    assert not (tmp_path / "out2" / "noise.png").exists()


def test_never_overwrites_input_or_existing_output(tmp_path, capsys):
    folder = tmp_path / "in"
    files = _crops(folder)
    before = {f: f.read_bytes() for f in files}
    # OUT_DIR == input folder and the inputs are already STEM.png: refused even with --overwrite
    code, _, err = _run(capsys, folder, "-o", folder, "--model", "bicubic-x4", "--aligned", "--overwrite")
    assert code == 1 and "is an input file" in err
    assert {f: f.read_bytes() for f in files} == before
    # an existing output is kept unless --overwrite
    out = tmp_path / "out"
    out.mkdir()
    (out / "crop0.png").write_bytes(b"keep me")
    code, _, err = _run(capsys, folder, "-o", out, "--model", "bicubic-x4", "--aligned")
    assert code == 1 and "--overwrite" in err
    assert (out / "crop0.png").read_bytes() == b"keep me" and (out / "crop1.png").exists()
    code, _, err = _run(capsys, folder, "-o", out, "--model", "bicubic-x4", "--aligned", "--overwrite")
    assert code == 0, err
    assert read_image(out / "crop0.png").rgb.shape == (256, 256, 3)


def test_same_stem_twice_in_one_batch(tmp_path, capsys):
    arr = np.zeros((64, 64, 3), np.uint8)
    _save(tmp_path / "a.png", arr)
    Image.fromarray(arr).save(tmp_path / "a.jpg")
    code, _, err = _run(capsys, tmp_path / "a.jpg", tmp_path / "a.png", "-o", tmp_path / "out", "--model",
                        "bicubic-x4", "--aligned")
    assert code == 1 and "already written" in err


def test_pixel_limit_and_bad_files(tmp_path, capsys):
    _save(tmp_path / "huge.png", np.zeros((1100, 1000, 3), np.uint8))       # x8 -> 70.4 MP
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    code, _, err = _run(capsys, tmp_path / "huge.png", tmp_path / "broken.jpg", tmp_path / "missing.png",
                        "-o", tmp_path / "out", "--model", "bicubic-x8")
    assert code == 1
    assert "8000x8800" in err and "64 MP" in err
    assert "broken.jpg" in err and "missing.png: no such file" in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_usage_errors_exit_2_with_one_line(tmp_path, capsys):
    _crops(tmp_path / "in", n=1)
    code, _, err = _run(capsys, tmp_path / "in", "-o", tmp_path / "out", "--model", "no-such-model")
    assert code == 2 and err.count("\n") == 1 and err.startswith("fsr-edge upscale: error:")
    (tmp_path / "empty").mkdir()
    code, _, err = _run(capsys, tmp_path / "empty", "-o", tmp_path / "out", "--model", "bicubic-x4")
    assert code == 2 and "no image files" in err
    # BlazeFace is the frame/video detector; photos are refused it in one line, before any file is read
    code, _, err = _run(capsys, tmp_path / "in", "-o", tmp_path / "out_b", "--model", "bicubic-x8",
                        "--detector", "blazeface")
    assert code == 2 and err.count("\n") == 1 and "video detector" in err and not (tmp_path / "out_b").exists()


def test_saved_student_weights_file(tmp_path, capsys):
    """--model PATH: a .safetensors saved by fsr_edge (architecture from its metadata) runs both modes."""
    from fsr_edge.models import create_model, save_model

    torch.manual_seed(0)
    weights = save_model(create_model("edge_sr_x8"), tmp_path / "student.safetensors", arch="edge_sr_x8")
    _crops(tmp_path / "in", n=1, size=32)
    code, _, err = _run(capsys, tmp_path / "in", "-o", tmp_path / "out", "--model", weights, "--aligned")
    assert code == 0, err
    assert read_image(tmp_path / "out" / "crop0.png").rgb.shape == (256, 256, 3)
