"""Calibration sets for quantization: a stated selection rule over real faces (or a built-in face), the training
degradations, a JSON manifest (path + sha256 + seed + degradation), and one loader for NNCF, PT2E and Core ML.

    calib = select_calibration_set("../shared/data/faces", size=32, seed=0)   # or builtin_calibration_set()
    calib.save("calib.json"); calib = CalibrationSet.load("calib.json")
    nncf.quantize(model, calib.to_nncf());  for (x,) in calib.to_pt2e(): prepared(x)
"""

from .sets import (BUILTIN_ROOT, CalibrationItem, CalibrationSet, astronaut_face, builtin_calibration_set,
                   select_calibration_set)

__all__ = ["BUILTIN_ROOT", "CalibrationItem", "CalibrationSet", "astronaut_face", "builtin_calibration_set",
           "select_calibration_set"]
