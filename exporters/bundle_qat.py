"""Make the bundled INT8 (QAT) state of a student, so INT8 export works on a fresh install without face data.

    python -m fsr_edge.exporters.bundle_qat --model mskd-x8 --faces ../shared/data/faces --steps 150

Steps: PTQ on a calibration set (train split, the stated rule) -> QAT: fine-tune the fake-quantized student
against the frozen fp32 student (distillation) and the ground truth, on faces with the training degradations ->
keep the QAT result only if its val PSNR (fake-quant, PyTorch) is at least the PTQ one -> write
``fsr_edge/models/weights/<model>_qat_int8.safetensors`` (NNCF config + state, the fp32 weights' sha256, the
numbers). ``fsr-edge export`` uses it only when that sha256 matches the student it exports.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch


def main(argv: list[str] | None = None) -> int:
    from fsr_edge.calibration import select_calibration_set
    from fsr_edge.models import load_model

    from .pipeline import _arch_of, bundled_qat_path
    from .quantize import qat_finetune, quantize_ptq, save_quantized, weights_sha256
    from .verify import EvalSet, val_psnr

    p = argparse.ArgumentParser(prog="python -m fsr_edge.exporters.bundle_qat", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="bundled student name (the file is named after it)")
    p.add_argument("--faces", type=Path, required=True)
    p.add_argument("--calibration-size", type=int, default=32)
    p.add_argument("--train-size", type=int, default=128, help="degraded training faces for QAT")
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--lr", type=float, default=1e-5)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("-o", "--output", type=Path, default=None, help="default: the bundled path for --model")
    args = p.parse_args(argv)

    torch.manual_seed(0)
    student = load_model(args.model).eval()
    hr_size = student.lr_size * student.scale
    calib = select_calibration_set(args.faces, size=args.calibration_size, scale=student.scale, hr_size=hr_size)
    # QAT faces: a larger draw by the same rule, with another seed (other degradations)
    train = select_calibration_set(args.faces, size=args.train_size, seed=1, scale=student.scale, hr_size=hr_size)
    eval_set = EvalSet.from_faces(args.faces, split="val", scale=student.scale, hr_size=hr_size)

    def val(model) -> float:
        with torch.no_grad():
            return val_psnr([model(torch.from_numpy(x)).numpy() for x in eval_set.lr_faces], eval_set)

    fp32 = val(student)
    q = quantize_ptq(student, calib)
    ptq = val(q)
    print(f"fp32 val {fp32:.3f} dB, PTQ (fake-quant) {ptq:.3f} dB")
    stats = qat_finetune(q, teacher=student, lr_faces=train.lr_faces(), hr_faces=train.hr_faces(), steps=args.steps,
                         lr=args.lr, batch_size=args.batch_size)
    qat = val(q)
    print(f"QAT (fake-quant) {qat:.3f} dB after {args.steps} steps (loss {stats['first_loss']:.5f} -> {stats['last_loss']:.5f})")
    if qat < ptq:
        print("QAT did not beat PTQ on val: bundling the PTQ state instead")
        q = quantize_ptq(student, calib)
    record = {"fp32_val_psnr_db": fp32, "ptq_val_psnr_db": ptq, "qat_val_psnr_db": qat, "kept": "qat" if qat >= ptq else "ptq",
              "steps": args.steps, "lr": args.lr, "batch_size": args.batch_size, "train_faces": len(train),
              "calibration_faces": len(calib), "faces": str(args.faces), "val": eval_set.source, **stats}
    out = args.output or bundled_qat_path(args.model)
    arch, kwargs = _arch_of(args.model)
    save_quantized(q, out, arch=arch, kwargs=kwargs, base_weights_sha256=weights_sha256(student),
                   metadata={"qat": json.dumps(record),
                             "calibration": json.dumps({"rule": calib.rule, "seed": calib.seed, "size": len(calib)})})
    print(f"wrote {out}: {json.dumps(record)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
