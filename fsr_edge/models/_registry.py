"""timm-style model registry: builders registered by name, pretrained names bound to bundled safetensors.

Every SR model follows one contract:
    sr_face = model(lr_face)          # (B, 3, h, w) -> (B, 3, h*scale, w*scale), RGB float32 in [0, 1]
    model.scale: int, model.lr_size: int (the aligned-face LR size it was trained for)
    model.forward_features(lr_face) -> (sr_face, feats: list[Tensor])    # features returned, not hooked
    model.feature_info: list[dict]    # one per feats entry (timm style): num_chs, reduction, module
``reduction`` is output pixels per feature pixel (an SR network's maps can be finer than its input); ``module``
names the submodule whose output the map is. A model without intermediate features returns ``[]``.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from ..errors import WeightsError
from ..io import atomic_output

_BUILDERS: dict[str, Callable[..., nn.Module]] = {}
_PRETRAINED: dict[str, "PretrainedSpec"] = {}
_TRAINING_ONLY_ARCHS: set[str] = set()
WEIGHTS_DIR = Path(__file__).parent / "weights"


@dataclass(frozen=True)
class PretrainedSpec:
    name: str                     # user-facing name, e.g. "pisr-x8"
    arch: str                     # registered builder, e.g. "pisr_student_x8"
    weights: str | None           # file in fsr_edge/models/weights/, None for parameter-free models
    description: str = ""
    kwargs: dict[str, Any] = field(default_factory=dict)
    training_only: bool = False   # not an LR -> HR model (e.g. a teacher whose input is the HR face): never for upscale


def register_model(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """Decorator: register a builder under its function name."""
    _BUILDERS[fn.__name__] = fn
    return fn


def register_pretrained(name: str, *, arch: str, weights: str | None, description: str = "",
                        training_only: bool = False, **kwargs: Any) -> None:
    _PRETRAINED[name] = PretrainedSpec(name, arch, weights, description, kwargs, training_only)
    if training_only:
        _TRAINING_ONLY_ARCHS.add(arch)


def training_only(name_or_path: str | os.PathLike) -> bool:
    """True for a model meant only for training: a bundled name registered ``training_only``, or a .safetensors
    file whose architecture is one of theirs. Unknown names and unreadable files are False (loading them fails
    with its own error)."""
    spec = _PRETRAINED.get(str(name_or_path))
    if spec is not None:
        return spec.training_only
    path = Path(name_or_path)
    if path.suffix != ".safetensors" or not path.is_file():
        return False
    try:
        return read_metadata(path).get("fsr_edge.arch") in _TRAINING_ONLY_ARCHS
    except WeightsError:
        return False


def list_models(*, pretrained: bool = False) -> list[str]:
    """Architectures (default) or user-facing pretrained names (``pretrained=True``)."""
    return sorted(_PRETRAINED if pretrained else _BUILDERS)


def pretrained_spec(name: str) -> PretrainedSpec:
    return _PRETRAINED[name]


def weights_path(name_or_path: str | os.PathLike) -> Path | None:
    """The file behind a bundled name (None for a parameter-free one, e.g. bicubic), else the path itself."""
    spec = _PRETRAINED.get(str(name_or_path))
    if spec is None:
        return Path(name_or_path)
    return WEIGHTS_DIR / spec.weights if spec.weights is not None else None


def create_model(arch: str, **kwargs: Any) -> nn.Module:
    if arch not in _BUILDERS:
        raise WeightsError(f"unknown architecture {arch!r}; known: {', '.join(list_models())}")
    return _BUILDERS[arch](**kwargs)


def load_model(name_or_path: str | os.PathLike, *, strict: bool = True) -> nn.Module:
    """A ready model in eval mode from a pretrained name (``pisr-x8``) or a ``.safetensors`` path.

    The architecture of a path comes from the file's own metadata (written by ``save_model``), so a user
    never has to repeat it; a file without that metadata or with mismatching tensors is refused clearly.
    """
    key = str(name_or_path)
    if key in _PRETRAINED:
        spec = _PRETRAINED[key]
        model = create_model(spec.arch, **spec.kwargs)
        path = weights_path(key)
        if path is not None:
            if not path.exists():
                raise WeightsError(f"{path}: bundled weights for {key!r} are missing from this install; "
                                   "reinstall fsr_edge")
            _load_into(model, path, strict=strict)
        return model.eval()
    path = Path(key)
    if not path.exists():
        known = ", ".join(list_models(pretrained=True))
        raise WeightsError(f"{key}: neither a bundled model name ({known}) nor an existing weights file")
    if not stat.S_ISREG(path.stat().st_mode):  # opening a FIFO blocks, a device reads forever
        raise WeightsError(f"{path}: not a regular file (a FIFO, device or socket); pass a .safetensors weights file")
    if path.suffix != ".safetensors":
        raise WeightsError(f"{path}: only .safetensors weights are loaded (pickle files can run code); "
                           "convert with fsr_edge.models.save_model")
    meta = read_metadata(path)
    arch = meta.get("fsr_edge.arch")
    if not arch:
        raise WeightsError(f"{path}: no 'fsr_edge.arch' in the file's metadata; it was not saved by fsr_edge")
    # The metadata is as untrusted as the tensors: bad JSON or arguments the builder rejects are one-line errors.
    try:
        kwargs = json.loads(meta.get("fsr_edge.kwargs", "{}"))
        if not isinstance(kwargs, dict):
            raise ValueError(f"expected a JSON object, got {type(kwargs).__name__}")
        _check_fit_before_building(arch, kwargs, path, strict=strict)
        model = create_model(arch, **kwargs)
    except WeightsError as err:
        msg = str(err)
        raise WeightsError(msg if msg.startswith(f"{path}: ") else f"{path}: {msg}") from None
    except (ValueError, TypeError, RuntimeError) as err:
        raise WeightsError(f"{path}: cannot build {arch!r} from the file's 'fsr_edge.kwargs' metadata "
                           f"({_short(err)}); the file is corrupt or from another fsr_edge version") from None
    _load_into(model, path, strict=strict)
    return model.eval()


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except Exception as err:  # safetensors raises several types for corrupt headers
        raise WeightsError(f"{path}: not a valid safetensors file ({_short(err)}); it may be truncated or corrupt") from None


def _check_fit_before_building(arch: str, kwargs: dict[str, Any], path: Path, *, strict: bool) -> None:
    """Build ``arch`` on the meta device (shapes only, no memory) and compare it with the tensor shapes in the file's
    header, so metadata asking for an enormous model is refused before anything is allocated. A builder that cannot
    run on the meta device is left to the real build and the check after loading."""
    from safetensors import safe_open

    if arch not in _BUILDERS:
        return  # create_model names the known architectures
    try:
        with torch.device("meta"):
            own = {k: tuple(v.shape) for k, v in _BUILDERS[arch](**kwargs).state_dict().items()}
    except Exception:
        return
    try:
        with safe_open(str(path), framework="pt") as f:
            stored = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except Exception as err:
        raise WeightsError(f"{path}: not a valid safetensors file ({_short(err)}); it may be truncated or corrupt") from None
    problem = _misfit(own, stored)
    if problem and (strict or "wrong shape" in problem):
        raise WeightsError(f"{path}: weights do not fit {arch!r} as its 'fsr_edge.kwargs' metadata describes it: "
                           f"{problem}")


def _misfit(own: dict[str, tuple], stored: dict[str, tuple]) -> str | None:
    """What keeps tensors of shapes ``stored`` from loading into a model whose state has shapes ``own``."""
    missing = [k for k in own if k not in stored]
    unexpected = [k for k in stored if k not in own]
    wrong = [k for k in own if k in stored and tuple(own[k]) != tuple(stored[k])]
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
    if wrong:
        k = wrong[0]
        parts.append(f"{len(wrong)} with wrong shape (e.g. {k}: file {tuple(stored[k])} vs model {tuple(own[k])})")
    return "; ".join(parts) or None


def _load_into(model: nn.Module, path: Path, *, strict: bool) -> None:
    from safetensors.torch import load_file

    try:
        state = load_file(str(path))
    except Exception as err:
        raise WeightsError(f"{path}: cannot read weights ({_short(err)}); the file may be truncated or corrupt") from None
    bad = next((k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()), None)
    if bad is not None:
        raise WeightsError(f"{path}: tensor {bad!r} holds NaN or Inf; the weights are corrupt or diverged "
                           "(a model with them would output non-finite images)")
    own = model.state_dict()
    problem = _misfit({k: tuple(v.shape) for k, v in own.items()}, {k: tuple(v.shape) for k, v in state.items()})
    if strict and problem:
        raise WeightsError(f"{path}: weights do not fit {type(model).__name__}: {problem}")
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items() if k in own}, strict=strict)


def save_model(model: nn.Module, path: str | os.PathLike, *, arch: str, kwargs: dict[str, Any] | None = None,
               metadata: dict[str, str] | None = None, half: bool = False) -> Path:
    """Save weights as safetensors with the architecture in the metadata; atomic (temp file + rename)."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: (v.half() if half and v.is_floating_point() else v).detach().contiguous().cpu()
             for k, v in model.state_dict().items()}
    meta = {"fsr_edge.arch": arch, "fsr_edge.kwargs": json.dumps(kwargs or {}), **(metadata or {})}
    with atomic_output(path) as tmp:
        save_file(state, str(tmp), metadata=meta)
    return path


def _short(err: Exception) -> str:
    return str(err).splitlines()[0][:160] if str(err) else type(err).__name__
