"""FFHQ-style face alignment as one affine transform, and pasting a restored crop back into the photo.

The crop is the FFHQ recipe (NVlabs ffhq-dataset, ``recreate_aligned_images``) from dlib's 68 landmarks: an
oriented square centred a little below the eyes, its side set by the eye-to-eye and eye-to-mouth distances.
It is the recipe that made ../shared/data/faces/aligned512, so a crop from ``align_face`` looks like the
training faces. Here the square is written as a 2x3 matrix (photo -> crop, pixel centres on integers) so the
same matrix inverts exactly for ``paste_face`` and maps landmarks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import ImageError
from . import _warp


@dataclass
class AlignedFace:
    crop: np.ndarray          # (size, size, C) float32 in [0, 1]
    matrix: np.ndarray        # (2, 3) photo pixel coords -> crop pixel coords
    landmarks68: np.ndarray   # (68, 2) the input landmarks in crop pixel coords

    @property
    def size(self) -> int:
        return self.crop.shape[0]

    @property
    def photo_size(self) -> float:
        """Side of the crop's square in photo pixels (> ``size``: the crop is a downscaled view of the face)."""
        return self.size / math.sqrt(abs(np.linalg.det(np.asarray(self.matrix)[:, :2])))


def ffhq_matrix(landmarks68: np.ndarray, *, size: int) -> np.ndarray:
    """2x3 photo -> crop matrix of the FFHQ alignment square for a ``size`` x ``size`` crop."""
    lm = _check_landmarks(landmarks68)
    eye_left, eye_right = lm[36:42].mean(0), lm[42:48].mean(0)
    eye_avg = (eye_left + eye_right) * 0.5
    eye_to_eye = eye_right - eye_left
    mouth_avg = (lm[48] + lm[54]) * 0.5
    eye_to_mouth = mouth_avg - eye_avg
    # Oriented crop rectangle (x: half-side vector along the eye line, corrected by the eye-mouth axis).
    x = eye_to_eye - np.flipud(eye_to_mouth) * [-1, 1]
    x /= np.hypot(*x)
    x *= max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    y = np.flipud(x) * [-1, 1]
    centre = eye_avg + eye_to_mouth * 0.1
    half = np.hypot(*x)
    # FFHQ maps the quad's corners onto the output's outer edges; in pixel-centre coordinates the centre
    # lands on (size - 1) / 2 and one crop pixel spans 2 * half / size photo pixels.
    rot = np.stack([x / half, y / np.hypot(*y)])      # rows: crop x and y axes in photo coords
    lin = rot * (size / (2.0 * half))
    t = (size - 1) / 2.0 - lin @ centre
    return np.concatenate([lin, t[:, None]], axis=1)


def align_face(rgb: np.ndarray, landmarks68: np.ndarray, *, size: int) -> AlignedFace:
    """FFHQ-aligned ``size`` x ``size`` crop of the face with these landmarks (antialiased when shrinking)."""
    if size < 1:
        raise ImageError(f"aligned size must be positive, got {size}")
    matrix = ffhq_matrix(landmarks68, size=size)
    crop = _warp.warp_affine(np.asarray(rgb, dtype=np.float32), matrix, (size, size))
    return AlignedFace(crop, matrix, _warp.apply(matrix, landmarks68))


def face_mask(size: int, *, erode: float = 0.02, feather: float = 0.1) -> np.ndarray:
    """(size, size) float32 blend mask for a restored crop: 0 at the crop's border, 1 inside.

    The outer ``erode`` fraction is dropped (the crop's edges hold mirrored padding and resampling
    fringes) and the next ``feather`` fraction ramps smoothly (smoothstep) from 0 to 1, so the restored face
    fades into the upscaled photo without a visible seam.
    """
    idx = np.arange(size, dtype=np.float32) + 0.5
    edge = np.minimum(idx, size - idx)                     # distance to the nearest border, in pixels
    ramp = np.clip((edge - max(1.0, erode * size)) / max(feather * size, 1.0), 0.0, 1.0)
    ramp = ramp * ramp * (3.0 - 2.0 * ramp)
    return np.minimum(ramp[:, None], ramp[None, :]).astype(np.float32)


