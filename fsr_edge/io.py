"""Image files in and out, with every odd case turned into either a usable RGB array or one clear error.

Tensor/array contract used across fsr_edge: RGB, float32 in [0, 1]; arrays are (H, W, 3), tensors (B, 3, H, W).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
import struct
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image, ImageOps

from .errors import ConfigError, ImageError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".gif")
# Refuse anything above 64 MP: a 1080p photo is 2 MP, a decompression bomb claims gigapixels in a few KB.
MAX_PIXELS = 64_000_000


@dataclass
class LoadedImage:
    path: Path
    rgb: np.ndarray               # (H, W, 3) float32 in [0, 1], EXIF orientation applied
    alpha: np.ndarray | None      # (H, W) float32 in [0, 1] when the file had transparency
    bit_depth: int                # 8 or 16: what the file carried, so outputs can keep it

    def __post_init__(self):
        # EXIF rotations are views; on a 1-pixel axis numpy calls a negative stride contiguous and keeps it,
        # which torch.from_numpy refuses. Own, positively strided pixels for every consumer.
        for name in ("rgb", "alpha"):
            arr = getattr(self, name)
            if arr is not None and any(st < 0 for st in arr.strides):
                object.__setattr__(self, name, arr.copy())


def read_image(path: str | os.PathLike) -> LoadedImage:
    """Read any common image file as RGB float32. Raises ImageError naming the file and the problem."""
    path = Path(path)
    info = _stat_regular(path)
    if info.st_size == 0:
        raise ImageError(f"{path}: empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            warnings.filterwarnings("ignore", message="Corrupt EXIF data")  # the pixels are still fine
            with Image.open(path) as img:
                w, h = img.size
                if w * h > MAX_PIXELS:
                    raise ImageError(f"{path}: {w}x{h} pixels is over the {MAX_PIXELS // 1_000_000} MP limit "
                                     "(possible decompression bomb); resize it first")
                if getattr(img, "n_frames", 1) > 1:
                    img.seek(0)  # animated GIF/WebP: the first frame is the picture
                if img.format == "TIFF" and _tiff_direct(img):
                    # Pillow decodes 16-bit colour TIFF to 8 bits and scrambles orientations 5-8 (Pillow 13:
                    # rows decoded at the swapped size); tifffile reads the stored pixels, we orient them.
                    return _read_tiff(path, _orientation(img))
                img.load()
                if img.format == "PNG" and _png_bit_depth(path) == 16:
                    # Pillow decodes 16-bit colour PNG to 8 bits; pypng keeps all 16.
                    return _read_png16(path, _orientation(img))
                img = ImageOps.exif_transpose(img)
                return _to_rgb(path, img)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ImageError(f"{path}: refused as a possible decompression bomb ({err})") from None
    except Image.UnidentifiedImageError:
        raise ImageError(f"{path}: not an image file that Pillow can read") from None
    except (OSError, SyntaxError, ValueError) as err:
        raise ImageError(f"{path}: cannot decode image ({err}); the file may be truncated or corrupt") from None
    except (TypeError, KeyError, IndexError, EOFError, ZeroDivisionError, struct.error) as err:
        # Pillow's plugins raise these on malformed files (fuzzing found TypeError "Missing dimensions" in TIFF)
        raise ImageError(f"{path}: cannot decode image ({type(err).__name__}: {err}); the file is corrupt") from None


def _stat_regular(path: Path) -> os.stat_result:
    """os.stat of an input image, refused in one line unless it is a regular file: opening a FIFO or a device
    would block or read forever, a symbolic link loop never resolves."""
    try:
        info = os.stat(path)
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise ImageError(f"{path}: symbolic link loop; point the link at an image file or remove it") from None
        if err.errno == errno.ENOENT:
            broken = os.path.islink(path)
            raise ImageError(f"{path}: " + ("broken symbolic link; point it at an image file or remove it"
                                            if broken else "no such file")) from None
        raise ImageError(f"{path}: cannot read ({err.strerror or err})") from None
    if stat.S_ISDIR(info.st_mode):
        raise ImageError(f"{path}: is a folder, expected an image file")
    if not stat.S_ISREG(info.st_mode):
        raise ImageError(f"{path}: not a regular file (a FIFO, device or socket); pass an image file")
    return info


def _png_bit_depth(path: Path) -> int:
    # IHDR is always the first chunk: 8-byte signature, length, b"IHDR", width, height, then the bit depth.
    with open(path, "rb") as f:
        head = f.read(26)
    return head[24] if len(head) >= 26 and head[12:16] == b"IHDR" else 8


def _orientation(img: Image.Image) -> int:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Corrupt EXIF data": the orientation is all we need
            return int(img.getexif().get(0x0112, 1) or 1)
    except Exception:  # a malformed EXIF block must not make a readable picture unreadable
        return 1


def _orient(arr: np.ndarray, orientation: int) -> np.ndarray:
    """Apply EXIF orientation 1-8 to an (H, W, ...) array, as ImageOps.exif_transpose does to an image."""
    if orientation in (2, 4, 5, 7):
        arr = arr[:, ::-1]                        # mirror left-right first ...
    turns = {3: 2, 4: 2, 5: 1, 6: 3, 7: 3, 8: 1}.get(orientation, 0)
    arr = np.rot90(arr, k=turns)                  # ... then rotate counter-clockwise by 90 * turns degrees
    return np.ascontiguousarray(arr)


def _read_png16(path: Path, orientation: int) -> LoadedImage:
    import png  # pypng

    try:
        width, height, rows, info = png.Reader(filename=str(path)).asDirect()  # palette/tRNS expanded
        planes = info["planes"]
        arr = np.vstack([np.asarray(row, dtype=np.uint16) for row in rows]).reshape(height, width, planes)
    except png.Error as err:
        raise ImageError(f"{path}: cannot decode 16-bit PNG ({err}); the file may be truncated or corrupt") from None
    top = float(2 ** info["bitdepth"] - 1)
    arr = _orient(arr.astype(np.float32) / top, orientation)
    alpha = np.ascontiguousarray(arr[..., -1]) if info["alpha"] else None
    colour = arr[..., : planes - 1 if info["alpha"] else planes]
    rgb = np.repeat(colour, 3, axis=2) if colour.shape[2] == 1 else colour
    return LoadedImage(path, np.ascontiguousarray(rgb, dtype=np.float32), alpha, 16)


# TIFF photometric interpretations read through tifffile (Pillow 13 scrambles their rotated pixels)
_MINISBLACK, _RGB, _PALETTE, _CMYK = 1, 2, 3, 5


def _tiff_direct(img: Image.Image) -> bool:
    """A TIFF that Pillow would misread (16-bit, or rotated) in a layout tifffile returns as plain pixels."""
    tags = getattr(img, "tag_v2", {})
    bits = tags.get(258, (1,))  # BitsPerSample; absent means 1 (TIFF 6.0), e.g. Pillow's bilevel files
    bits = bits if isinstance(bits, tuple) else (bits,)
    unsigned = tags.get(339, 1) in (1, (1,) * len(bits))
    photometric, rotated = tags.get(262), _orientation(img) != 1
    if photometric in (_MINISBLACK, _RGB):
        return unsigned and max(bits) in (8, 16) and (max(bits) == 16 or rotated)
    # palette (one 8-bit index plane) and CMYK (four 8-bit ink planes, InkSet CMYK): only rotated ones, which
    # Pillow decodes scrambled; upright ones stay with Pillow, whose colour conversion _read_tiff mirrors
    if photometric == _PALETTE:
        return rotated and unsigned and bits == (8,) and 320 in tags
    if photometric == _CMYK:
        return rotated and unsigned and bits == (8,) * 4 and tags.get(332, 1) == 1
    return False


def _read_tiff(path: Path, orientation: int) -> LoadedImage:
    import tifffile  # a scikit-image dependency

    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            arr = np.asarray(page.asarray())
            photometric, colormap = int(page.photometric), page.colormap
    except Exception as err:  # tifffile raises several types for damaged files
        raise ImageError(f"{path}: cannot decode TIFF ({err}); the file may be truncated or corrupt") from None
    if arr.dtype not in (np.uint8, np.uint16) or arr.ndim not in (2, 3):
        raise ImageError(f"{path}: unsupported TIFF layout {arr.dtype} {arr.shape}; convert it to PNG")
    if photometric == _PALETTE:
        if colormap is None or colormap.shape[0] != 3 or arr.ndim != 2:
            raise ImageError(f"{path}: palette TIFF without a usable colour map; the file is corrupt")
        # TIFF colour maps are 16-bit, (3, 2**bits); an index past the map's end is clipped like a corrupt pixel
        arr = _orient(colormap.T[np.minimum(arr, colormap.shape[1] - 1)].astype(np.float32) / 65535, orientation)
        return LoadedImage(path, arr, None, 8)
    if photometric == _CMYK:
        if arr.ndim != 3 or arr.shape[2] != 4:
            raise ImageError(f"{path}: unsupported CMYK TIFF layout {arr.shape}; convert it to PNG")
        cmyk = arr.astype(np.float32) / 255
        rgb = (1 - cmyk[..., :3]) * (1 - cmyk[..., 3:])  # Pillow's CMYK -> RGB: no colour management
        return LoadedImage(path, _orient(rgb, orientation), None, 8)
    top = float(np.iinfo(arr.dtype).max)
    arr = _orient((arr[..., None] if arr.ndim == 2 else arr).astype(np.float32) / top, orientation)
    planes = arr.shape[2]
    alpha = np.ascontiguousarray(arr[..., -1]) if planes in (2, 4) else None
    colour = arr[..., :3] if planes >= 3 else arr[..., :1]
    rgb = np.repeat(colour, 3, axis=2) if colour.shape[2] == 1 else colour
    return LoadedImage(path, np.ascontiguousarray(rgb, dtype=np.float32), alpha, 16 if top > 255 else 8)


def _to_rgb(path: Path, img: Image.Image) -> LoadedImage:
    mode = img.mode
    alpha = None
    bit_depth = 8
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float32)
        bit_depth = 16
        rgb = np.repeat((arr / 65535.0).clip(0, 1)[..., None], 3, axis=2)
        return LoadedImage(path, rgb.astype(np.float32), None, bit_depth)
    if mode == "F":
        arr = np.asarray(img, dtype=np.float32)
        if np.isnan(arr).any():  # clip keeps NaN, which would reach the model and the output (found by fuzzing)
            raise ImageError(f"{path}: floating-point image with {int(np.isnan(arr).sum())} NaN pixel(s); "
                             "cannot be used as a picture")
        rgb = np.repeat(arr.clip(0, 1)[..., None], 3, axis=2)
        return LoadedImage(path, rgb, None, 8)
    if mode == "P":
        img = img.convert("RGBA") if "transparency" in img.info else img.convert("RGB")
    elif mode in ("LA", "PA"):
        img = img.convert("RGBA")
    elif mode == "CMYK" or mode == "YCbCr" or mode == "LAB" or mode == "HSV" or mode == "1" or mode == "L":
        img = img.convert("RGB")
    elif mode not in ("RGB", "RGBA"):
        img = img.convert("RGBA" if "A" in mode else "RGB")
    arr = np.asarray(img, dtype=np.float32) / 255.0
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    if arr.shape[2] == 4:
        alpha = np.ascontiguousarray(arr[..., 3])
        arr = arr[..., :3]
    return LoadedImage(path, np.ascontiguousarray(arr), alpha, bit_depth)


def list_images(inputs: list[str | os.PathLike]) -> list[Path]:
    """Expand files and folders into image paths (folders: their image files, sorted, not recursive). A link in a
    folder that leads nowhere (a loop, a missing target) is listed too, so that reading it names the problem."""
    found: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found.extend(sorted(q for q in p.iterdir() if q.suffix.lower() in IMAGE_SUFFIXES
                                and (q.is_file() or (q.is_symlink() and not q.exists()))))
        else:
            found.append(p)
    return found


def output_folder(path: str | os.PathLike, *, flag: str = "-o") -> Path:
    """Create the output folder ``path`` (and its parents) up front; a file in the way, a parent that is a file or
    a location that cannot be written is refused in one line naming ``flag``."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{flag} {path}: is a file, expected a folder; choose another {flag}")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"{flag} {path}: cannot create the folder ({err.strerror or err}); "
                          f"choose a writable {flag}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ConfigError(f"{flag} {path}: the folder is not writable; choose a writable {flag}")
    return path


