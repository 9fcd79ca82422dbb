"""Recipe configs: YAML in, ``key=value`` overrides, and ``instantiate`` for nodes naming a ``_component_``."""

from __future__ import annotations

import copy
import functools
import importlib
import inspect
from pathlib import Path
from typing import Any, Callable

import yaml

from ..errors import ConfigError


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """The config at ``path`` as a plain dict, with dotted ``key=value`` overrides applied (values parsed as YAML)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        cfg = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
    if not isinstance(cfg, dict):
        raise ConfigError(f"{path}: a recipe config must be a mapping of keys, got {type(cfg).__name__}")
    return apply_overrides(cfg, overrides)


def apply_overrides(cfg: dict[str, Any], overrides: list[str] | tuple[str, ...]) -> dict[str, Any]:
    cfg = copy.deepcopy(cfg)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r}: expected key=value, e.g. optimizer.lr=5e-4")
        node = cfg
        *parents, leaf = key.split(".")
        for part in parents:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"override {item!r}: {part!r} is a value, not a section")
            node = child
        node[leaf] = yaml.safe_load(raw) if raw != "" else None
    return cfg


def resolve_component(dotted: str) -> Callable[..., Any]:
    """``package.module.attr`` -> the object (torchtune's ``_component_`` convention)."""
    module_name, _, attr = dotted.rpartition(".")
    if not module_name:
        raise ConfigError(f"_component_ {dotted!r}: expected a dotted path such as torch.optim.Adam")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        # "a.b.C.method" is not supported on purpose: components are module-level names
        raise ConfigError(f"_component_ {dotted!r}: cannot import {module_name!r} ({err})") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        if module_name == "fsr_edge.models":  # registered builders by name: fsr_edge.models.pisr_student_x8
            from ..models import list_models, create_model

            if attr in list_models():
                return functools.partial(create_model, attr)
        raise ConfigError(f"_component_ {dotted!r}: {module_name!r} has no attribute {attr!r}") from None


def instantiate(node: dict[str, Any] | None, *args: Any, **kwargs: Any) -> Any:
    """Build ``node['_component_'](*args, **node_kwargs, **kwargs)``; nested nodes with a component are built first.

    ``None`` gives ``None`` (optional sections such as ``scheduler``).
    """
    if node is None:
        return None
    if not isinstance(node, dict) or "_component_" not in node:
        raise ConfigError(f"cannot instantiate {node!r}: a buildable config node needs a '_component_' key")
    fn = resolve_component(node["_component_"])
    built = {k: _build_nested(v) for k, v in node.items() if k != "_component_"}
    built.update(kwargs)
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # some builtins have no signature: let the call itself complain
        signature = None
    if signature is not None:
        try:
            signature.bind(*args, **built)
        except TypeError as err:
            raise ConfigError(f"{node['_component_']}: wrong arguments in the config ({err})") from None
    return fn(*args, **built)


def _build_nested(value: Any) -> Any:
    if isinstance(value, dict):
        return instantiate(value) if "_component_" in value else {k: _build_nested(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_build_nested(v) for v in value]
    return value
