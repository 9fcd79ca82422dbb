"""Recipe configs: YAML in, ``key=value`` overrides, checks, and ``instantiate`` for nodes naming a ``_component_``.

A config is data, not code: ``_component_`` may only name a callable inside ``ALLOWED_MODULES`` unless the caller
trusts the config (``trust=True``; ``fsr-edge train --trust-config``), and every key of a component node must be
a parameter of that callable with a value of the annotated type. What is refused is refused with one line
(a ``ConfigError``) before the named module is imported and before anything is built. docs/configs.md has the
user's side.
"""

from __future__ import annotations

import collections.abc
import copy
import difflib
import functools
import importlib
import inspect
import os
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Collection, Iterator, Mapping

import yaml

from ..errors import ConfigError

# Where a config's ``_component_`` may point without --trust-config: the fsr_edge packages that hold what a recipe
# builds (models, training methods and schedules, datasets, losses) and torch's optimizers, schedulers and
# layers. Not all of fsr_edge: fsr_edge.io writes any file it is given (``atomic_write_text(path, text)`` on a
# shell profile is code execution later) and fsr_edge.cli runs commands. Matched on whole dotted segments.
ALLOWED_MODULES = ("fsr_edge.models", "fsr_edge.training", "fsr_edge.data", "fsr_edge.losses",
                   "torch.optim", "torch.optim.lr_scheduler", "torch.nn")
_TRUST_HINT = "pass --trust-config (Python: trust=True) only if you trust this config and the code it names"


class _ConfigLoader(yaml.SafeLoader):
    """SafeLoader that also reads ``5e-4`` (no dot) as a float, as the override examples write learning rates;
    YAML 1.1 alone makes it the string '5e-4'."""


_ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"))


