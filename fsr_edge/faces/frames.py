"""The per-frame face pipeline an app runs: detect, landmarks, align, upscale, paste-back, with face tracking.

Frames are (H, W, 3) uint8 RGB and keep their size: every face is restored in place (x8 of a 1080p frame would
be 132 MP). Each stage is timed (``FrameResult.stages_s``), which is what ``fsr-edge bench-photo`` reports.

- detect: MediaPipe's BlazeFace full-range (``_blazeface``, bundled, in LiteRT) on the frame letterboxed into
  192 px, its boxes mapped into the frame dlib's landmarks expect; or ``detector="hog"``: dlib's HOG on a grey
  working copy whose long side is ``detect_side`` (faces of ~80 px and up in that copy: ~240 px in a 1080p frame
  at 640, ~110 px at 1400). Every ``detect_every`` frames, or when a track is lost; in between, each face's box
  comes from its previous landmarks (tracking).
- landmarks: dlib's 68-point shape predictor on the full-resolution frame, inside each box.
- align: one FFHQ matrix and one ``cv2.warpAffine`` per face (``_cv.align_hr``), then the training pairs' own
  antialiased bicubic down to the model's input, one call for all faces (``_cv.lr_from_hr``).
- upscale: all faces in one model call.
- paste: each face's ROI only, feathered mask (``_cv.paste_roi``).

With ``smooth=True`` the landmarks go through a One-Euro filter per tracked face, so the aligned crop and the
pasted face do not jitter from frame to frame.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ..errors import ImageError
from . import _blazeface, _cv, _dlib, _warp
from ._warp import iou
from .align import ffhq_matrix
from .detect import ALIGNED_FACE_BOX
from .smoothing import OneEuroFilter

STAGES = ("detect", "landmarks", "align", "upscale", "paste")

# Boxes of two looks at the same face overlap at least this much (IoU); a tracked box that moved less is kept.
_SAME_FACE_IOU = 0.3


@dataclass
class Track:
    landmarks68: np.ndarray          # (68, 2) landmarks used for alignment (smoothed when smoothing is on)
    raw68: np.ndarray                # (68, 2) as the landmarker gave them on this frame
    box: tuple[float, float, float, float]
    smoother: OneEuroFilter | None = None
    track_id: int = 0
    misses: int = 0                  # detection passes in a row that did not find this face


@dataclass
class FrameResult:
    frame: np.ndarray                                   # (H, W, 3) uint8, faces restored
    faces: list[Track] = field(default_factory=list)
    stages_s: dict[str, float] = field(default_factory=dict)
    detected: bool = False                              # this frame ran the detector (else: tracked)


def box_from_landmarks(landmarks68: np.ndarray) -> tuple[float, float, float, float]:
    """The box dlib's HOG detector would give for this face: ``ALIGNED_FACE_BOX`` mapped out of the FFHQ crop."""
    inv = np.linalg.inv(_warp.as_3x3(ffhq_matrix(landmarks68, size=1)))
    x0, y0, x1, y1 = ALIGNED_FACE_BOX
    # The crop's pixel of index 0 spans [-0.5, 0.5): fractions f of its side sit at f - 0.5.
    pts = _warp.apply(inv, [[x0 - 0.5, y0 - 0.5], [x1 - 0.5, y0 - 0.5], [x0 - 0.5, y1 - 0.5], [x1 - 0.5, y1 - 0.5]])
    return (*pts.min(0), *pts.max(0))


# blazeface: MediaPipe's BlazeFace full-range in LiteRT (bundled, the default); hog / cnn: dlib's detectors on a
# grey copy of detect_side px (chosen by name, e.g. where LiteRT is not installed).
DETECTORS = ("blazeface", "hog", "cnn")


