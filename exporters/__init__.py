"""Compress and export the student: NNCF INT8 (PTQ, QAT), pruning, one module per target, verification, manifest.

The targets are the rows of ``fsr_edge.targets.TARGETS`` (exporter module, runtime loader, precisions, extra).
Per target (same signature, optional backends import lazily)::

    from fsr_edge.exporters import onnx, openvino, executorch, coreml, tensorrt
    art = onnx.export(student, example_input, out_dir, precision=Precision.INT8, quantized_model=q_student)
    run = onnx.load_runner(art)                    # the saved file in its runtime (the row's loader)

Everything at once (``fsr-edge export``): :func:`export_student` writes ``DIST/manifest.json``
(schema: ``fsr_edge.exporters.manifest``).
"""

from .artifact import SUPPORTED, Artifact, Precision, RuntimeUnavailable, Target, io_contract
from .pipeline import DEFAULT_STUDENT, FALLBACK_STUDENTS, bundled_qat_path, default_student, export_student
from .prune import magnitude_prune, prune_channels, prune_structured
from .quantize import load_quantized, qat_finetune, quantize_ptq, save_quantized, skip_path_scope, weights_sha256
from .verify import MAX_INT8_DROP_DB, MIN_PSNR_VS_REFERENCE_DB, EvalSet, verify

__all__ = ["DEFAULT_STUDENT", "FALLBACK_STUDENTS", "MAX_INT8_DROP_DB", "MIN_PSNR_VS_REFERENCE_DB", "SUPPORTED",
           "Artifact", "EvalSet", "Precision", "RuntimeUnavailable", "Target", "bundled_qat_path", "default_student",
           "export_student", "io_contract", "load_quantized", "magnitude_prune", "prune_channels", "prune_structured",
           "qat_finetune", "quantize_ptq", "save_quantized", "skip_path_scope", "verify", "weights_sha256"]
