"""Calibration sets for quantization: which faces, how they are degraded, and one loader for every quantizer.

Selection rule (``select_calibration_set``), stated once:
  1. take the faces of one split (``train`` by default: never calibrate on the faces you validate on);
  2. group them by (source_set, expression) from the manifest (one group when the folder has no manifest);
  3. shuffle each group with ``seed`` and visit identities round robin over the groups, taking one image per
     identity until every identity has one, then the second image of each identity, and so on;
  4. stop at ``size`` images.
  So 8 images cover 8 identities spread over every source and expression, and 32 or 128 images add identities
  before they repeat one.
Photometric spread (``photometric=True``, the default): before degrading, each HR face gets a seeded random
change of exposure, contrast, gamma, white balance and saturation, and about one face in three is shrunk onto a
flat black, dark, grey, bright or white background (``fsr_edge.data.photometric``). Quantizer ranges of internal
activations are set from these faces, so they cover the dark, bright and flat-backdrop photos a runtime meets,
not only the exposure of one studio capture. (The input's own range is never calibrated: it is [0, 1] by
construction, see ``fsr_edge.exporters.quantize``.)
Degradation: the training degradation (``fsr_edge.data``, MIX by default: blind eq. 8 with probability
``p_blind``, else clean bicubic), seeded per item by ``(seed, i)``; the drawn parameters are written into the
manifest so the LR faces replay bit for bit.
Faces never come from a split used to check the model (``val``, ``wild``): calibrating there would make the
verification gates pass on the faces the ranges were fitted to.

Manifest (JSON): ``{"format": "fsr_edge.calibration/1", "rule", "seed", "scale", "hr_size", "mode", "root",
"items": [{"path", "sha256", "identity", "expression", "source", "degradation": {...}, "photometric": {...}}]}``
(``photometric`` empty: the face as it is). ``path`` is relative
to ``root`` when possible. Loading checks every sha256, so a changed face is caught, not silently used.

Built-in set (``builtin_calibration_set``): no face data needed. A face crop of ``skimage.data.astronaut()``
(a real photo that ships inside scikit-image) with small shifts, flips, the same photometric spread and the same
degradations. It is ONE identity: good enough to place quantizer ranges for a fresh install, not a substitute for
a real set.

Tensor contract of every loader: ``lr_face`` (1, 3, h, w), RGB, float32 in [0, 1].
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import random
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fsr_edge.errors import ConfigError, ImageError
from fsr_edge.safety import sha256_file as _sha256_file

FORMAT = "fsr_edge.calibration/1"
RULE = "round-robin over (source, expression) groups, one image per identity first"
# Splits that exist to check models on faces they were not made from: never calibrate or train on them.
CHECK_ONLY_SPLITS = ("val", "wild")
BUILTIN_ROOT = "builtin:skimage.astronaut"
# (top, left, side) of the astronaut's face in the 512x512 image: a roughly FFHQ-style square crop.
_ASTRONAUT_FACE = (0, 110, 240)


@dataclass(frozen=True)
class CalibrationItem:
    path: str                     # relative to the set's root (or "astronaut/<variant>" for the built-in set)
    sha256: str                   # of the image file (of the generated crop for the built-in set)
    identity: str = ""
    expression: str = ""
    source: str = ""
    degradation: dict[str, Any] = field(default_factory=dict)   # fsr_edge.data.DegradationParams.to_dict()
    photometric: dict[str, Any] = field(default_factory=dict)   # fsr_edge.data.PhotometricParams.to_dict()


@dataclass
class CalibrationSet:
    """A chosen, replayable set of LR faces for quantizer calibration (see the module docstring)."""

    items: list[CalibrationItem]
    root: str
    seed: int = 0
    scale: int = 8
    hr_size: int = 256
    mode: str = "mix"
    rule: str = ""

    def __len__(self) -> int:
        return len(self.items)

    # ---- persistence --------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"format": FORMAT, "rule": self.rule, "seed": self.seed, "scale": self.scale, "hr_size": self.hr_size,
                "mode": self.mode, "root": self.root, "size": len(self.items),
                "items": [asdict(it) for it in self.items]}

    def save(self, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
        path = Path(path)
        if path.exists() and not overwrite:
            raise ConfigError(f"{path}: already exists; pass overwrite=True (--overwrite) to replace it")
        from fsr_edge.io import atomic_write_json

        return atomic_write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike) -> "CalibrationSet":
        path = Path(path)
        try:
            d = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise ConfigError(f"{path}: cannot read calibration manifest ({err})") from None
        if d.get("format") != FORMAT:
            raise ConfigError(f"{path}: not an fsr_edge calibration manifest (format {d.get('format')!r}, "
                              f"expected {FORMAT!r}); write one with `fsr-edge calibrate`")
        items = [CalibrationItem(**it) for it in d["items"]]
        return cls(items=items, root=d["root"], seed=d["seed"], scale=d["scale"], hr_size=d["hr_size"],
                   mode=d["mode"], rule=d.get("rule", ""))

    # ---- loaders ------------------------------------------------------------------------------------------
    def lr_faces(self) -> list[torch.Tensor]:
        """Every item's degraded LR face, (1, 3, h, w) float32 [0, 1], replayed from the stored parameters."""
        from fsr_edge.data import DegradationParams, apply_degradation

        return [apply_degradation(hr, DegradationParams.from_dict(it.degradation))[None]
                for it, hr in zip(self.items, self.hr_faces())]

    def hr_faces(self) -> list[torch.Tensor]:
        """Every item's HR face (3, hr_size, hr_size) with its photometric change (what its LR face is made
        from), after checking the source image's sha256."""
        from fsr_edge.data.photometric import PhotometricParams, apply_photometric

        return [apply_photometric(face, PhotometricParams.from_dict(it.photometric)) if it.photometric else face
                for it, face in zip(self.items, self._source_faces())]

    def _source_faces(self) -> list[torch.Tensor]:
        if self.root == BUILTIN_ROOT:
            faces = _astronaut_variants(self.hr_size)
            out = []
            for it in self.items:
                variant = it.path.split("/", 1)[1]
                face = faces[variant]
                if _sha256_bytes(_u8(face).tobytes()) != it.sha256:
                    raise ImageError(f"built-in calibration face {it.path}: differs from the one recorded "
                                     "(scikit-image's astronaut changed?)")
                out.append(face)
            return out
        root = Path(self.root)
        out = []
        for it in self.items:
            p = root / it.path
            if not p.is_file():
                raise ImageError(f"{p}: calibration image is missing (manifest root {root})")
            if _sha256_file(p) != it.sha256:
                raise ImageError(f"{p}: sha256 differs from the calibration manifest; the face changed, "
                                 "re-run `fsr-edge calibrate`")
            out.append(_load_hr(p, self.hr_size))
        return out

    def to_nncf(self) -> "Any":
        """``nncf.Dataset`` of (1, 3, h, w) tensors (torch models) ..."""
        import nncf

        return nncf.Dataset(self.lr_faces())

    def to_nncf_numpy(self) -> "Any":
        """... or of numpy arrays (OpenVINO / ONNX models)."""
        import nncf

        return nncf.Dataset([x.numpy() for x in self.lr_faces()])

    def to_pt2e(self) -> list[tuple[torch.Tensor]]:
        """PT2E calibration: a list of example-input tuples to run through the prepared model."""
        return [(x,) for x in self.lr_faces()]

    def to_coreml(self, input_name: str = "lr_face") -> list[dict[str, np.ndarray]]:
        """coremltools ``linear_quantize_activations`` sample data: a list of {input name: array}."""
        return [{input_name: x.numpy()} for x in self.lr_faces()]


