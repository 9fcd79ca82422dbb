"""Model builders (timm-style registry) and bundled pretrained weights."""

from ._registry import (PretrainedSpec, create_model, list_models, load_model, pretrained_spec, read_metadata,
                        register_model, register_pretrained, save_model, training_only)
from . import bicubic, edge, fsrcnn, mskd, pisr, sesr  # noqa: F401  (importing registers the builders)
from .bicubic import Bicubic
from .edge import EdgeSR
from .fsrcnn import FSRCNN
from .sesr import SESR

__all__ = ["Bicubic", "EdgeSR", "FSRCNN", "SESR", "PretrainedSpec", "create_model", "list_models", "load_model", "pretrained_spec",
           "read_metadata", "register_model", "register_pretrained", "save_model", "training_only"]
