"""The bundled models at a glance (``fsr-edge models``) without importing torch: ``weights/zoo.json``.

Listing the zoo from the registry means importing torch, building every model and running a forward pass to
count MACs (the MSKD teacher alone takes seconds). ``models/weights/zoo.json`` is a snapshot of what the registry says
about each bundled name (architecture, builder arguments, files, description, training-only, scale, input size,
params, MACs) and of ``fsr_edge.exporters.default_student()``. It is used only while it still describes this
install: every file it names exists with the recorded size, and the weights folder holds no .safetensors file it
does not know (INT8 QAT states aside). Otherwise ``zoo()`` asks the registry itself. Rewrite it after changing bundled models:
``python -m fsr_edge.zoo``. This module imports torch only on that slow path.
"""

from __future__ import annotations

import json
from pathlib import Path

WEIGHTS_DIR = Path(__file__).parent / "models" / "weights"  # models._registry.WEIGHTS_DIR, without torch
ZOO_FILE = WEIGHTS_DIR / "zoo.json"
# INT8 QAT states beside the weights (exporters.pipeline.bundled_qat_path) are export inputs, never models
_NOT_MODELS = "_qat_int8.safetensors"


def _weights_files() -> set[str]:
    return {p.name for p in WEIGHTS_DIR.glob("*.safetensors") if not p.name.endswith(_NOT_MODELS)}


def _files(name: str) -> list[str]:
    """The files under weights/ a bundled name needs: its weights and any file named in its builder arguments."""
    from .models._registry import pretrained_spec

    spec = pretrained_spec(name)
    files = [spec.weights] if spec.weights else []
    for value in spec.kwargs.values():
        for v in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(v, str) and (WEIGHTS_DIR / v).is_file():
                files.append(v)
    return files


def _sizes(files: list[str]) -> dict[str, int] | None:
    try:
        return {f: (WEIGHTS_DIR / f).stat().st_size for f in files}
    except OSError:
        return None


def count_entry(name: str) -> dict:
    """What ``fsr-edge models`` shows about a registered name, counted from the model itself."""
    from .models._registry import load_model, pretrained_spec
    from .profile import count_macs, count_params

    spec, model = pretrained_spec(name), load_model(name)
    files = _files(name)
    return {"arch": spec.arch, "description": spec.description, "weights": spec.weights,
            "training_only": spec.training_only, "files": _sizes(files) or {},
            "scale": model.scale, "lr_size": model.lr_size, "params": count_params(model),
            "macs": count_macs(model, (1, 3, model.lr_size, model.lr_size))}


def _live() -> dict:
    from .errors import ConfigError
    from .exporters.pipeline import default_student
    from .models._registry import list_models

    try:
        default = default_student()
    except ConfigError:
        default = None
    models = {name: count_entry(name) for name in list_models(pretrained=True)}
    named = {f for entry in models.values() for f in entry["files"]}
    return {"default": default, "models": models,
            "other_files": sorted(_weights_files() - named)}


def _snapshot_is_current(snapshot: dict) -> bool:
    if not isinstance(snapshot.get("models"), dict):
        return False
    named = {f for entry in snapshot["models"].values() for f in entry.get("files", {})}
    if _weights_files() != named | set(snapshot.get("other_files", [])):
        return False  # a model added or removed since the snapshot
    return all(_sizes(list(entry.get("files", {}))) == entry.get("files") for entry in snapshot["models"].values())


def zoo() -> dict:
    """``{"default": name or None, "models": {name: entry}}`` for this install: the snapshot while it is current,
    else counted from the registry."""
    try:
        snapshot = json.loads(ZOO_FILE.read_text())
        if _snapshot_is_current(snapshot):
            return snapshot
    except (OSError, json.JSONDecodeError):
        pass
    return _live()


def write_zoo(path: Path = ZOO_FILE) -> Path:
    """Count every registered bundled model and write the snapshot."""
    from .io import atomic_write_text

    atomic_write_text(path, json.dumps(_live(), indent=1, sort_keys=True) + "\n")
    return path


if __name__ == "__main__":
    print(write_zoo())
