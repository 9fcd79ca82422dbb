"""Alignment and paste-back on OpenCV: one matrix, one ``cv2.warpAffine`` per face, work only in the face's ROI.

The frame path of fsr_edge.faces (video, ``fsr-edge bench-photo``). Frames are (H, W, 3) uint8 RGB (what video
decoders give; float32 in [0, 1] also works); coordinates are pixels with centres on integers, as everywhere in
fsr_edge.faces, which is also OpenCV's convention for ``warpAffine`` matrices, so the FFHQ matrix is used as is.

The LR face is made like the training LR faces: the frame is warped once to the HR-size aligned crop and then
downsampled with the training pairs' own antialiased bicubic (``fsr_edge.data.bicubic_downsample``). Where the
face is more than twice the HR size in the frame, an integer area pre-shrink of the face's window comes first,
so the bilinear warp never skips source pixels (the same rule as ``_warp.warp_affine``'s Lanczos pre-shrink).
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

from . import _warp
from .align import face_mask, ffhq_matrix


def require_cv2():
    try:
        import cv2
    except ImportError as err:
        from ..errors import FsrEdgeError

        raise FsrEdgeError(f"the frame pipeline needs OpenCV ({err}); pip install opencv-python-headless") from None
    return cv2


def align_lr(frame: np.ndarray, landmarks68: np.ndarray, *, lr_size: int, scale: int) -> tuple[np.ndarray, torch.Tensor]:
    """(frame -> HR crop matrix (2, 3), LR face (3, lr_size, lr_size) float32 in [0, 1]) for one face.

    The matrix maps frame pixels to the ``lr_size * scale`` HR crop (what ``paste_roi`` inverts).
    """
    matrix, hr_face = align_hr(frame, landmarks68, hr_size=lr_size * scale)
    return matrix, lr_from_hr([hr_face], scale)[0]


def lr_from_hr(hr_faces: list[np.ndarray], scale: int) -> torch.Tensor:
    """(B, 3, S/scale, S/scale) float32 LR faces from (S, S, 3) aligned crops: the training pairs' antialiased
    bicubic, one call for every face of a frame."""
    from ..data.degradations import bicubic_downsample

    hr_t = torch.from_numpy(np.stack(hr_faces)).permute(0, 3, 1, 2)
    hr_t = hr_t.float().div_(255.0) if hr_t.dtype == torch.uint8 else hr_t.float()
    return bicubic_downsample(hr_t, scale)


def align_hr(frame: np.ndarray, landmarks68: np.ndarray, *, hr_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(frame -> crop matrix (2, 3), aligned (hr_size, hr_size, 3) crop in the frame's dtype) for one face."""
    cv2 = require_cv2()
    hr = hr_size
    matrix = ffhq_matrix(landmarks68, size=hr)
    warp = _warp.as_3x3(matrix)
    density = math.sqrt(abs(np.linalg.det(warp[:2, :2])))   # crop pixels per frame pixel
    src = frame
    shrink = int(math.floor(0.5 / density)) if density < 0.5 else 1
    if shrink > 1:
        # Area-shrink only the face's window (plus a margin), then warp from it: a 4K frame's face stays cheap.
        corners = _warp.apply(np.linalg.inv(warp), [[-0.5, -0.5], [hr - 0.5, -0.5], [-0.5, hr - 0.5], [hr - 0.5, hr - 0.5]])
        margin = 2 * shrink
        h, w = frame.shape[:2]
        x0 = max(0, int(math.floor(corners[:, 0].min())) - margin)
        y0 = max(0, int(math.floor(corners[:, 1].min())) - margin)
        x1 = min(w, int(math.ceil(corners[:, 0].max())) + margin + 1)
        y1 = min(h, int(math.ceil(corners[:, 1].max())) + margin + 1)
        if x1 - x0 >= shrink and y1 - y0 >= shrink:
            window = frame[y0:y1, x0:x1]
            nw, nh = max(1, round((x1 - x0) / shrink)), max(1, round((y1 - y0) / shrink))
            src = cv2.resize(window, (nw, nh), interpolation=cv2.INTER_AREA)
            fx, fy = nw / (x1 - x0), nh / (y1 - y0)
            to_small = np.array([[fx, 0, 0.5 * fx - 0.5], [0, fy, 0.5 * fy - 0.5], [0, 0, 1.0]]) @ np.array(
                [[1.0, 0, -x0], [0, 1.0, -y0], [0, 0, 1.0]])
            warp = warp @ np.linalg.inv(to_small)
    # Outside the frame the picture is mirrored, as in _warp.warp_affine (no black corners in the crop).
    return matrix, cv2.warpAffine(src, warp[:2], (hr, hr), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)


