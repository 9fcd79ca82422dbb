"""Pruning the student: NNCF magnitude (unstructured) pruning, and structured channel pruning that really
removes channels.

- ``magnitude_prune``: ``nncf.prune(UNSTRUCTURED_MAGNITUDE_GLOBAL)`` zeroes the smallest weights. Dense runtimes
  (XNNPACK, OpenVINO CPU, Core ML, TensorRT dense kernels) still multiply the zeros: it shrinks only a
  compressed file (zip/gzip), not latency or RAM. Reported as such.
- ``prune_channels``: NNCF 3.x has no structured pruning, so this is written for the EdgeSR topology. It ranks
  channels by the L1 norm of the weights that produce and consume them and rebuilds a narrower EdgeSR:
    * each residual block's inner width (conv1 out / conv2 in)            -> ``block_channels``
    * the x2 stage widths c1, c2 (groups of 4 conv outputs feed one channel after pixel shuffle) -> ``channels``
  The residual stream c0 is shared by the head, every block and the first feature map, so it is kept.
  FSRCNN (the PISR student) has no residuals: every layer's output channels are ranked on their own, and the
  widths d (extract, expand) and s (shrink, mapping) shrink together so the result is FSRCNN(d', s', m).
  Widths round to multiples of 8 (SIMD-friendly). The result is an ordinary model saved with save_model
  (arch + kwargs in the metadata), so every exporter takes it unchanged.
- ``prune_structured``: the same idea for ANY student, through torch-pruning (``pip install torch-pruning``, the
  ``[prune]`` extra): its dependency graph finds which channels are coupled (residual adds, PReLU slopes,
  concatenations) and removes each group together, ranked by group L1 magnitude. The output layer and every
  conv that feeds a depth-to-space stay whole (pixel shuffle ties 4 or scale^2 channels to one pixel, which
  torch-pruning does not track). Fold a re-parameterisable student first (``SESR.reparameterize()``).
"""

from __future__ import annotations

import copy
import math

import torch
from torch import Tensor, nn

from fsr_edge.errors import ConfigError


def magnitude_prune(model: nn.Module, *, ratio: float, example_input: Tensor) -> nn.Module:
    """Zero ``ratio`` of all conv weights by global magnitude (NNCF), masks applied (a plain nn.Module back)."""
    import nncf

    pruned = nncf.prune(copy.deepcopy(model).eval(), mode=nncf.PruneMode.UNSTRUCTURED_MAGNITUDE_GLOBAL,
                        ratio=ratio, examples_inputs=example_input)
    # IN_PLACE writes the masks into the weights: the result is a plain module with real zeros
    return nncf.strip(pruned, do_copy=False, strip_format=nncf.StripFormat.IN_PLACE, example_input=example_input).eval()


def sparsity(model: nn.Module) -> float:
    """Fraction of exactly-zero conv weights."""
    total = zeros = 0
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            total += m.weight.numel()
            zeros += int((m.weight == 0).sum())
    return zeros / max(total, 1)


def prune_channels(model: nn.Module, *, ratio: float, multiple: int = 8) -> tuple[nn.Module, dict]:
    """A narrower EdgeSR keeping the (1 - ratio) most important channels of every prunable group.

    Returns (pruned model in eval mode, kwargs to rebuild it with create_model(<its arch>, **kwargs)).
    """
    from fsr_edge.models import FSRCNN, EdgeSR

    if not 0 <= ratio < 1:
        raise ConfigError(f"pruning ratio must be in [0, 1), got {ratio}")

    def keep_n(width: int) -> int:
        return max(multiple, min(width, multiple * math.ceil(width * (1 - ratio) / multiple)))

    if isinstance(model, FSRCNN):
        return _prune_fsrcnn(model, keep_n)
    if not isinstance(model, EdgeSR):
        raise ConfigError(f"structured pruning is written for EdgeSR and FSRCNN, got {type(model).__name__}")

    c0, c1, c2 = model.feature_channels
    sd = {k: v.detach().clone() for k, v in model.state_dict().items()}

    # residual blocks: inner channels ranked by |conv1 filter| + |conv2 input slice|
    block_keep = []
    for i, block in enumerate(model.body):
        w1, w2 = block.conv1.weight, block.conv2.weight
        score = w1.abs().sum((1, 2, 3)) + w2.abs().sum((0, 2, 3))
        idx = score.topk(keep_n(w1.shape[0])).indices.sort().values
        block_keep.append(idx)
        p = f"body.{i}."
        sd[p + "conv1.weight"], sd[p + "conv1.bias"] = sd[p + "conv1.weight"][idx], sd[p + "conv1.bias"][idx]
        sd[p + "conv2.weight"] = sd[p + "conv2.weight"][:, idx]

    # x2 stages: channel j after pixel shuffle comes from conv outputs 4j..4j+3
    def stage(producer: str, consumer: str, width: int) -> Tensor:
        w = sd[producer + ".weight"]
        score = w.abs().sum((1, 2, 3)).view(width, 4).sum(1) + sd[consumer + ".weight"].abs().sum((0, 2, 3))
        idx = score.topk(keep_n(width)).indices.sort().values
        rows = (idx[:, None] * 4 + torch.arange(4)).reshape(-1)
        sd[producer + ".weight"], sd[producer + ".bias"] = w[rows], sd[producer + ".bias"][rows]
        sd[consumer + ".weight"] = sd[consumer + ".weight"][:, idx]
        return idx

    k1 = stage("up1.0", "up2.0", c1)
    k2 = stage("up2.0", "to_rgb.0", c2)
    kwargs = {"channels": [c0, len(k1), len(k2)], "blocks": len(model.body),
              "block_channels": [len(k) for k in block_keep], "lr_size": model.lr_size}
    pruned = EdgeSR(scale=model.scale, channels=tuple(kwargs["channels"]), blocks=kwargs["blocks"],
                    block_channels=tuple(kwargs["block_channels"]), lr_size=model.lr_size)
    pruned.load_state_dict(sd, strict=True)
    return pruned.eval(), kwargs


