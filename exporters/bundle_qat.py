"""Make the bundled INT8 (QAT) state of a student, so INT8 export works on a fresh install without face data.

    python -m fsr_edge.exporters.bundle_qat --model sesr-x8 --faces ../shared/data/faces --steps 400 --lr 1e-4

Steps: PTQ on a calibration set (train split, the stated rule with its photometric spread; the input and the
bilinear skip pinned to [0, 1]) -> QAT: fine-tune the fake-quantized student against the frozen fp32 student
(distillation) and the ground truth, on a larger draw of train faces by the same rule -> score fp32, PTQ and QAT
(fake-quant, PyTorch) on the verification suite of ``--faces`` (val and wild, clean and blind, stress) -> keep
the one that fails fewer subsets' gates, then has the smaller largest worst-face drop, then mean drop -> write
``fsr_edge/models/weights/<model>_qat_int8.safetensors`` (NNCF config + state, the fp32 weights' sha256, the
numbers). ``fsr-edge export`` uses it only when that sha256 matches the student it exports. Wild faces choose,
they never train or calibrate.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch


def _badness(scores: dict) -> tuple[int, float, float]:
    """Subsets that fail their gates first, then the largest worst-face drop, then the largest mean drop."""
    return (sum(s["status"] != "passed" for s in scores.values()), max(s["worst_drop_db"] for s in scores.values()),
            max(s["mean_drop_db"] for s in scores.values()))


def main(argv: list[str] | None = None) -> int:
    from fsr_edge.calibration import select_calibration_set
    from fsr_edge.models import load_model

    from .pipeline import _arch_of, bundled_qat_path, verification_suite
    from .quantize import qat_finetune, quantize_ptq, save_quantized, weights_sha256
    from .verify import int8_scores

    p = argparse.ArgumentParser(prog="python -m fsr_edge.exporters.bundle_qat",
                                description="Make the bundled INT8 (QAT) state of a student.")
    p.add_argument("--model", required=True, help="bundled student name (the file is named after it)")
    p.add_argument("--faces", type=Path, required=True, help="face folder with manifest.csv (train/val/wild splits)")
    p.add_argument("--calibration-size", type=int, default=32, help="PTQ calibration faces (default 32)")
    p.add_argument("--train-size", type=int, default=128, help="degraded training faces for QAT (default 128)")
    p.add_argument("--steps", type=int, default=150, help="QAT steps (default 150)")
    p.add_argument("--lr", type=float, default=1e-5, help="QAT learning rate (default 1e-5)")
    p.add_argument("--batch-size", type=int, default=8, help="QAT batch size (default 8)")
    p.add_argument("-o", "--output", type=Path, default=None, help="default: the bundled path for --model")
    args = p.parse_args(argv)

    torch.manual_seed(0)
    student = load_model(args.model).eval()
    hr_size = student.lr_size * student.scale
    calib = select_calibration_set(args.faces, size=args.calibration_size, scale=student.scale, hr_size=hr_size)
    # QAT faces: a larger draw by the same rule, with another seed (other degradations and photometric changes)
    train = select_calibration_set(args.faces, size=args.train_size, seed=1, scale=student.scale, hr_size=hr_size)
    suite = verification_suite(args.faces, scale=student.scale, hr_size=hr_size)
    references = suite.references(student)

    q = quantize_ptq(student, calib)
    ptq = int8_scores(q, suite, references)
    stats = qat_finetune(q, teacher=student, lr_faces=train.lr_faces(), hr_faces=train.hr_faces(), steps=args.steps,
                         lr=args.lr, batch_size=args.batch_size)
    qat = int8_scores(q, suite, references)
    kept = "qat" if _badness(qat) <= _badness(ptq) else "ptq"
    print(f"{'subset':<12} {'PTQ mean/worst drop (dB)':>26} {'QAT mean/worst drop (dB)':>26}")
    for name in ptq:
        print(f"{name:<12} {ptq[name]['mean_drop_db']:>12.3f} {ptq[name]['worst_drop_db']:>12.3f} "
              f"{qat[name]['mean_drop_db']:>12.3f} {qat[name]['worst_drop_db']:>12.3f}")
    print(f"keeping {kept.upper()} (fewer failed subsets, then smaller largest worst-face drop)")
    if kept == "ptq":
        q = quantize_ptq(student, calib)
    record = {"kept": kept, "ptq": ptq, "qat": qat, "steps": args.steps, "lr": args.lr, "batch_size": args.batch_size,
              "train_faces": len(train), "calibration_faces": len(calib), "faces": str(args.faces),
              "suite": suite.describe(), "first_loss": stats["first_loss"], "last_loss": stats["last_loss"]}
    out = args.output or bundled_qat_path(args.model)
    arch, kwargs = _arch_of(args.model)
    save_quantized(q, out, arch=arch, kwargs=kwargs, base_weights_sha256=weights_sha256(student),
                   metadata={"qat": json.dumps(record),
                             "calibration": json.dumps({"rule": calib.rule, "seed": calib.seed, "size": len(calib)})})
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
