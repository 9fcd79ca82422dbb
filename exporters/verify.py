"""Verify an exported artifact against the fp32 PyTorch student on a suite of face sets, each gated on its own.

A suite (``VerificationSuite``) is a list of subsets (``EvalSet``): LR faces, their HR faces, names. With a face
folder: ``val-clean``, ``val-blind``, ``wild-clean``, ``wild-blind`` (every check-only split the folder has) and
``stress``; without one: the bundled London val faces (``fsr_edge/data/bundled_faces``), clean and blind, and
the stress set made from them. The stress set takes the first ``STRESS_FACES`` faces of the val subset through
every case of ``fsr_edge.data.photometric``: dark, bright, overexposed, low and high contrast, saturated
colour, white and black backgrounds, a full-range ramp (HR side, then clean LR), noise and heavy JPEG (LR side).

Per artifact and per subset, from the saved file run in its own runtime, face by face:
  - ``psnr_vs_reference_db``: the artifact's raw output vs the fp32 PyTorch output on the same LR face.
    fp32 / fp16 artifacts: the **minimum** over faces must reach ``MIN_PSNR_VS_REFERENCE_DB``.
  - drop: fp32 PyTorch PSNR vs the HR face minus the artifact's PSNR vs the HR face (outputs clamped to
    [0, 1], as a user sees them). INT8 artifacts: the **mean** drop <= ``MAX_INT8_DROP_DB`` and the **worst**
    face's drop <= ``MAX_INT8_WORST_DROP_DB``, unless the error INT8 adds to that face is under
    ``MAX_INT8_ADDED_RMS_LEVELS`` 8-bit levels RMS: a drop in dB is relative, and on a face the fp32 student
    restores almost exactly (the stress set's ramp, ~47 dB) a 1.6 dB drop is 0.75 levels of added error, while
    on a face at 25 dB a 0.5 dB drop is 5 levels. The floor only matters above ~39 dB, where 0.5 dB is 1 level.
  - any non-finite output fails the artifact.
A subset with no HR faces (an extra export shape) gates INT8 on ``MIN_INT8_PSNR_VS_REFERENCE_DB`` instead.
An artifact that misses any gate on any subset is ``failed`` with the subset and the reason; one whose runtime
does not exist here is ``skipped`` with the reason. PSNR is scikit-image's ``peak_signal_noise_ratio``, data
range 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from .artifact import Artifact, Precision, RuntimeUnavailable

MIN_PSNR_VS_REFERENCE_DB = 45.0
MAX_INT8_DROP_DB = 0.1
MAX_INT8_WORST_DROP_DB = 0.5
MAX_INT8_ADDED_RMS_LEVELS = 1.0   # sqrt(MSE_int8 - MSE_fp32) in 8-bit levels: below it a face's drop is not a loss
# INT8 on faces with no ground truth (extra export shapes): output vs the fp32 reference.
MIN_INT8_PSNR_VS_REFERENCE_DB = 30.0
PSNR_CAP_DB = 200.0   # bit-identical outputs: JSON has no infinity
# What a runtime re-running the golden input must reach against the stored golden output, the fp32 PyTorch
# reference (INT8 and fp16 kernels round differently on each CPU, hence the lower bars).
GOLDEN_MIN_PSNR_DB = {Precision.FP32: 45.0, Precision.FP16: 35.0, Precision.INT8: 30.0}
STRESS_FACES = 6
THRESHOLDS = {"min_psnr_vs_reference_db": MIN_PSNR_VS_REFERENCE_DB, "max_int8_drop_db": MAX_INT8_DROP_DB,
              "max_int8_worst_drop_db": MAX_INT8_WORST_DROP_DB, "max_int8_added_rms_levels": MAX_INT8_ADDED_RMS_LEVELS,
              "min_int8_psnr_vs_reference_db_without_ground_truth": MIN_INT8_PSNR_VS_REFERENCE_DB}


@dataclass
class EvalSet:
    """LR faces (1, 3, h, w) and their HR faces (1, 3, H, W), float32 numpy, RGB [0, 1]."""

    lr_faces: list[np.ndarray]
    hr_faces: list[np.ndarray]
    names: list[str]
    source: str           # human-readable: which faces, which degradation
    name: str = "val"     # the subset's name in a suite, e.g. "wild-blind"

    @classmethod
    def from_faces(cls, root: str | Path, *, split: str = "val", scale: int = 8, hr_size: int = 256,
                   mode: str = "blind", seed: int = 0, limit: int | None = None) -> "EvalSet":
        from fsr_edge.data import FaceDataset

        ds = FaceDataset(root, split=split, hr_size=hr_size, scale=scale, degradation=mode, train=False, seed=seed,
                         preload=False, progress=False)
        n = len(ds) if limit is None else min(limit, len(ds))
        items = [ds[i] for i in range(n)]
        return cls([it["lr_face"][None].numpy() for it in items], [it["hr_face"][None].numpy() for it in items],
                   [it["name"] for it in items], f"{root} split={split}, {n} faces, degradation={mode} seed={seed}",
                   name=f"{split}-{mode}")

    @classmethod
    def builtin(cls, *, scale: int = 8, hr_size: int = 256, mode: str = "blind", seed: int = 0) -> "EvalSet":
        """The bundled quality set: 24 London val faces (CC BY 4.0) that ship with the package."""
        from fsr_edge.data import BUNDLED_FACES

        ev = cls.from_faces(BUNDLED_FACES, split="val", scale=scale, hr_size=hr_size, mode=mode, seed=seed)
        ev.source = (f"bundled London val faces (fsr_edge/data/bundled_faces, CC BY 4.0), {len(ev.names)} faces, "
                     f"degradation={mode} seed={seed}")
        return ev

    def resized(self, lr_size: int) -> "EvalSet":
        """The same faces at another LR size (for extra export shapes): reference comparison only."""
        from fsr_edge.data import resize_bicubic

        lr = [resize_bicubic(torch.from_numpy(x), lr_size).numpy() for x in self.lr_faces]
        return EvalSet(lr, [], self.names, self.source + f", LR resized to {lr_size}x{lr_size}", name=self.name)


def stress_set(base: EvalSet, *, scale: int, seed: int = 0, faces: int = STRESS_FACES) -> EvalSet:
    """Every stress case of ``fsr_edge.data.photometric`` applied to the first ``faces`` HR faces of ``base``."""
    from fsr_edge.data import bicubic_downsample
    from fsr_edge.data.photometric import STRESS_CASES, STRESS_LR_CASES, stress_lr

    lr_faces, hr_faces, names = [], [], []
    for i, (hr, face_name) in enumerate(zip(base.hr_faces[:faces], base.names[:faces])):
        hr_t = torch.from_numpy(hr[0])
        for case, change in STRESS_CASES.items():
            if case == "ramp" and i:           # one test card is enough: it is the same for every face
                continue
            hr_case = change(hr_t).contiguous()
            lr_faces.append(bicubic_downsample(hr_case, scale)[None].numpy())
            hr_faces.append(hr_case[None].numpy())
            names.append(f"{case}/{face_name}")
        clean_lr = bicubic_downsample(hr_t, scale)
        for j, case in enumerate(STRESS_LR_CASES):
            lr_faces.append(stress_lr(clean_lr, case, seed=(seed, i, j))[None].numpy())
            hr_faces.append(hr)
            names.append(f"{case}/{face_name}")
    cases = ", ".join([*STRESS_CASES, *STRESS_LR_CASES])
    return EvalSet(lr_faces, hr_faces, names, f"stress set from {min(faces, len(base.names))} faces of "
                   f"{base.name} ({cases}), {len(names)} images", name="stress")


@dataclass
class VerificationSuite:
    """The subsets every artifact is verified on, each gated on its own."""

    subsets: list[EvalSet] = field(default_factory=list)

    @classmethod
    def from_faces(cls, root: str | Path, *, scale: int, hr_size: int, seed: int = 0,
                   splits: tuple[str, ...] = ("val", "wild"), modes: tuple[str, ...] = ("clean", "blind"),
                   stress: bool = True) -> "VerificationSuite":
        """Each of ``splits`` the folder's manifest has, in each degradation mode, plus the stress set."""
        from fsr_edge.data import find_faces
        from fsr_edge.errors import ConfigError

        subsets = []
        for split in splits:
            try:
                find_faces(root, split=split)
            except ConfigError:
                continue                       # a folder without this split: verify on the others
            subsets.extend(EvalSet.from_faces(root, split=split, scale=scale, hr_size=hr_size, mode=mode, seed=seed)
                           for mode in modes)
        if not subsets:
            raise ConfigError(f"{root}: none of the splits {', '.join(splits)} to verify on")
        if stress:
            subsets.append(stress_set(subsets[0], scale=scale, seed=seed))
        return cls(subsets)

    @classmethod
    def bundled(cls, *, scale: int, hr_size: int, seed: int = 0, stress: bool = True) -> "VerificationSuite":
        """The bundled London val faces, clean and blind, and the stress set made from them."""
        subsets = [EvalSet.builtin(scale=scale, hr_size=hr_size, mode=mode, seed=seed) for mode in ("clean", "blind")]
        if stress:
            subsets.append(stress_set(subsets[0], scale=scale, seed=seed))
        return cls(subsets)

    def describe(self) -> str:
        return "; ".join(f"{s.name}: {s.source}" for s in self.subsets)

    def resized(self, lr_size: int) -> "VerificationSuite":
        return VerificationSuite([s.resized(lr_size) for s in self.subsets])

    def references(self, model: nn.Module) -> list[list[np.ndarray]]:
        return [reference_outputs(model, s) for s in self.subsets]

    @property
    def golden_input(self) -> np.ndarray:
        return self.subsets[0].lr_faces[0]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    from skimage.metrics import peak_signal_noise_ratio

    if np.array_equal(a, b):
        return PSNR_CAP_DB
    return min(PSNR_CAP_DB, float(peak_signal_noise_ratio(b.astype(np.float64), a.astype(np.float64), data_range=1.0)))


