"""ONNX: fp32, and INT8 as QuantizeLinear/DequantizeLinear (Q/DQ) from the NNCF-quantized student.

Steps: (1) strip NNCF's FakeQuantize to native torch fake-quant ops, (2) TorchScript ONNX export at opset 17
(it maps pixel shuffle to DepthToSpace and fake-quant to Q/DQ pairs), (3) onnx.checker full check,
(4) run in ONNX Runtime. The Q/DQ file is also what OpenVINO INT8 and TensorRT INT8 consume.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path
import numpy as np
import torch
from torch import Tensor, nn

from fsr_edge.safety import check_onnx_file

from ._files import atomic_output
from .artifact import INPUT_NAME, OUTPUT_NAME, Artifact, Precision, Target, check_precision, versions
from .artifact import load_runner  # noqa: F401  (every exporter module offers the shared loader)

OPSET = 17


def export(model: nn.Module, example_input: Tensor, out_dir: Path, *, precision: Precision,
           calibration=None, quantized_model: nn.Module | None = None, name: str = "model") -> Artifact:
    precision = Precision(precision)
    check_precision(Target.ONNX, precision)
    out_dir = Path(out_dir)
    shape = "x".join(str(s) for s in example_input.shape[-2:])
    path = out_dir / f"{name}_{precision.value}_{shape}.onnx"
    if precision is Precision.INT8:
        if quantized_model is None:
            from fsr_edge.errors import ConfigError

            raise ConfigError("ONNX INT8 needs the NNCF-quantized student (quantized_model=...)")
        graph_model = strip_to_qdq(quantized_model, example_input)
    else:
        graph_model = model
    to_onnx(graph_model, example_input, path)
    if precision is Precision.INT8:
        fold_weight_quantizers(path)
    check_onnx_file(path)   # onnx.checker full check (+ external data stays in its folder)
    with torch.no_grad():
        out_shape = tuple(model(example_input).shape)
    art = Artifact(Target.ONNX, precision, path, _runtime_name(), tuple(example_input.shape), out_shape,
                   tool_versions=versions("onnx", "onnxruntime", "nncf"))
    art.delegation = ort_kernel_stats(path)
    return art


def strip_to_qdq(quantized_model: nn.Module, example_input: Tensor) -> nn.Module:
    """NNCF fake-quantized model -> torch fake-quant ops that ONNX export writes as Q/DQ (not OpenVINO's
    FakeQuantize, which ONNX Runtime and TensorRT reject)."""
    import nncf

    return nncf.strip(quantized_model, do_copy=True, strip_format=nncf.StripFormat.NATIVE,
                      example_input=example_input).eval()


def to_onnx(model: nn.Module, example_input: Tensor, path: Path) -> Path:
    """Fixed-shape ONNX export, atomic."""
    with atomic_output(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # The TorchScript exporter: the dynamo one does not export NNCF's stripped fake-quant ops to Q/DQ.
        torch.onnx.export(model.eval(), (example_input,), str(tmp), dynamo=False, opset_version=OPSET,
                          input_names=[INPUT_NAME], output_names=[OUTPUT_NAME], do_constant_folding=True)
    return path


def fold_weight_quantizers(path: Path) -> int:
    """Store quantized weights as INT8 initializers: ``QuantizeLinear(float constant)`` is computed once and
    its ``DequantizeLinear`` reads the INT8 tensor. The exporter writes float weights + a runtime Q node,
    which makes the "INT8" file larger than the fp32 one; after folding it is ~4x smaller and TensorRT /
    OpenVINO see the canonical weight pattern (INT8 constant -> DequantizeLinear -> Conv). Returns how many
    weights were folded."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    g = model.graph
    consts = _constants(g)
    consumers: dict[str, list] = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    folded, drop = 0, set()
    for n in list(g.node):
        if n.op_type != "QuantizeLinear" or n.input[0] not in consts or len(n.input) < 3:
            continue
        if not all(c.op_type == "DequantizeLinear" for c in consumers.get(n.output[0], [])):
            continue
        x, scale, zp = consts[n.input[0]], consts.get(n.input[1]), consts.get(n.input[2])
        if scale is None or zp is None or not np.issubdtype(x.dtype, np.floating):
            continue
        axis = next((a.i for a in n.attribute if a.name == "axis"), 1)
        shape = [1] * x.ndim
        if scale.ndim == 1 and scale.size > 1:
            shape[axis % x.ndim] = scale.size
        info = np.iinfo(zp.dtype)
        q = np.clip(np.round(x / scale.reshape(shape)) + zp.reshape(shape).astype(np.int32), info.min, info.max)
        name = f"{n.output[0]}_int8"
        g.initializer.append(numpy_helper.from_array(q.astype(zp.dtype), name))
        for c in consumers[n.output[0]]:
            c.input[0] = name
        drop.add(n.output[0])
        folded += 1
    kept = [n for n in g.node if n.output[0] not in drop]
    del g.node[:]
    g.node.extend(kept)
    _prune_dead(g)
    onnx.save(model, str(path))
    return folded


