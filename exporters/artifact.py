"""Types every exporter shares: targets, precisions, the exported Artifact, and the I/O contract.

Every exporter module (onnx, openvino, executorch, coreml, tensorrt) has the same two public functions:

    export(model, example_input, out_dir, *, precision, calibration=None, quantized_model=None, name="model") -> Artifact
    load_runner(artifact) -> Callable[[np.ndarray], np.ndarray]     # runs the saved file; raises RuntimeUnavailable

``example_input`` fixes the input shape (batch 1). ``calibration`` (a CalibrationSet) is used by the exporters
that quantize inside their own tool (ExecuTorch PT2E, Core ML); ``quantized_model`` is the NNCF fake-quantized
student (PTQ or QAT) that the Q/DQ-based targets (ONNX, OpenVINO, TensorRT) export.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any


class Target(str, Enum):
    ONNX = "onnx"
    OPENVINO = "openvino"
    EXECUTORCH = "executorch"
    COREML = "coreml"
    TENSORRT = "tensorrt"


class Precision(str, Enum):
    FP32 = "fp32"
    FP16 = "fp16"
    INT8 = "int8"


# What each target offers. Combinations outside this table are refused, not silently approximated.
SUPPORTED: dict[Target, tuple[Precision, ...]] = {
    Target.ONNX: (Precision.FP32, Precision.INT8),
    Target.OPENVINO: (Precision.FP32, Precision.FP16, Precision.INT8),
    Target.EXECUTORCH: (Precision.FP32, Precision.INT8),
    Target.COREML: (Precision.FP16, Precision.INT8),
    Target.TENSORRT: (Precision.FP16, Precision.INT8),
}

INPUT_NAME, OUTPUT_NAME = "lr_face", "sr_face"
# Every artifact's input is an 8-bit image as float32: its range is known, never calibrated.
INPUT_RANGE = (0.0, 1.0)


class RuntimeUnavailable(Exception):
    """The runtime that would execute an artifact does not exist on this machine (reason in str())."""


@dataclass
class Artifact:
    """One exported file and what is known about it. ``file`` is None when the target is not available here."""

    target: Target
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
        return f"{self.target.value}-{self.precision.value}-{shape}"


def io_contract(name: str, shape: tuple[int, ...]) -> dict[str, Any]:
    """The tensor contract written into the manifest for one input or output."""
    return {"name": name, "shape": list(shape), "dtype": "float32", "layout": "NCHW", "channel_order": "RGB",
            "value_range": list(INPUT_RANGE), "normalization": "none"}


def check_precision(target: Target, precision: Precision) -> None:
    from fsr_edge.errors import ConfigError

    if precision not in SUPPORTED[target]:
        offered = ", ".join(p.value for p in SUPPORTED[target])
        raise ConfigError(f"target {target.value} does not offer {precision.value} (offers {offered})")


def versions(*packages: str) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("torch", *packages):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out
