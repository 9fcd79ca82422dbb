"""fsr_edge.io on files the tests make themselves: every colour mode, 16-bit PNG, EXIF orientations, and the
refusals (missing, empty, truncated, bombs, existing outputs)."""

from __future__ import annotations

import numpy as np
import png
import pytest
from PIL import Image

from fsr_edge.errors import ImageError
from fsr_edge.io import list_images, read_image, write_png


def _pattern(h=6, w=8, c=3, seed=0, top=255):
    return np.random.default_rng(seed).integers(0, top + 1, size=(h, w, c))


def _write_png16(path, arr16, *, greyscale=False, alpha=False):
    h, w = arr16.shape[:2]
    planes = arr16.shape[2]
    png.Writer(w, h, greyscale=greyscale, alpha=alpha, bitdepth=16).write(
        open(path, "wb"), arr16.reshape(h, w * planes).tolist())


@pytest.mark.parametrize("planes, greyscale, alpha", [(3, False, False), (4, False, True), (1, True, False), (2, True, True)])
def test_png16_keeps_all_16_bits(tmp_path, planes, greyscale, alpha):
    arr = _pattern(c=planes, top=65535).astype(np.uint16)
    arr[0, 0] = 1          # values that 8 bits cannot hold: 1/65535 and 65534/65535
    arr[0, 1] = 65534
    path = tmp_path / "deep.png"
    _write_png16(path, arr, greyscale=greyscale, alpha=alpha)
    img = read_image(path)
    assert img.bit_depth == 16 and img.rgb.shape == (6, 8, 3) and img.rgb.dtype == np.float32
    colour = arr[..., : planes - 1 if alpha else planes].astype(np.float64) / 65535
    expected = np.repeat(colour, 3, axis=2) if greyscale else colour
    assert np.abs(img.rgb - expected).max() < 1e-6
    if alpha:
        assert np.abs(img.alpha - arr[..., -1] / 65535).max() < 1e-6
    else:
        assert img.alpha is None


def test_png16_write_read_round_trip_with_alpha(tmp_path):
    rng = np.random.default_rng(2)
    rgb, alpha = rng.random((5, 7, 3), dtype=np.float32), rng.random((5, 7), dtype=np.float32)
    path = write_png(tmp_path / "o.png", rgb, alpha=alpha, bit_depth=16)
    back = read_image(path)
    assert back.bit_depth == 16
    assert np.abs(back.rgb - rgb).max() <= 0.5 / 65535 + 1e-7
    assert np.abs(back.alpha - alpha).max() <= 0.5 / 65535 + 1e-7
    assert [p.name for p in tmp_path.iterdir()] == ["o.png"]        # no temp file left behind


def test_8bit_modes(tmp_path):
    base = _pattern().astype(np.uint8)
    # L: grey repeated into three equal channels
    Image.fromarray(base[..., 0], "L").save(tmp_path / "l.png")
    img = read_image(tmp_path / "l.png")
    assert img.bit_depth == 8 and img.alpha is None
    assert np.allclose(img.rgb, np.repeat(base[..., :1], 3, axis=2) / 255.0)
    # LA: grey + alpha
    Image.fromarray(np.dstack([base[..., 0], base[..., 1]]), "LA").save(tmp_path / "la.png")
    img = read_image(tmp_path / "la.png")
    assert np.allclose(img.rgb[..., 2], base[..., 0] / 255.0) and np.allclose(img.alpha, base[..., 1] / 255.0)
    # RGBA
    rgba = _pattern(c=4, seed=3).astype(np.uint8)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    img = read_image(tmp_path / "rgba.png")
    assert np.allclose(img.rgb, rgba[..., :3] / 255.0) and np.allclose(img.alpha, rgba[..., 3] / 255.0)


def test_palette_with_transparency(tmp_path):
    pal = Image.new("P", (4, 2))
    pal.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * 759)
    pal.putdata([0, 1, 2, 0, 1, 2, 0, 1])
    pal.save(tmp_path / "p.png", transparency=1)       # palette entry 1 (green) fully transparent
    pal.save(tmp_path / "p.gif", transparency=1)
    for name in ("p.png", "p.gif"):
        img = read_image(tmp_path / name)
        assert img.alpha is not None, name
        assert np.allclose(img.rgb[0, 0], [1, 0, 0]) and np.allclose(img.rgb[0, 2], [0, 0, 1]), name
        assert img.alpha[0, 1] == 0.0 and img.alpha[0, 0] == 1.0, name
    # a palette without transparency has no alpha
    pal.save(tmp_path / "opaque.png")
    assert read_image(tmp_path / "opaque.png").alpha is None