def paste_face(photo: np.ndarray, restored_crop: np.ndarray, matrix: np.ndarray, *, scale: float = 1,
               crop_size: int | None = None, mask: np.ndarray | None = None, inplace: bool = False) -> np.ndarray:
    """Blend ``restored_crop`` back into ``photo`` through the inverse of the alignment ``matrix``.

    ``matrix`` is ``AlignedFace.matrix``: original photo -> aligned crop of ``crop_size`` pixels.
    ``photo`` is that original photo resized by ``scale`` (e.g. the bicubic upscale by the model's scale);
    ``restored_crop`` is the aligned crop after restoration, of any size (default ``crop_size``: its own
    side / ``scale``, i.e. the model upscaled the crop by the same factor as the photo). ``mask``: blend
    weights in restored-crop pixels (default ``face_mask``). Returns a new (H, W, C) array (``inplace=True``:
    ``photo`` itself, which must then be float32); only the face's neighbourhood is computed and changed.
    """
    if inplace and (not isinstance(photo, np.ndarray) or photo.dtype != np.float32):
        raise TypeError("paste_face(inplace=True) needs a float32 numpy photo")
    photo = np.asarray(photo, dtype=np.float32)
    restored = np.asarray(restored_crop, dtype=np.float32)
    side = restored.shape[0]
    if restored.ndim != 3 or restored.shape[1] != side:
        raise ImageError(f"restored crop must be square (S, S, C), got shape {restored.shape}")
    if crop_size is None:
        crop_size = side / scale
    # upscaled photo -> original photo -> aligned crop -> restored crop
    to_restored = (_warp.scale_matrix(side / crop_size) @ _warp.as_3x3(matrix)
                   @ np.linalg.inv(_warp.scale_matrix(scale)))
    to_photo = np.linalg.inv(to_restored)
    corners = _warp.apply(to_photo, [[-0.5, -0.5], [side - 0.5, -0.5], [-0.5, side - 0.5], [side - 0.5, side - 0.5]])
    h, w = photo.shape[:2]
    x0, y0 = (max(0, int(math.floor(v))) for v in corners.min(0))
    x1, y1 = min(w, int(math.ceil(corners[:, 0].max())) + 1), min(h, int(math.ceil(corners[:, 1].max())) + 1)
    out = photo if inplace else photo.copy()
    if x0 >= x1 or y0 >= y1:
        return out  # the crop lies entirely outside the photo
    soft = face_mask(side) if mask is None else np.asarray(mask, dtype=np.float32)
    channels = min(photo.shape[2], restored.shape[2])
    # Zero padding (alpha 0) so nothing outside the crop is blended in, whatever the warp's own edge mode.
    pad = 8
    layers = np.pad(np.concatenate([restored[..., :channels], soft[..., None]], axis=2), ((pad, pad), (pad, pad), (0, 0)))
    region = (np.array([[1.0, 0, pad], [0, 1.0, pad], [0, 0, 1.0]]) @ to_restored
              @ np.array([[1.0, 0, x0], [0, 1.0, y0], [0, 0, 1.0]]))  # photo region coords -> padded crop
    warped = _warp.warp_affine(layers, np.linalg.inv(region), (x1 - x0, y1 - y0))
    alpha = warped[..., -1:]
    target = out[y0:y1, x0:x1, :channels]
    out[y0:y1, x0:x1, :channels] = target + alpha * (warped[..., :channels] - target)
    return out


def _check_landmarks(landmarks68: np.ndarray) -> np.ndarray:
    lm = np.asarray(landmarks68, dtype=np.float64)
    if lm.shape != (68, 2):
        raise ImageError(f"expected (68, 2) landmarks (dlib 68-point order), got shape {lm.shape}")
    if not np.isfinite(lm).all():
        raise ImageError("landmarks contain NaN or infinity")
    return lm
