"""OpenVINO CPU plugin: latency hint, one stream, the session's threads, the artifact's precision hint.

On CPUs with AVX512-BF16/AMX the plugin runs "fp32" models in bf16 by default; an fp32 artifact (or one whose
manifest ``runtime_config`` says so) runs with ``INFERENCE_PRECISION_HINT=f32`` so verified numbers reproduce on
any CPU.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from . import Infer, RuntimeUnavailable, Session

PRECISION_HINT = "f32"


def precision_hint(runtime_config: Mapping[str, Any] | None, precision: str | None) -> str | None:
    """INFERENCE_PRECISION_HINT: the manifest's runtime_config, else f32 for an fp32 IR, else the plugin's default."""
    hint = (runtime_config or {}).get("INFERENCE_PRECISION_HINT")
    return hint or (PRECISION_HINT if precision == "fp32" else None)


def compile_model(path: str | Path, session: Session):
    try:
        import openvino as ov
    except ImportError as err:
        raise RuntimeUnavailable(f"openvino is not installed ({err}); pip install 'fsr_edge[openvino]'") from None
    config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": "1", "ENABLE_CPU_PINNING": session.spin}
    threads = session.thread_count()
    if threads:
        config["INFERENCE_NUM_THREADS"] = str(threads)
    hint = precision_hint(session.config, session.precision)
    if hint:
        config["INFERENCE_PRECISION_HINT"] = hint
    return ov.Core().compile_model(str(path), session.config.get("device") or "CPU", config)


def load(path: str | Path, session: Session) -> tuple[Infer, dict]:
    import numpy as np
    import openvino as ov

    compiled = compile_model(path, session)
    request = compiled.create_infer_request()
    hint = compiled.get_property("INFERENCE_PRECISION_HINT")
    info = {"openvino": ov.get_version(),
            "execution_precision": hint.get_type_name() if hasattr(hint, "get_type_name") else str(hint),
            "threads_effective": int(compiled.get_property("INFERENCE_NUM_THREADS")),
            "cpu_pinning": bool(compiled.get_property("ENABLE_CPU_PINNING"))}

    def infer(x):
        # shared in/out: the Python binding would otherwise copy the input and every output on top of the one
        # copy out below (measured: ~0.9 ms per call for this x8 output, +29% vs benchmark_app at 3 ms)
        request.infer({0: np.ascontiguousarray(x, dtype=np.float32)}, share_inputs=True, share_outputs=True)
        return request.get_output_tensor(0).data.copy()

    return infer, info
