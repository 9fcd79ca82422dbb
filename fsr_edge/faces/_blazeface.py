"""MediaPipe's BlazeFace full-range face detector, run in LiteRT: the frame path's default detector.

The model file ships in this package (``models/face_detection_full_range.tflite``, Apache 2.0, see the README
beside it) and is checked against its SHA-256 before it is loaded. Input: the frame letterboxed into 192x192 RGB
in [-1, 1]; output: per anchor of a 48x48 grid a score and a box (centre offset and size, in input pixels).
Boxes above ``MIN_SCORE`` are kept, largest score first, minus those overlapping a kept one (IoU >= 0.3).

dlib's 68-point landmark predictor starts from the box dlib's own HOG detector draws, which is tighter than
BlazeFace's, so each box is mapped into HOG's frame (``TO_HOG_BOX``: the HOG box's edges as fractions of the
BlazeFace box, the mean over 60 train faces found by both). On the val and wild faces, landmarks started from
mapped boxes differ from those started from HOG boxes by 1.2 % / 1.3 % of the inter-ocular distance on average.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import threading
from pathlib import Path

import numpy as np

from ..errors import FsrEdgeError
from ._warp import iou

MODEL_FILE = Path(__file__).with_name("models") / "face_detection_full_range.tflite"
MODEL_SHA256 = "99bf9494d84f50acc6617d89873f71bf6635a841ea699c17cb3377f9507cfec3"
INPUT_SIZE = 192
GRID = 48
MIN_SCORE = 0.5
SAME_FACE_IOU = 0.3
TO_HOG_BOX = (0.0255, 0.0537, 0.9584, 0.9864)   # HOG box = BlazeFace box x0 + f0 w, y0 + f1 h, x0 + f2 w, y0 + f3 h
_lock = threading.Lock()


def require_litert():
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as err:
        raise FsrEdgeError(f"the BlazeFace detector runs in LiteRT, which is not installed ({err}); "
                           'pip install "fsr_edge[faces]", or use --detector hog') from None
    return Interpreter


@functools.lru_cache(maxsize=None)
def _anchors() -> np.ndarray:
    centres = (np.arange(GRID, dtype=np.float32) + 0.5) / GRID
    xs, ys = np.meshgrid(centres, centres)
    return np.stack([xs.ravel(), ys.ravel()], axis=1)            # (2304, 2), row-major as the model's outputs


class BlazeFace:
    """Callable: (H, W, 3) uint8 RGB frame -> [(x0, y0, x1, y1, score)] in frame pixels, HOG-frame boxes."""

    def __init__(self, *, threads: int = 1):
        from ..safety import sha256_file

        Interpreter = require_litert()
        if not MODEL_FILE.is_file() or sha256_file(MODEL_FILE) != MODEL_SHA256:
            raise FsrEdgeError(f"{MODEL_FILE}: the bundled face detector is missing or altered; reinstall fsr_edge")
        with _native_stderr_silenced():   # LiteRT's C++ "INFO: Created TensorFlow Lite XNNPACK delegate" line
            self._interp = Interpreter(model_path=str(MODEL_FILE), num_threads=int(threads))
            self._interp.allocate_tensors()
        self._input = self._interp.get_input_details()[0]["index"]
        out = self._interp.get_output_details()
        self._boxes, self._scores = out[0]["index"], out[1]["index"]
        self._canvas = np.zeros((1, INPUT_SIZE, INPUT_SIZE, 3), np.float32)
        # one instance per process (``model``) while a LiteRT interpreter and this input buffer are not safe to
        # use from two threads at once: one call at a time
        self._call_lock = threading.Lock()

    def __call__(self, frame: np.ndarray) -> list[tuple[float, float, float, float, float]]:
        import cv2

        h, w = frame.shape[:2]
        f = INPUT_SIZE / max(h, w)
        sw, sh = max(1, round(w * f)), max(1, round(h * f))
        small = cv2.resize(frame, (sw, sh), interpolation=cv2.INTER_AREA)
        pw, ph = (INPUT_SIZE - sw) // 2, (INPUT_SIZE - sh) // 2
        with self._call_lock:
            canvas = self._canvas
            canvas.fill(-1.0)                                      # letterbox bars are black in [-1, 1]
            canvas[0, ph:ph + sh, pw:pw + sw] = small * np.float32(1 / 127.5) - 1.0
            self._interp.set_tensor(self._input, canvas)
            self._interp.invoke()
            raw = self._interp.get_tensor(self._boxes)[0].copy()
            logits = np.clip(self._interp.get_tensor(self._scores)[0, :, 0], -80.0, 80.0)
        scores = 1.0 / (1.0 + np.exp(-logits))
        found: list[tuple[float, float, float, float, float]] = []
        anchors = _anchors()
        for k in np.argsort(-scores):
            if scores[k] < MIN_SCORE:
                break
            cx, cy = raw[k, 0] / INPUT_SIZE + anchors[k, 0], raw[k, 1] / INPUT_SIZE + anchors[k, 1]
            bw, bh = raw[k, 2] / INPUT_SIZE, raw[k, 3] / INPUT_SIZE
            # letterboxed input units -> frame pixels
            x0, y0 = ((cx - bw / 2) * INPUT_SIZE - pw) / f, ((cy - bh / 2) * INPUT_SIZE - ph) / f
            x1, y1 = ((cx + bw / 2) * INPUT_SIZE - pw) / f, ((cy + bh / 2) * INPUT_SIZE - ph) / f
            if x1 <= x0 or y1 <= y0 or any(iou((x0, y0, x1, y1), b[:4]) >= SAME_FACE_IOU for b in found):
                continue
            bw_px, bh_px = x1 - x0, y1 - y0
            a, b, c, d = TO_HOG_BOX
            found.append((x0 + a * bw_px, y0 + b * bh_px, x0 + c * bw_px, y0 + d * bh_px, float(scores[k])))
        return found


@contextlib.contextmanager
def _native_stderr_silenced():
    """File descriptor 2 pointed at /dev/null for the block: the runtime's C++ log lines bypass Python's streams.
    Errors still surface as the Python exceptions the interpreter raises."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def model(*, threads: int = 1) -> BlazeFace:
    """The detector, loaded once per process and thread count."""
    with _lock:
        return _cached(int(threads))


@functools.lru_cache(maxsize=None)
def _cached(threads: int) -> BlazeFace:
    return BlazeFace(threads=threads)
