"""dlib and its model files, imported lazily and loaded once per process.

dlib is the optional ``fsr_edge[faces]`` extra: everything else in fsr_edge works without it, so the import
happens here, on first use, and a missing install becomes one FsrEdgeError that says what to install.
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path
from types import ModuleType

from ..errors import FsrEdgeError

_INSTALL_HINT = 'pip install "fsr_edge[faces]"'
_lock = threading.Lock()


def require_dlib() -> ModuleType:
    try:
        import dlib
    except ImportError as err:
        raise FsrEdgeError(f"face detection needs dlib, which is not installed ({err}); {_INSTALL_HINT}") from None
    return dlib


def _model_file(name: str) -> str:
    # Locate the package without importing it: its __init__ imports pkg_resources, which recent setuptools
    # (pulled in by torch) no longer ships; the model files themselves are all we need.
    import importlib.util

    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise FsrEdgeError(f"face model files come from face_recognition_models, which is not installed; "
                           f"{_INSTALL_HINT}")
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / name
    if not path.is_file():
        raise FsrEdgeError(f"{path}: dlib model file missing from face_recognition_models; reinstall it")
    return str(path)


# One instance per process: the 68-point predictor is 100 MB and takes ~1 s to load. The lock keeps two
# threads from loading the same file twice; dlib's objects themselves are safe to call concurrently.
@functools.cache
def _cached(kind: str):
    dlib = require_dlib()
    if kind == "hog":
        return dlib.get_frontal_face_detector()
    if kind == "cnn":
        return dlib.cnn_face_detection_model_v1(_model_file("mmod_human_face_detector.dat"))
    if kind == "shape68":
        return dlib.shape_predictor(_model_file("shape_predictor_68_face_landmarks.dat"))
    if kind == "recognizer":
        return dlib.face_recognition_model_v1(_model_file("dlib_face_recognition_resnet_model_v1.dat"))
    raise KeyError(kind)


def model(kind: str):
    """``hog`` / ``cnn`` face detector, ``shape68`` landmark predictor, ``recognizer`` identity network."""
    with _lock:
        return _cached(kind)
