"""Guards for files fsr_edge did not write itself: ONNX models, ExecuTorch programs, artifacts named in a manifest.

Every guard raises :class:`~fsr_edge.errors.WeightsError` with one line naming the file and the problem, before
any runtime parses the file's contents for real. Who calls what:

- ``check_onnx_file(path)``: before ``onnxruntime.InferenceSession`` / ``openvino.Core().read_model`` of an
  ``.onnx`` file (bench worker, exporters' verification, anything reading a user's ONNX).
- ``verify_sha256(path, expected)``: before an artifact from a manifest is loaded (bench, Android install).
- ``load_executorch_method(path)`` / ``load_executorch_program(path)``: the one way to open a ``.pte`` (bench
  worker, Android golden check). Structure is verified; flipped weight bytes are not detectable that way, which
  is what the manifest's sha256 is for.

Weights (``.safetensors`` only, never pickle) are guarded by ``fsr_edge.models.load_model`` itself.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from .errors import WeightsError

__all__ = ["check_onnx_external_data", "check_onnx_file", "load_executorch_method", "load_executorch_program",
           "sha256_file", "verify_sha256"]

# ExecuTorch flatbuffer programs carry this identifier at bytes 4..8 ("ET" + schema version digits).
_PTE_MAGIC_PREFIX = b"ET"


def sha256_file(path: str | os.PathLike, *, chunk_bytes: int = 1 << 20) -> str:
    """Hex sha256 of a file, or of a folder (a Core ML ``.mlpackage``): its files' sorted relative POSIX paths,
    each followed by that file's bytes. The export manifest records exactly this."""
    path = Path(path)
    h = hashlib.sha256()
    files = sorted(q for q in path.rglob("*") if q.is_file()) if path.is_dir() else [path]
    for file in files:
        if file is not path:
            h.update(file.relative_to(path).as_posix().encode())
        with open(file, "rb") as f:
            for chunk in iter(lambda: f.read(chunk_bytes), b""):
                h.update(chunk)
    return h.hexdigest()


def verify_sha256(path: str | os.PathLike, expected: str | None) -> Path:
    """Refuse ``path`` unless its sha256 is ``expected`` (hex, as a manifest records it)."""
    path = Path(path)
    if not expected:
        raise WeightsError(f"{path}: no sha256 recorded for it; refusing an artifact that cannot be verified")
    if not path.exists():
        raise WeightsError(f"{path}: no such artifact file")
    actual = sha256_file(path)
    if actual != expected.strip().lower():
        raise WeightsError(f"{path}: sha256 {actual[:12]}... differs from the recorded {expected[:12]}...; the file "
                           "was changed, truncated or is from another export; re-export it")
    return path


def check_onnx_external_data(path: str | os.PathLike) -> list[Path]:
    """Every external-data file the ONNX model at ``path`` names, each proven to be a regular file inside the
    model's folder (no absolute paths, no ``..`` escapes, no symlinks out) and long enough for its
    offset + length. Returns the files. The tensors themselves are not read."""
    import onnx
    from onnx.external_data_helper import ExternalDataInfo, _get_all_tensors, uses_external_data

    path = Path(path)
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as err:  # protobuf DecodeError, OSError...
        raise WeightsError(f"{path}: not a readable ONNX model ({_short(err)})") from None
    folder = path.resolve().parent
    files: list[Path] = []
    for tensor in _get_all_tensors(model):
        if not uses_external_data(tensor):
            continue
        info = ExternalDataInfo(tensor)
        location = info.location or ""
        where = f"{path}: tensor {tensor.name!r} external data {location!r}"
        if not location or os.path.isabs(location) or Path(location).drive:
            raise WeightsError(f"{where}: must be a relative path inside the model's folder; refused")
        target = folder / location
        # resolve() follows symlinks, so a link inside the folder that points outside is caught here too
        if not target.resolve().is_relative_to(folder) or target.is_symlink():
            raise WeightsError(f"{where}: leaves the model's folder {folder}; refused")
        if not target.is_file():
            raise WeightsError(f"{where}: no such file beside the model")
        size = target.stat().st_size
        offset = int(info.offset or 0)
        length = info.length if info.length is not None else size - offset
        if offset < 0 or length < 0 or offset + length > size:
            raise WeightsError(f"{where}: offset {offset} + length {length} is past the file's end ({size} bytes); "
                               "the data file is truncated or not this model's")
        files.append(target)
    return files


def check_onnx_file(path: str | os.PathLike) -> Path:
    """Check an ONNX file before any runtime loads it: its external data stays in its folder, then
    ``onnx.checker.check_model(full_check=True)`` (graph, types, shape inference) passes."""
    import onnx

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: no such ONNX file")
    if path.stat().st_size == 0:
        raise WeightsError(f"{path}: empty file (0 bytes); not an ONNX model")
    check_onnx_external_data(path)
    try:
        # by path, so models over 2 GB and external data are checked too
        onnx.checker.check_model(str(path), full_check=True)
    except Exception as err:  # ValidationError, InferenceError, DecodeError...
        raise WeightsError(f"{path}: fails the ONNX full check ({_short(err)}); re-export it") from None
    return path


def load_executorch_program(path: str | os.PathLike, *, data_path: str | os.PathLike | None = None):
    """Open a ``.pte`` with ExecuTorch's internal-consistency verification of the flatbuffer (bounds, offsets,
    types) and return the ``executorch.runtime.Program``. Corrupt or foreign files raise WeightsError."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: no such ExecuTorch program")
    with open(path, "rb") as f:
        head = f.read(8)
    if len(head) < 8 or head[4:6] != _PTE_MAGIC_PREFIX:
        raise WeightsError(f"{path}: not an ExecuTorch program (no 'ET' identifier in its header); re-export it")
    from executorch.runtime import Runtime, Verification

    try:
        return Runtime.get().load_program(path, verification=Verification.InternalConsistency,
                                          data_path=data_path)
    except Exception as err:  # the pybinding raises RuntimeError with the runtime's error code
        raise WeightsError(f"{path}: ExecuTorch refused the program ({_short(err)}); the file may be truncated or "
                           "corrupt; re-export it") from None


def load_executorch_method(path: str | os.PathLike, name: str = "forward", *,
                           data_path: str | os.PathLike | None = None):
    """``load_executorch_program(path).load_method(name)``, with a method the runtime cannot plan (a corrupt
    tensor size or memory plan, found by loading it) refused as a WeightsError too."""
    program = load_executorch_program(path, data_path=data_path)
    try:
        return program.load_method(name)
    except Exception as err:  # RuntimeError with the runtime's error code
        raise WeightsError(f"{path}: ExecuTorch cannot load method {name!r} ({_short(err)}); the program is corrupt "
                           "or was exported for other kernels/backends; re-export it") from None


def _short(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:200] if text else type(err).__name__
