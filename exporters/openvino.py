"""OpenVINO IR (.xml + .bin): fp32, fp16 (compressed weights), INT8 (from the Q/DQ ONNX).

Steps: (1) ONNX first (exporters.onnx), (2) ``ov.convert_model`` of that ONNX, (3) ``ov.save_model``,
(4) compile and run on the CPU plugin.

Why through ONNX and not ``ov.convert_model(torch_model)``: the torch frontend lowers pixel shuffle to
Reshape-Transpose-Reshape, which the CPU plugin runs as generic 6-D transposes plus layout reorders; the ONNX
frontend gets ``DepthToSpace``, a native kernel. Measured on EdgeSR x8 (docs/results/export_int8.md): INT8 via
the torch frontend barely beats bf16, via ONNX it is clearly faster. INT8 IR is the Q/DQ ONNX converted: OpenVINO
turns each Q/DQ pair into FakeQuantize and runs the convolutions as INT8 kernels.

Runtime setting that matters: on CPUs with AVX512-BF16/AMX the CPU plugin runs "fp32" models in bf16 by default.
Measured on EdgeSR: f32 gives ~150 dB output PSNR vs PyTorch, bf16 57 dB (still above the 45 dB bar) at ~0.56x
the time. Verification (and the manifest's ``runtime_config``) pins ``INFERENCE_PRECISION_HINT=f32`` so the
verified numbers are reproducible on any CPU; bf16 is a valid runtime choice where it exists.
"""

from __future__ import annotations

import os
from pathlib import Path
from torch import Tensor, nn

from fsr_edge.runtimes import Session
from fsr_edge.runtimes.openvino import PRECISION_HINT, compile_model

from . import onnx as onnx_exporter
from .artifact import Artifact, Precision, Target, check_precision, versions
from .artifact import load_runner  # noqa: F401  (every exporter module offers the shared loader)


def export(model: nn.Module, example_input: Tensor, out_dir: Path, *, precision: Precision,
           calibration=None, quantized_model: nn.Module | None = None, name: str = "model") -> Artifact:
    import openvino as ov

    precision = Precision(precision)
    check_precision(Target.OPENVINO, precision)
    out_dir = Path(out_dir)
    onnx_art = onnx_exporter.export(model, example_input, out_dir / "_onnx_for_openvino",
                                    precision=Precision.INT8 if precision is Precision.INT8 else Precision.FP32,
                                    quantized_model=quantized_model, name=name)
    ov_model = ov.convert_model(str(onnx_art.file))
    shape = "x".join(str(s) for s in example_input.shape[-2:])
    xml = out_dir / f"{name}_{precision.value}_{shape}.xml"
    _save_atomic(ov_model, xml, compress_to_fp16=precision is Precision.FP16)
    _remove_tree(out_dir / "_onnx_for_openvino")
    art = Artifact(Target.OPENVINO, precision, xml, _runtime_name(), tuple(example_input.shape),
                   tuple(onnx_art.output_shape), tool_versions=versions("openvino", "onnx", "nncf"),
                   runtime_config={"device": "CPU", "INFERENCE_PRECISION_HINT": PRECISION_HINT},
                   extra_files=[xml.with_suffix(".bin")])
    art.delegation = runtime_precision_stats(xml)
    return art


def runtime_precision_stats(xml: Path, *, hint: str = PRECISION_HINT) -> dict:
    """What the CPU plugin actually runs: per layer type, the runtime precision of each executed node
    (e.g. how many convolutions run as I8 kernels)."""
    compiled = compile_model(xml, Session(config={"INFERENCE_PRECISION_HINT": hint}))
    by_type: dict[str, dict[str, int]] = {}
    for op in compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        layer = _any_str(info["layerType"]) if "layerType" in info else op.get_type_name()
        prec = _any_str(info["runtimePrecision"]) if "runtimePrecision" in info else "?"
        if layer in ("Input", "Output", "Parameter", "Result", "Constant"):
            continue
        by_type.setdefault(layer, {})
        by_type[layer][prec] = by_type[layer].get(prec, 0) + 1
    conv = by_type.get("Convolution", {})
    int8 = sum(v for k, v in conv.items() if k.lower() in ("i8", "u8"))
    return {"backend": "OpenVINO CPU plugin", "precision_hint": hint, "runtime_layers": by_type,
            "int8_conv": int8, "float_conv": sum(conv.values()) - int8,
            "summary": f"{int8}/{sum(conv.values())} convolutions run as INT8 kernels"}


def _any_str(value) -> str:
    return value.astype(str) if hasattr(value, "astype") else str(value)


def _save_atomic(ov_model, xml: Path, *, compress_to_fp16: bool) -> None:
    import openvino as ov

    xml.parent.mkdir(parents=True, exist_ok=True)
    tmp = xml.with_name(f".tmp-{xml.name}")
    ov.save_model(ov_model, str(tmp), compress_to_fp16=compress_to_fp16)
    os.replace(tmp.with_suffix(".bin"), xml.with_suffix(".bin"))
    os.replace(tmp, xml)


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def _runtime_name() -> str:
    import openvino as ov

    return f"openvino {ov.get_version().split('-')[0]} CPU"
