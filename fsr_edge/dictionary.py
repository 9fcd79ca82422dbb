"""Facial component dictionaries (DFDNet, eq. 1): ``Dic_c = F_Dic(I_HR | L; theta_Vgg)``.

HR training faces -> frozen VGG19 features at several scales -> the left eye / right eye / nose / mouth boxes
(from the 68 landmarks) RoIAligned to a fixed size per component and scale -> K-means per component and scale.
The cluster centres are the atoms the teacher's DFT blocks match against.

Scales (for a 256x256 face): ``relu2_2`` @128 (128 ch), ``relu3_4`` @64 (256 ch), ``relu4_4`` @32 (512 ch).
Why these: they are the last ReLU of VGG blocks 2-4, i.e. the richest feature before each pool, and their
sizes (1/2, 1/4, 1/8 of the output) are exactly the teacher decoder's SFT scales and the edge student's feature
strides, so one set of scales serves the dictionary, the teacher and the distillation. Block 1 (@256) is left
out: a 64-channel full-resolution map is mostly edges, costs the most memory per atom and gains little
(DFDNet's own smallest-gain scale); block 5 (@16) is left out to keep the encoder cheap on CPU.

Tensor contract: ``atoms[f"{component}.{layer}"]`` is (K, C, S, S) float; boxes are in the face's pixel
coordinates (x0, y0, x1, y1), one per image.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import torch
from torch import Tensor

from .errors import WeightsError
from .io import atomic_output
from .roi import roi_align

__all__ = ["COMPONENTS", "DEFAULT_LAYERS", "FEATURE_SCALE", "LAYER_STRIDES", "ComponentDictionary", "build_dictionary",
           "component_boxes", "load_dictionary", "mean_landmarks", "patch_size"]

COMPONENTS = ("left_eye", "right_eye", "nose", "mouth")
DEFAULT_LAYERS = ("relu2_2", "relu3_4", "relu4_4")
LAYER_STRIDES = {"relu1_2": 1, "relu2_2": 2, "relu3_4": 4, "relu4_4": 8, "relu5_4": 16}

# Caffe-convention VGG19 activations are large and differ by layer (std on faces at 256: relu2_2 175, relu3_4 510,
# relu4_4 145; measured on 6 train faces). Features are divided by these fixed constants everywhere (dictionary,
# teacher, students' conditions) so the decoder convs and the confidence branches see unit-scale inputs: with raw
# features Adam's first steps alone moved the output by whole intensity levels.
FEATURE_SCALE = {"relu1_2": 60.0, "relu2_2": 175.0, "relu3_4": 510.0, "relu4_4": 145.0, "relu5_4": 10.0}

# Landmark groups as DFDNet uses them (iBUG 68-point order): an eye box includes its eyebrow.
_LANDMARK_GROUPS = {
    "left_eye": list(range(17, 22)) + list(range(36, 42)),
    "right_eye": list(range(22, 27)) + list(range(42, 48)),
    "nose": list(range(29, 36)),
    "mouth": list(range(48, 68)),
}
# Fixed square box sizes in pixels of a 256x256 aligned face. Measured on the training set's landmarks (at 256:
# eye+brow extent <= 57 x 39, nose <= 35 x 30, mouth <= 69 x 37 px, mean 54 wide); multiples of 8 so each box
# covers whole pixels of the 1/8 feature map. Fixed sizes (not per-face extents) because the inputs are aligned.
_BOX_SIZE_256 = {"left_eye": 56, "right_eye": 56, "nose": 40, "mouth": 64}
# Atom side cap: atom memory and matching cost grow with S^2; the 1/2-scale parts (28-32 px there) are stored at
# 16 px and resampled back on paste, which halves the dictionary without touching the coarser scales.
_MAX_PATCH = 16


def patch_size(component: str, layer: str, *, image_size: int = 256) -> int:
    """Side S of the (K, C, S, S) atoms of ``component`` at ``layer``."""
    side = _BOX_SIZE_256[component] * image_size / 256 / LAYER_STRIDES[layer]
    return int(max(1, min(_MAX_PATCH, round(side))))


def component_boxes(landmarks68: Tensor, *, image_size: int = 256) -> dict[str, Tensor]:
    """(B, 68, 2) landmarks in ``image_size`` pixels -> {component: (B, 4) boxes (x0, y0, x1, y1)}.

    NaN landmarks (a face without them) give NaN boxes: callers substitute a template first."""
    if landmarks68.dim() != 3 or landmarks68.shape[1:] != (68, 2):
        raise ValueError(f"landmarks68 must be (B, 68, 2), got {tuple(landmarks68.shape)}")
    boxes = {}
    for name, idx in _LANDMARK_GROUPS.items():
        # landmarks are pixel-index coordinates (dlib: centre of the top-left pixel is (0, 0)); boxes are
        # continuous (pixel i covers [i, i + 1)), hence the half pixel
        centre = landmarks68[:, idx].float().mean(1) + 0.5
        half = _BOX_SIZE_256[name] * image_size / 256 / 2
        boxes[name] = torch.cat([centre - half, centre + half], 1)
    return boxes


def _mirror(boxes: Tensor, width: int) -> Tensor:
    x0, y0, x1, y1 = boxes.unbind(1)
    return torch.stack([width - x1, y0, width - x0, y1], 1)


@dataclass
class ComponentDictionary:
    """Atoms per ``f"{component}.{layer}"`` plus what is needed to use them (layers, image size)."""

    atoms: dict[str, Tensor]
    layers: tuple[str, ...] = DEFAULT_LAYERS
    image_size: int = 256
    info: dict[str, str] = field(default_factory=dict)

    @property
    def num_atoms(self) -> int:
        return next(iter(self.atoms.values())).shape[0]

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.atoms.values())

    def save(self, path: str | os.PathLike, *, half: bool = False) -> Path:
        """Atomic safetensors write; ``half`` stores fp16 (the shipped teacher's dictionary)."""
        from safetensors.torch import save_file

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tensors = {k: (v.half() if half else v.float()).contiguous() for k, v in self.atoms.items()}
        meta = {"fsr_edge.kind": "component_dictionary", "layers": json.dumps(list(self.layers)),
                "feature_scale": json.dumps({l: FEATURE_SCALE[l] for l in self.layers}),
                "image_size": str(self.image_size), **{f"info.{k}": str(v) for k, v in self.info.items()}}
        with atomic_output(path) as tmp:
            save_file(tensors, str(tmp), metadata=meta)
        return path


def load_dictionary(path: str | os.PathLike) -> ComponentDictionary:
    from safetensors import safe_open

    path = Path(path)
    if not path.exists():
        raise WeightsError(f"{path}: component dictionary not found; build one with `fsr-edge build-dictionary`")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = dict(f.metadata() or {})
            atoms = {k: f.get_tensor(k).float() for k in f.keys()}
    except Exception as err:
        raise WeightsError(f"{path}: not a readable safetensors dictionary ({str(err).splitlines()[0][:120]})") from None
    if meta.get("fsr_edge.kind") != "component_dictionary":
        raise WeightsError(f"{path}: not a component dictionary (no 'fsr_edge.kind' metadata); "
                           "build one with `fsr-edge build-dictionary`")
    layers = tuple(json.loads(meta["layers"]))
    if json.loads(meta.get("feature_scale", "null")) != {l: FEATURE_SCALE[l] for l in layers}:
        raise WeightsError(f"{path}: built with other VGG19 feature scaling than this fsr_edge; rebuild it with "
                           "`fsr-edge build-dictionary`")
    missing = [f"{c}.{l}" for c in COMPONENTS for l in layers if f"{c}.{l}" not in atoms]
    if missing:
        raise WeightsError(f"{path}: dictionary lacks {missing[0]} (and {len(missing) - 1} more); rebuild it")
    info = {k[5:]: v for k, v in meta.items() if k.startswith("info.")}
    return ComponentDictionary(atoms, layers, int(meta["image_size"]), info)


def mean_landmarks(landmarks: Iterable[Tensor]) -> Tensor:
    """(68, 2) mean of many (68, 2) or (B, 68, 2) landmark sets: the fallback template of aligned faces."""
    stacked = torch.cat([l.reshape(-1, 68, 2).float() for l in landmarks])
    return stacked.mean(0)


@torch.no_grad()
def _component_patches(encoder, hr_face: Tensor, landmarks68: Tensor, layers: Sequence[str], *,
                       flip: bool) -> dict[str, Tensor]:
    """One batch -> {key: (N, C, S, S)} patches; with ``flip`` the mirrored face adds mirrored components
    (a mirrored right eye is a left eye), doubling the samples at no landmark cost."""
    size = hr_face.shape[-1]
    boxes = component_boxes(landmarks68, image_size=size)
    faces, box_sets = [hr_face], [boxes]
    if flip:
        mirrored = {"left_eye": _mirror(boxes["right_eye"], size), "right_eye": _mirror(boxes["left_eye"], size),
                    "nose": _mirror(boxes["nose"], size), "mouth": _mirror(boxes["mouth"], size)}
        faces.append(hr_face.flip(-1))
        box_sets.append(mirrored)
    out: dict[str, list[Tensor]] = {}
    for face, bx in zip(faces, box_sets):
        feats = encoder.forward_intermediates(face, layers)
        for layer, feat in zip(layers, feats):
            feat = feat / FEATURE_SCALE[layer]
            stride = size / feat.shape[-1]
            for comp in COMPONENTS:
                s = patch_size(comp, layer, image_size=size)
                out.setdefault(f"{comp}.{layer}", []).append(roi_align(feat, bx[comp] / stride, out_size=s))
    return {k: torch.cat(v) for k, v in out.items()}


def build_dictionary(batches: Iterable[tuple[Tensor, Tensor]], *, atoms: int = 16,
                     layers: Sequence[str] = DEFAULT_LAYERS, flip: bool = True, seed: int = 0,
                     device: str | torch.device = "cpu", progress: bool = True) -> ComponentDictionary:
    """K-means atoms from ``batches`` of (hr_face (B, 3, S, S) RGB [0, 1], landmarks68 (B, 68, 2) in pixels).

    K-means per component and layer (sklearn ``KMeans``, k-means++ init, 4 restarts, fixed ``seed``).
    """
    from sklearn.cluster import KMeans
    from tqdm import tqdm

    from .vgg import VGG19

    layers = tuple(layers)
    max_block = max(int(l[4]) for l in layers)
    encoder = VGG19(max_block=max_block).to(device)
    t0 = time.perf_counter()
    collected: dict[str, list[Tensor]] = {}
    image_size = None
    all_landmarks = []
    for hr_face, landmarks68 in tqdm(batches, desc="VGG19 features", disable=not progress, unit="batch"):
        image_size = hr_face.shape[-1]
        all_landmarks.append(landmarks68.float().cpu() * 256 / image_size)
        patches = _component_patches(encoder, hr_face.to(device), landmarks68.to(device), layers, flip=flip)
        for k, v in patches.items():
            collected.setdefault(k, []).append(v.cpu())
    if image_size is None:
        raise ValueError("no faces to build a dictionary from")
    t_feat = time.perf_counter() - t0
    result = {}
    n_samples = 0
    for key in tqdm(sorted(collected), desc="K-means", disable=not progress):
        samples = torch.cat(collected[key])
        n_samples = samples.shape[0]
        if n_samples < atoms:
            raise ValueError(f"{n_samples} component samples cannot make {atoms} atoms; use fewer --atoms")
        km = KMeans(n_clusters=atoms, n_init=4, random_state=seed).fit(samples.flatten(1).numpy())
        result[key] = torch.from_numpy(km.cluster_centers_).float().view(atoms, *samples.shape[1:])
    info = {"samples_per_component": n_samples, "atoms": atoms, "flip": flip, "seed": seed,
            "feature_seconds": round(t_feat, 1), "build_seconds": round(time.perf_counter() - t0, 1),
            # the teacher's landmark fallback for aligned inputs (see DFDNetTeacher)
            "mean_landmarks256": json.dumps(mean_landmarks(all_landmarks).round(decimals=2).tolist())}
    return ComponentDictionary(result, layers, image_size, info)
