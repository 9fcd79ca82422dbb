"""TensorRT: fp16, and INT8 as explicit quantization (a Q/DQ ONNX that follows TensorRT's rules).

INT8 steps:
  1. the fp32 ONNX (exporters.onnx);
  2. ONNX Runtime's quantizer (``onnxruntime.quantization.quantize_static``, QDQ format) writes TensorRT's
     explicit-quantization form: signed INT8 activations and weights, symmetric (zero point 0), per-channel
     weights, calibrated on the calibration set; the input ``lr_face`` and the bilinear skip are not calibrated:
     their range is [0, 1] by construction (``TensorQuantOverrides`` rmin 0, rmax 1);
  3. its structure is checked (every Conv fed by DequantizeLinear on data and weight, every zero point 0 and
     int8: ``onnx.qdq_structure``);
  4. where CUDA and TensorRT exist, the builder parses that ONNX into an engine (``.engine``), run with the
     TensorRT runtime. Where they do not (a CPU machine), the artifact is the Q/DQ ONNX itself, verified in
     ONNX Runtime on the CPU as the numeric stand-in under the same gates; the manifest says so and the
     benchmark marks TensorRT latency "not measured".
fp16: the fp32 ONNX is what the builder takes; without CUDA + TensorRT it is reported not available.
``tools/gpu_check_tensorrt.sh`` builds, verifies and times both engines on a GPU machine.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from torch import Tensor, nn

from fsr_edge.targets import unavailable

from . import onnx as onnx_exporter
from ._files import atomic_output, atomic_write_bytes
from .artifact import INPUT_NAME, INPUT_RANGE, Artifact, Precision, Target, check_precision, versions
from .artifact import load_runner  # noqa: F401  (every exporter module offers the shared loader)

STAND_IN = "onnxruntime CPU on the TensorRT Q/DQ ONNX (numeric stand-in: no CUDA + TensorRT here)"


def availability() -> tuple[bool, str]:
    """(available, reason): TensorRT needs an NVIDIA GPU with CUDA and the tensorrt Python package."""
    why = unavailable("tensorrt", device="cuda")
    return why is None, why or ""


def export(model: nn.Module, example_input: Tensor, out_dir: Path, *, precision: Precision,
           calibration=None, quantized_model: nn.Module | None = None, name: str = "model") -> Artifact:
    precision = Precision(precision)
    check_precision(Target.TENSORRT, precision)
    out_dir = Path(out_dir)
    shape = "x".join(str(s) for s in example_input.shape[-2:])
    work = out_dir / "_onnx_for_tensorrt"
    fp32 = onnx_exporter.export(model, example_input, work, precision=Precision.FP32, name=name)
    ok, reason = availability()
    art = Artifact(Target.TENSORRT, precision, None, "TensorRT", tuple(example_input.shape), fp32.output_shape,
                   tool_versions=versions("tensorrt", "onnx", "onnxruntime"))
    try:
        if precision is Precision.INT8:
            if calibration is None:
                from fsr_edge.errors import ConfigError

                raise ConfigError("TensorRT INT8 needs a calibration set (calibration=...)")
            qdq = out_dir / f"{name}_{precision.value}_{shape}.onnx"
            quantize_qdq(fp32.file, qdq, calibration)
            check = onnx_exporter.qdq_structure(qdq)
            art.delegation = {"backend": "TensorRT", "qdq_onnx_check": check,
                              "summary": f"{check['conv_with_qdq_inputs']}/{check['conv_total']} convs Q/DQ-fed, "
                                         f"zero points {'/'.join(check['zero_point_dtypes'])}, TensorRT rules: "
                                         f"{check['tensorrt_compatible']}"}
            if not check["tensorrt_compatible"]:
                from fsr_edge.errors import WeightsError

                raise WeightsError(f"{qdq.name}: Q/DQ graph breaks TensorRT's explicit-quantization rules ({check})")
            source = qdq
        else:
            source = fp32.file
        if not ok:
            if precision is Precision.INT8:
                art.file, art.runtime = qdq, STAND_IN
                art.notes.append(f"engine not built: {reason}; verified in ONNX Runtime on the CPU")
            else:
                art.status, art.reason = "not_available", reason
            return art
        engine = out_dir / f"{name}_{precision.value}_{shape}.engine"
        art.file = _build_engine(source, engine, precision)
        art.runtime = _runtime_name()
        if precision is Precision.INT8:
            art.extra_files.append(qdq)
        return art
    finally:
        shutil.rmtree(work, ignore_errors=True)


def quantize_qdq(fp32_onnx: Path, out: Path, calibration) -> Path:
    """TensorRT-style Q/DQ ONNX from an fp32 ONNX with ONNX Runtime's quantizer (see the module docstring)."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class _Reader(CalibrationDataReader):
        def __init__(self):
            self._items = iter([{INPUT_NAME: x.numpy()} for x in calibration.lr_faces()])

        def get_next(self):
            return next(self._items, None)

    low, high = INPUT_RANGE
    overrides = {t: [{"rmin": np.float32(low), "rmax": np.float32(high)}] for t in _range_known_tensors(fp32_onnx)}
    with atomic_output(out) as tmp:
        quantize_static(str(fp32_onnx), str(tmp), _Reader(), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, per_channel=True,
                        extra_options={"ActivationSymmetric": True, "WeightSymmetric": True,
                                       "TensorQuantOverrides": overrides})
    return out


def _range_known_tensors(path: Path) -> list[str]:
    """The graph input and the outputs of range-keeping ops (Resize, DepthToSpace, MaxPool) fed only by it."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    known = {i.name for i in graph.input}
    for node in graph.node:                     # ONNX nodes are stored in topological order
        data_inputs = [i for i in node.input[:1] if i]
        if node.op_type in ("Resize", "DepthToSpace", "MaxPool") and data_inputs and data_inputs[0] in known:
            if node.op_type != "Resize" or _resize_mode(node) in ("linear", "nearest"):
                known.update(node.output)
    return sorted(known)


def _resize_mode(node) -> str:
    return next((a.s.decode() for a in node.attribute if a.name == "mode"), "nearest")


def _build_engine(onnx_path: Path, engine_path: Path, precision: Precision) -> Path:
    import tensorrt as trt

    from fsr_edge.errors import WeightsError

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    # INT8: a strongly typed network takes its precisions from the Q/DQ nodes (TensorRT 10 and 11);
    # fp16: the builder's FP16 flag where it exists (TensorRT 10), else the fp32 ONNX as it is.
    flags = 0
    if precision is Precision.INT8 and hasattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED"):
        flags = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(Path(onnx_path).read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise WeightsError(f"{onnx_path}: TensorRT cannot parse it: {errors}")
    config = builder.create_builder_config()
    if precision is Precision.FP16 and hasattr(trt.BuilderFlag, "FP16"):
        config.set_flag(trt.BuilderFlag.FP16)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise WeightsError(f"{onnx_path}: TensorRT engine build failed")
    return atomic_write_bytes(engine_path, bytes(serialized))


def _runtime_name() -> str:
    import tensorrt as trt

    return f"TensorRT {trt.__version__}"
