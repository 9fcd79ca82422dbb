"""Face data: aligned HR faces, their LR counterparts (clean bicubic or the MSKD blind degradation), landmarks.

Tensor contract: RGB float32 in [0, 1]; ``hr_face`` (3, H, W), ``lr_face`` (3, H/scale, W/scale).
"""

from .dataset import FLIP_68, FaceDataset, FacePairs, FaceRecord, find_faces, identity_folds
from .degradations import (BlindDegradation, DegradationMode, DegradationParams, apply_degradation,
                           bicubic_downsample, blur_kernel, degrade, resize_bicubic,
                           sample_degradation)

__all__ = [
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
