"""``DIST/manifest.json``: what was exported, how to feed it, and whether it passed verification.

Other tools (the benchmark harness, the Android demo) read this file: the field names below are a contract.
Add fields freely; never rename or remove one without bumping ``FORMAT``.

Top level::

    format: "fsr_edge.export-manifest/1"
    fsr_edge_version: str
    created_at: ISO-8601 UTC
    machine: {platform, python, processor, cpu_flags_int8: [avx512_vnni|amx_int8|... present], cuda: bool}
    model: {name, arch, scale, lr_size, params, macs, weights_sha256, kwargs}
    calibration: {source, size, seed, rule, qat_state, method} | null      (INT8 provenance)
    verification_faces: str                         (which faces verification used; says "built-in" without data)
    artifacts: [artifact, ...]

Each artifact::

    id: "<target>-<precision>-<h>x<w>"   e.g. "onnx-int8-32x32"
    target: onnx | openvino | executorch | coreml | tensorrt
    precision: fp32 | fp16 | int8
    file: path relative to DIST (a directory for .mlpackage), null when not produced
    extra_files: [relative paths]        (OpenVINO's .bin)
    sha256: hex (for a directory: sha256 over its sorted relative paths + file bytes), size_bytes: int
    runtime: str, runtime_config: {..}   (settings the runtime must use to reproduce the verified numbers)
    inputs / outputs: [{name, shape, dtype "float32", layout "NCHW", channel_order "RGB",
                        value_range [0, 1], normalization "none"}]
    tool_versions: {package: version}
    verification: {status passed|failed|skipped, reason, psnr_vs_reference_db, val_psnr_db,
                   fp32_val_psnr_db, drop_db, faces, thresholds}
    delegation: {backend, summary, ...target-specific counts} | null
    golden: {input: {file, shape, dtype "float32", byte_order "little"},
             output: {file, shape, dtype, byte_order}, output_source: "artifact"|"pytorch_fp32_reference",
             min_psnr_db: float}     raw little-endian float32 .bin files, NCHW, next to the artifact
    export_status: exported | not_available | error, export_reason: str, notes: [str]
    files: {relative path: sha256}       every file the artifact needs (model, OpenVINO .bin, golden pair);
                                         checked by ``check_artifact_files`` before anything loads the artifact

Verification (exporters/verify.py): ``subsets`` holds one record per face subset (val-clean, val-blind,
wild-clean, wild-blind, stress, or the bundled faces' subsets): faces, min / mean PSNR vs the reference,
mean and worst-face drop, the worst face, status and reason. The top-level numbers summarise them.

Paths in a manifest are relative POSIX paths inside DIST: absolute paths, ``..``, symlinks and anything but
regular files and folders (FIFOs, devices) are refused by ``resolve_inside``, before any file is opened.

Consumers should use only artifacts whose ``verification.status`` is ``passed`` (or ``skipped`` where the
runtime cannot run on the exporting machine, e.g. Core ML on Linux, after their own golden self-check).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import stat
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from fsr_edge.safety import sha256_file

from ._files import atomic_write_json

FORMAT = "fsr_edge.export-manifest/1"
ARTIFACT_KEYS = ("id", "target", "precision", "file", "extra_files", "sha256", "size_bytes", "runtime",
                 "runtime_config", "inputs", "outputs", "tool_versions", "verification", "delegation", "golden",
                 "export_status", "export_reason", "notes")
VERIFICATION_KEYS = ("status", "reason", "psnr_vs_reference_db", "val_psnr_db", "fp32_val_psnr_db", "drop_db")
TOP_KEYS = ("format", "fsr_edge_version", "created_at", "machine", "model", "calibration", "verification_faces",
            "artifacts")


def digest(path: Path) -> tuple[str, int]:
    """(sha256, size in bytes) of a file, or of a directory (sorted relative paths + bytes)."""
    path = Path(path)
    size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size
    return sha256_file(path), size


def artifact_paths(entry: dict) -> list[str]:
    """Every file an artifact entry names: its file (or folder), extra files, golden input and output."""
    paths = [entry.get("file"), *(entry.get("extra_files") or [])]
    golden = entry.get("golden") or {}
    paths += [(golden.get(k) or {}).get("file") for k in ("input", "output")]
    return [p for p in paths if p]


def file_digests(dist: Path, paths: list[str]) -> dict[str, str]:
    return {rel: sha256_file(resolve_inside(dist, rel)) for rel in paths}


def resolve_inside(dist: str | os.PathLike, rel: object) -> Path:
    """``DIST/rel`` after proving it is a relative path that stays inside DIST with no symlink on the way and
    names a regular file or a folder (never a FIFO or device, which would hang or feed a reader forever)."""
    from fsr_edge.errors import WeightsError

    dist = Path(dist)
    if not isinstance(rel, str) or not rel or "\x00" in rel:
        raise WeightsError(f"manifest path {rel!r}: not a file name; refused")
    parts = Path(rel).parts
    if Path(rel).is_absolute() or Path(rel).drive or ".." in parts:
        raise WeightsError(f"manifest path {rel!r}: must be a relative path inside {dist} (no absolute path, no "
                           "'..'); refused")
    cur = dist
    for part in parts:
        cur = cur / part
        try:
            st = os.lstat(cur)
        except OSError:
            raise WeightsError(f"{cur}: named in the manifest but missing; re-export") from None
        if stat.S_ISLNK(st.st_mode):
            raise WeightsError(f"{cur}: a symlink; manifest paths must be plain files inside {dist}; refused")
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
        raise WeightsError(f"{cur}: not a regular file (a FIFO, socket or device); refused")
    if stat.S_ISDIR(st.st_mode):
        for q in cur.rglob("*"):
            mode = os.lstat(q).st_mode
            if stat.S_ISLNK(mode) or not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                raise WeightsError(f"{q}: a symlink or special file inside an artifact folder; refused")
    return cur


def check_artifact_files(dist: str | os.PathLike, entry: dict) -> list[str]:
    """Problems with an artifact's files (empty when every file is in place and matches its sha256)."""
    from fsr_edge.errors import WeightsError

    recorded = dict(entry.get("files") or {})
    if entry.get("file") and entry.get("sha256"):
        recorded.setdefault(entry["file"], entry["sha256"])
    # A manifest without "files" (written by hand, or before every file was hashed) is held to what it records:
    # the artifact's own sha256; its other files must still be inside DIST.
    must_hash = set(artifact_paths(entry)) if "files" in entry else {entry.get("file")}
    problems = []
    for rel in artifact_paths(entry):
        try:
            path = resolve_inside(dist, rel)
        except WeightsError as err:
            problems.append(str(err))
            continue
        expected = recorded.get(rel)
        if expected is None and rel not in must_hash:
            continue
        if expected is None:
            problems.append(f"{rel}: no sha256 recorded for it in the manifest")
        elif sha256_file(path) != expected:
            problems.append(f"{rel}: sha256 differs from the manifest; the file was changed or truncated; re-export")
    return problems