def to_uint(rgb: np.ndarray, bit_depth: int = 8) -> np.ndarray:
    top = 65535 if bit_depth == 16 else 255
    return np.round(np.clip(rgb, 0.0, 1.0) * top).astype(np.uint16 if bit_depth == 16 else np.uint8)


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, *, suffix: str = "", fsync: bool = False) -> Iterator[Path]:
    """``with atomic_output(p) as tmp: write(tmp)``: ``tmp`` (a fresh file in ``p``'s folder) is renamed over ``p``
    only when the block succeeds, so a crash never leaves a partial file under the real name. The result gets the
    usual permissions (0666 minus the umask), not mkstemp's owner-only 0600: outputs are meant to be shared.
    ``fsync=True`` flushes the data to disk before the rename (a power cut then leaves the old or the new file,
    never an empty one): for the files a resume depends on."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=suffix or path.suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        if fsync:
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_output(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str, *, fsync: bool = False) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_output`)."""
    with atomic_output(path, fsync=fsync) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def atomic_write_json(path: str | os.PathLike, obj, *, indent: int = 2, default=None, allow_nan: bool = True) -> Path:
    """``json.dumps(obj)`` + newline, written atomically. ``allow_nan=False`` refuses NaN/inf (strict JSON)."""
    return atomic_write_text(path, json.dumps(obj, indent=indent, default=default, allow_nan=allow_nan) + "\n")


def write_png(path: str | os.PathLike, rgb: np.ndarray, *, alpha: np.ndarray | None = None,
              bit_depth: int = 8, overwrite: bool = False) -> Path:
    """Write RGB(A) float [0, 1] as PNG, atomically (temp file + rename) so no half-written output is left.

    16-bit input keeps its depth (Pillow cannot write 16-bit colour PNG, so those go through pypng).
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise ImageError(f"{path}: output exists; pass --overwrite to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = to_uint(rgb, bit_depth)
    if alpha is not None:
        arr = np.concatenate([arr, to_uint(alpha, bit_depth)[..., None]], axis=2)
    with atomic_output(path, suffix=".png") as tmp:
        if bit_depth == 16:
            import png  # pypng

            h, w, c = arr.shape
            writer = png.Writer(w, h, greyscale=False, alpha=c == 4, bitdepth=16)
            with open(tmp, "wb") as f:
                writer.write(f, arr.reshape(h, w * c).tolist())
        else:
            Image.fromarray(arr).save(tmp, format="PNG")
    return path

