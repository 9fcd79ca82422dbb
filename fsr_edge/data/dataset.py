"""Aligned face pairs for training and evaluation: HR face, its degraded LR face, its clean LR face, landmarks.

Sources: a folder of aligned square faces, or a ``manifest.csv`` (columns ``file`` [relative to the csv's
folder], optionally ``split`` and ``identity``; others are ignored), e.g. ``../shared/data/faces``. An image
``NAME.jpg`` may have ``NAME.json`` beside it with ``landmarks68``: 68 (x, y) points in that image's pixel
coordinates, iBUG 300-W order.

Coordinates: landmarks use pixel-index coordinates (dlib's: the centre of the top-left pixel is (0, 0)), so a
resize by factor f maps x -> (x + 0.5) * f - 0.5 and a horizontal flip of a W-wide image maps x -> W - 1 - x.

Reproducibility: an item depends only on (seed, epoch, index) in training and on (seed, index) in evaluation;
nothing reads a global RNG, so DataLoader workers, resumes and reruns see exactly the same crops, flips and
degradations. Call :meth:`FaceDataset.set_epoch` at the start of each epoch, as with DistributedSampler.
"""

from __future__ import annotations

import csv
import json
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from ..errors import ConfigError, ImageError
from ..io import list_images, read_image
from .degradations import (BlindDegradation, DegradationMode, DegradationParams, _check_mode, _rng,
                           apply_degradation, bicubic_downsample, resize_bicubic, sample_degradation)
from .photometric import apply_photometric, sample_photometric

# iBUG 300-W 68-point mirror: index i of the flipped face is point FLIP_68[i] of the original (jaw reversed,
# brows/eyes swapped left<->right with their order mirrored, nose wings swapped, mouth mirrored).
FLIP_68 = (
    list(range(16, -1, -1))                      # jaw 0-16
    + list(range(26, 21, -1)) + list(range(21, 16, -1))   # brows 17-21 <-> 26-22
    + [27, 28, 29, 30]                           # nose bridge stays
    + [35, 34, 33, 32, 31]                       # lower nose 31-35 mirrored
    + [45, 44, 43, 42, 47, 46]                   # eye 36-41 <- mirrored eye 42-47
    + [39, 38, 37, 36, 41, 40]                   # eye 42-47 <- mirrored eye 36-41
    + [54, 53, 52, 51, 50, 49, 48]               # outer upper lip 48-54
    + [59, 58, 57, 56, 55]                       # outer lower lip 55-59
    + [64, 63, 62, 61, 60]                       # inner upper lip 60-64
    + [67, 66, 65]                               # inner lower lip 65-67
)


@dataclass(frozen=True)
class FaceRecord:
    path: Path
    name: str
    landmarks_path: Path | None    # NAME.json beside the image, when present
    identity: str | None = None    # the manifest's ``identity`` column, when it has one


def find_faces(root: str | os.PathLike, *, split: str | None = None) -> list[FaceRecord]:
    """The face images under ``root`` (a folder of images, a folder holding ``manifest.csv``, or the csv itself),
    restricted to ``split`` when given (needs a manifest with a ``split`` column)."""
    root = Path(root)
    manifest = root if root.suffix.lower() == ".csv" else root / "manifest.csv"
    if root.suffix.lower() == ".csv" and not root.is_file():
        raise ConfigError(f"{root}: no such manifest file")
    if manifest.is_file():
        with open(manifest, newline="") as f:
            rows = list(csv.DictReader(f))
        if rows and "file" not in rows[0]:
            raise ConfigError(f"{manifest}: no 'file' column (found {', '.join(rows[0])})")
        if split is not None:
            if rows and "split" not in rows[0]:
                raise ConfigError(f"{manifest}: no 'split' column, cannot select split {split!r}")
            splits = sorted({r["split"] for r in rows})
            rows = [r for r in rows if r["split"] == split]
            if not rows:
                raise ConfigError(f"{manifest}: no rows in split {split!r} (splits there: {', '.join(splits)})")
        paths = [manifest.parent / r["file"] for r in rows]
        identities = [(r.get("identity") or "").strip() or None for r in rows]
    elif root.is_dir():
        if split is not None:
            raise ConfigError(f"{root}: a plain image folder has no splits; use a manifest.csv with a 'split' "
                              f"column or drop split={split!r}")
        paths = list_images([root])
        identities = [None] * len(paths)
    else:
        raise ConfigError(f"{root}: not a folder of faces nor a manifest.csv")
    if not paths:
        raise ConfigError(f"{root}: no face images found")
    records = []
    for p, identity in zip(paths, identities):
        lm = p.with_suffix(".json")
        records.append(FaceRecord(p, p.stem, lm if lm.is_file() else None, identity))
    names = [r.name for r in records]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise ConfigError(f"{root}: several images share the name(s) {', '.join(dup[:5])}; names must be unique")
    return records


