"""ExecuTorch ``.pte`` with the XNNPACK delegate: fp32, and INT8 through PT2E (XNNPACKQuantizer).

Flat steps, as in ExecuTorch's examples:
    ep = torch.export.export(model, (example_input,))
    [INT8] m = prepare_pt2e(ep.module(), XNNPACKQuantizer(per-channel symmetric)); pin_known_ranges(m);
           calibrate; convert_pt2e(m)
    edge = to_edge_transform_and_lower(ep, partitioner=[XnnpackPartitioner()])
    pte = edge.to_executorch().buffer
The delegation report counts the graph's nodes that XNNPACK took vs those left to the portable kernels.

The input is an 8-bit image in [0, 1]: its observer (and that of any range-keeping op fed by it, the bilinear
skip) is replaced by fixed qparams covering exactly [0, 1] (int8, scale 1/255, zero point -128), never a
histogram fitted to calibration faces, which would clip pixels brighter or darker than those faces.
"""

from __future__ import annotations

from pathlib import Path
import torch
from torch import Tensor, nn

from ._files import atomic_write_bytes
from .artifact import Artifact, Precision, Target, check_precision, versions
from .artifact import load_runner  # noqa: F401  (every exporter module offers the shared loader)


def export(model: nn.Module, example_input: Tensor, out_dir: Path, *, precision: Precision,
           calibration=None, quantized_model: nn.Module | None = None, name: str = "model") -> Artifact:
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.devtools.backend_debug import get_delegation_info
    from executorch.exir import to_edge_transform_and_lower

    precision = Precision(precision)
    check_precision(Target.EXECUTORCH, precision)
    model = model.eval()
    ep = torch.export.export(model, (example_input,))
    if precision is Precision.INT8:
        ep = torch.export.export(_quantize_pt2e(ep, example_input, calibration), (example_input,))
    edge = to_edge_transform_and_lower(ep, partitioner=[XnnpackPartitioner()])
    info = get_delegation_info(edge.exported_program().graph_module)
    buffer = edge.to_executorch().buffer
    shape = "x".join(str(s) for s in example_input.shape[-2:])
    path = Path(out_dir) / f"{name}_{precision.value}_{shape}.pte"
    atomic_write_bytes(path, buffer)
    with torch.no_grad():
        out_shape = tuple(model(example_input).shape)
    delegated = int(info.num_delegated_nodes)
    # getitem only unpacks the delegate's outputs: it is not a kernel, so it does not count as a fallback
    portable_ops = {op: int(row.non_delegated) for op, row in info.delegation_by_operator.items()
                    if row.non_delegated > 0 and op != "getitem"}
    portable = sum(portable_ops.values())
    art = Artifact(Target.EXECUTORCH, precision, path, _runtime_name(), tuple(example_input.shape), out_shape,
                   tool_versions=versions("executorch", "torchao"),
                   delegation={"backend": "XNNPACK", "delegated_nodes": delegated, "portable_nodes": portable,
                               "delegate_calls": int(info.num_delegated_subgraphs),
                               "portable_ops": portable_ops,
                               "summary": f"{delegated} nodes in {info.num_delegated_subgraphs} XNNPACK "
                                          f"subgraph(s), {portable} ops left to portable kernels"})
    return art


def _quantize_pt2e(ep, example_input: Tensor, calibration) -> nn.Module:
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (XNNPACKQuantizer,
                                                                         get_symmetric_quantization_config)
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    from fsr_edge.errors import ConfigError

    if calibration is None:
        raise ConfigError("ExecuTorch INT8 needs a calibration set (calibration=...)")
    quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
    prepared = prepare_pt2e(ep.module(), quantizer)
    pin_known_ranges(prepared)
    with torch.no_grad():
        for (lr_face,) in calibration.to_pt2e():
            prepared(lr_face)
    return convert_pt2e(prepared)


# aten ops whose output stays inside the range of their first input
_RANGE_KEEPING_ATEN = ("upsample_bilinear2d", "upsample_nearest2d", "pixel_shuffle", "max_pool2d", "clone")


def pin_known_ranges(prepared: nn.Module) -> list[str]:
    """Replace the observers of range-known tensors (the image input and range-keeping ops fed only by it) with
    fixed qparams for [0, 1]. Returns the observer names replaced."""
    from torchao.quantization.pt2e.observer import FixedQParamsObserver

    from .artifact import INPUT_RANGE

    low, high = INPUT_RANGE
    known: set = set()
    pinned = []
    for node in prepared.graph.nodes:
        if node.op == "placeholder":
            known.add(node)
        elif node.op == "call_module" and "activation_post_process" in str(node.target):
            if node.args and node.args[0] in known:
                old = getattr(prepared, node.target)
                qmin, qmax = int(old.quant_min), int(old.quant_max)
                scale = (high - low) / (qmax - qmin)
                setattr(prepared, node.target, FixedQParamsObserver(
                    scale=scale, zero_point=qmin - round(low / scale), dtype=old.dtype, quant_min=qmin,
                    quant_max=qmax))
                pinned.append(str(node.target))
                known.add(node)           # an observer passes its input through
        elif node.op == "call_function" and any(k in str(node.target) for k in _RANGE_KEEPING_ATEN):
            if node.args and node.args[0] in known:
                known.add(node)
    return pinned


def _runtime_name() -> str:
    from importlib.metadata import version

    return f"executorch {version('executorch')} (Python runtime, XNNPACK)"