def _parse_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_ConfigLoader)  # noqa: S506  (a SafeLoader subclass: no python/* tags)


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """The config at ``path`` as a plain dict, with dotted ``key=value`` overrides applied (values parsed as YAML).

    Loading checks nothing but the YAML itself; a recipe checks what it reads (``recipes/train.py``'s
    ``check_config``), and ``instantiate`` checks every node it builds.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        cfg = _parse_yaml(path.read_text())
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
        try:
            node[leaf] = _parse_yaml(raw) if raw != "" else None
        except yaml.YAMLError as err:
            raise ConfigError(f"override {item!r}: the value is not valid YAML ({str(err).splitlines()[0]}); "
                              "quote it for the shell, e.g. 'data.train.crop=[0.9, 1.0]'") from None
    return cfg


# ---------------------------------------------------------------------------------------------------- components

def check_component_name(dotted: Any, *, where: str = "_component_", trust: bool = False) -> None:
    """Refuse a ``_component_`` outside ``ALLOWED_MODULES`` from its name alone: nothing is imported to decide."""
    if not isinstance(dotted, str) or not all(part.isidentifier() for part in dotted.split(".")) or "." not in dotted:
        raise ConfigError(f"{where}: {dotted!r} is not a dotted callable name such as torch.optim.Adam")
    if trust:
        return
    if not any(dotted.startswith(prefix + ".") for prefix in ALLOWED_MODULES):
        raise ConfigError(f"{where}: {dotted!r} is outside the modules a config may name "
                          f"({', '.join(ALLOWED_MODULES)}); {_TRUST_HINT}")
    if any(part.startswith("_") for part in dotted.split(".")):
        raise ConfigError(f"{where}: {dotted!r} is a private name, not a component; name a public builder "
                          f"or class, or {_TRUST_HINT}")


def resolve_component(dotted: str, *, trust: bool = False, where: str = "_component_") -> Callable[..., Any]:
    """``package.module.attr`` -> the callable (torchtune's ``_component_`` convention), allowlist first."""
    check_component_name(dotted, where=where, trust=trust)
    module_name, _, attr = dotted.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        # "a.b.C.method" is not supported on purpose: components are module-level names
        raise ConfigError(f"{where}: cannot import {module_name!r} for {dotted!r} ({err})") from None
    try:
        fn = getattr(module, attr)
    except AttributeError:
        if module_name == "fsr_edge.models":  # registered builders by name: fsr_edge.models.pisr_student_x8
            from ..models import create_model, list_models

            if attr in list_models():
                return functools.partial(create_model, attr)
        close = difflib.get_close_matches(attr, [n for n in dir(module) if not n.startswith("_")], n=1)
        hint = f"did you mean {module_name}.{close[0]}?" if close else "check the spelling"
        raise ConfigError(f"{where}: {module_name!r} has no attribute {attr!r} ({hint})") from None
    if not callable(fn) or inspect.ismodule(fn):
        raise ConfigError(f"{where}: {dotted!r} is not a callable; name a builder function or a class")
    # An allowed module's namespace also holds what it imported (``from os import system``): the object's own
    # home must be allowed too.
    home = getattr(fn, "__module__", None)
    if not trust and isinstance(home, str) and not any(home == p or home.startswith(p + ".") for p in ALLOWED_MODULES):
        raise ConfigError(f"{where}: {dotted!r} is {home}.{getattr(fn, '__qualname__', attr)}, outside the modules "
                          f"a config may name; {_TRUST_HINT}")
    return fn


def component_nodes(node: Any, where: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every ``(dotted path, node)`` with a ``_component_`` key inside ``node``, nested ones and list items too."""
    if isinstance(node, dict):
        if "_component_" in node:
            yield where or "config", node
        for key, value in node.items():
            yield from component_nodes(value, f"{where}.{key}" if where else str(key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from component_nodes(value, f"{where}[{i}]")


def check_component_names(cfg: Any, *, trust: bool = False) -> None:
    """Every ``_component_`` anywhere in ``cfg`` against the allowlist, before any of them is imported."""
    for where, node in component_nodes(cfg):
        check_component_name(node["_component_"], where=f"{where}._component_", trust=trust)


def check_node(node: Any, *, where: str, n_args: int = 0, supplied: Collection[str] = (),
               trust: bool = False) -> None:
    """Check a component node the way it will be called: ``fn(*n_args positional, **node, **supplied)``.

    Refuses, one line each: a name outside the allowlist, a key the callable does not take (with the closest
    one it does), a required parameter left out, and a value that breaks the parameter's annotation or
    ``KNOWN_VALUES``. Nested component nodes are checked the same way (called with no positional arguments).
    """
    if not isinstance(node, dict) or "_component_" not in node:
        raise ConfigError(f"{where}: expected a section with a '_component_' key (the callable that builds it), "
                          f"got {node!r}")
    check_component_names(node, trust=trust)
    dotted = node["_component_"]
    params, forwarded = _parameters(resolve_component(dotted, trust=trust, where=f"{where}._component_"))
    keys = [k for k in node if k != "_component_"]
    for key in keys:
        if not isinstance(key, str):
            raise ConfigError(f"{where}: key {key!r} is not a name; {dotted} takes keyword arguments")
    if params is not None:
        positional = [p for p in params.values()
                      if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)][:n_args]
        settable = {name: p for name, p in params.items()
                    if p not in positional and name not in supplied
                    and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
        if not takes_any:
            for key in keys:
                if key not in settable:
                    raise ConfigError(unknown_key_message(f"{where}.{key}", key, settable,
                                                          owner=f"{dotted} does not take it"))
        for name, p in settable.items():
            if p.default is p.empty and name not in node and not forwarded:
                raise ConfigError(f"{where}: {dotted} needs {name!r}; add {where}.{name}: VALUE to the config")
    for key in keys:
        value = node[key]
        if any(True for _ in component_nodes(value)):
            _check_nested(value, where=f"{where}.{key}", trust=trust)
            continue  # built into an object before the call: its annotation is about the object, not this dict
        param = params.get(key) if params is not None else None
        if param is not None:
            check_annotation(value, param.annotation, where=f"{where}.{key}", default=param.default)
        if key in KNOWN_VALUES:
            check_value(value, KNOWN_VALUES[key], where=f"{where}.{key}")


def _check_nested(value: Any, *, where: str, trust: bool) -> None:
    """The outermost component nodes inside a key's value (a node, or a list/dict holding nodes)."""
    if isinstance(value, dict) and "_component_" in value:
        check_node(value, where=where, trust=trust)
    elif isinstance(value, dict):
        for key, inner in value.items():
            _check_nested(inner, where=f"{where}.{key}", trust=trust)
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            _check_nested(inner, where=f"{where}[{i}]", trust=trust)


def _parameters(fn: Callable[..., Any]) -> tuple[dict[str, inspect.Parameter] | None, bool]:
    """The parameters a config can set on ``fn`` (annotations evaluated; None when they cannot be known), and
    whether they are forwarded: a registered builder ``def pisr_student_x8(**kw) -> FSRCNN`` passes its keywords
    to the class it returns, so its keys are checked against that class, whose required ones it fills itself.
    """
    if isinstance(fn, functools.partial) and fn.func.__name__ == "create_model" and fn.args:
        from ..models import _registry  # the builder behind a registered name; nothing public returns it

        fn = _registry._BUILDERS[fn.args[0]]
    signature = _signature(fn)
    if signature is None:
        return None, False
    params = dict(signature.parameters)
    if list(params) == [name for name, p in params.items() if p.kind is p.VAR_KEYWORD]:
        returned = signature.return_annotation
        inner = _signature(returned) if inspect.isclass(returned) else None
        if inner is not None:
            return dict(inner.parameters), True
    return params, False


def _signature(fn: Callable[..., Any]) -> inspect.Signature | None:
    try:
        return inspect.signature(fn, eval_str=True)
    except NameError:  # an annotation names something only imported for type checkers
        pass
    except (TypeError, ValueError):  # some builtins have no signature: let the call itself complain
        return None
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):
        return None


def unknown_key_message(where: str, key: str, valid: Collection[str], *, owner: str) -> str:
    """``where: unknown key 'checkpoint_evry' (did you mean 'checkpoint_every'?)``, one line."""
    close = difflib.get_close_matches(key, sorted(valid), n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}?" if close else f"valid keys: {', '.join(sorted(valid)) or 'none'}"
    return f"{where}: unknown key {key!r}, {owner} ({hint}); fix or remove it"


def check_keys(section: Mapping[Any, Any], valid: Collection[str], *, where: str, owner: str) -> None:
    """Refuse a key of ``section`` that is not in ``valid``, naming the closest valid one."""
    for key in section:
        if key not in valid:
            raise ConfigError(unknown_key_message(f"{where}.{key}" if where else str(key), str(key), valid,
                                                  owner=owner))


# -------------------------------------------------------------------------------------------------------- values

@dataclass(frozen=True)
class Rule:
    """What a config value must be: ``test(value)`` and the words for the refusal (``must be <wants>``)."""

    test: Callable[[Any], bool]
    wants: str

    def or_none(self) -> Rule:
        return Rule(lambda v: v is None or self.test(v), f"{self.wants} or null")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v  # v == v: NaN is not a setting


POSITIVE_INT = Rule(lambda v: _is_int(v) and v > 0, "a positive integer")
NON_NEGATIVE_INT = Rule(lambda v: _is_int(v) and v >= 0, "an integer >= 0")
POSITIVE_NUMBER = Rule(lambda v: _is_number(v) and 0 < v < float("inf"), "a positive number")
NON_NEGATIVE_NUMBER = Rule(lambda v: _is_number(v) and 0 <= v < float("inf"), "a number >= 0")
FRACTION = Rule(lambda v: _is_number(v) and 0 <= v <= 1, "a number in [0, 1]")
FLAG = Rule(lambda v: isinstance(v, bool), "true or false")
TEXT = Rule(lambda v: isinstance(v, str) and v != "", "a non-empty string")
SECTION = Rule(lambda v: isinstance(v, dict), "a section (a mapping of keys)")
COMPONENT = Rule(lambda v: isinstance(v, dict) and "_component_" in v,
                 "a section with a '_component_' key (the callable that builds it)")

# Component keys whose meaning is the same wherever they appear, checked on top of the parameter's annotation
# (torch's optimizers annotate lr as ``float | Tensor``: the annotation alone lets 0 and -1 through).
KNOWN_VALUES: dict[str, Rule] = {
    "lr": POSITIVE_NUMBER,
    "weight_decay": NON_NEGATIVE_NUMBER,
    "momentum": NON_NEGATIVE_NUMBER,
    "eps": POSITIVE_NUMBER,
    "warmup_steps": NON_NEGATIVE_INT,
    "min_lr_ratio": FRACTION,
    "batch_size": POSITIVE_INT,
    "hr_size": POSITIVE_INT,
    "scale": POSITIVE_INT,
}


def check_value(value: Any, rule: Rule, *, where: str) -> None:
    if not rule.test(value):
        raise ConfigError(f"{where}: must be {rule.wants}, got {value!r}; set it in the config or override it "
                          f"({where}=VALUE)")


def check_annotation(value: Any, annotation: Any, *, where: str, default: Any = inspect.Parameter.empty) -> None:
    """Refuse ``value`` when it plainly breaks the parameter's annotation (int, float, bool, str, paths,
    Optional/Union, Literal, lists and tuples of those); annotations it cannot read let the value through."""
    if value is None and default is None:  # ``x: int = None`` means optional, whatever the annotation says
        return
    if _matches(value, annotation) is False:
        raise ConfigError(f"{where}: expected {_describe(annotation)}, got {value!r}; set it in the config or "
                          f"override it ({where}=VALUE)")


def _matches(value: Any, ann: Any) -> bool | None:
    """True / False when the annotation decides, None when it is beyond this check (tensors, classes, ...)."""
    if ann is inspect.Parameter.empty or ann is Any or isinstance(ann, (str, typing.TypeVar)):
        return None
    if ann is None or ann is type(None):
        return value is None
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if origin is typing.Union or origin is types.UnionType:
        verdicts = [_matches(value, a) for a in args]
        return True if True in verdicts else None if None in verdicts else False
    if origin is typing.Literal:
        return value in args
    if ann is bool:
        return isinstance(value, bool)
    if ann is int:
        return _is_int(value)
    if ann is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)  # ranges: KNOWN_VALUES
    if ann is str:
        return isinstance(value, str)
    if inspect.isclass(ann) and issubclass(ann, (os.PathLike, Path)):
        return isinstance(value, str)
    if ann in (list, tuple) or origin in (list, tuple, collections.abc.Sequence):
        if not isinstance(value, (list, tuple)):
            return False
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                return False
            verdicts = [_matches(v, a) for v, a in zip(value, args)]
        else:
            verdicts = [_matches(v, args[0]) for v in value] if args else []
        return False if False in verdicts else True
    if ann is dict or origin in (dict, collections.abc.Mapping):
        return isinstance(value, dict)
    return None


