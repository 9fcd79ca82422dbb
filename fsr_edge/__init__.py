"""fsr_edge: face super-resolution for edge devices.

Tensor contract everywhere: ``(B, 3, H, W)``, RGB, float32 in [0, 1]; ``sr_face = model(lr_face)``.
"""

from .errors import ConfigError, FsrEdgeError, ImageError, WeightsError

__version__ = "0.1.0"
__all__ = ["ConfigError", "FsrEdgeError", "ImageError", "WeightsError", "create_model", "list_models", "load_model",
           "register_model", "save_model", "__version__"]
_FROM_MODELS = ("create_model", "list_models", "load_model", "register_model", "save_model")


def __getattr__(name: str):
    # the model functions import torch: only on first use, so `fsr-edge --help` and `fsr-edge models` start fast
    if name in _FROM_MODELS:
        from . import models

        return getattr(models, name)
    if name == "models":
        import importlib

        return importlib.import_module(".models", __name__)
    raise AttributeError(f"module 'fsr_edge' has no attribute {name!r}")
