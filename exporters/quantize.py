"""NNCF INT8 for the student: post-training quantization, quantization-aware training, save/load.

NNCF-style steps (its QAT example):
    1. prepare:   calib = builtin_calibration_set() or select_calibration_set(faces)
    2. quantize:  q_student = quantize_ptq(student, calib)                 # FakeQuantize inserted, ranges set
    3. fine-tune: qat_finetune(q_student, teacher=student, faces=...)      # distil from the fp32 student
    4. export:    onnx.export(..., quantized_model=q_student)             # Q/DQ for ORT / OpenVINO / TensorRT
    save_quantized(q_student, path, base_model=student); load_quantized(path)

Quantization choices (measured in docs/results/export_int8.md):
  - preset PERFORMANCE: symmetric INT8 weights (per channel) and activations (activations after ReLU get
    unsigned 8-bit with zero point 0).
  - ranges the graph fixes are set by construction, never calibrated (``pin_known_ranges``): the input
    ``lr_face`` is an 8-bit image in [0, 1], so its quantizer is [0, 1] with step 1/255 and zero point 0; so is
    every op that cannot leave its input's range (bilinear/nearest resize, pixel shuffle, max pool) when its
    input is such a tensor. A calibrated input range clips every pixel brighter than the brightest calibration
    pixel, on the skip path that carries most of the image. Pinned quantizers are frozen in QAT.
  - no ignored scope by default: keeping the full-resolution output add and the bilinear skip in float was
    measured against quantizing everything (OpenVINO via the Q/DQ ONNX, val faces): same latency, same val PSNR
    (within 0.01 dB), so NNCF's default placement stays. ``ignored_scope=skip_path_scope(model)`` keeps them float.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from fsr_edge.errors import WeightsError

from ._files import atomic_output

FORMAT = "fsr_edge.nncf-int8/1"


def use_reference_kernels() -> None:
    """Run NNCF's fake-quant ops in plain torch instead of compiling its C++ extension on first use.

    The extension build takes minutes on a small CPU (and times out on a busy one); for student-sized
    models the torch ops are fast enough. Set FSR_EDGE_NNCF_EXTENSIONS=1 to let NNCF compile its kernels.
    """
    if os.environ.get("FSR_EDGE_NNCF_EXTENSIONS") == "1":
        return
    from nncf.torch.quantization.quantize_functions import QuantizedFunctionsCPU
    from nncf.torch.quantization.reference import torch_executor

    class _EagerReference:  # NNCF's reference ops without its torch.compile wrapper (compiling is slower here)
        Quantize_forward = staticmethod(torch_executor.forward)
        Quantize_backward = staticmethod(torch_executor.backward)

    if QuantizedFunctionsCPU._loaded_namespace is None:
        QuantizedFunctionsCPU._loaded_namespace = _EagerReference


def skip_path_scope(model: nn.Module) -> Any:
    """Ops to keep in float if wanted: the output add and the bilinear skip (see the module docstring)."""
    import nncf

    return nncf.IgnoredScope(names=["/add/0", "/interpolate/0"], validate=False)


def quantize_ptq(model: nn.Module, calibration, *, subset_size: int | None = None,
                 ignored_scope: Any | None = None, fast_bias_correction: bool = True) -> nn.Module:
    """NNCF post-training INT8: FakeQuantize inserted and calibrated on ``calibration`` (a CalibrationSet).

    Activations after ReLU come out unsigned (uint8, zero point 0). TensorRT's explicit quantization wants signed
    int8; NNCF 3.4's torch backend refuses ``signedness_to_force=True`` for this graph under every hardware
    config, so the TensorRT exporter reports the mismatch instead of silently rewriting scales.
    """
    import nncf

    use_reference_kernels()
    dataset = calibration.to_nncf()
    n = len(calibration)
    quantized = nncf.quantize(_copy(model).eval(), dataset, subset_size=subset_size or n,
                              preset=nncf.QuantizationPreset.PERFORMANCE, ignored_scope=ignored_scope,
                              fast_bias_correction=fast_bias_correction)
    pin_known_ranges(quantized, example_input=calibration.lr_faces()[0])
    return quantized


# Ops whose output stays inside the range of their (single) tensor input.
_RANGE_KEEPING_OPS = {"interpolate": lambda kw: kw.get("mode") in ("bilinear", "nearest", "nearest-exact")
                      and not kw.get("antialias"),
                      "pixel_shuffle": lambda kw: True, "max_pool2d": lambda kw: True}


def known_range_tensors(model: nn.Module, example_input: Tensor) -> dict[str, tuple[float, float]]:
    """NNCF graph node name -> (low, high) for the tensors whose range the graph fixes: the image input
    ``[0, 1]`` and range-keeping ops (``_RANGE_KEEPING_OPS``) fed only by such tensors."""
    from nncf.torch.function_hook.nncf_graph.nncf_graph_builder import build_nncf_graph

    from .artifact import INPUT_RANGE

    graph = build_nncf_graph(model, example_input)   # NNCF's hooks add no nodes: the float model's graph
    known: dict[str, tuple[float, float]] = {}
    for node in graph.topological_sort():
        if node.metatype.__name__ == "PTInputNoopMetatype":
            known[node.node_name] = INPUT_RANGE
            continue
        sources = [e.from_node.node_name for e in graph.get_input_edges(node)
                   if e.from_node.metatype.__name__ != "PTConstNoopMetatype"]
        if len(sources) != 1 or sources[0] not in known:
            continue
        attrs = node.layer_attributes
        keeps = _RANGE_KEEPING_OPS.get(getattr(getattr(attrs, "func", None), "__name__", ""))
        # An NNCF fake-quant node on a pinned tensor keeps its range too (on an already quantized model).
        is_quantizer = node.node_name.startswith(("post_hook__", "pre_hook__"))
        if is_quantizer or (keeps is not None and keeps(getattr(attrs, "op_kwargs", {}) or {})):
            known[node.node_name] = known[sources[0]]
    return known


def pin_known_ranges(quantized_model: nn.Module, *, example_input: Tensor) -> list[str]:
    """Set the activation quantizers of range-known tensors (``known_range_tensors``) to exactly their range,
    unsigned 8-bit with zero point 0 (for [0, 1]: scale 1/255), and freeze them. Returns the pinned names."""
    known = known_range_tensors(quantized_model, example_input)
    pinned = []
    for name, quantizer in _activation_quantizers(quantized_model):
        node_name = name.rsplit("__", 1)[0]
        if node_name not in known:
            continue
        low, high = known[node_name]
        _set_range(quantizer, low, high)
        pinned.append(node_name)
    return pinned


def activation_ranges(quantized_model: nn.Module) -> dict[str, tuple[float, float]]:
    """Each activation quantizer's representable range (low, high), keyed by the tensor it quantizes."""
    out = {}
    for name, q in _activation_quantizers(quantized_model):
        scale = float(q.scale.detach().flatten()[0]) if hasattr(q, "scale") else None
        if scale is not None:
            low = scale * q.level_low / q.level_high
            out[name.rsplit("__", 1)[0]] = (low, scale)
        else:
            low = float(q.input_low.detach().flatten()[0])
            out[name.rsplit("__", 1)[0]] = (low, low + float(q.input_range.detach().flatten()[0]))
    return out


