"""Face data: aligned HR faces, their LR counterparts (clean bicubic or the MSKD blind degradation), landmarks.

Tensor contract: RGB float32 in [0, 1]; ``hr_face`` (3, H, W), ``lr_face`` (3, H/scale, W/scale).
"""

from pathlib import Path

from .dataset import FLIP_68, FaceDataset, FacePairs, FaceRecord, find_faces, identity_folds
from .degradations import (BlindDegradation, DegradationMode, DegradationParams, apply_degradation,
                           bicubic_downsample, blur_kernel, degrade, resize_bicubic,
                           sample_degradation)

# The bundled quality set: 24 London val faces (CC BY 4.0) at 256 px, with landmarks and manifest.csv (split val).
BUNDLED_FACES = Path(__file__).parent / "bundled_faces"

__all__ = [
    "BUNDLED_FACES",
    "BlindDegradation",
    "DegradationMode",
    "DegradationParams",
    "FLIP_68",
    "FaceDataset",
    "FacePairs",
    "FaceRecord",
    "apply_degradation",
    "bicubic_downsample",
    "blur_kernel",
    "degrade",
    "find_faces",
    "identity_folds",
    "resize_bicubic",
    "sample_degradation",
]
