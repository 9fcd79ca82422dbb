"""Python reference of the Android demo's pixel code, and the step that puts exported artifacts into the app.

``android_demo/core`` (plain Kotlin, no Android dependency) implements the same functions; both are tested against
the golden vectors of a real export, and the Kotlin unit tests read vectors this module writes. Every number the
app needs (input size, layout, channel order, value range, PSNR threshold) comes from ``manifest.json``:

    pixels   (H*W,) packed ARGB ints, row-major, as ``android.graphics.Bitmap.getPixels`` returns them
    tensor   (1, 3, H, W) float32 NCHW, channels and value range as the artifact's ``inputs``/``outputs`` spec says

Face alignment and paste-back have their Python reference in ``fsr_edge.faces`` (``ffhq_matrix``, ``align_face``,
``face_mask``, ``paste_face``): the Kotlin ``FaceQuad``/``pasteCrop`` are tested against those, not against a copy.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .exporters.manifest import load_manifest
from .errors import FsrEdgeError
from .io import atomic_output
from .safety import verify_sha256

__all__ = ["ASSETS_DIR", "GoldenCheck", "argb_to_rgb", "check_golden", "executorch_artifacts", "install_artifacts",
           "load_manifest", "postprocess", "preprocess_argb", "psnr_db", "read_golden", "rgb_to_argb"]

# Where the app's build packs its assets, relative to android_demo/.
ASSETS_DIR = Path("app/src/main/assets")
MANIFEST_NAME = "manifest.json"
_EXECUTORCH = "executorch"
_SHIFTS = {"RGB": (16, 8, 0), "BGR": (0, 8, 16)}


# ---------------------------------------------------------------------------------------------------- contract
def executorch_artifacts(manifest: Mapping) -> list[dict]:
    """The artifacts the Android app runs: ExecuTorch programs that were written and did not fail verification,
    in manifest order (the Kotlin ``Manifest.executorchArtifacts`` applies the same rule)."""
    return [a for a in manifest.get("artifacts", [])
            if a.get("target") == _EXECUTORCH and a.get("file") and (a.get("verification") or {}).get("status") != "failed"]


def _check_spec(spec: Mapping, width: int, height: int) -> None:
    shape = list(spec["shape"])
    if spec["dtype"] != "float32" or spec["layout"] != "NCHW" or spec["channel_order"] not in _SHIFTS:
        raise FsrEdgeError(f"tensor spec {spec.get('name')}: the app handles float32 NCHW RGB/BGR, got "
                           f"{spec['dtype']} {spec['layout']} {spec['channel_order']}")
    if shape != [1, 3, height, width]:
        raise FsrEdgeError(f"tensor spec {spec.get('name')}: shape {shape} does not match a {width}x{height} image")


def _normalization(spec: Mapping) -> tuple[np.ndarray, np.ndarray] | None:
    norm = spec.get("normalization", "none")
    if norm in (None, "none"):
        return None
    if isinstance(norm, Mapping):
        return (np.asarray(norm["mean"], np.float32).reshape(3, 1, 1),
                np.asarray(norm["std"], np.float32).reshape(3, 1, 1))
    raise FsrEdgeError(f"tensor spec {spec.get('name')}: normalization {norm!r}: expected 'none' or {{mean, std}}")


# ---------------------------------------------------------------------------------------------------- pixels
def rgb_to_argb(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (H*W,) int32 opaque ARGB, Android's packed layout."""
    rgb = np.asarray(rgb, np.uint32)
    argb = (np.uint32(0xFF) << 24) | (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    return argb.reshape(-1).view(np.int32)


def argb_to_rgb(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    """(H*W,) packed ARGB -> (H, W, 3) uint8 RGB (alpha dropped)."""
    p = np.asarray(pixels).astype(np.int64).reshape(height, width) & 0xFFFFFFFF
    return np.stack([(p >> 16) & 0xFF, (p >> 8) & 0xFF, p & 0xFF], axis=-1).astype(np.uint8)


def preprocess_argb(pixels: np.ndarray, width: int, height: int, *, spec: Mapping) -> np.ndarray:
    """ARGB pixels -> the input tensor the spec describes, (1, 3, H, W) float32.

    Each 8-bit value c becomes ``c / 255 * (hi - lo) + lo`` in float32, in this operation order: the Kotlin
    ``preprocessArgb`` does the same float32 operations, so the two agree bit for bit.
    """
    _check_spec(spec, width, height)
    p = np.asarray(pixels).astype(np.int64).reshape(height, width) & 0xFFFFFFFF
    lo, hi = (np.float32(v) for v in spec["value_range"])
    chans = [((p >> s) & 0xFF).astype(np.float32) / np.float32(255) * (hi - lo) + lo
             for s in _SHIFTS[spec["channel_order"]]]
    tensor = np.stack(chans)[None]
    norm = _normalization(spec)
    if norm is not None:
        tensor = (tensor - norm[0]) / norm[1]
    return tensor.astype(np.float32, copy=False)


def postprocess(tensor: np.ndarray, *, spec: Mapping) -> np.ndarray:
    """Output tensor (1, 3, H, W) -> (H*W,) int32 opaque ARGB: value range to [0, 1], clamp, round half up."""
    tensor = np.asarray(tensor, np.float32)
    height, width = tensor.shape[-2:]
    _check_spec(spec, width, height)
    chans = tensor.reshape(3, height, width)
    norm = _normalization(spec)
    if norm is not None:
        chans = chans * norm[1] + norm[0]
    lo, hi = (np.float32(v) for v in spec["value_range"])
    unit = np.clip((chans - lo) / (hi - lo), np.float32(0), np.float32(1))
    q = np.floor(unit * np.float32(255) + np.float32(0.5)).astype(np.int64)
    argb = np.int64(0xFF) << 24
    for c, shift in enumerate(_SHIFTS[spec["channel_order"]]):
        argb = argb | (q[c] << shift)
    return argb.reshape(-1).astype(np.uint32).view(np.int32)


def psnr_db(reference: np.ndarray, actual: np.ndarray, *, data_range: float) -> float:
    """PSNR in dB (inf when identical), the same figure as the Kotlin ``psnrDb``."""
    from skimage.metrics import mean_squared_error

    mse = mean_squared_error(np.asarray(reference, np.float64), np.asarray(actual, np.float64))
    return float("inf") if mse == 0 else float(10 * np.log10(data_range ** 2 / mse))


# ---------------------------------------------------------------------------------------------------- golden
def read_golden(artifact: Mapping, dist_dir: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """The artifact's golden input and output tensors (raw little-endian float32, shapes from the manifest)."""
    from .exporters.manifest import read_golden as _read

    golden = artifact.get("golden")
    if not golden:
        raise FsrEdgeError(f"artifact {artifact['id']}: manifest has no golden vectors; re-export it")
    arrays = []
    for key, spec in (("input", artifact["inputs"][0]), ("output", artifact["outputs"][0])):
        entry = golden[key]
        path = Path(dist_dir) / entry["file"]
        if entry["shape"] != spec["shape"] or entry.get("dtype") != "float32" or entry.get("byte_order") != "little":
            raise FsrEdgeError(f"{path}: golden {key} is {entry.get('dtype')}/{entry.get('byte_order')} "
                               f"{entry['shape']}, but the artifact's {key} is float32 {spec['shape']}; re-export")
        try:
            arrays.append(_read(Path(dist_dir), entry))
        except (OSError, ValueError) as err:
            raise FsrEdgeError(f"{path}: cannot read {spec['shape']} float32 from it ({err}); re-export") from None
    return arrays[0], arrays[1]


@dataclass(frozen=True)
class GoldenCheck:
    artifact_id: str
    psnr_db: float
    threshold_db: float
    max_abs_error: float

    @property
    def passed(self) -> bool:
        return self.psnr_db >= self.threshold_db


def check_golden(manifest: Mapping, dist_dir: str | Path, *, artifact_id: str | None = None) -> list[GoldenCheck]:
    """Runs each ExecuTorch artifact (or only ``artifact_id``) in ExecuTorch's Python runtime on its golden input
    and compares with its golden output against ``golden.min_psnr_db``: what the app does at first launch.
    """
    from .targets import load

    checks = []
    for art in executorch_artifacts(manifest):
        if artifact_id is not None and art["id"] != artifact_id:
            continue
        golden_in, golden_out = read_golden(art, dist_dir)
        infer, _ = load("executorch", Path(dist_dir) / art["file"])  # the verified loader: a corrupt .pte is refused
        actual = infer(golden_in)
        lo, hi = art["outputs"][0]["value_range"]
        checks.append(GoldenCheck(art["id"], psnr_db(golden_out, actual, data_range=hi - lo),
                                  float(art["golden"]["min_psnr_db"]),
                                  float(np.abs(golden_out - actual).max())))
    if artifact_id is not None and not checks:
        raise FsrEdgeError(f"manifest has no executorch artifact {artifact_id!r}")
    return checks


# ---------------------------------------------------------------------------------------------------- install
def _copy_atomic(src: Path, dst: Path) -> None:
    with atomic_output(dst) as tmp:
        shutil.copyfile(src, tmp)


def install_artifacts(dist_dir: str | Path, android_dir: str | Path) -> list[Path]:
    """Copies manifest.json, every ExecuTorch program and its golden vectors from an export into the app's assets.

    Paths inside the manifest are relative to it, so each file keeps its relative path under
    ``android_dir/app/src/main/assets/``. A program whose sha256 does not match the manifest is refused (a stale or
    partial export). Returns the written files, manifest last (it is written after everything it points to).
    """
    dist_dir, android_dir = Path(dist_dir), Path(android_dir)
    if not (android_dir / "app").is_dir():
        raise FsrEdgeError(f"{android_dir}: not the android_demo folder (no app/ inside); pass the path to android_demo/")
    manifest = load_manifest(dist_dir)
    artifacts = executorch_artifacts(manifest)
    if not artifacts:
        raise FsrEdgeError(f"{dist_dir / MANIFEST_NAME}: no executorch artifact; export with --targets executorch")
    assets = android_dir / ASSETS_DIR
    written = []
    for art in artifacts:
        rel_paths = [art["file"], *art.get("extra_files", []),
                     *(art["golden"][k]["file"] for k in ("input", "output") if art.get("golden"))]
        for rel in rel_paths:
            if Path(rel).is_absolute() or ".." in Path(rel).parts:
                raise FsrEdgeError(f"{dist_dir / MANIFEST_NAME}: path {rel!r} leaves the export folder; re-export")
        src = dist_dir / art["file"]
        if not src.is_file():
            raise FsrEdgeError(f"{src}: listed in the manifest as {art['id']} but missing; re-run the export")
        verify_sha256(src, art.get("sha256"))  # a stale, partial or unrecorded program is refused
        for rel in rel_paths:
            _copy_atomic(dist_dir / rel, assets / rel)
            written.append(assets / rel)
    _copy_atomic(dist_dir / MANIFEST_NAME, assets / MANIFEST_NAME)
    written.append(assets / MANIFEST_NAME)
    return written