@functools.lru_cache(maxsize=8)
def _mask(side: int) -> np.ndarray:
    return face_mask(side)


@functools.lru_cache(maxsize=8)
def _keep_u8(side: int) -> np.ndarray:
    """255 * (1 - mask), one channel: how much of the frame stays under the pasted face."""
    return np.rint((1.0 - _mask(side)) * 255.0).astype(np.uint8)


def paste_roi(frame: np.ndarray, sr_face: np.ndarray, matrix: np.ndarray, *, crop_size: int | None = None) -> np.ndarray:
    """Blend ``sr_face`` (S, S, 3) float32 [0, 1] into ``frame`` in place through the inverse of ``matrix``.

    ``matrix``: frame pixels -> aligned crop of ``crop_size`` pixels (default S). Only the face's bounding box in
    the frame is read and written: the face (premultiplied by its feathered ``face_mask``) and the mask are warped
    into that box and blended there, ``frame = frame * (1 - alpha) + face * alpha``. Returns ``frame``.
    """
    cv2 = require_cv2()
    side = sr_face.shape[0]
    crop_size = side if crop_size is None else crop_size
    to_face = _warp.scale_matrix(side / crop_size) @ _warp.as_3x3(matrix)     # frame -> SR face pixels
    corners = _warp.apply(np.linalg.inv(to_face), [[-0.5, -0.5], [side - 0.5, -0.5], [-0.5, side - 0.5], [side - 0.5, side - 0.5]])
    h, w = frame.shape[:2]
    x0, y0 = (max(0, int(math.floor(v))) for v in corners.min(0))
    x1 = min(w, int(math.ceil(corners[:, 0].max())) + 1)
    y1 = min(h, int(math.ceil(corners[:, 1].max())) + 1)
    if x0 >= x1 or y0 >= y1:
        return frame  # the face lies entirely outside the frame
    roi_to_face = to_face @ np.array([[1.0, 0, x0], [0, 1.0, y0], [0, 0, 1.0]])
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    size = (x1 - x0, y1 - y0)
    roi = frame[y0:y1, x0:x1]
    mask = _mask(side)
    face = np.clip(sr_face[..., :3], 0.0, 1.0)
    if frame.dtype == np.uint8:
        # Premultiplied alpha in uint8: frame = frame * (1 - a) + face * a, with both terms warped bilinearly
        # (interpolating premultiplied colour is what keeps the feathered edge free of dark fringes) and the
        # blend done by OpenCV's saturating uint8 arithmetic: ~4x less work than the same blend in float.
        premult = np.rint(face * (mask[..., None] * 255.0)).astype(np.uint8)
        warped = cv2.warpAffine(premult, roi_to_face[:2], size, flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        # the keep map is warped on one channel and only then spread to three: a third of the warp's work
        keep = cv2.warpAffine(_keep_u8(side), roi_to_face[:2], size, flags=flags, borderMode=cv2.BORDER_CONSTANT,
                              borderValue=255)
        roi[...] = cv2.add(cv2.multiply(roi, cv2.cvtColor(keep, cv2.COLOR_GRAY2RGB), scale=1.0 / 255.0), warped)
    else:
        layers = np.concatenate([face * mask[..., None], mask[..., None]], axis=2).astype(np.float32)
        warped = cv2.warpAffine(layers, roi_to_face[:2], size, flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        roi[...] = roi * (1.0 - warped[..., 3:]) + warped[..., :3]
    return frame
