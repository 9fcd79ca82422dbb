"""NNCF INT8 for the student: post-training quantization, quantization-aware training, save/load.

NNCF-style steps (its QAT example):
    1. prepare:   calib = builtin_calibration_set() or select_calibration_set(faces)
    2. quantize:  q_student = quantize_ptq(student, calib)                 # FakeQuantize inserted, ranges set
    3. fine-tune: qat_finetune(q_student, teacher=student, faces=...)      # distil from the fp32 student
    4. export:    onnx.export(..., quantized_model=q_student)             # Q/DQ for ORT / OpenVINO / TensorRT
    save_quantized(q_student, path, base_model=student); load_quantized(path)

Quantization choices (measured in docs/results/export_int8.md):
  - preset PERFORMANCE: symmetric INT8 weights and activations (activations after ReLU get unsigned 8-bit
    with zero point 0).
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
    return nncf.quantize(_copy(model).eval(), dataset, subset_size=subset_size or n,
                         preset=nncf.QuantizationPreset.PERFORMANCE, ignored_scope=ignored_scope,
                         fast_bias_correction=fast_bias_correction)


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


def load_quantized(path: str | os.PathLike) -> tuple[nn.Module, dict[str, str]]:
    """Rebuild the fake-quantized student from ``save_quantized``'s file: (model in eval mode, metadata)."""
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