def _activation_quantizers(model: nn.Module):
    """(hook key, quantizer) for NNCF's activation quantizers (post-hooks on op outputs)."""
    prefix = "__nncf_hooks.post_hooks."
    for name, module in model.named_modules():
        if name.startswith(prefix) and name.count(".") == 3 and hasattr(module, "level_high"):
            yield name[len(prefix):].rsplit(".", 1)[0], module


def _set_range(quantizer: nn.Module, low: float, high: float) -> None:
    if low < 0:
        raise ValueError(f"pinned ranges are unsigned here, got [{low}, {high}]")
    if hasattr(quantizer, "_scale_param_storage"):          # SymmetricQuantizer: [0, scale] when unsigned
        if quantizer.signed:
            quantizer.signed = False
            quantizer.set_levels()
        storage = quantizer._scale_param_storage
        storage.data.fill_(float(np.log(high)) if quantizer.is_using_log_scale_storage else high)
        storage.requires_grad_(False)
    else:                                                    # AsymmetricQuantizer: [input_low, input_low + range]
        quantizer.input_low.data.fill_(low)
        quantizer._input_range_param_storage.data.fill_(high - low)
        quantizer.input_low.requires_grad_(False)
        quantizer._input_range_param_storage.requires_grad_(False)



def qat_finetune(quantized_model: nn.Module, *, teacher: nn.Module, lr_faces: list[Tensor],
                 hr_faces: list[Tensor] | None = None, steps: int = 100, lr: float = 1e-5, batch_size: int = 8,
                 gt_weight: float = 0.5, seed: int = 0, progress: bool = True) -> dict[str, float]:
    """Quantization-aware fine-tuning: the fake-quantized student (weights and quantizer ranges) learns to match
    the frozen fp32 student (distillation teacher) and, when given, the ground truth; see distill_finetune."""
    from .finetune import distill_finetune

    use_reference_kernels()
    return distill_finetune(quantized_model, teacher=teacher, lr_faces=lr_faces, hr_faces=hr_faces, steps=steps,
                            lr=lr, batch_size=batch_size, gt_weight=gt_weight, seed=seed, progress=progress,
                            desc="QAT")