def identity_folds(root: str | os.PathLike, *, split: str | None = None, n_folds: int = 2) -> list[int]:
    """The fold (0..n_folds-1) of each face of ``find_faces(root, split=split)``, in that order, such that all
    images of one identity share a fold: for cross-fitting (a teacher trained without fold k gives the features
    of fold k's faces only, so it never distils a face it has memorised).

    Identities come from the manifest's ``identity`` column (a face is its own identity without one), sorted
    and dealt round-robin: deterministic, and balanced in identities to within one.
    """
    if n_folds < 2:
        raise ConfigError(f"n_folds={n_folds}: cross-fitting needs at least 2 folds")
    ids = [r.identity or r.name for r in find_faces(root, split=split)]
    fold_of = {ident: i % n_folds for i, ident in enumerate(sorted(set(ids)))}
    if len(fold_of) < n_folds:
        raise ConfigError(f"{root}: {len(fold_of)} identities cannot fill {n_folds} folds")
    return [fold_of[ident] for ident in ids]


def _load_landmarks(path: Path | None) -> np.ndarray:
    if path is None:
        return np.full((68, 2), np.nan, dtype=np.float32)
    try:
        pts = np.asarray(json.loads(path.read_text())["landmarks68"], dtype=np.float32)
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ImageError(f"{path}: cannot read 'landmarks68' ({type(err).__name__}: {err})") from None
    if pts.shape != (68, 2):
        raise ImageError(f"{path}: 'landmarks68' has shape {pts.shape}, expected (68, 2)")
    return pts


