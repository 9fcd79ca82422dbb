"""Core ML (coremltools' MLModel): prediction exists on macOS only."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from . import Infer, RuntimeUnavailable, Session


def unavailable(*, device: str = "cpu") -> str | None:
    if sys.platform != "darwin":
        return "Core ML prediction needs macOS (the export step checked the spec on Linux)"
    return None


def load(path: str | Path, session: Session) -> tuple[Infer, dict]:
    why = unavailable(device=session.device)
    if why:
        raise RuntimeUnavailable(why)
    import coremltools as ct

    model = ct.models.MLModel(str(path))
    in_name = model.get_spec().description.input[0].name
    out_name = model.get_spec().description.output[0].name
    return ((lambda x: np.asarray(model.predict({in_name: x})[out_name], dtype=np.float32)),
            {"coremltools": ct.__version__})
