"""Faces in photos: detection + 68 landmarks (dlib), FFHQ-style alignment, paste-back, identity embedding.

Needs the ``fsr_edge[faces]`` extra (dlib-bin + face_recognition_models); dlib is imported on first use and
its models load once per process. Images: (H, W, C) float32 in [0, 1] (uint8 also accepted for detection);
coordinates are pixels with pixel centres on integers.

    faces = detect_faces(photo)                                   # largest first
    aligned = align_face(photo, faces[0].landmarks68, size=32)    # crop + photo->crop matrix
    photo_x8 = paste_face(upscaled_photo, sr_face, aligned.matrix, scale=8)

Video frames and apps (uint8 frames that keep their size; OpenCV warps, tracking, One-Euro landmarks):

    pipe = FacePipeline(model, detect_every=5, smooth=True)
    restored = pipe(frame, t).frame
"""

from .align import AlignedFace, align_face, face_mask, ffhq_matrix, paste_face
from .detect import ALIGNED_FACE_BOX, Detector, Face, detect_faces, landmarks68
from .frames import FacePipeline, FrameResult
from .identity import identity_distance, identity_embedding, identity_similarity
from .pipeline import UpscaledPhoto, bicubic_upscale, check_upscaled_size, lr_face_from_photo, upscale_aligned, upscale_photo
from .smoothing import OneEuroFilter

__all__ = ["ALIGNED_FACE_BOX", "AlignedFace", "Detector", "Face", "FacePipeline", "FrameResult", "OneEuroFilter",
           "align_face", "detect_faces", "face_mask", "ffhq_matrix",
           "identity_distance", "identity_embedding", "identity_similarity", "landmarks68", "paste_face", "UpscaledPhoto", "bicubic_upscale",
           "check_upscaled_size", "lr_face_from_photo", "upscale_aligned", "upscale_photo"]