def _prune_fsrcnn(model: nn.Module, keep_n) -> tuple[nn.Module, dict]:
    """FSRCNN: conv -> PReLU chains without residuals; rank each conv's outputs by |filter| + |next conv's slice|."""
    from fsr_edge.models import FSRCNN

    sd = {k: v.detach().clone() for k, v in model.state_dict().items()}
    # (conv prefix, its PReLU prefix, the consumer conv prefix) along the chain
    chain = ["extract", "shrink", *[f"mapping.{i}" for i in range(len(model.mapping))], "expand"]
    up = "upsample" if isinstance(model.upsample, nn.ConvTranspose2d) else "upsample.0"
    d, s = model.extract[0].out_channels, model.shrink[0].out_channels
    d_keep, s_keep = keep_n(d), keep_n(s)
    for i, name in enumerate(chain):
        consumer = chain[i + 1] if i + 1 < len(chain) else up
        w = sd[f"{name}.0.weight"]
        cw = sd[f"{consumer}.weight" if consumer == up else f"{consumer}.0.weight"]
        # a ConvTranspose2d weight is (in, out, k, k): its input channels are dim 0
        in_dim = 0 if consumer == "upsample" and up == "upsample" else 1
        score = w.abs().sum((1, 2, 3)) + cw.abs().sum(tuple(j for j in range(4) if j != in_dim))
        n = d_keep if w.shape[0] == d and name in ("extract", "expand") else s_keep
        idx = score.topk(n).indices.sort().values
        sd[f"{name}.0.weight"], sd[f"{name}.0.bias"] = w[idx], sd[f"{name}.0.bias"][idx]
        sd[f"{name}.1.weight"] = sd[f"{name}.1.weight"][idx]
        ckey = f"{consumer}.weight" if consumer == up else f"{consumer}.0.weight"
        sd[ckey] = sd[ckey].index_select(in_dim, idx)
    kwargs = {"d": d_keep, "s": s_keep, "m": len(model.mapping), "lr_size": model.lr_size,
              "upsampler": "deconv" if up == "upsample" else "pixelshuffle", "skip": model.skip}
    pruned = FSRCNN(model.scale, **kwargs)
    pruned.load_state_dict(sd, strict=True)
    return pruned.eval(), kwargs


def prune_structured(model: nn.Module, *, ratio: float, example_input: Tensor | None = None,
                     multiple: int = 8) -> nn.Module:
    """A copy of ``model`` with ``ratio`` of the channels of every prunable group removed (torch-pruning).

    Channel counts round to multiples of ``multiple``. The result is a plain module with smaller convs, so every
    exporter takes it; its ``feature_info`` is updated to the new widths. It is not described by its builder's
    kwargs: export it directly or save its state with its own shapes (``prune_channels`` is the path for EdgeSR
    and FSRCNN when the pruned model must reload through ``load_model``).
    """
    try:
        import torch_pruning as tp
    except ImportError as err:
        raise ConfigError("structured pruning needs torch-pruning: pip install 'fsr_edge[prune]'") from err
    if not 0 <= ratio < 1:
        raise ConfigError(f"pruning ratio must be in [0, 1), got {ratio}")
    pruned = copy.deepcopy(model).eval()
    if example_input is None:
        example_input = torch.rand(1, 3, pruned.lr_size, pruned.lr_size)
    convs = [m for m in pruned.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    if ratio == 0 or not convs:
        return pruned
    ignored = [convs[-1], *_feeds_depth_to_space(pruned)]
    # torch-pruning finds the channel groups by tracing autograd: on frozen weights (a model used as a teacher, or
    # loaded for inference) there is no graph to trace and nothing would be pruned, so trace with gradients on
    # and give the copy its weights' original flags back afterwards.
    frozen = [not p.requires_grad for p in pruned.parameters()]
    pruned.requires_grad_(True)
    pruner = tp.pruner.MetaPruner(pruned, example_input, importance=tp.importance.GroupMagnitudeImportance(p=1),
                                  pruning_ratio=ratio, ignored_layers=ignored, round_to=multiple)
    pruner.step()
    for param, was_frozen in zip(pruned.parameters(), frozen):
        param.requires_grad_(not was_frozen)
    if hasattr(pruned, "forward_features") and getattr(pruned, "feature_info", None):
        with torch.no_grad():
            _, feats = pruned.forward_features(example_input)
        pruned.feature_info = [{**info, "num_chs": int(f.shape[1])} for info, f in zip(pruned.feature_info, feats)]
    return pruned.eval()


def _feeds_depth_to_space(model: nn.Module) -> list[nn.Module]:
    """Convs whose output goes straight into a PixelShuffle: in one nn.Sequential, or a module attribute pair
    like SESR's ``tail`` -> ``shuffle`` (the conv before the model's own shuffle is its output layer anyway)."""
    feeders = []
    for module in model.modules():
        if isinstance(module, nn.Sequential):
            kids = list(module)
            feeders += [a for a, b in zip(kids, kids[1:]) if isinstance(b, nn.PixelShuffle)]
    return feeders
