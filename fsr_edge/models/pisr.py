"""PISR (Lee et al., ECCV 2020): a teacher that sees the HR face, distilled into an FSRCNN-style student.

Teacher: encoder G^T (4 conv + PReLU; the 2nd conv strided by the scale) compresses the HR face to an
LR-sized 3-channel map, decoder F^T (FSRCNN, same structure as the student) reconstructs HR from it.
Student: exactly the decoder's structure, fed the real LR face. The distillation head (mu, b) lives in the
training method (``fsr_edge.training.pisr``), never in the shipped student.

Builders: ``pisr_student_x4/x8`` (the student and the w/o-KD baselines), ``pisr_teacher_x4/x8``.
Bundled names: ``pisr-x4``, ``pisr-x8`` (students), ``pisr-teacher-x4/x8``, when their weights are in
``weights/``. The w/o-KD ablations' weights are research material (research/weights/, not installed).
"""

from __future__ import annotations

from torch import Tensor, nn

from ._registry import WEIGHTS_DIR, register_model, register_pretrained
from .fsrcnn import FSRCNN

# The student/decoder shape per scale: FSRCNN's structure (extract d, shrink s, m x map, expand d) with a
# pixel-shuffle output and a bilinear skip (trains faster than the deconv). x8 has a deeper, wider mapping:
# FSRCNN's own (d=56, s=12, m=4) sees 15 LR px and plateaued 1.2 dB short of the +3 dB target. Measured here
# (w/o KD, clean, 1000 steps, val): s24/m4 27.67 dB, s32/m8 28.14, s48/m8 28.45 (28.59 with He init), s32/m12
# 28.45, s32/m16 28.45: width pays, depth beyond 8 does not (docs/results/pisr.md, "Student shape").
# x4 keeps the shape its bundled weights were trained with.
STUDENT_SHAPES = {
    4: dict(d=56, s=24, m=4, upsampler="pixelshuffle", skip=True),
    8: dict(d=56, s=64, m=8, upsampler="pixelshuffle", skip=True),
}


class PISREncoder(nn.Module):
    """G^T: (B, 3, H, W) HR face -> (B, 3, H/scale, W/scale) "compressed" map trained to look like the clean LR face."""

    def __init__(self, scale: int, *, hr_channels: int = 16, lr_channels: int = 64):
        super().__init__()
        self.scale = scale
        # Only the first conv runs at HR resolution, so it stays narrow; the strided conv sees one scale x scale
        # patch per LR pixel (a learned, content-aware downsampler).
        self.body = nn.Sequential(
            nn.Conv2d(3, hr_channels, 3, padding=1), nn.PReLU(hr_channels),
            nn.Conv2d(hr_channels, lr_channels, scale, stride=scale), nn.PReLU(lr_channels),
            nn.Conv2d(lr_channels, lr_channels, 3, padding=1), nn.PReLU(lr_channels),
            nn.Conv2d(lr_channels, 3, 3, padding=1),
        )

    def forward(self, hr_face: Tensor) -> Tensor:
        return self.body(hr_face)


class PISRTeacher(nn.Module):
    """Autoencoder with privileged information: ``sr_face = teacher(hr_face)`` (it SEES the HR face).

    Under the registry's contract it is an HR -> HR model: ``scale`` is 1 and ``lr_size`` (its input side) is
    ``hr_size``; ``sr_scale`` is the SR factor of its decoder. ``forward_features(hr_face) -> (sr_face, feats)``:
    the decoder's features (same indices and ``feature_info`` as the student's); ``encoder(hr_face)`` is the
    LR-sized map the decoder reads.
    """

    def __init__(self, scale: int, *, hr_size: int = 256, hr_channels: int = 16, lr_channels: int = 64,
                 **decoder_kw):
        super().__init__()
        self.sr_scale, self.scale, self.lr_size = scale, 1, hr_size
        self.encoder = PISREncoder(scale, hr_channels=hr_channels, lr_channels=lr_channels)
        self.decoder = FSRCNN(scale, lr_size=hr_size // scale, **{**STUDENT_SHAPES[scale], **decoder_kw})
        # the decoder's maps are LR-sized, and the teacher's output is HR-sized: same reductions as the student
        self.feature_info = [{**info, "module": f"decoder.{info['module']}"} for info in self.decoder.feature_info]

    def forward_features(self, hr_face: Tensor) -> tuple[Tensor, list[Tensor]]:
        return self.decoder.forward_features(self.encoder(hr_face))

    def forward(self, hr_face: Tensor) -> Tensor:
        return self.forward_features(hr_face)[0]


@register_model
def pisr_student_x4(**kw) -> FSRCNN:
    return FSRCNN(scale=4, **{**STUDENT_SHAPES[4], **kw})


@register_model
def pisr_student_x8(**kw) -> FSRCNN:
    return FSRCNN(scale=8, **{**STUDENT_SHAPES[8], **kw})


@register_model
def pisr_teacher_x4(**kw) -> PISRTeacher:
    return PISRTeacher(scale=4, **kw)


@register_model
def pisr_teacher_x8(**kw) -> PISRTeacher:
    return PISRTeacher(scale=8, **kw)


def _register_bundled() -> None:
    """Register the bundled names whose weights ship in this install (trained by recipes/pisr_*.yaml)."""
    for scale in (4, 8):
        bundled = {
            f"pisr-x{scale}": (f"pisr_student_x{scale}", f"pisr_x{scale}.safetensors",
                               f"PISR student x{scale} (FSRCNN-style, distilled from the HR-seeing teacher)"),
            f"pisr-teacher-x{scale}": (f"pisr_teacher_x{scale}", f"pisr_teacher_x{scale}.safetensors",
                                       f"PISR teacher x{scale}: autoencoder whose INPUT IS THE HR FACE (training only)"),
        }
        for name, (arch, weights, description) in bundled.items():
            if (WEIGHTS_DIR / weights).exists():
                register_pretrained(name, arch=arch, weights=weights, description=description,
                                    training_only=arch.startswith("pisr_teacher"))  # its input is the HR face


_register_bundled()