class FaceDataset(Dataset):
    """Aligned faces as SR training/evaluation pairs.

    Each item is a dict:
      - ``hr_face``: (3, hr_size, hr_size) float32 in [0, 1]
      - ``lr_face``: (3, hr_size/scale, hr_size/scale), degraded per ``degradation`` (CLEAN, BLIND or MIX)
      - ``lr_clean``: the clean antialiased-bicubic LR of ``hr_face`` (PISR teacher's imitation target)
      - ``landmarks68``: (68, 2) float32 in ``hr_face`` pixel coordinates, all NaN when the image has none
      - ``name`` (str), ``index`` (int), ``degraded`` (bool: ``lr_face`` went through the blind degradation)
      - ``view`` (str): the face and its crop/flip, e.g. ``"NAME|full|hflip"``: equal views have equal ``hr_face``
        (what a cache of a frozen network's output on ``hr_face`` keys on)

    ``train=True``: random crop jitter (a square window covering ``crop`` = (min, max) fraction of the face
    side, resized to hr_size; ``crop=None`` disables it) and horizontal flips (``hflip``), seeded by
    (seed, epoch, index). Two options make training faces look more like other cameras' (both off by default):
      - ``geometric`` = (max rotation in degrees, max relative scale change, max shift as a fraction of the
        side): before the crop the face is rotated, scaled and shifted about its centre by uniform draws in
        those ranges (what alignment from landmarks found on a small, real LR face does), e.g. (4, 0.05, 0.03);
      - ``photometric`` = p: with probability p the HR face (after crop and flip, before the degradation)
        gets a :func:`fsr_edge.data.photometric.sample_photometric` change (exposure, contrast, gamma, white
        balance, saturation, sometimes a flat backdrop around a smaller face).
    Landmarks follow both. ``train=False``: the whole face resized to hr_size, degradation seeded by
    (seed, index): a fixed evaluation set.

    Images are decoded once and cached as uint8 (``preload=True`` decodes all of them in the constructor,
    which DataLoader workers then share; otherwise each is decoded on first use). A bad file raises
    ImageError naming it, or with ``skip_bad=True`` is dropped with one warning line (this forces preload).
    """

    def __init__(self, root: str | os.PathLike, *, split: str | None = None, hr_size: int = 256, scale: int = 8,
                 degradation: DegradationMode | str = DegradationMode.MIX,
                 blind_config: BlindDegradation | dict | None = None, train: bool = True, seed: int = 0,
                 p_blind: float = 0.5, crop: tuple[float, float] | None = (0.9, 1.0), hflip: bool = True,
                 geometric: tuple[float, float, float] | None = None, photometric: float = 0.0,
                 preload: bool = True, skip_bad: bool = False, progress: bool = True):
        if scale < 1 or hr_size < scale or hr_size % scale:
            raise ConfigError(f"hr_size {hr_size} is not divisible by scale {scale} (need hr_size >= scale >= 1)")
        if crop is not None and not (0 < crop[0] <= crop[1] <= 1):
            raise ConfigError(f"crop={crop}: need 0 < min <= max <= 1 (fractions of the face side)")
        if geometric is not None and (len(geometric) != 3 or not (0 <= geometric[0] <= 45)
                                      or not (0 <= geometric[1] < 0.5) or not (0 <= geometric[2] < 0.5)):
            raise ConfigError(f"geometric={geometric}: need (degrees in [0, 45], scale in [0, 0.5), "
                              "shift in [0, 0.5))")
        if not 0 <= photometric <= 1:
            raise ConfigError(f"photometric={photometric}: a probability, need 0 <= p <= 1")
        self.root = Path(root)
        self.split = split
        self.hr_size, self.scale = int(hr_size), int(scale)
        self.degradation = _check_mode(degradation)
        # A dict is accepted so YAML recipes can spell the ranges out under the dataset's _component_.
        self.blind_config = (BlindDegradation.from_dict(blind_config) if isinstance(blind_config, dict)
                             else blind_config or BlindDegradation())
        self.train, self.seed, self.p_blind = bool(train), int(seed), float(p_blind)
        self.crop = tuple(crop) if (crop is not None and train) else None
        self.hflip = bool(hflip) and self.train
        self.geometric = tuple(float(g) for g in geometric) if (geometric is not None and train) else None
        self.photometric = float(photometric) if train else 0.0
        self.epoch = 0
        self.records = find_faces(root, split=split)
        # Training crops come from a margin-sized copy so a 0.9 window is still downsampled, never upsampled.
        self.cache_size = math.ceil(self.hr_size / self.crop[0]) if self.crop else self.hr_size
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.skip_bad = bool(skip_bad)
        if preload or skip_bad:
            self.preload(progress=progress)

    def __len__(self) -> int:
        return len(self.records)

    def __repr__(self) -> str:
        mode = self.degradation.value + (f"(p_blind={self.p_blind})" if self.degradation is DegradationMode.MIX else "")
        return (f"FaceDataset({str(self.root)!r}, split={self.split!r}, n={len(self)}, hr_size={self.hr_size}, "
                f"scale={self.scale}, degradation={mode}, train={self.train}, seed={self.seed}, crop={self.crop}, "
                f"hflip={self.hflip}, geometric={self.geometric}, photometric={self.photometric})")

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation/degradation stream of this epoch (training only; evaluation ignores it)."""
        self.epoch = int(epoch)

    def preload(self, *, progress: bool = True) -> None:
        """Decode and cache every image now (with skip_bad, drop the bad ones with one warning line each)."""
        from tqdm import tqdm

        keep, cache = [], {}
        bar = tqdm(self.records, desc=f"loading faces ({self.root.name})", unit="img", leave=False,
                   disable=not progress or len(self.records) < 20)
        for i, rec in enumerate(bar):
            try:
                cache[len(keep)] = self._cached(i) if i not in self._cache else self._cache[i]
            except ImageError as err:
                if not self.skip_bad:
                    raise
                print(f"warning: skipping {err}", file=sys.stderr)
                continue
            keep.append(rec)
        self.records, self._cache = keep, cache
        if not self.records:
            raise ConfigError(f"{self.root}: no usable face images")

    def _cached(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(cache_size, cache_size, 3) uint8 face and its (68, 2) landmarks in that image's coordinates."""
        if index in self._cache:
            return self._cache[index]
        rec = self.records[index]
        img = read_image(rec.path)
        h, w = img.rgb.shape[:2]
        if h != w:
            raise ImageError(f"{rec.path}: {w}x{h} is not square; align the faces first (fsr_edge.faces)")
        if w < self.hr_size:
            raise ImageError(f"{rec.path}: {w}x{h} is smaller than hr_size {self.hr_size}; it cannot serve as HR")
        pts = _load_landmarks(rec.landmarks_path)
        size = self.cache_size
        face = torch.from_numpy(img.rgb).permute(2, 0, 1)
        face = resize_bicubic(face, size) if w != size else face
        face_u8 = (face.permute(1, 2, 0).numpy() * 255.0).round().clip(0, 255).astype(np.uint8)
        pts = (pts + 0.5) * (size / w) - 0.5
        self._cache[index] = (face_u8, pts.astype(np.float32))
        return self._cache[index]

    def item_seed(self, index: int) -> tuple[int, ...]:
        """The seed tuple that drives item ``index``: (seed, index) in evaluation, (seed, epoch, index) in training."""
        return (self.seed, self.epoch, index) if self.train else (self.seed, index)

    def degradation_params(self, index: int) -> DegradationParams:
        """The degradation that item ``index`` gets (this epoch, in training)."""
        return sample_degradation(scale=self.scale, mode=self.degradation, seed=self.item_seed(index),
                                  config=self.blind_config, p_blind=self.p_blind)

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} faces")
        face_u8, pts = self._cached(index)
        hr_face = torch.from_numpy(face_u8).permute(2, 0, 1).float().div_(255.0)   # (3, S, S)
        pts = pts.copy()
        view = "full"   # which crop/flip of the cached face this HR face is (a key for caches of frozen features)
        if self.train:
            # Stream 2 of the item's seed: independent of the degradation's streams 0 and 1.
            rng = _rng(self.item_seed(index), 2)
            u_side, u_x, u_y, u_flip = rng.random(4)
            if self.geometric is not None:
                # Stream 3: drawing the jitter leaves stream 2's crops and flips as they were without it.
                hr_face, pts, geo = _affine_jitter(hr_face, pts, self.geometric, _rng(self.item_seed(index), 3))
                view = geo + view
            if self.crop is not None:
                size = self.cache_size
                lo, hi = self.crop
                side = min(size, max(self.hr_size, round(size * (lo + (hi - lo) * u_side))))
                x0, y0 = int(u_x * (size - side + 1)), int(u_y * (size - side + 1))
                hr_face = hr_face[:, y0:y0 + side, x0:x0 + side]
                view = view.replace("full", f"crop{x0},{y0},{side}")
                pts = pts - np.array([x0, y0], dtype=np.float32)
                if side != self.hr_size:
                    hr_face = resize_bicubic(hr_face, self.hr_size)
                    pts = (pts + 0.5) * (self.hr_size / side) - 0.5
            if self.hflip and u_flip < 0.5:
                hr_face = hr_face.flip(-1)
                view += "|hflip"
                pts = pts[FLIP_68].copy()
                pts[:, 0] = self.hr_size - 1 - pts[:, 0]
        if self.photometric > 0 and _rng(self.item_seed(index), 4).random() < self.photometric:
            change = sample_photometric(seed=self.item_seed(index))
            hr_face = apply_photometric(hr_face, change)
            view += "|photo"
            if change.background is not None:   # the face shrinks about the centre onto the backdrop
                side = self.hr_size
                small = max(1, round(side * change.face_fraction))
                pts = (pts + 0.5) * (small / side) - 0.5 + (side - small) // 2
        hr_face = hr_face.contiguous()
        params = self.degradation_params(index)
        lr_clean = bicubic_downsample(hr_face, self.scale)
        lr_face = lr_clean if params.mode == "clean" else apply_degradation(hr_face, params)
        return {
            "hr_face": hr_face,
            "lr_face": lr_face,
            "lr_clean": lr_clean,
            "landmarks68": torch.from_numpy(pts.astype(np.float32)),
            "name": self.records[index].name,
            "index": index,
            "view": f"{self.records[index].name}|{view}",
            "degraded": params.mode == "blind",
        }


