"""Why INT8 artifacts lost dB on faces unlike the studio ones, and what pinning the known ranges changes.

    python -m research.int8_ranges --faces ../shared/data/faces [--model mskd-x8 --model pisr-x8]

For each bundled student with a QAT state, the fake-quantized student (NNCF, PyTorch: the numbers the Q/DQ ONNX and
OpenVINO reproduce) is scored on the verification suite (val and wild, clean and blind, stress) four ways: the
stored quantizer ranges as calibrated, only the input quantizer pinned to [0, 1], only the bilinear skip's
quantizer pinned, and both pinned (what fsr_edge does). ExecuTorch's PT2E path is scored the same way with and
without fixed input qparams, calibrated on the same studio faces (train split, no photometric spread). Writes
docs/results/int8_ranges.md and .json: mean and worst-face INT8 drop per subset, and each quantizer's range.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

OUT = Path(__file__).resolve().parents[1] / "docs" / "results" / "int8_ranges"


def _pin_only(qmodel, node_names: set[str]) -> None:
    from fsr_edge.exporters.quantize import _activation_quantizers, _set_range

    for name, q in _activation_quantizers(qmodel):
        if name.rsplit("__", 1)[0] in node_names:
            _set_range(q, 0.0, 1.0)


def nncf_rows(name: str, suite, references) -> dict:
    from fsr_edge.exporters.pipeline import bundled_qat_path
    from fsr_edge.exporters.quantize import activation_ranges, load_quantized
    from fsr_edge.exporters.verify import int8_scores

    rows = {}
    variants = {"as calibrated": set(), "input pinned": {"lr_face"}, "skip pinned": {"/interpolate/0"},
                "both pinned": {"lr_face", "/interpolate/0"}}
    ranges = None
    for label, pinned in variants.items():
        q, _ = load_quantized(bundled_qat_path(name), pin_ranges=False)
        if ranges is None:
            ranges = {k: [round(v[0], 4), round(v[1], 4)] for k, v in activation_ranges(q).items()}
        _pin_only(q, pinned)
        rows[label] = int8_scores(q, suite, references)
    return {"stored_ranges": ranges, "rows": rows}


def pt2e_rows(student, calib, suite, references) -> dict:
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (XNNPACKQuantizer,
                                                                         get_symmetric_quantization_config)
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    from fsr_edge.exporters.executorch import pin_known_ranges
    from fsr_edge.exporters.verify import int8_scores

    rows = {}
    example = calib.lr_faces()[0]
    for label, pin in (("histogram observer on the input", False), ("fixed [0, 1] input qparams", True)):
        ep = torch.export.export(student, (example,))
        prepared = prepare_pt2e(ep.module(), XNNPACKQuantizer().set_global(
            get_symmetric_quantization_config(is_per_channel=True)))
        if pin:
            pin_known_ranges(prepared)
        with torch.no_grad():
            for x in calib.lr_faces():
                prepared(x)
        rows[label] = int8_scores(convert_pt2e(prepared), suite, references)
    return rows


def _table(rows: dict, subsets: list[str]) -> list[str]:
    lines = ["| variant | " + " | ".join(subsets) + " |", "|---|" + "---|" * len(subsets)]
    for label, scores in rows.items():
        cells = [f"{scores[s]['mean_drop_db']:.3f} / {scores[s]['worst_drop_db']:.3f}" for s in subsets]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    from fsr_edge.calibration import select_calibration_set
    from fsr_edge.exporters.pipeline import verification_suite
    from fsr_edge.models import load_model
    from fsr_edge.io import atomic_write_json, atomic_write_text

    p = argparse.ArgumentParser(prog="python -m research.int8_ranges", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--faces", type=Path, required=True)
    p.add_argument("--model", action="append", default=None, help="bundled students with a QAT state")
    args = p.parse_args(argv)
    models = args.model or ["mskd-x8", "pisr-x8"]
    result, md = {}, ["# INT8 ranges: calibrated vs pinned", "",
                      f"Command: `python -m research.int8_ranges --faces {args.faces}`"
                      + "".join(f" --model {m}" for m in models) + ".",
                      "Cells: mean / worst-face INT8 PSNR drop (dB) vs the fp32 student, per subset; gates 0.1 / 0.5.",
                      ""]
    for name in models:
        student = load_model(name)
        hr = student.lr_size * student.scale
        suite = verification_suite(args.faces, scale=student.scale, hr_size=hr)
        refs = suite.references(student)
        subsets = [s.name for s in suite.subsets]
        nncf = nncf_rows(name, suite, refs)
        studio = select_calibration_set(args.faces, size=32, scale=student.scale, hr_size=hr, photometric=False)
        pt2e = pt2e_rows(student, studio, suite, refs)
        result[name] = {"nncf_qat_state": nncf, "executorch_pt2e": pt2e, "suite": suite.describe()}
        rng = nncf["stored_ranges"]
        md += [f"## {name}", "", f"Stored ranges of the bundled QAT state: input `lr_face` {rng.get('lr_face')}, "
               f"bilinear skip {rng.get('/interpolate/0')}.", "", "NNCF (Q/DQ ONNX, OpenVINO):", "",
               *_table(nncf["rows"], subsets), "", "ExecuTorch PT2E, calibrated on 32 studio train faces:", "",
               *_table(pt2e, subsets), ""]
        print("\n".join(md[-14:]), flush=True)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(OUT.with_suffix(".json"), result, allow_nan=False)
    atomic_write_text(OUT.with_suffix(".md"), "\n".join(md) + "\n")
    print(f"wrote {OUT.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
