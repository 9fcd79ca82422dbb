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


# Where dlib's HOG detector puts the face in an FFHQ-aligned crop, as fractions of the crop's side
# (x0, y0, x1, y1): the mean over the 180 train faces of ../shared/data/faces/aligned512, all detected,
# std (0.029, 0.014, 0.008, 0.038).
ALIGNED_FACE_BOX = (0.198, 0.318, 0.790, 0.909)


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


def detect_faces(rgb: np.ndarray, *, upsample: int = 1, max_side: int = 800, min_side: int = 800,
                 detector: Detector | str = Detector.HOG, min_score: float = 0.0) -> list[Face]:
    """All faces in ``rgb``, largest first, each with its 68 landmarks.

    Detection runs on a working copy resized so its long side lies in [``min_side``, ``max_side``]: big
    photos are shrunk (HOG cost grows with pixels, and a face findable at full size is findable at 800 px),
    small ones are enlarged bicubically (HOG's smallest face is ~80 px, ~40 px after one pyramid upsample;
    the faces an x8 model is for are ~30 px: a 640x480 photo with 30 px faces needs the 800 px copy).
    dlib's pyramid then upsamples ``upsample`` more times (each halves the smallest findable face).
    Landmarks are predicted on the larger of the photo and the working copy, and mapped back.
    """
    detector = Detector(detector)
    img = to_uint8(rgb)
    h, w = img.shape[:2]
    long_side = max(h, w)
    min_side = min(min_side, max_side)  # asking for a smaller max_side lowers both
    factor = max_side / long_side if long_side > max_side else (min_side / long_side if long_side < min_side else 1.0)
    work = img
    if factor != 1.0:
        size = (max(1, round(w * factor)), max(1, round(h * factor)))
        work = np.asarray(Image.fromarray(img).resize(size, Image.BICUBIC if factor > 1 else Image.BILINEAR))
    fx, fy = work.shape[1] / w, work.shape[0] / h
    if detector is Detector.HOG:
        rects, scores, _ = _dlib.model("hog").run(work, int(upsample), float(min_score))
        pairs = list(zip(rects, scores))
    else:
        pairs = [(d.rect, d.confidence) for d in _dlib.model("cnn")(work, int(upsample)) if d.confidence >= min_score]
    # dlib rectangles are inclusive pixel ranges: as continuous edges they span [left, right + 1).
    boxes = [((r.left(), r.top(), r.right() + 1, r.bottom() + 1), float(score)) for r, score in pairs]
    faces = []
    for (x0, y0, x1, y1), score in boxes:
        box = (x0 / fx, y0 / fy, x1 / fx, y1 / fy)
        if factor > 1.0:  # the enlarged copy holds more pixels of the face than the photo
            pts = landmarks68(work, (x0, y0, x1, y1))
            pts = (pts + 0.5) / [fx, fy] - 0.5
        else:
            pts = landmarks68(img, box)
        faces.append(Face(box, score, pts))
    faces.sort(key=lambda f: -(f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))
    return faces


def landmarks68(rgb: np.ndarray, box: tuple[float, float, float, float] | np.ndarray | None = None) -> np.ndarray:
    """(68, 2) landmarks of the face inside ``box`` = (x0, y0, x1, y1), e.g. a detector's box.

    Without a box, ``rgb`` is taken to be an FFHQ-aligned face crop (any size, e.g. an LR face upsampled for
    the DFDNet teacher) and the canonical face box of such crops, ``ALIGNED_FACE_BOX``, is used: no detection,
    ~10 ms, never fails. On the 24 val faces degraded to 32 px and upsampled to 256, these landmarks are
    1.8 px (clean LR) / 2.4 px (blind LR) from the dataset's, vs 1.7 / 2.7 px via detect_faces (0.8 s, missed
    one blind face) and 3.6 px for the mean template. For photos use ``detect_faces``.
    """
    dlib = _dlib.require_dlib()
    img = to_uint8(rgb)
    if box is None:
        h, w = img.shape[:2]
        box = np.array(ALIGNED_FACE_BOX) * [w, h, w, h]
    x0, y0, x1, y1 = (float(v) for v in box)
    rect = dlib.rectangle(int(round(x0)), int(round(y0)), int(round(x1)) - 1, int(round(y1)) - 1)
    shape = _dlib.model("shape68")(img, rect)
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