def select_calibration_set(root: str | os.PathLike, *, size: int = 32, seed: int = 0, split: str | None = "train",
                           scale: int = 8, hr_size: int = 256, mode: str = "mix", p_blind: float = 0.5,
                           photometric: bool = True) -> CalibrationSet:
    """Choose ``size`` faces from a face folder / manifest by the module's rule, with the photometric spread and
    the training degradations."""
    from fsr_edge.data import find_faces, sample_degradation

    if size < 1:
        raise ConfigError(f"calibration size must be >= 1, got {size}")
    if split in CHECK_ONLY_SPLITS:
        raise ConfigError(f"split {split!r} is for checking models, never for calibration; use 'train'")
    root = Path(root)
    records = find_faces(root, split=split if (root / "manifest.csv").is_file() or root.suffix == ".csv" else None)
    meta = _manifest_rows(root)
    base = root.parent if root.suffix.lower() == ".csv" else root
    groups: dict[tuple[str, str], dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for rec in records:
        row = meta.get(rec.path.resolve(), {})
        key = (row.get("source_set", ""), row.get("expression", ""))
        groups[key][row.get("identity") or rec.name].append((rec, row))
    rng = random.Random(seed)
    # Per group: identities in a seeded order, each identity's images in a seeded order.
    queues = []
    for key in sorted(groups):
        idents = sorted(groups[key])
        rng.shuffle(idents)
        for ident in idents:
            rng.shuffle(groups[key][ident])
        queues.append([groups[key][i] for i in idents])
    # Round r takes the r-th image of every identity; within a round the groups alternate image by image.
    order = []
    for r in range(max(len(images) for q in queues for images in q)):
        per_group = [[images[r] for images in q if len(images) > r] for q in queues]
        for k in range(max(len(g) for g in per_group)):
            order.extend(g[k] for g in per_group if k < len(g))
    # A London identity sits in two groups (neutral, smiling): push its second image behind every first image.
    nth: dict[str, int] = defaultdict(int)
    ranked = []
    for pos, (rec, row) in enumerate(order):
        ident = row.get("identity") or rec.name
        ranked.append((nth[ident], pos))
        nth[ident] += 1
    chosen = [order[pos] for _, pos in sorted(ranked)][:size]
    if len(chosen) < size:
        raise ConfigError(f"{root}: only {len(chosen)} faces available{f' in split {split!r}' if split else ''}, "
                          f"asked for {size}")
    items = []
    for i, (rec, row) in enumerate(chosen):
        params = sample_degradation(scale=scale, mode=mode, seed=(seed, i), p_blind=p_blind)
        rel = os.path.relpath(rec.path, base)
        items.append(CalibrationItem(path=rel, sha256=_sha256_file(rec.path), identity=row.get("identity", rec.name),
                                     expression=row.get("expression", ""), source=row.get("source_set", ""),
                                     degradation=params.to_dict(), photometric=_photometric(photometric, seed, i)))
    return CalibrationSet(items=items, root=str(base.resolve()), seed=seed, scale=scale, hr_size=hr_size, mode=mode,
                          rule=_rule(RULE, photometric))


def builtin_calibration_set(*, size: int = 8, seed: int = 0, scale: int = 8, hr_size: int = 256,
                            mode: str = "mix", p_blind: float = 0.5, photometric: bool = True) -> CalibrationSet:
    """The always-available set: astronaut face crops (shifts/flips) with the training degradations."""
    from fsr_edge.data import sample_degradation

    faces = _astronaut_variants(hr_size)
    names = list(faces)
    items = []
    for i in range(size):
        variant = names[i % len(names)]
        params = sample_degradation(scale=scale, mode=mode, seed=(seed, i), p_blind=p_blind)
        items.append(CalibrationItem(path=f"astronaut/{variant}", sha256=_sha256_bytes(_u8(faces[variant]).tobytes()),
                                     identity="astronaut", expression="smiling", source="skimage",
                                     degradation=params.to_dict(), photometric=_photometric(photometric, seed, i)))
    return CalibrationSet(items=items, root=BUILTIN_ROOT, seed=seed, scale=scale, hr_size=hr_size, mode=mode,
                          rule=_rule("built-in: skimage astronaut face crop, shifted/flipped variants (one identity)",
                                     photometric))


def astronaut_face(hr_size: int = 256) -> torch.Tensor:
    """The built-in real face: (3, hr_size, hr_size) float32 [0, 1] crop of ``skimage.data.astronaut()``."""
    return _astronaut_variants(hr_size)["center"]


# ---- helpers ----------------------------------------------------------------------------------------------

def _photometric(enabled: bool, seed: int, i: int) -> dict:
    from fsr_edge.data.photometric import sample_photometric

    return sample_photometric(seed=(seed, i)).to_dict() if enabled else {}


def _rule(rule: str, photometric: bool) -> str:
    return rule + ("; photometric spread (fsr_edge.data.photometric)" if photometric else "")


def _astronaut_variants(hr_size: int) -> dict[str, torch.Tensor]:
    from skimage import data as skdata

    img = torch.from_numpy(skdata.astronaut().astype(np.float32) / 255.0).permute(2, 0, 1)
    top, left, side = _ASTRONAUT_FACE
    out = {}
    for name, (dy, dx, flip) in {"center": (0, 0, False), "left": (0, -12, False), "right": (0, 12, False),
                                 "down": (12, 0, False), "center_flip": (0, 0, True), "left_flip": (0, -12, True),
                                 "right_flip": (0, 12, True), "down_flip": (12, 0, True)}.items():
        y0, x0 = max(0, top + dy), left + dx
        crop = img[:, y0:y0 + side, x0:x0 + side]
        crop = _resize(crop, hr_size)
        out[name] = (crop.flip(-1) if flip else crop).contiguous()
    # quantize to uint8 like a decoded image, so sha256 and pixels are stable across platforms
    return {k: torch.from_numpy(_u8(v)).permute(2, 0, 1).float() / 255.0 for k, v in out.items()}


def _u8(chw: torch.Tensor) -> np.ndarray:
    return (chw.permute(1, 2, 0).numpy() * 255.0).round().clip(0, 255).astype(np.uint8)


def _resize(chw: torch.Tensor, size: int) -> torch.Tensor:
    from fsr_edge.data import bicubic_downsample, resize_bicubic

    h = chw.shape[-1]
    if h == size:
        return chw
    if h % size == 0:
        return bicubic_downsample(chw, h // size)
    return resize_bicubic(chw, size)


def _load_hr(path: Path, hr_size: int) -> torch.Tensor:
    from fsr_edge.io import read_image

    img = read_image(path)
    h, w = img.rgb.shape[:2]
    if h != w:
        raise ImageError(f"{path}: {w}x{h} is not square; calibration needs aligned square faces")
    return _resize(torch.from_numpy(img.rgb).permute(2, 0, 1).contiguous(), hr_size)


def _manifest_rows(root: Path) -> dict[Path, dict]:
    manifest = root if root.suffix.lower() == ".csv" else root / "manifest.csv"
    if not manifest.is_file():
        return {}
    with open(manifest, newline="") as f:
        return {(manifest.parent / r["file"]).resolve(): r for r in csv.DictReader(f)}


def _sha256_bytes(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()