def _affine_jitter(face: torch.Tensor, pts: np.ndarray, ranges: tuple[float, float, float],
                   rng: np.random.Generator) -> tuple[torch.Tensor, np.ndarray, str]:
    """Rotate/scale/shift a (3, S, S) face about its centre by uniform draws within ``ranges`` (degrees, relative
    scale, shift fraction of S); landmarks follow. Borders are reflected, as a wider crop of the photo would show
    more of the same backdrop rather than black."""
    max_deg, max_scale, max_shift = ranges
    deg, ds, tx, ty = rng.uniform(-1, 1, 4) * (max_deg, max_scale, max_shift, max_shift)
    a, s = math.radians(deg), 1.0 + ds
    size = face.shape[-1]
    # Forward map in normalised coordinates (align_corners=False): p_out = s R p_in + 2 t.
    fwd = s * np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    shift = 2.0 * np.array([tx, ty])
    inv = np.linalg.inv(fwd)
    theta = torch.tensor(np.concatenate([inv, -(inv @ shift)[:, None]], axis=1), dtype=torch.float32)[None]
    grid = F.affine_grid(theta, [1, 3, size, size], align_corners=False)
    out = F.grid_sample(face[None], grid, mode="bicubic", padding_mode="reflection", align_corners=False)[0]
    norm = (pts + 0.5) * (2.0 / size) - 1.0
    pts = (((norm @ fwd.T) + shift + 1.0) * (size / 2.0) - 0.5).astype(np.float32)
    return out.clamp_(0, 1), pts, f"geo{deg:.2f},{ds:.3f},{tx:.3f},{ty:.3f}|"


