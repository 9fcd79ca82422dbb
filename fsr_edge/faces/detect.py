"""Face detection and 68-point landmarks with dlib.

Images are (H, W, 3) RGB, float32 in [0, 1] (fsr_edge's contract) or uint8. Boxes are (x0, y0, x1, y1) and
landmarks (68, 2) (x, y), both in the input image's pixel coordinates (pixel centres on integers), landmarks
in dlib / iBUG 300-W order (36-41 left eye, 42-47 right eye, 27-35 nose, 48-67 mouth).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np
from PIL import Image

from ..errors import ImageError
from ..io import to_uint
from . import _dlib


class Detector(str, Enum):
    HOG = "hog"   # dlib's frontal HOG + linear SVM: ~0.1 s on an 800 px image, finds faces >= ~80 px (x2 with upsample=1)
    CNN = "cnn"   # dlib's MMOD CNN: also profile and tilted faces, but seconds per image on a CPU


@dataclass(frozen=True)
class Face:
    box: tuple[float, float, float, float]   # (x0, y0, x1, y1) in image pixels
    score: float                              # detector confidence (HOG: SVM margin; CNN: MMOD score)
    landmarks68: np.ndarray                   # (68, 2) float64 (x, y) in image pixels


def to_uint8(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) float [0, 1] or uint8 -> contiguous uint8, the only input dlib takes."""
    arr = np.asarray(rgb)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ImageError(f"expected an (H, W, 3) RGB image, got shape {arr.shape}")
    return np.ascontiguousarray(arr if arr.dtype == np.uint8 else to_uint(arr, 8))


def detect_faces(rgb: np.ndarray, *, upsample: int = 1, max_side: int = 800,
                 detector: Detector | str = Detector.HOG, min_score: float = 0.0) -> list[Face]:
    """All faces in ``rgb``, largest first, each with its 68 landmarks.

    Detection runs on a copy downscaled so its long side is at most ``max_side`` (HOG cost grows with pixels,
    and a face a detector can find at full size it finds at 800 px too), upsampled ``upsample`` times by
    dlib's pyramid (each time halves the smallest findable face); boxes are mapped back to full size and the
    landmarks are predicted on the full-resolution image, where they are most precise.
    """
    detector = Detector(detector)
    img = to_uint8(rgb)
    h, w = img.shape[:2]
    factor = min(1.0, max_side / max(h, w))
    small = img
    if factor < 1.0:
        size = (max(1, round(w * factor)), max(1, round(h * factor)))
        small = np.asarray(Image.fromarray(img).resize(size, Image.BILINEAR))
        fx, fy = w / size[0], h / size[1]
    else:
        fx = fy = 1.0
    found: list[tuple[tuple[float, float, float, float], float]] = []
    if detector is Detector.HOG:
        rects, scores, _ = _dlib.model("hog").run(small, int(upsample), float(min_score))
        pairs = list(zip(rects, scores))
    else:
        pairs = [(d.rect, d.confidence) for d in _dlib.model("cnn")(small, int(upsample)) if d.confidence >= min_score]
    for rect, score in pairs:
        # dlib rectangles are inclusive pixel ranges; as (x0, y0, x1, y1) edges they are [left, right + 1).
        box = (rect.left() * fx, rect.top() * fy, (rect.right() + 1) * fx, (rect.bottom() + 1) * fy)
        found.append((box, float(score)))
    found.sort(key=lambda bs: -(bs[0][2] - bs[0][0]) * (bs[0][3] - bs[0][1]))
    return [Face(box, score, landmarks68(img, box)) for box, score in found]


def landmarks68(rgb: np.ndarray, box: tuple[float, float, float, float] | np.ndarray) -> np.ndarray:
    """(68, 2) landmarks of the face inside ``box`` = (x0, y0, x1, y1) (e.g. a detector's box)."""
    dlib = _dlib.require_dlib()
    img = to_uint8(rgb)
    x0, y0, x1, y1 = (float(v) for v in box)
    rect = dlib.rectangle(int(round(x0)), int(round(y0)), int(round(x1)) - 1, int(round(y1)) - 1)
    shape = _dlib.model("shape68")(img, rect)
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
