"""TensorRT engines on CUDA; a ``.onnx`` artifact (the INT8 Q/DQ ONNX exported where no engine could be built)
runs in ONNX Runtime as the numeric stand-in."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from . import Infer, RuntimeUnavailable, Session
from . import onnx as onnxruntime_loader

NOT_AVAILABLE = "not available here: needs CUDA + TensorRT"


def unavailable(*, device: str = "cuda") -> str | None:
    """Why TensorRT cannot run here (no CUDA device, no tensorrt package), or None."""
    import torch

    if not torch.cuda.is_available():
        return f"{NOT_AVAILABLE} (no CUDA device)"
    if importlib.util.find_spec("tensorrt") is None:
        return f"{NOT_AVAILABLE} (tensorrt is not installed: pip install 'fsr_edge[tensorrt]' on a CUDA machine)"
    return None


def load(path: str | Path, session: Session) -> tuple[Infer, dict]:
    if Path(path).suffix == ".onnx":
        return onnxruntime_loader.load(path, Session(threads=session.threads, spin=session.spin))
    why = unavailable()
    if why:
        raise RuntimeUnavailable(why)
    import tensorrt as trt
    import torch

    logger = trt.Logger(trt.Logger.WARNING)
    engine = trt.Runtime(logger).deserialize_cuda_engine(Path(path).read_bytes())
    context = engine.create_execution_context()
    names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
    in_name = next(n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT)
    out_name = next(n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT)
    out_buf = torch.empty(tuple(engine.get_tensor_shape(out_name)), dtype=torch.float32, device="cuda")
    stream = torch.cuda.Stream()
    torch.cuda.reset_peak_memory_stats()

    def infer(x):
        x_dev = torch.from_numpy(x).cuda()
        context.set_tensor_address(in_name, x_dev.data_ptr())
        context.set_tensor_address(out_name, out_buf.data_ptr())
        context.execute_async_v3(stream.cuda_stream)
        stream.synchronize()
        return out_buf.cpu().numpy()

    return infer, {"tensorrt": trt.__version__, "gpu": torch.cuda.get_device_name()}