def reference_outputs(model: nn.Module, eval_set: EvalSet) -> list[np.ndarray]:
    with torch.no_grad():
        return [model(torch.from_numpy(x)).numpy() for x in eval_set.lr_faces]


def face_psnrs(outputs: list[np.ndarray], eval_set: EvalSet) -> list[float]:
    """Per face: PSNR of the output, clamped to [0, 1], vs the HR face."""
    return [psnr(np.clip(o, 0, 1), hr) for o, hr in zip(outputs, eval_set.hr_faces)]


def added_rms_levels(psnr_db: float, fp32_psnr_db: float) -> float:
    """The error an artifact adds to a face over the fp32 student's, as 8-bit levels RMS, from the two PSNRs
    (data range 1): 255 sqrt(max(0, MSE - MSE_fp32))."""
    return 255.0 * float(np.sqrt(max(0.0, 10 ** (-psnr_db / 10) - 10 ** (-fp32_psnr_db / 10))))


def val_psnr(outputs: list[np.ndarray], eval_set: EvalSet) -> float | None:
    if not eval_set.hr_faces:
        return None
    return float(np.mean(face_psnrs(outputs, eval_set)))


def check_subset(precision: Precision, outputs: list[np.ndarray], reference: list[np.ndarray],
                 eval_set: EvalSet) -> dict:
    """One subset's record: per-face numbers reduced to the gated ones, with ``status`` and ``reason``."""
    vs_ref = [psnr(o, r) for o, r in zip(outputs, reference)]
    record: dict = {"faces": len(outputs), "source": eval_set.source,
                    "min_psnr_vs_reference_db": _r(min(vs_ref)), "mean_psnr_vs_reference_db": _r(np.mean(vs_ref)),
                    "psnr_db": None, "fp32_psnr_db": None, "mean_drop_db": None, "worst_drop_db": None,
                    "worst_face": None}
    problems = []
    if not all(np.all(np.isfinite(o)) for o in outputs):
        problems.append("non-finite outputs")
    if eval_set.hr_faces:
        own, ref = face_psnrs(outputs, eval_set), face_psnrs(reference, eval_set)
        drops = np.array(ref) - np.array(own)
        worst = int(np.argmax(drops))
        added = [added_rms_levels(o, r) for o, r in zip(own, ref)]
        record.update(psnr_db=_r(np.mean(own)), fp32_psnr_db=_r(np.mean(ref)), mean_drop_db=_r(drops.mean()),
                      worst_drop_db=_r(drops[worst]), worst_face=eval_set.names[worst],
                      worst_face_added_rms_levels=_r(added[worst]))
        if eval_set.name == "stress":          # which case hurts: the stress set's names are "case/face"
            cases: dict[str, list[float]] = {}
            for name, d in zip(eval_set.names, drops):
                cases.setdefault(name.split("/", 1)[0], []).append(float(d))
            record["mean_drop_db_by_case"] = {k: _r(np.mean(v)) for k, v in cases.items()}
    if precision is Precision.INT8:
        if record["mean_drop_db"] is not None:
            if record["mean_drop_db"] > MAX_INT8_DROP_DB:
                problems.append(f"mean PSNR drop {record['mean_drop_db']:.3f} dB > {MAX_INT8_DROP_DB} dB")
            # the worst face that both drops too far and adds a visible error
            lost = [i for i in range(len(drops))
                    if drops[i] > MAX_INT8_WORST_DROP_DB and added[i] > MAX_INT8_ADDED_RMS_LEVELS]
            if lost:
                i = max(lost, key=lambda k: drops[k])
                problems.append(f"worst-face drop {drops[i]:.3f} dB > {MAX_INT8_WORST_DROP_DB} dB, adding "
                                f"{added[i]:.2f} 8-bit levels RMS > {MAX_INT8_ADDED_RMS_LEVELS} ({eval_set.names[i]})")
        elif min(vs_ref) < MIN_INT8_PSNR_VS_REFERENCE_DB:
            problems.append(f"output PSNR vs reference {min(vs_ref):.2f} dB < {MIN_INT8_PSNR_VS_REFERENCE_DB} dB "
                            "(no ground truth to judge the drop)")
    elif min(vs_ref) < MIN_PSNR_VS_REFERENCE_DB:
        worst = eval_set.names[int(np.argmin(vs_ref))]
        problems.append(f"output PSNR vs reference {min(vs_ref):.2f} dB < {MIN_PSNR_VS_REFERENCE_DB} dB ({worst})")
    record.update(status="failed" if problems else "passed", reason="; ".join(problems))
    return record


