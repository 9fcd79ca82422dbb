"""The export targets: one row each, and everything that follows from a row.

``fsr-edge export`` (which targets exist, their precisions, the exporter module, the extra to install when it is
missing), verification and ``fsr-edge verify`` (the loader that runs a saved file), the benchmark (the same
loader in its own process, whether the runtime exists here) and the CLI defaults all read :data:`TARGETS`.

Adding a target is one module and one row: a module with ``export(model, example_input, out_dir, *, precision,
calibration=None, quantized_model=None, name="model") -> Artifact`` and a ``load(path, session) -> (infer,
info)`` function (both may live in the same module; a loader kept free of torch keeps the benchmark's memory
numbers the runtime's own), then a ``TargetSpec(...)`` row below. docs/export.md, "Adding a target", shows one.

This module imports neither torch nor any runtime: the CLI builds its choices from it and the benchmark worker
finds its loader through it.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Callable

from .runtimes import Infer, RuntimeUnavailable, Session


@dataclass(frozen=True)
class TargetSpec:
    name: str                       # --targets value, the manifest's "target", the folder in DIST
    extra: str                      # pip install 'fsr_edge[<extra>]' brings its packages
    runtime: str                    # what runs its artifacts (the benchmark row's "runtime")
    packages: tuple[str, ...]       # modules the runtime imports: probed here, imported (and timed) by the worker
    precisions: tuple[str, ...]     # what it offers; anything else is refused, never approximated
    exporter: str                   # module with export(...); imported only when exporting
    loader: str                     # "module:function", load(path, Session) -> (infer, info)
    probe: str | None = None        # "module:function", unavailable(*, device) -> reason or None, past the packages
    build_needs_runtime: bool = False   # its artifacts are built by the runtime itself (no runtime: no artifact)

    def export_module(self) -> ModuleType:
        return importlib.import_module(self.exporter)

    def load(self, path: str | Path, session: Session = Session()) -> tuple[Infer, dict]:
        return _function(self.loader)(path, session)


TARGETS: tuple[TargetSpec, ...] = (
    TargetSpec("onnx", extra="onnx", runtime="onnxruntime", packages=("onnxruntime",), precisions=("fp32", "int8"),
           exporter="fsr_edge.exporters.onnx", loader="fsr_edge.runtimes.onnx:load"),
    TargetSpec("openvino", extra="openvino", runtime="openvino", packages=("openvino",),
           precisions=("fp32", "fp16", "int8"), exporter="fsr_edge.exporters.openvino",
           loader="fsr_edge.runtimes.openvino:load"),
    TargetSpec("executorch", extra="executorch", runtime="executorch", packages=("executorch.runtime", "fsr_edge.safety"),
           precisions=("fp32", "int8"), exporter="fsr_edge.exporters.executorch",
           loader="fsr_edge.runtimes.executorch:load"),
    TargetSpec("coreml", extra="coreml", runtime="coreml", packages=("coremltools",), precisions=("fp16", "int8"),
           exporter="fsr_edge.exporters.coreml", loader="fsr_edge.runtimes.coreml:load",
           probe="fsr_edge.runtimes.coreml:unavailable"),
    TargetSpec("tensorrt", extra="tensorrt", runtime="tensorrt", packages=("tensorrt",), precisions=("fp16", "int8"),
           exporter="fsr_edge.exporters.tensorrt", loader="fsr_edge.runtimes.tensorrt:load",
           probe="fsr_edge.runtimes.tensorrt:unavailable", build_needs_runtime=True),
)

# The benchmark's reference rows (the student in PyTorch eager, the teacher, bicubic) run in PyTorch: a runtime,
# not an export target.
PYTORCH = TargetSpec("pytorch", extra="", runtime="pytorch", packages=("torch",), precisions=("fp32", "fp16"),
                 exporter="", loader="fsr_edge.runtimes.pytorch:load")


def names() -> list[str]:
    return [t.name for t in TARGETS]


def get(name: str) -> TargetSpec:
    """The row of a target name (``onnx``) or of a runtime (``onnxruntime``, ``pytorch``)."""
    for t in (*TARGETS, PYTORCH):
        if name in (t.name, t.runtime):
            return t
    raise KeyError(f"unknown target or runtime {name!r} (targets: {', '.join(names())})")


def unavailable(name: str, *, device: str = "cpu") -> str | None:
    """Why the runtime of a target (or a runtime by name) cannot run here, or None when it can."""
    t = get(name)
    why = _function(t.probe)(device=device) if t.probe else None
    if why:
        return why
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            return "no CUDA device on this machine"
    for package in t.packages:
        top = package.split(".")[0]       # find_spec of a dotted name would import its parent package
        if importlib.util.find_spec(top) is None:
            return f"{top} is not installed (pip install 'fsr_edge[{t.extra}]')"
    return None


def load(runtime: str, path: str | Path, session: Session = Session()) -> tuple[Infer, dict]:
    """Open ``path`` with the loader of a target or runtime (see :func:`get`)."""
    return get(runtime).load(path, session)


def check_file(path: str | Path) -> None:
    """The safety check a file gets before any runtime opens it (ONNX: the full checker, external data inside its
    folder); ExecuTorch programs are verified by their loader. Raises fsr_edge.errors.WeightsError."""
    if Path(path).suffix == ".onnx":
        from .safety import check_onnx_file

        check_onnx_file(path)



def _function(ref: str) -> Callable:
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


__all__ = ["PYTORCH", "TARGETS", "RuntimeUnavailable", "Session", "TargetSpec", "check_file", "get", "load", "names",
           "unavailable"]
