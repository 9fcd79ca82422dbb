"""TensorRT engine (.engine / .plan): fp16, and INT8 from the Q/DQ ONNX (explicit quantization).

Where CUDA and TensorRT exist: (1) the ONNX (fp32 for fp16, Q/DQ for INT8) from exporters.onnx, (2) the
TensorRT builder parses it (``trt.OnnxParser``), fp16 flag / INT8 flag, (3) the serialized engine is saved and
run with the TensorRT runtime. Where they do not (this CPU-only machine), ``export`` returns an Artifact with
``status="not_available"`` and the reason, after checking the Q/DQ ONNX it would consume (every Conv fed by
DequantizeLinear, symmetric zero points): that part is testable anywhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
from torch import Tensor, nn

from .artifact import Artifact, Precision, RuntimeUnavailable, Target, check_precision, versions
from . import onnx as onnx_exporter
from ._files import atomic_write_bytes

NOT_AVAILABLE = "not available here: needs CUDA + TensorRT"


def availability() -> tuple[bool, str]:
    """(available, reason): TensorRT needs an NVIDIA GPU with CUDA and the tensorrt Python package."""
    try:
        import torch

        if not torch.cuda.is_available():
            return False, f"{NOT_AVAILABLE} (no CUDA device)"
        import tensorrt  # noqa: F401
    except ImportError:
        return False, f"{NOT_AVAILABLE} (tensorrt is not installed)"
    return True, ""


def export(model: nn.Module, example_input: Tensor, out_dir: Path, *, precision: Precision,
           calibration=None, quantized_model: nn.Module | None = None, name: str = "model") -> Artifact:
    precision = Precision(precision)
    check_precision(Target.TENSORRT, precision)
    out_dir = Path(out_dir)
    onnx_dir = out_dir / "_onnx_for_tensorrt"
    onnx_art = onnx_exporter.export(model, example_input, onnx_dir,
                                    precision=Precision.INT8 if precision is Precision.INT8 else Precision.FP32,
                                    quantized_model=quantized_model, name=name)
    qdq = onnx_exporter.qdq_structure(onnx_art.file) if precision is Precision.INT8 else None
    ok, reason = availability()
    shape = "x".join(str(s) for s in example_input.shape[-2:])
    art = Artifact(Target.TENSORRT, precision, None, "TensorRT", tuple(example_input.shape), onnx_art.output_shape,
                   tool_versions=versions("tensorrt", "onnx"))
    if qdq is not None:
        art.delegation = {"backend": "TensorRT", "qdq_onnx_check": qdq,
                          "summary": f"{qdq['conv_with_qdq_inputs']}/{qdq['conv_total']} convs Q/DQ-fed, zero points "
                                     f"{'/'.join(qdq['zero_point_dtypes'])}, TensorRT-compatible Q/DQ: "
                                     f"{qdq['tensorrt_compatible']}"}
    if not ok:
        art.status, art.reason = "not_available", reason
        import shutil

        shutil.rmtree(onnx_dir, ignore_errors=True)
        return art
    art.file = _build_engine(onnx_art.file, out_dir / f"{name}_{precision.value}_{shape}.engine", precision)
    art.runtime = _runtime_name()
    return art


def load_runner(artifact: Artifact) -> Callable[[np.ndarray], np.ndarray]:
    ok, reason = availability()
    if not ok or artifact.file is None:
        raise RuntimeUnavailable(reason or NOT_AVAILABLE)
    import tensorrt as trt
    import torch

    runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
    engine = runtime.deserialize_cuda_engine(Path(artifact.file).read_bytes())
    context = engine.create_execution_context()
    names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]

    def run(lr: np.ndarray) -> np.ndarray:
        inp = torch.from_numpy(lr).cuda()
        out = torch.empty(artifact.output_shape, device="cuda")
        for n in names:
            is_input = engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT
            context.set_tensor_address(n, (inp if is_input else out).data_ptr())
        context.execute_async_v3(torch.cuda.current_stream().cuda_stream)
        torch.cuda.synchronize()
        return out.cpu().numpy()

    return run


def _build_engine(onnx_path: Path, engine_path: Path, precision: Precision) -> Path:
    import tensorrt as trt

    from fsr_edge.errors import WeightsError

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(Path(onnx_path).read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise WeightsError(f"{onnx_path}: TensorRT cannot parse it: {errors}")
    config = builder.create_builder_config()
    config.set_flag(trt.BuilderFlag.FP16)
    if precision is Precision.INT8:
        config.set_flag(trt.BuilderFlag.INT8)   # explicit quantization: scales come from the Q/DQ nodes
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise WeightsError(f"{onnx_path}: TensorRT engine build failed")
    return atomic_write_bytes(engine_path, bytes(serialized))


def _runtime_name() -> str:
    import tensorrt as trt

    return f"TensorRT {trt.__version__}"