def _describe(ann: Any) -> str:
    return inspect.formatannotation(ann).replace("NoneType", "None")


# ----------------------------------------------------------------------------------------------------- building

def instantiate(node: dict[str, Any] | None, *args: Any, trust: bool = False, **kwargs: Any) -> Any:
    """Build ``node['_component_'](*args, **node_kwargs, **kwargs)``; nested nodes with a component are built first.

    ``None`` gives ``None`` (optional sections such as ``scheduler``). The node is checked first (``check_node``):
    a component outside ``ALLOWED_MODULES`` is refused unless ``trust=True``.
    """
    if node is None:
        return None
    where = node.get("_component_", "config") if isinstance(node, dict) else "config"
    check_node(node, where=str(where), n_args=len(args), supplied=kwargs, trust=trust)
    fn = resolve_component(node["_component_"], trust=trust)
    built = {k: _build_nested(v, trust=trust) for k, v in node.items() if k != "_component_"}
    built.update(kwargs)
    signature = _signature(fn)
    if signature is not None:
        try:
            signature.bind(*args, **built)
        except TypeError as err:
            raise ConfigError(f"{node['_component_']}: wrong arguments in the config ({err})") from None
    return fn(*args, **built)


def _build_nested(value: Any, *, trust: bool) -> Any:
    if isinstance(value, dict):
        if "_component_" in value:
            return instantiate(value, trust=trust)
        return {k: _build_nested(v, trust=trust) for k, v in value.items()}
    if isinstance(value, list):
        return [_build_nested(v, trust=trust) for v in value]
    return value
