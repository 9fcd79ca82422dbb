"""MSKD (adversarial multi-scale feature distillation from a dictionary teacher): the paper's student and the
bundled MSKD models. Their training methods live in ``fsr_edge.training.mskd``.

Builder: ``mskd_paper_student_x8`` (the DFDNet teacher's U-Net without RoIAlign, CAdaIN and confidence).
Bundled names: ``mskd-x8`` (the recipe's edge student, ``edge_sr_x8``) and ``mskd-teacher-x8``
(``dfdnet_teacher_x8`` with its fp16 dictionary), when their weights are in ``weights/``.
"""

from __future__ import annotations

from ._registry import register_model, register_pretrained
from .dfdnet import SFTUNet

__all__ = ["MSKDPaperStudent", "mskd_paper_student_x8"]


class MSKDPaperStudent(SFTUNet):
    """The paper's student: the teacher's VGG19/SFT U-Net with RoIAlign, CAdaIN and confidence removed (the
    SFT layers are conditioned on the encoder features directly). No landmarks, no dictionary."""


@register_model
def mskd_paper_student_x8(**kw) -> MSKDPaperStudent:
    return MSKDPaperStudent(scale=8, **kw)


def _register_bundled() -> None:
    """Bundled names whose weights ship in this install (trained by recipes/mskd_*.yaml)."""
    import json

    from ._registry import WEIGHTS_DIR

    if (WEIGHTS_DIR / "mskd_x8.safetensors").exists():
        register_pretrained("mskd-x8", arch="edge_sr_x8", weights="mskd_x8.safetensors",
                            description="MSKD recipe's edge student x8 (EdgeSR), distilled from the DFDNet-style teacher "
                                        "at its 1/2-scale features (SSKD)")
    spec = WEIGHTS_DIR / "mskd_teacher_x8.json"     # the teacher's kwargs: dictionary shards, decoder width
    if (WEIGHTS_DIR / "mskd_teacher_x8.safetensors").exists() and spec.exists():
        kwargs = json.loads(spec.read_text())
        if all((WEIGHTS_DIR / f).exists() for f in kwargs.get("dictionary", [])):
            register_pretrained("mskd-teacher-x8", arch="dfdnet_teacher_x8", weights="mskd_teacher_x8.safetensors",
                                description="MSKD teacher x8: DFDNet-style, VGG19 encoder + fp16 component "
                                            "dictionary, own dlib landmark step", **kwargs)


_register_bundled()