def save_quantized(quantized_model: nn.Module, path: str | os.PathLike, *, arch: str, kwargs: dict | None = None,
                   base_weights_sha256: str = "", metadata: dict[str, str] | None = None) -> Path:
    """NNCF config (JSON) + full state (weights and quantizer ranges) in one safetensors file; atomic."""
    import nncf.torch
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    config = nncf.torch.get_config(quantized_model)
    state = {k: v.detach().contiguous().cpu() for k, v in quantized_model.state_dict().items()}
    meta = {"format": FORMAT, "fsr_edge.arch": arch, "fsr_edge.kwargs": json.dumps(kwargs or {}),
            "nncf.config": json.dumps(config), "base_weights_sha256": base_weights_sha256, **(metadata or {})}
    with atomic_output(path) as tmp:
        save_file(state, str(tmp), metadata=meta)
    return path


def load_quantized(path: str | os.PathLike, *, pin_ranges: bool = True) -> tuple[nn.Module, dict[str, str]]:
    """Rebuild the fake-quantized student from ``save_quantized``'s file: (model in eval mode, metadata).
    ``pin_ranges=False`` keeps the stored ranges of range-known tensors as they are (for studying them)."""
    import nncf.torch
    from safetensors.torch import load_file

    from fsr_edge.models import create_model, read_metadata

    path = Path(path)
    meta = read_metadata(path)
    if meta.get("format") != FORMAT:
        raise WeightsError(f"{path}: not an fsr_edge NNCF INT8 state (format {meta.get('format')!r})")
    use_reference_kernels()
    model = create_model(meta["fsr_edge.arch"], **json.loads(meta.get("fsr_edge.kwargs", "{}"))).eval()
    qmodel = nncf.torch.load_from_config(model, json.loads(meta["nncf.config"]))
    state = load_file(str(path))
    missing, unexpected = qmodel.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise WeightsError(f"{path}: quantized state does not fit {meta['fsr_edge.arch']} "
                           f"({len(missing)} missing, {len(unexpected)} unexpected tensors)")
    # A state made before its input range was pinned, or edited by hand, still gets the graph's fixed ranges.
    if pin_ranges:
        lr_size = int(getattr(model, "lr_size", 32))
        pin_known_ranges(qmodel, example_input=torch.zeros(1, 3, lr_size, lr_size))
    return qmodel.eval(), meta


def weights_sha256(model: nn.Module) -> str:
    """Hash of a model's float state (names, shapes, bytes): ties a QAT state to the fp32 weights it came from."""
    h = hashlib.sha256()
    for k, v in sorted(model.state_dict().items()):
        t = v.detach().contiguous().cpu()
        h.update(k.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def _copy(model: nn.Module) -> nn.Module:
    import copy

    return copy.deepcopy(model)
