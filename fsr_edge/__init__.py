"""fsr_edge: face super-resolution for edge devices.

Tensor contract everywhere: ``(B, 3, H, W)``, RGB, float32 in [0, 1]; ``sr_face = model(lr_face)``.
"""

from .errors import ConfigError, FsrEdgeError, ImageError, WeightsError
from .models import create_model, list_models, load_model, register_model, save_model

__version__ = "0.1.0"
__all__ = ["ConfigError", "FsrEdgeError", "ImageError", "WeightsError", "create_model", "list_models", "load_model",
           "register_model", "save_model", "__version__"]