class FacePipeline:
    """``result = pipe(frame, t)`` for each frame of a clip (``t``: its time in seconds), or once per photo.

    ``model``: an fsr_edge SR model (``scale``, ``lr_size``; (B, 3, lr, lr) -> (B, 3, lr*s, lr*s)) or any callable
    with that contract plus ``scale=`` / ``lr_size=`` given here. ``detect_every=1`` detects on every frame (a
    photo); ``smooth=False`` turns the One-Euro filter off.
    """

    def __init__(self, model: nn.Module, *, detector: str = "blazeface", detect_side: int = 640, upsample: int = 0,
                 detect_every: int = 1, smooth: bool = False, min_cutoff: float = 1.0, beta: float = 0.05,
                 scale: int | None = None, lr_size: int | None = None):
        if detector not in DETECTORS:
            raise ImageError(f"unknown detector {detector!r} ({', '.join(DETECTORS)})")
        if detect_every < 1:
            raise ImageError(f"detect_every must be >= 1, got {detect_every}")
        self.model = model
        self.scale = int(scale if scale is not None else model.scale)
        self.lr_size = int(lr_size if lr_size is not None else model.lr_size)
        self.detector, self.detect_side, self.upsample = detector, int(detect_side), int(upsample)
        self.detector_threads = max(1, torch.get_num_threads())
        self.detect_every, self.smooth = int(detect_every), bool(smooth)
        self.min_cutoff, self.beta = float(min_cutoff), float(beta)
        self.tracks: list[Track] = []
        self._frames = 0      # frames since the last detection pass was due
        self._count = 0       # frames seen (the clock when no time is given)
        self._next_id = 0
        _cv.require_cv2()

    def reset(self) -> None:
        self.tracks, self._frames, self._count = [], 0, 0

    # ------------------------------------------------------------------ stages
    def detect(self, frame: np.ndarray) -> list[tuple[float, float, float, float]]:
        """Face boxes (x0, y0, x1, y1) in frame pixels, largest first."""
        cv2 = _cv.require_cv2()
        if self.detector == "blazeface":   # letterboxes the whole frame into its own 192 px input
            boxes = [b[:4] for b in _blazeface.model(threads=self.detector_threads)(frame)]
            return sorted(boxes, key=lambda b: -(b[2] - b[0]) * (b[3] - b[1]))
        h, w = frame.shape[:2]
        factor = min(1.0, self.detect_side / max(h, w))
        # Grey: dlib's HOG takes the strongest gradient over the colour channels; on grey it is ~30 % faster
        # and finds the same faces on the raw test photos and the aligned face set. Grey before the resize:
        # the area resize then moves one channel instead of three.
        gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) if self.detector == "hog" else frame
        small = gray
        if factor < 1.0:
            small = cv2.resize(gray, (max(1, round(w * factor)), max(1, round(h * factor))), interpolation=cv2.INTER_AREA)
        fx, fy = small.shape[1] / w, small.shape[0] / h
        if self.detector == "hog":
            rects, _, _ = _dlib.model("hog").run(small, self.upsample, 0.0)
        else:
            rects = [d.rect for d in _dlib.model("cnn")(np.ascontiguousarray(small), self.upsample)]
        boxes = [((r.left() + 0.5) / fx - 0.5, (r.top() + 0.5) / fy - 0.5,
                  (r.right() + 1.5) / fx - 0.5, (r.bottom() + 1.5) / fy - 0.5) for r in rects]
        return sorted(boxes, key=lambda b: -(b[2] - b[0]) * (b[3] - b[1]))

    def landmarks(self, frame: np.ndarray, boxes) -> list[np.ndarray]:
        dlib = _dlib.require_dlib()
        predictor = _dlib.model("shape68")
        out = []
        for x0, y0, x1, y1 in boxes:
            rect = dlib.rectangle(int(round(x0)), int(round(y0)), int(round(x1)) - 1, int(round(y1)) - 1)
            shape = predictor(frame, rect)
            out.append(np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64))
        return out

    @torch.inference_mode()
    def upscale(self, lr_faces: torch.Tensor | None) -> list[np.ndarray]:
        """(B, 3, lr, lr) LR faces (None or B = 0: no face) -> B SR faces (S, S, 3) float32 in [0, 1]."""
        if lr_faces is None or len(lr_faces) == 0:
            return []
        sr = self.model(lr_faces).clamp_(0.0, 1.0)
        return list(np.ascontiguousarray(sr.permute(0, 2, 3, 1).float().numpy()))

    # ------------------------------------------------------------------ one frame
    def __call__(self, frame: np.ndarray, t: float | None = None, *, inplace: bool = False) -> FrameResult:
        """Restore the faces of one frame; ``inplace=True`` writes into ``frame`` (a decoder's own buffer)."""
        frame = _check_frame(frame)
        t = float(self._count) if t is None else float(t)
        self._count += 1
        stages = dict.fromkeys(STAGES, 0.0)
        # Every detect_every frames, and on the frame after a track was lost. A frame with no face waits for the
        # next scheduled pass: a face entering the picture is restored at most detect_every - 1 frames late, and
        # faceless stretches cost 1 / detect_every of the detector.
        run_detect = self._frames % self.detect_every == 0
        self._frames += 1

        t0 = time.perf_counter()
        boxes = self.detect(frame) if run_detect else []
        stages["detect"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        previous = self.tracks
        if run_detect:
            # Keep each detected face's track (and its smoothing state) when it overlaps a previous one.
            pairs = []
            for box in boxes:
                match = max(previous, key=lambda tr: iou(tr.box, box), default=None)
                if match is not None and iou(match.box, box) >= _SAME_FACE_IOU:
                    previous = [tr for tr in previous if tr is not match]
                    match.misses = 0
                    pairs.append((box, match, True))
                else:
                    pairs.append((box, None, True))
            # A tracked face the detector missed this once (HOG misses some frames of a turning face) is
            # tracked on, so its restoration does not blink off; missed twice in a row, it is dropped.
            for tr in previous:
                if tr.misses < 1:
                    tr.misses += 1
                    pairs.append((tr.box, tr, False))
        else:
            pairs = [(tr.box, tr, False) for tr in previous]
        tracks = []
        for (box, old, detected), raw in zip(pairs, self.landmarks(frame, [p[0] for p in pairs])):
            if not np.isfinite(raw).all():
                continue
            new_box = box_from_landmarks(raw)
            if not detected and iou(new_box, box) < _SAME_FACE_IOU:
                continue  # tracking lost this face: the next frame detects again
            tr = old or Track(raw, raw, new_box, track_id=self._new_id())
            tr.raw68, tr.box = raw, new_box
            if self.smooth:
                tr.smoother = tr.smoother or OneEuroFilter(min_cutoff=self.min_cutoff, beta=self.beta)
                tr.landmarks68 = tr.smoother(t, raw)
            else:
                tr.landmarks68 = raw
            tracks.append(tr)
        self.tracks = tracks
        if len(tracks) < len(pairs):
            self._frames = 0   # a lost track: detect on the next frame
        stages["landmarks"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        aligned = [_cv.align_hr(frame, tr.landmarks68, hr_size=self.lr_size * self.scale) for tr in tracks]
        lr_faces = _cv.lr_from_hr([hr for _, hr in aligned], self.scale) if aligned else None
        stages["align"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        sr_faces = self.upscale(lr_faces)
        stages["upscale"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        out = frame if inplace or not tracks else frame.copy()
        # Smallest faces first (tracks are largest first), so the larger face ends on top where crops overlap.
        for (matrix, _), sr_face in reversed(list(zip(aligned, sr_faces))):
            _cv.paste_roi(out, sr_face, matrix)
        stages["paste"] = time.perf_counter() - t0
        return FrameResult(out, tracks, stages, run_detect)

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id


def _check_frame(frame: np.ndarray) -> np.ndarray:
    arr = np.asarray(frame)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise ImageError(f"expected an (H, W, 3) uint8 RGB frame, got {arr.dtype} {arr.shape}")
    return np.ascontiguousarray(arr)
