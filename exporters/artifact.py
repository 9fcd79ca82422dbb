"""Types every exporter shares: targets, precisions, the exported Artifact, and the I/O contract.

The targets, their precisions and their runtimes are the rows of :data:`fsr_edge.targets.TARGETS`. Every
exporter module (onnx, openvino, executorch, coreml, tensorrt) has the same two public functions:

    export(model, example_input, out_dir, *, precision, calibration=None, quantized_model=None, name="model") -> Artifact
    load_runner(artifact, *, threads=None) -> Callable[[np.ndarray], np.ndarray]   # raises RuntimeUnavailable

``load_runner`` is :func:`load_runner` here for every target: the target row's loader (``fsr_edge.runtimes``),
the same one the benchmark times.

``example_input`` fixes the input shape (batch 1). ``calibration`` (a CalibrationSet) is used by the exporters
that quantize inside their own tool (ExecuTorch PT2E, Core ML); ``quantized_model`` is the NNCF fake-quantized
student (PTQ or QAT) that the Q/DQ-based targets (ONNX, OpenVINO, TensorRT) export.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Callable

import numpy as np

from fsr_edge.runtimes import RuntimeUnavailable, Session
from fsr_edge.targets import TARGETS
from fsr_edge.targets import get as target_spec


class Precision(str, Enum):
    FP32 = "fp32"
    FP16 = "fp16"
    INT8 = "int8"


# One member per row of the target table (Target.ONNX == "onnx", ...).
Target = Enum("Target", {t.name.upper(): t.name for t in TARGETS}, type=str, module=__name__, qualname="Target")

# What each target offers. Combinations outside this table are refused, not silently approximated.
SUPPORTED: dict[Target, tuple[Precision, ...]] = {Target(t.name): tuple(Precision(p) for p in t.precisions)
                                                  for t in TARGETS}

INPUT_NAME, OUTPUT_NAME = "lr_face", "sr_face"
# Every artifact's input is an 8-bit image as float32: its range is known, never calibrated.
INPUT_RANGE = (0.0, 1.0)


@dataclass
class Artifact:
    """One exported file and what is known about it. ``file`` is None when the target is not available here."""

    target: Target | str                           # a row of fsr_edge.targets.TARGETS (its Target member)
    precision: Precision
    file: Path | None
    runtime: str                                   # e.g. "onnxruntime 1.31.1 CPUExecutionProvider"
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    tool_versions: dict[str, str] = field(default_factory=dict)
    delegation: dict[str, Any] | None = None       # how much of the graph the accelerated backend takes
    runtime_config: dict[str, Any] = field(default_factory=dict)   # settings a runtime must use to match
    extra_files: list[Path] = field(default_factory=list)           # e.g. OpenVINO's .bin next to the .xml
    status: str = "exported"                       # "exported" | "not_available"
    reason: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        shape = "x".join(str(s) for s in self.input_shape[-2:])
        return f"{getattr(self.target, 'value', self.target)}-{self.precision.value}-{shape}"


def io_contract(name: str, shape: tuple[int, ...]) -> dict[str, Any]:
    """The tensor contract written into the manifest for one input or output."""
    return {"name": name, "shape": list(shape), "dtype": "float32", "layout": "NCHW", "channel_order": "RGB",
            "value_range": list(INPUT_RANGE), "normalization": "none"}


def load_runner(artifact: Artifact, *, threads: int | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """Run the saved file in its target's runtime (the row's loader, the session the benchmark uses too), after
    the file's safety check. Raises RuntimeUnavailable when that runtime cannot run here."""
    from fsr_edge.targets import check_file

    spec = target_spec(getattr(artifact.target, "value", artifact.target))
    if artifact.file is None:
        raise RuntimeUnavailable(artifact.reason or f"{artifact.id}: no artifact file")
    check_file(artifact.file)
    session = Session(threads=threads, precision=Precision(artifact.precision).value, config=artifact.runtime_config)
    try:
        return spec.load(artifact.file, session)[0]
    except ImportError as err:
        raise RuntimeUnavailable(f"{err.name or err} is not installed; pip install 'fsr_edge[{spec.extra}]'") from None


def check_precision(target: Target | str, precision: Precision) -> None:
    from fsr_edge.errors import ConfigError

    spec = target_spec(getattr(target, "value", target))
    if Precision(precision).value not in spec.precisions:
        raise ConfigError(f"target {spec.name} does not offer {Precision(precision).value} "
                          f"(offers {', '.join(spec.precisions)})")


def versions(*packages: str) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("torch", *packages):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out