@pytest.mark.parametrize("fmt", ["JPEG", "TIFF"])
def test_cmyk(tmp_path, fmt):
    # pure inks: cyan, magenta, yellow, black, paper
    cmyk = np.array([[[255, 0, 0, 0], [0, 255, 0, 0], [0, 0, 255, 0], [0, 0, 0, 255], [0, 0, 0, 0]]], np.uint8)
    cmyk = np.repeat(np.repeat(cmyk, 16, axis=0), 16, axis=1)   # 16x16 blocks survive JPEG
    path = tmp_path / f"c.{fmt.lower()}"
    Image.fromarray(cmyk, "CMYK").save(path, format=fmt, **({"quality": 98} if fmt == "JPEG" else {}))
    img = read_image(path)
    expected = [[0, 1, 1], [1, 0, 1], [1, 1, 0], [0, 0, 0], [1, 1, 1]]
    tol = 0.06 if fmt == "JPEG" else 1e-6
    for k, rgb in enumerate(expected):
        assert np.abs(img.rgb[8, 16 * k + 8] - rgb).max() <= tol, (fmt, k, img.rgb[8, 16 * k + 8])


def _exif(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif


# Where the top-left stored pixel ends up after applying each EXIF orientation (as displayed), for a 2x3 image
# stored as [[a b c], [d e f]]: the EXIF spec's eight cases.
_DISPLAYED = {
    1: [["a", "b", "c"], ["d", "e", "f"]],
    2: [["c", "b", "a"], ["f", "e", "d"]],
    3: [["f", "e", "d"], ["c", "b", "a"]],
    4: [["d", "e", "f"], ["a", "b", "c"]],
    5: [["a", "d"], ["b", "e"], ["c", "f"]],
    6: [["d", "a"], ["e", "b"], ["f", "c"]],
    7: [["f", "c"], ["e", "b"], ["d", "a"]],
    8: [["c", "f"], ["b", "e"], ["a", "d"]],
}


def _oriented(orientation: int) -> tuple[np.ndarray, np.ndarray]:
    """(stored 2x3 uint8 pixels, what they must read as once oriented, in [0, 1])."""
    letters = {ch: 30 * (i + 1) for i, ch in enumerate("abcdef")}
    stored = np.array([[letters[c] for c in "abc"], [letters[c] for c in "def"]], np.uint8)
    return stored, np.array([[letters[c] for c in row] for row in _DISPLAYED[orientation]]) / 255.0


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("suffix", [".png", ".tif"])   # TIFF 5-8 goes through tifffile (Pillow 13 scrambles them)
def test_exif_orientation_8bit(tmp_path, orientation, suffix):
    stored, expected = _oriented(orientation)
    Image.fromarray(np.dstack([stored] * 3)).save(tmp_path / f"o{suffix}", exif=_exif(orientation))
    img = read_image(tmp_path / f"o{suffix}")
    assert img.bit_depth == 8
    assert np.allclose(img.rgb[..., 0], expected), orientation


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_png16(tmp_path, orientation):
    stored, expected = _oriented(orientation)
    # pypng path: the orientation comes from an eXIf chunk inserted before the image data
    deep = tmp_path / "o16.png"
    _write_png16(deep, np.dstack([stored.astype(np.uint16) * 257] * 3))
    chunks = list(png.Reader(filename=str(deep)).chunks())
    exif_bytes = _exif(orientation).tobytes()
    chunks.insert(1, (b"eXIf", exif_bytes[6:] if exif_bytes.startswith(b"Exif\0\0") else exif_bytes))
    with open(deep, "wb") as f:
        png.write_chunks(f, chunks)
    img16 = read_image(deep)
    assert img16.bit_depth == 16
    assert np.allclose(img16.rgb[..., 0], expected), orientation


def test_exif_orientation_jpeg(tmp_path):
    arr = np.zeros((32, 64, 3), np.uint8)
    arr[:, :32] = 255                                   # left half white
    Image.fromarray(arr).save(tmp_path / "o.jpg", exif=_exif(6), quality=95)   # 6: rotate 90 clockwise
    img = read_image(tmp_path / "o.jpg")
    assert img.rgb.shape == (64, 32, 3)
    assert img.rgb[8, 16].mean() > 0.9 and img.rgb[56, 16].mean() < 0.1   # white on top after rotation


def test_refusals(tmp_path):
    with pytest.raises(ImageError, match="no such file"):
        read_image(tmp_path / "missing.png")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ImageError, match="empty"):
        read_image(tmp_path / "empty.png")
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(ImageError, match="not an image"):
        read_image(tmp_path / "text.png")
    with pytest.raises(ImageError, match="folder"):
        read_image(tmp_path)
    Image.fromarray(_pattern(64, 64).astype(np.uint8)).save(tmp_path / "ok.png")
    data = (tmp_path / "ok.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="truncated|corrupt"):
        read_image(tmp_path / "cut.png")
    deep = tmp_path / "deep.png"
    _write_png16(deep, _pattern(64, 64, top=65535).astype(np.uint16))
    data = deep.read_bytes()
    (tmp_path / "cut16.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="truncated|corrupt"):
        read_image(tmp_path / "cut16.png")


def test_decompression_bomb_refused(tmp_path):
    # A PNG header declaring 20000 x 20000 pixels, a few bytes of data: refused before any decoding.
    import struct
    import zlib

    path = tmp_path / "bomb.png"
    ihdr = struct.pack(">IIBBBBB", 20000, 20000, 8, 0, 0, 0, 0)
    with open(path, "wb") as f:
        png.write_chunks(f, [(b"IHDR", ihdr), (b"IDAT", zlib.compress(b"\0" * 20001)), (b"IEND", b"")])
    assert path.stat().st_size < 1000
    with pytest.raises(ImageError, match="MP limit|bomb"):
        read_image(path)


def test_write_png_refuses_existing_output(tmp_path):
    rgb = np.zeros((4, 4, 3), np.float32)
    path = write_png(tmp_path / "x.png", rgb)
    before = path.read_bytes()
    with pytest.raises(ImageError, match="--overwrite"):
        write_png(path, rgb + 1)
    assert path.read_bytes() == before
    write_png(path, rgb + 1, overwrite=True)
    assert read_image(path).rgb.min() == 1.0


def test_list_images(tmp_path):
    for name in ("b.png", "a.JPG", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    assert [p.name for p in list_images([tmp_path])] == ["a.JPG", "b.png"]
    assert list_images([tmp_path / "notes.txt"]) == [tmp_path / "notes.txt"]   # explicit files pass through


@pytest.mark.parametrize("shape", [(6, 8, 3), (6, 8), (6, 8, 4)])
def test_tiff16_keeps_all_16_bits(tmp_path, shape):
    tifffile = pytest.importorskip("tifffile")
    arr = np.random.default_rng(7).integers(0, 65536, size=shape).astype(np.uint16)
    arr.flat[0] = 1
    path = tmp_path / "deep.tif"
    tifffile.imwrite(path, arr, **({"extrasamples": ["unassalpha"]} if len(shape) == 3 and shape[2] == 4 else {}))
    img = read_image(path)
    assert img.bit_depth == 16 and img.rgb.shape == (6, 8, 3)
    colour = arr[..., :3] if arr.ndim == 3 else np.repeat(arr[..., None], 3, axis=2)
    assert np.abs(img.rgb - colour / 65535).max() < 1e-6
    assert (img.alpha is not None) == (arr.ndim == 3 and shape[2] == 4)


def test_tiff16_orientation(tmp_path):
    tifffile = pytest.importorskip("tifffile")
    arr = np.arange(6, dtype=np.uint16).reshape(2, 3) * 10000
    tifffile.imwrite(tmp_path / "o.tif", arr, extratags=[(274, "H", 1, 6, True)])   # 6: rotate 90 clockwise
    img = read_image(tmp_path / "o.tif")
    assert img.rgb.shape == (3, 2, 3)
    assert np.allclose(img.rgb[..., 0] * 65535, np.rot90(arr, k=3))


def test_atomic_writers_replace_whole_files_and_leave_no_temp(tmp_path):
    import json
    import stat

    from fsr_edge.io import atomic_write_json, atomic_write_text

    path = tmp_path / "sub" / "doc.json"
    atomic_write_json(path, {"a": 1})
    assert json.loads(path.read_text()) == {"a": 1}
    atomic_write_text(path, "replaced\n")
    assert path.read_text() == "replaced\n"
    assert stat.S_IMODE(path.stat().st_mode) & 0o044, "shared outputs are not owner-only (mkstemp's 0600)"
    with pytest.raises(ValueError):
        atomic_write_json(path, {"x": float("nan")}, allow_nan=False)
    assert path.read_text() == "replaced\n"  # a failed write leaves the old file whole
    assert sorted(p.name for p in path.parent.iterdir()) == ["doc.json"]
