"""Core ML ``.mlpackage`` (ML program): fp16, and INT8 weights (linear symmetric, per channel).

Steps: (1) ``torch.jit.trace``, (2) ``ct.convert(..., convert_to="mlprogram", compute_precision=FLOAT16)``,
(3) [INT8] ``ct.optimize.coreml.linear_quantize_weights``, (4) save, (5) check the spec: input/output names and
shapes, op types, weight precision. Activations stay fp16: W8A8 needs ``linear_quantize_activations``, whose
calibration runs Core ML predictions, which only exist on macOS. Prediction is likewise skipped on Linux
(``load_runner`` raises RuntimeUnavailable with the reason) and runs where Core ML does.
"""

from __future__ import annotations

import shutil
import warnings
from collections import Counter
from pathlib import Path

import torch
from torch import Tensor, nn

from .artifact import INPUT_NAME, OUTPUT_NAME, Artifact, Precision, Target, check_precision, versions
from .artifact import load_runner  # noqa: F401  (every exporter module offers the shared loader)

MINIMUM_TARGET = "iOS16"


def export(model: nn.Module, example_input: Tensor, out_dir: Path, *, precision: Precision,
           calibration=None, quantized_model: nn.Module | None = None, name: str = "model") -> Artifact:
    import coremltools as ct

    precision = Precision(precision)
    check_precision(Target.COREML, precision)
    model = model.eval()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(model, example_input)
        out_shape = tuple(model(example_input).shape)
    mlmodel = ct.convert(traced, inputs=[ct.TensorType(name=INPUT_NAME, shape=tuple(example_input.shape))],
                         outputs=[ct.TensorType(name=OUTPUT_NAME)], convert_to="mlprogram",
                         compute_precision=ct.precision.FLOAT16,
                         minimum_deployment_target=getattr(ct.target, MINIMUM_TARGET))
    if precision is Precision.INT8:
        from coremltools.optimize.coreml import OpLinearQuantizerConfig, OptimizationConfig, linear_quantize_weights

        config = OptimizationConfig(global_config=OpLinearQuantizerConfig(mode="linear_symmetric",
                                                                          granularity="per_channel",
                                                                          weight_threshold=0))
        mlmodel = linear_quantize_weights(mlmodel, config)
    shape = "x".join(str(s) for s in example_input.shape[-2:])
    path = Path(out_dir) / f"{name}_{precision.value}_{shape}.mlpackage"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{path.name}")
    shutil.rmtree(tmp, ignore_errors=True)
    mlmodel.save(str(tmp))
    shutil.rmtree(path, ignore_errors=True)
    tmp.rename(path)
    spec = spec_summary(path)
    art = Artifact(Target.COREML, precision, path, f"coremltools {ct.__version__} (Core ML, {MINIMUM_TARGET}+)",
                   tuple(example_input.shape), out_shape, tool_versions=versions("coremltools"),
                   runtime_config={"compute_units": "ALL", "minimum_deployment_target": MINIMUM_TARGET})
    art.delegation = {"backend": "Core ML (compute unit chosen on device)", "op_types": spec["op_types"],
                      "summary": "all ops are Core ML ML-program ops; the CPU/GPU/ANE split is decided on device"}
    art.notes.append(f"spec: {spec}")
    check_spec(spec, precision=precision, input_shape=tuple(example_input.shape), output_shape=out_shape)
    return art


def spec_summary(path: Path) -> dict:
    """Inputs, outputs, op types and the dtypes of the weights (const / constexpr ops) of a saved .mlpackage."""
    import coremltools as ct
    from coremltools.proto import MIL_pb2

    spec = ct.utils.load_spec(str(path))

    def _io(features):
        return [{"name": f.name, "shape": list(f.type.multiArrayType.shape),
                 "dtype": ct.proto.FeatureTypes_pb2.ArrayFeatureType.ArrayDataType.Name(f.type.multiArrayType.dataType)}
                for f in features]

    ops: Counter = Counter()
    weight_dtypes: Counter = Counter()
    for func in spec.mlProgram.functions.values():
        for block in func.block_specializations.values():
            for op in block.operations:
                ops[op.type] += 1
                if op.type == "const" and "val" in op.attributes:
                    t = op.attributes["val"].type
                    if t.WhichOneof("type") == "tensorType" and len(t.tensorType.dimensions) >= 2:
                        weight_dtypes[MIL_pb2.DataType.Name(t.tensorType.dataType)] += 1
                elif op.type.startswith("constexpr"):
                    for attr in ("quantized_data", "data"):
                        if attr in op.attributes:
                            weight_dtypes[MIL_pb2.DataType.Name(op.attributes[attr].type.tensorType.dataType)] += 1
    return {"type": spec.WhichOneof("Type"), "spec_version": spec.specificationVersion,
            "inputs": _io(spec.description.input), "outputs": _io(spec.description.output),
            "op_types": dict(sorted(ops.items())), "weight_dtypes": dict(sorted(weight_dtypes.items()))}


def check_spec(spec: dict, *, precision: Precision, input_shape: tuple, output_shape: tuple) -> None:
    """Raise WeightsError when the saved model is not what was asked for."""
    from fsr_edge.errors import WeightsError

    problems = []
    if spec["type"] != "mlProgram":
        problems.append(f"type {spec['type']} is not mlProgram")
    if [i["name"] for i in spec["inputs"]] != [INPUT_NAME] or spec["inputs"][0]["shape"] != list(input_shape):
        problems.append(f"inputs {spec['inputs']}")
    if [o["name"] for o in spec["outputs"]] != [OUTPUT_NAME]:
        problems.append(f"outputs {spec['outputs']}")
    w = spec["weight_dtypes"]
    if precision is Precision.INT8 and not (w.get("INT8", 0) and spec["op_types"].get("conv", 0)
                                            <= spec["op_types"].get("constexpr_affine_dequantize", 0)
                                            + spec["op_types"].get("constexpr_blockwise_shift_scale", 0)):
        problems.append(f"not every conv weight is INT8 (weights {w}, ops {spec['op_types']})")
    if precision is Precision.FP16 and set(w) - {"FLOAT16"}:
        problems.append(f"weights not all fp16: {w}")
    if problems:
        raise WeightsError("Core ML spec check failed: " + "; ".join(problems))