def int8_scores(run: Callable, suite: "VerificationSuite", references: list[list[np.ndarray]]) -> dict:
    """Per subset, the INT8 gates' numbers for a model run in PyTorch (e.g. a fake-quantized student):
    {subset: {psnr_db, mean_drop_db, worst_drop_db, worst_face, status}}."""
    out = {}
    with torch.no_grad():
        for subset, ref in zip(suite.subsets, references):
            outputs = [run(torch.from_numpy(x)).numpy() for x in subset.lr_faces]
            rec = check_subset(Precision.INT8, outputs, ref, subset)
            out[subset.name] = {k: rec[k] for k in ("psnr_db", "mean_drop_db", "worst_drop_db", "worst_face", "status")}
    return out


def verify(artifact: Artifact, runner: Callable[[np.ndarray], np.ndarray] | None, suite: VerificationSuite,
           references: list[list[np.ndarray]], *, skip_reason: str = "") -> tuple[dict, list[np.ndarray] | None]:
    """(verification record for the manifest, the artifact's outputs on the suite's first subset, or None).

    The record's top-level numbers summarise the subsets: ``psnr_vs_reference_db`` the minimum over every face,
    ``val_psnr_db`` / ``fp32_val_psnr_db`` the first subset's means, ``drop_db`` / ``worst_drop_db`` the largest
    mean and worst-face drops of any subset; ``subsets`` holds each subset's record."""
    first = suite.subsets[0]
    record = {"status": "skipped", "reason": skip_reason, "psnr_vs_reference_db": None, "val_psnr_db": None,
              "fp32_val_psnr_db": _r(val_psnr(references[0], first)), "drop_db": None, "worst_drop_db": None,
              "faces": suite.describe(), "thresholds": dict(THRESHOLDS), "subsets": {}}
    if runner is None:
        return record, None
    first_outputs = None
    for eval_set, reference in zip(suite.subsets, references):
        try:
            outputs = [np.asarray(runner(x), dtype=np.float32) for x in eval_set.lr_faces]
        except RuntimeUnavailable as err:
            record["reason"] = str(err)
            return record, None
        except Exception as err:  # a runtime that rejects its own file is a failed artifact, not a crash
            record.update(status="failed",
                          reason=f"runtime error: {type(err).__name__}: {str(err).splitlines()[0][:200]}")
            return record, None
        bad_shape = next((o.shape for o, r in zip(outputs, reference) if o.shape != r.shape), None)
        if bad_shape is not None:
            record.update(status="failed", reason=f"output shape {bad_shape} != reference {reference[0].shape}")
            return record, outputs
        record["subsets"][eval_set.name] = check_subset(artifact.precision, outputs, reference, eval_set)
        first_outputs = outputs if first_outputs is None else first_outputs
    subs = record["subsets"].values()
    record["psnr_vs_reference_db"] = min(s["min_psnr_vs_reference_db"] for s in subs)
    record["val_psnr_db"] = record["subsets"][first.name]["psnr_db"]
    drops = [s["mean_drop_db"] for s in subs if s["mean_drop_db"] is not None]
    worst = [s["worst_drop_db"] for s in subs if s["worst_drop_db"] is not None]
    record["drop_db"] = max(drops) if drops else None
    record["worst_drop_db"] = max(worst) if worst else None
    failed = [f"{name}: {s['reason']}" for name, s in record["subsets"].items() if s["status"] == "failed"]
    record.update(status="failed" if failed else "passed", reason="; ".join(failed))
    return record, first_outputs


def _r(x: float | None) -> float | None:
    if x is None:
        return None
    return round(float(x), 4)