@contextlib.contextmanager
def export_lock(dist: Path):
    """Hold ``DIST/.export.lock`` for the duration of an export: a second export into the same folder is
    refused (never interleaved). A lock left by a killed export names its process; it is taken over only
    when that process no longer exists."""
    from fsr_edge.errors import ConfigError

    dist.mkdir(parents=True, exist_ok=True)
    lock = dist / ".export.lock"
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            break
        except FileExistsError:
            try:
                pid = int(lock.read_text().strip() or 0)
            except (OSError, ValueError):
                pid = 0
            if pid and _alive(pid):
                raise ConfigError(f"{dist}: another export (process {pid}) is writing this folder; wait for it or "
                                  "choose another -o") from None
            lock.unlink(missing_ok=True)      # stale: its process is gone
    else:
        raise ConfigError(f"{dist}: cannot take the export lock {lock}")
    try:
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        yield
    finally:
        lock.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def write_golden(array: np.ndarray, path: Path) -> dict:
    """Raw little-endian float32 (readable from Kotlin/C++ without a parser) + its shape for the manifest."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.ascontiguousarray(array, dtype="<f4").tofile(path)
    return {"file": path.name, "shape": list(array.shape), "dtype": "float32", "byte_order": "little"}


def read_golden(dist: Path, entry: dict) -> np.ndarray:
    return np.fromfile(resolve_inside(dist, entry["file"]), dtype="<f4").reshape(entry["shape"])


def machine_info() -> dict:
    flags = set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    try:
        import torch

        cuda = bool(torch.cuda.is_available())
    except ImportError:
        cuda = False
    return {"platform": platform.platform(), "python": platform.python_version(), "processor": platform.processor()
            or platform.machine(), "cpu_count": os.cpu_count(),
            "cpu_flags_int8": sorted(flags & {"avx512_vnni", "avx_vnni", "amx_int8", "amx_tile", "avx512_bf16"}),
            "cuda": cuda}


def new_manifest(*, model: dict, calibration: dict | None, verification_faces: str) -> dict:
    from fsr_edge import __version__

    return {"format": FORMAT, "fsr_edge_version": __version__,
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "machine": machine_info(), "model": model, "calibration": calibration,
            "verification_faces": verification_faces, "artifacts": []}


def write_manifest(dist: Path, manifest: dict) -> Path:
    validate(manifest)
    path = Path(dist) / "manifest.json"
    return atomic_write_json(path, manifest, indent=2, default=_json_default, allow_nan=False)


def load_manifest(dist: Path) -> dict:
    from fsr_edge.errors import ConfigError

    path = Path(dist) / "manifest.json" if Path(dist).is_dir() else Path(dist)
    try:
        manifest = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ConfigError(f"{path}: cannot read export manifest ({err})") from None
    validate(manifest)
    return manifest


def validate(manifest: dict) -> None:
    """Raise ConfigError naming the first missing/invalid field."""
    from fsr_edge.errors import ConfigError

    def need(d: dict, keys: tuple, where: str) -> None:
        missing = [k for k in keys if k not in d]
        if missing:
            raise ConfigError(f"export manifest: {where} lacks {', '.join(missing)}")

    if not isinstance(manifest, dict):
        raise ConfigError(f"export manifest: must be a JSON object, got {type(manifest).__name__}")
    need(manifest, TOP_KEYS, "top level")
    if manifest["format"] != FORMAT:
        raise ConfigError(f"export manifest: format {manifest['format']!r}, expected {FORMAT!r}")
    need(manifest["model"], ("name", "arch", "scale", "lr_size", "params", "macs", "weights_sha256"), "model")
    if not isinstance(manifest["artifacts"], list):
        raise ConfigError(f"export manifest: 'artifacts' must be a list, got {type(manifest['artifacts']).__name__}")
    ids = set()
    for art in manifest["artifacts"]:
        if not isinstance(art, dict):
            raise ConfigError(f"export manifest: each artifact must be an object, got {type(art).__name__}")
        need(art, ARTIFACT_KEYS, f"artifact {art.get('id', '?')}")
        need(art["verification"], VERIFICATION_KEYS, f"artifact {art['id']} verification")
        if art["verification"]["status"] not in ("passed", "failed", "skipped"):
            raise ConfigError(f"export manifest: artifact {art['id']} has status {art['verification']['status']!r}")
        if art["id"] in ids:
            raise ConfigError(f"export manifest: duplicate artifact id {art['id']}")
        ids.add(art["id"])
        for io in art["inputs"] + art["outputs"]:
            need(io, ("name", "shape", "dtype", "layout", "channel_order", "value_range", "normalization"),
                 f"artifact {art['id']} I/O")


def _json_default(o: Any):
    if isinstance(o, Path):
        return o.as_posix()
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def summary_table(manifest: dict) -> str:
    """Markdown: target x precision with size, output PSNR vs PyTorch, val PSNR, drop, status, delegation."""
    m = manifest["model"]
    lines = [f"Model `{m['name']}` ({m['arch']}, x{m['scale']}, {m['lr_size']}x{m['lr_size']} in, "
             f"{m['params']:,} params, {m['macs'] / 1e6:.1f} MMACs); fp32 val PSNR "
             f"{m.get('fp32_val_psnr_db') if m.get('fp32_val_psnr_db') is not None else '-'} dB.",
             f"Verification faces: {manifest['verification_faces']}.",
             f"INT8: {(manifest.get('calibration') or {}).get('method', '-')}, calibration "
             f"{(manifest.get('calibration') or {}).get('source', '-')} "
             f"({(manifest.get('calibration') or {}).get('size', '-')} faces).", "",
             "| artifact | size (KB) | PSNR vs PyTorch (dB) | val PSNR (dB) | drop (dB) | status | backend coverage |",
             "|---|---|---|---|---|---|---|"]
    for a in manifest["artifacts"]:
        v = a["verification"]
        size = f"{a['size_bytes'] / 1024:.0f}" if a.get("size_bytes") else "-"
        status = v["status"] + (f": {v['reason']}" if v["reason"] and v["status"] != "passed" else "")
        lines.append(f"| {a['id']} | {size} | {_num(v['psnr_vs_reference_db'])} | {_num(v['val_psnr_db'])} | "
                     f"{_num(v['drop_db'], 3)} | {status} | {(a.get('delegation') or {}).get('summary', '-')} |")
    return "\n".join(lines) + "\n"


def _num(x, nd: int = 2) -> str:
    return "-" if x is None else f"{x:.{nd}f}"
