"""Runtime loaders: open a saved artifact in its runtime, with the session settings every caller shares.

One module per runtime, each with ``load(path, session) -> (infer, info)``: ``infer(x)`` takes a float32 NCHW
array and returns the output as a float32 array the caller owns (on the host); ``info`` names the runtime's
version and the settings it took effect with. Export verification (``fsr_edge.exporters``), re-verification
(``fsr-edge verify``), the benchmark worker and the photo pipeline all load through these functions, so a
verified artifact is timed with the settings it was verified with. Which loader serves which target:
:data:`fsr_edge.targets.TARGETS`.

Nothing here imports torch at module level: the benchmark worker imports a loader without torch, so an ONNX
Runtime or OpenVINO row's memory is that runtime's alone (the PyTorch, ExecuTorch and TensorRT loaders import
torch when they load, because their runtimes need it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

Infer = Callable[[np.ndarray], np.ndarray]


class RuntimeUnavailable(Exception):
    """The runtime that would execute an artifact does not exist on this machine (reason in str())."""


@dataclass(frozen=True)
class Session:
    """How a runtime runs an artifact. The same values give the same session in verification and benchmark."""

    threads: int | None = None      # None: $OMP_NUM_THREADS when set, else the runtime's default
    device: str = "cpu"             # "cpu" | "cuda"
    spin: bool = False              # let idle threads busy-wait / pin them (see fsr_edge.bench.harness.worker_env)
    precision: str | None = None    # the artifact's precision ("fp32", "fp16", "int8")
    config: Mapping[str, Any] = field(default_factory=dict)   # the manifest's runtime_config, model settings

    def thread_count(self) -> int | None:
        return self.threads or int(os.environ.get("OMP_NUM_THREADS") or 0) or None

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> "Session":
        """The session a benchmark worker spec asks for (keys: threads, device, spin, precision, runtime_config,
        ov_hint, model_attrs)."""
        config = dict(spec.get("runtime_config") or {})
        if spec.get("ov_hint"):
            config["INFERENCE_PRECISION_HINT"] = spec["ov_hint"]
        if spec.get("model_attrs"):
            config["model_attrs"] = spec["model_attrs"]
        return cls(threads=spec.get("threads"), device=spec.get("device") or "cpu", spin=bool(spec.get("spin")),
                   precision=spec.get("precision"), config=config)


__all__ = ["Infer", "RuntimeUnavailable", "Session"]