def _constants(g) -> dict[str, np.ndarray]:
    """Initializers, Constant nodes, and Identity of either (the exporter shares zero points that way)."""
    from onnx import numpy_helper

    consts = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    for n in g.node:
        if n.op_type == "Identity" and n.input[0] in consts:
            consts[n.output[0]] = consts[n.input[0]]
        elif n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value":
            consts[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
    return consts


def _prune_dead(g) -> None:
    """Drop nodes and initializers nothing reads any more (the float weights after folding)."""
    while True:
        used = {i for n in g.node for i in n.input} | {o.name for o in g.output}
        keep = [n for n in g.node if any(o in used for o in n.output)]
        if len(keep) == len(g.node):
            break
        del g.node[:]
        g.node.extend(keep)
    used = {i for n in g.node for i in n.input}
    keep_init = [i for i in g.initializer if i.name in used]
    del g.initializer[:]
    g.initializer.extend(keep_init)


def op_counts(path: Path) -> dict[str, int]:
    import onnx

    counts: dict[str, int] = {}
    for node in onnx.load(str(path), load_external_data=False).graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return dict(sorted(counts.items()))


def ort_kernel_stats(path: Path) -> dict:
    """Which kernels ONNX Runtime actually runs after its graph optimisations: for a Q/DQ model, how many
    convolutions became integer kernels (QLinearConv / ConvInteger) and how many stayed float."""
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        opt_path = os.path.join(tmp, "opt.onnx")
        opts = ort.SessionOptions()
        opts.log_severity_level = 3   # the "optimized model is hardware specific" warning is expected here
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.optimized_model_filepath = opt_path
        ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        optimized = op_counts(Path(opt_path))
    int8_conv = sum(v for k, v in optimized.items() if k in ("QLinearConv", "ConvInteger"))
    float_conv = sum(v for k, v in optimized.items() if k in ("Conv", "FusedConv", "NhwcFusedConv"))
    return {"backend": "CPUExecutionProvider", "exported_ops": op_counts(path), "optimized_ops": optimized,
            "int8_conv": int8_conv, "float_conv": float_conv,
            "summary": f"{int8_conv}/{int8_conv + float_conv} convolutions run as integer kernels"}


def qdq_structure(path: Path) -> dict:
    """What a Q/DQ consumer (TensorRT, OpenVINO) needs: every Conv fed by DequantizeLinear on data and weight,
    and whether zero points are 0 (TensorRT takes symmetric INT8 only)."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    g = model.graph
    producers = {o: n for n in g.node for o in n.output}
    consts = _constants(g)
    convs = [n for n in g.node if n.op_type in ("Conv", "ConvTranspose")]
    fed = sum(1 for n in convs if all(producers.get(i) is not None and producers[i].op_type == "DequantizeLinear"
                                      for i in n.input[:2]))
    zps, dtypes = [], set()
    for n in g.node:
        if n.op_type == "QuantizeLinear" and len(n.input) > 2:
            zp = consts.get(n.input[2])
            if zp is not None:
                zps.append(np.asarray(zp))
                dtypes.add(str(np.asarray(zp).dtype))
    symmetric = all(int(np.abs(z.astype(np.int32)).max()) == 0 for z in zps) if zps else False
    return {"conv_total": len(convs), "conv_with_qdq_inputs": fed, "quantize_nodes": len(zps),
            "zero_point_dtypes": sorted(dtypes), "all_zero_points_zero": symmetric,
            "tensorrt_compatible": fed == len(convs) and symmetric and dtypes <= {"int8"}}


def _runtime_name() -> str:
    import onnxruntime as ort

    return f"onnxruntime {ort.__version__} CPUExecutionProvider"
