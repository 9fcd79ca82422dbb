"""Malformed and unusual images (made here, fsr_edge.hardening.build_corpus) through every consumer:
``fsr-edge upscale`` (aligned and photo), ``eval``, ``degrade`` and ``FaceDataset``. Each bad file gets one line
naming it, the batch finishes, the exit code says it did not all succeed, no traceback; usable files come out
with the right pixels (EXIF orientation applied, alpha carried, 16-bit kept)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import png
import pytest
import torch
from PIL import Image

from fsr_edge.cli import main
from fsr_edge.hardening import SIDE, build_corpus, pixels_match
from fsr_edge.data import FaceDataset
from fsr_edge.errors import ImageError
from fsr_edge.io import read_image

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    return folder, {c.name: c for c in build_corpus(folder)}


def _error_lines(text: str, marker: str) -> list[str]:
    return [line for line in text.splitlines() if marker in line]


def _assert_one_line_per_bad_file(lines: list[str], bad: list[str]) -> None:
    for name in bad:
        hits = [line for line in lines if name in line]
        assert len(hits) == 1, f"{name}: expected one line, got {hits}"
    assert len(lines) == len(bad), lines


def test_read_image_gives_the_picture_or_one_clear_refusal(corpus):
    folder, cases = corpus
    for case in cases.values():
        if case.usable:
            img = read_image(folder / case.name)
            assert pixels_match(img.rgb, case), case.name
            assert img.rgb.dtype == np.float32 and img.rgb.min() >= 0 and img.rgb.max() <= 1
            assert img.bit_depth == case.bit_depth, case.name
            if case.alpha is None:
                assert img.alpha is None, case.name
            else:
                assert np.abs(img.alpha - case.alpha).max() < 1e-6, case.name
        else:
            with pytest.raises(ImageError) as err:
                read_image(folder / case.name)
            msg = str(err.value)
            assert case.name in msg and "\n" not in msg, msg
            if case.refusal:
                assert case.refusal in msg, msg


def _quadrant_centres(arr: np.ndarray) -> np.ndarray:
    h, w = arr.shape[:2]
    return np.stack([arr[h // 4, w // 4], arr[h // 4, 3 * w // 4], arr[3 * h // 4, w // 4], arr[3 * h // 4, 3 * w // 4]])


def _read_png_any_depth(path: Path) -> tuple[np.ndarray, int, bool]:
    """(H, W, planes) float in [0, 1], bit depth, has alpha: read with pypng so 16 bits are seen as 16."""
    w, h, rows, info = png.Reader(filename=str(path)).asDirect()
    arr = np.vstack([np.asarray(r, np.float64) for r in rows]).reshape(h, w, info["planes"])
    return arr / (2 ** info["bitdepth"] - 1), info["bitdepth"], info["alpha"]


def test_upscale_aligned_batch(corpus, tmp_path, capsys):
    folder, cases = corpus
    out = tmp_path / "out"
    rc = main(["upscale", str(folder), "-o", str(out), "--model", "bicubic-x8", "--aligned", "--no-progress"])
    captured = capsys.readouterr()
    assert rc == 1                                     # some files failed, the rest were written
    assert torch.is_grad_enabled(), "upscale must not switch autograd off for the rest of the process"
    assert "Traceback" not in captured.err
    bad = [n for n, c in cases.items() if not c.face_sized]
    _assert_one_line_per_bad_file(_error_lines(captured.err, "fsr-edge upscale: error:"), bad)
    assert "tiny_1x1.png" in captured.err and "32x32" in captured.err   # why: the model's input size
    for name, case in cases.items():
        target = out / f"{Path(name).stem}.png"
        assert target.exists() == case.face_sized, name
        if not case.face_sized:
            continue
        arr, depth, has_alpha = _read_png_any_depth(target)
        assert arr.shape[:2] == (SIDE * 8, SIDE * 8), name
        assert depth == case.bit_depth, f"{name}: {case.bit_depth}-bit input written as {depth}-bit"
        assert has_alpha == (case.alpha is not None), name
        # bicubic keeps flat quadrants flat: each quadrant's centre is the input's colour, in the right place
        tol = 0.09 if case.lossy else 1.5 / 255
        assert np.abs(_quadrant_centres(arr[..., :3]) - _quadrant_centres(case.display)).max() <= tol, name
        if case.alpha is not None:
            assert np.abs(_quadrant_centres(arr[..., 3]) - _quadrant_centres(case.alpha)).max() <= 1.5 / 255, name


def test_upscale_photo_batch_no_face_and_odd_sizes(corpus, tmp_path, capsys):
    folder, cases = corpus
    # face detection runs on each photo: a subset of the usable files keeps this quick (all the bad ones)
    odd = ("rgba16.png", "palette_trns.png", "cmyk.jpg", "exif_6.png", "tiny_1x1.png", "animated.gif", "grey_LA.png")
    cases = {n: c for n, c in cases.items() if n in odd or not c.usable}
    out = tmp_path / "out"
    rc = main(["upscale", *(str(folder / n) for n in cases), "-o", str(out), "--model", "bicubic-x4", "--no-progress"])
    captured = capsys.readouterr()
    assert rc == 1 and "Traceback" not in captured.err
    bad = [n for n, c in cases.items() if not c.usable]
    _assert_one_line_per_bad_file(_error_lines(captured.err, "fsr-edge upscale: error:"), bad)
    usable = [n for n, c in cases.items() if c.usable]
    # none of these has a face: each gets the bicubic upscale and one warning saying so
    warnings = _error_lines(captured.err, "no face found")
    assert len(warnings) == len(usable)
    for name in usable:
        case = cases[name]
        arr = np.asarray(Image.open(out / f"{Path(name).stem}.png"))
        h, w = case.display.shape[:2]
        assert arr.shape[:2] == (h * 4, w * 4), name                     # the 1x1 pixel too: 4x4
        if h == SIDE:
            tol = 0.09 if case.lossy else 1.5 / 255
            assert np.abs(_quadrant_centres(arr[..., :3] / 255) - _quadrant_centres(case.display)).max() <= tol, name
    assert f"upscaled {len(usable)} of {len(cases)} file(s)" in captured.out
    # the same photos with --no-face fail: every one is a failure, still one line each, exit 1
    rc = main(["upscale", str(folder / "rgb.png"), str(folder / "exif_6.png"), "-o", str(tmp_path / "strict"),
               "--model", "bicubic-x4", "--no-face", "fail", "--no-progress"])
    captured = capsys.readouterr()
    assert rc == 1 and len(_error_lines(captured.err, "fsr-edge upscale: error:")) == 2


def test_degrade_batch(corpus, tmp_path, capsys):
    folder, cases = corpus
    out = tmp_path / "pairs"
    rc = main(["degrade", str(folder), "-o", str(out), "--scale", "4", "--hr-size", str(SIDE), "--mode", "clean",
               "--no-progress"])
    captured = capsys.readouterr()
    assert rc == 1 and "Traceback" not in captured.err
    bad = [n for n, c in cases.items() if not c.face_sized]
    _assert_one_line_per_bad_file(_error_lines(captured.err, "fsr-edge degrade: skipped:"), bad)
    good = [n for n, c in cases.items() if c.face_sized]
    assert sorted(p.name for p in (out / "hr").iterdir()) == sorted(f"{Path(n).stem}.png" for n in good)
    for name in good:   # HR = the display picture (orientation applied), stored as 8-bit RGB
        hr = np.asarray(Image.open(out / "hr" / f"{Path(name).stem}.png"), np.float32) / 255
        assert pixels_match(hr, cases[name]) or cases[name].bit_depth == 16 and \
            np.abs(hr - cases[name].display).max() <= 0.5 / 255 + 1e-6, name


def test_eval_batch(corpus, tmp_path, capsys):
    folder, cases = corpus
    rc = main(["eval", "--data", str(folder), "--scale", "4", "--hr-size", str(SIDE), "--metrics", "psnr,ssim",
               "-o", str(tmp_path / "e.json"), "--no-progress"])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    bad = [n for n, c in cases.items() if not c.face_sized]
    _assert_one_line_per_bad_file(_error_lines(captured.err, "skipping"), bad)
    assert rc == 1, "files were skipped: the exit code must say so"
    assert f"{sum(c.face_sized for c in cases.values())} faces" in captured.err   # the rest was evaluated
    assert (tmp_path / "e.json").exists()


def test_dataset_loader_names_each_bad_file(corpus, capsys):
    folder, cases = corpus
    ds = FaceDataset(folder, hr_size=SIDE, scale=4, degradation="clean", train=False, skip_bad=True, progress=False)
    captured = capsys.readouterr()
    bad = [n for n, c in cases.items() if not c.face_sized]
    _assert_one_line_per_bad_file(_error_lines(captured.err, "warning: skipping"), bad)
    assert sorted(ds[i]["name"] for i in range(len(ds))) == sorted(Path(n).stem for n, c in cases.items() if c.face_sized)
    # without skip_bad: each bad file raises ImageError naming it; the good ones load
    lazy = FaceDataset(folder, hr_size=SIDE, scale=4, degradation="clean", train=False, preload=False)
    for i, rec in enumerate(lazy.records):
        if cases[rec.path.name].face_sized:
            assert lazy[i]["hr_face"].shape == (3, SIDE, SIDE)
        else:
            with pytest.raises(ImageError, match=rec.path.name):
                lazy[i]


def test_many_faces_photo(raw_photos, tmp_path, capsys):
    """Four people in one photo (2x2 tiles of the raw photos): all four faces restored, exit 0."""
    from fsr_edge.faces import upscale_photo
    from fsr_edge.models import load_model

    tiles = [np.asarray(Image.open(p).convert("RGB").resize((240, 240), Image.Resampling.LANCZOS)) for p in raw_photos[:4]]
    photo = np.concatenate([np.concatenate(tiles[:2], 1), np.concatenate(tiles[2:], 1)], 0)
    path = tmp_path / "group.png"
    Image.fromarray(photo).save(path)
    result = upscale_photo(photo.astype(np.float32) / 255, load_model("bicubic-x4"))
    assert len(result.faces) == 4
    tiles_hit = sorted((int((f.box[1] + f.box[3]) / 2 // 240), int((f.box[0] + f.box[2]) / 2 // 240))
                       for f in result.faces)
    assert tiles_hit == [(0, 0), (0, 1), (1, 0), (1, 1)]       # one face per tile
    rc = main(["upscale", str(path), "-o", str(tmp_path / "out"), "--model", "bicubic-x4", "--no-progress"])
    captured = capsys.readouterr()
    assert rc == 0 and "error" not in captured.err
    assert Image.open(tmp_path / "out" / "group.png").size == (480 * 4, 480 * 4)


@pytest.mark.parametrize("argv", [
    ["upscale", "{corpus}", "-o", "{tmp}/u", "--model", "bicubic-x8", "--aligned", "--no-progress"],
    ["degrade", "{corpus}", "-o", "{tmp}/d", "--scale", "4", "--hr-size", "32", "--no-progress"],
])
def test_no_traceback_in_a_real_process(corpus, tmp_path, argv):
    folder, cases = corpus
    argv = [a.format(corpus=folder, tmp=tmp_path) for a in argv]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env.pop("FSR_EDGE_DEBUG", None)
    done = subprocess.run([sys.executable, "-m", "fsr_edge.cli", *argv], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=180)
    assert done.returncode == 1, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    for name, case in cases.items():
        if not case.face_sized:
            assert name in done.stderr


@pytest.mark.parametrize("mode", ["RGB", "L", "1", "P", "CMYK"])
def test_tiff_every_exif_orientation(tmp_path, mode):
    from fsr_edge.hardening import display_from_stored

    stored = Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 22, 3), dtype=np.uint8)).convert(mode)
    pixels = np.asarray(stored.convert("RGB"), np.float32) / 255
    wrong = []
    for orientation in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = orientation
        stored.save(tmp_path / "t.tif", exif=exif)
        want = display_from_stored(pixels, orientation)
        got = read_image(tmp_path / "t.tif").rgb
        if got.shape != want.shape or np.abs(got - want).max() > 0.02:
            wrong.append(orientation)
    assert not wrong, f"{mode} TIFF: orientations {wrong} land wrong"


# --- leftover bad inputs: link loops, unusable -o, FIFOs and devices, weights asking for an enormous model ---------

def _cli(*argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env.pop("FSR_EDGE_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "fsr_edge.cli", *argv], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout)


def _assert_refused(done: subprocess.CompletedProcess, *names: str) -> None:
    """Non-zero exit, no traceback, and one error line naming each of ``names``."""
    assert done.returncode != 0, done.stdout[-1000:]
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    errors = _error_lines(done.stderr, "error:")
    _assert_one_line_per_bad_file(errors, list(names))


def _face(path: Path) -> Path:
    Image.new("RGB", (64, 64), (120, 90, 70)).save(path)
    return path


def test_symlink_loop_among_inputs_is_one_line_and_the_batch_goes_on(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    _face(folder / "good.png")
    os.symlink("b.png", folder / "a.png")
    os.symlink("a.png", folder / "b.png")
    for inputs in ([str(folder)], [str(folder / "a.png"), str(folder / "good.png")]):
        out = tmp_path / f"out{len(inputs)}"
        done = _cli("upscale", *inputs, "-o", str(out), "--model", "bicubic-x4", "--aligned", "--no-progress")
        bad = ["a.png", "b.png"] if len(inputs) == 1 else ["a.png"]
        _assert_refused(done, *bad)
        assert all("symbolic link loop" in line for line in _error_lines(done.stderr, "error:"))
        assert (out / "good.png").is_file()


@pytest.mark.parametrize("command", ["upscale", "export", "bench"])
def test_output_that_is_a_file_or_cannot_be_created(tmp_path, command):
    face = _face(tmp_path / "face.png")
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    argv = {"upscale": ["upscale", str(face), "--model", "bicubic-x4", "--aligned", "--no-progress"],
            "export": ["export", "--targets", "onnx", "--precision", "fp32"],
            "bench": ["bench", str(tmp_path), "--quick"]}[command]
    outs = {str(blocker): "is a file", str(blocker / "sub"): "cannot create",
            "/proc/fsr-edge-no-such/out": "cannot create"}
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o555)
        outs[str(locked / "sub")] = "cannot create"
    for out, expect in outs.items():
        done = _cli(*argv, "-o", out)
        _assert_refused(done, f"-o {out}:")
        assert expect in done.stderr, done.stderr


def test_fifo_or_device_as_image_or_model_is_refused_without_hanging(tmp_path):
    face = _face(tmp_path / "face.png")
    fifo_png = tmp_path / "pipe.png"
    os.mkfifo(fifo_png)
    done = _cli("upscale", str(fifo_png), "/dev/zero", str(face), "-o", str(tmp_path / "o"), "--model", "bicubic-x4",
                "--aligned", "--no-progress", timeout=60)
    _assert_refused(done, "pipe.png", "/dev/zero")
    assert done.stderr.count("not a regular file") == 4  # each error line and its entry in the closing list
    assert (tmp_path / "o" / "face.png").is_file()
    fifo_model = tmp_path / "pipe.safetensors"
    os.mkfifo(fifo_model)
    device_model = tmp_path / "zero.safetensors"
    os.symlink("/dev/zero", device_model)
    for model in (fifo_model, device_model):
        done = _cli("upscale", str(face), "-o", str(tmp_path / "m"), "--model", str(model), "--aligned",
                    "--no-progress", timeout=60)
        _assert_refused(done, model.name)
        assert "not a regular file" in done.stderr


def test_weights_metadata_asking_for_an_enormous_model_is_refused_before_allocating(tmp_path):
    from safetensors.torch import save_file

    from fsr_edge.errors import WeightsError
    from fsr_edge.models import create_model, load_model

    state = {k: v.contiguous() for k, v in create_model("fsrcnn_x4", d=8, s=4, m=1).state_dict().items()}
    path = tmp_path / "huge.safetensors"
    # ~10**13 parameters: 40 TB if it were ever built for real
    save_file(state, str(path), metadata={"fsr_edge.arch": "fsrcnn_x4",
                                          "fsr_edge.kwargs": '{"d": 1000000, "s": 1000000, "m": 4}'})
    with pytest.raises(WeightsError) as err:
        load_model(path)
    assert "wrong shape" in str(err.value) and "\n" not in str(err.value)
    done = _cli("upscale", str(_face(tmp_path / "face.png")), "-o", str(tmp_path / "o"), "--model", str(path),
                "--aligned", "--no-progress")
    _assert_refused(done, "huge.safetensors")


def test_rotated_one_pixel_image_reaches_torch():
    """An EXIF-rotated 1-pixel-wide image is a view with a negative stride that numpy calls contiguous;
    LoadedImage owns positively strided pixels, so torch.from_numpy downstream accepts them."""
    from pathlib import Path

    import numpy as np
    import torch

    from fsr_edge.io import LoadedImage

    view = np.zeros((2, 1, 3), np.float32)[:, ::-1]     # a 2x1 image flipped left-right
    assert any(s < 0 for s in view.strides) and np.ascontiguousarray(view).strides == view.strides
    img = LoadedImage(Path("x.gif"), view, view[..., 0], 8)
    assert all(s >= 0 for s in img.rgb.strides) and all(s >= 0 for s in img.alpha.strides)
    torch.from_numpy(np.ascontiguousarray(img.rgb))