class FacePairs(Dataset):
    """A pair folder written by ``fsr-edge degrade`` (``hr/NAME.png``, ``lr/NAME.png``, ``degradation.json``)
    read back as a fixed evaluation set, with the same item keys as :class:`FaceDataset` (``landmarks68`` all NaN:
    the pairs do not carry them). ``lr_clean`` is recomputed from the HR face."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        log = self.root / "degradation.json"
        try:
            doc = json.loads(log.read_text())
            self.scale, self.hr_size, self.mode = int(doc["scale"]), int(doc["hr_size"]), str(doc["mode"])
            images = doc["images"]
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ConfigError(f"{log}: not a pair folder written by fsr-edge degrade "
                              f"({type(err).__name__}: {err})") from None
        self.names = sorted(images, key=lambda n: images[n].get("index", 0))
        self.degraded = [images[n].get("mode") == "blind" for n in self.names]
        for name in self.names:
            for side in ("hr", "lr"):
                if not (self.root / side / f"{name}.png").is_file():
                    raise ConfigError(f"{self.root / side / name}.png: missing from the pair folder "
                                      "(rerun fsr-edge degrade)")

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} pairs")
        name = self.names[index]
        hr_face = torch.from_numpy(read_image(self.root / "hr" / f"{name}.png").rgb).permute(2, 0, 1).contiguous()
        lr_face = torch.from_numpy(read_image(self.root / "lr" / f"{name}.png").rgb).permute(2, 0, 1).contiguous()
        if hr_face.shape[-1] != lr_face.shape[-1] * self.scale or hr_face.shape[-2] != lr_face.shape[-2] * self.scale:
            raise ImageError(f"{self.root / 'lr' / name}.png: {tuple(lr_face.shape[1:])} is not the HR face "
                             f"{tuple(hr_face.shape[1:])} divided by scale {self.scale}")
        return {
            "hr_face": hr_face,
            "lr_face": lr_face,
            "lr_clean": bicubic_downsample(hr_face, self.scale),
            "landmarks68": torch.full((68, 2), float("nan")),
            "name": name,
            "index": index,
            "degraded": self.degraded[index],
        }
