"""Export every bundled student to ONNX, OpenVINO, ExecuTorch and TensorRT's Q/DQ ONNX on the verification suite,
re-verify a fresh-install export (bundled faces only) on the face folder, and tabulate every gate.

    python -m research.export_suite --faces ../shared/data/faces [--work /tmp/export_suite]

Runs ``fsr-edge export --model M --targets onnx,openvino,executorch,tensorrt --faces FACES`` for each student,
``fsr-edge export --builtin-faces`` for the default student followed by ``fsr-edge verify --faces FACES``, and
writes docs/results/export_suite.md and .json: target x precision x subset, mean and worst-face INT8 drop, the
minimum output PSNR vs the fp32 PyTorch reference, status. Reads the manifests; every number is the export's own.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "docs" / "results" / "export_suite"
STUDENTS = ("sesr-x8", "mskd-x8", "pisr-x8", "pisr-x4")
TARGETS = "onnx,openvino,executorch,tensorrt"


def _run(argv: list[str]) -> int:
    print("$ fsr-edge " + " ".join(argv), flush=True)
    return subprocess.run([sys.executable, "-m", "fsr_edge.cli", *argv]).returncode


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m research.export_suite", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--faces", type=Path, required=True)
    p.add_argument("--work", type=Path, default=Path("/tmp/export_suite"))
    p.add_argument("--model", action="append", default=None)
    args = p.parse_args(argv)
    students = args.model or list(STUDENTS)
    result, codes = {}, {}
    for name in students:
        dist = args.work / name
        codes[name] = _run(["export", "--model", name, "--targets", TARGETS, "--faces", str(args.faces),
                            "-o", str(dist), "--overwrite"])
        result[name] = json.loads((dist / "manifest.json").read_text())
    fresh = args.work / "fresh-install"
    codes["fresh-install export"] = _run(["export", "--targets", "onnx,openvino,executorch", "--builtin-faces",
                                          "-o", str(fresh), "--overwrite"])
    reverify = args.work / "fresh-install-reverify.json"
    reverify.unlink(missing_ok=True)
    codes["fresh-install verify"] = _run(["verify", str(fresh), "--faces", str(args.faces), "-o", str(reverify)])
    result["fresh-install re-verified"] = json.loads(reverify.read_text())

    md = ["# Export verification suite: every bundled student, every gate", "",
          f"Command: `python -m research.export_suite --faces {args.faces}`. Exit codes: "
          + ", ".join(f"{k} {v}" for k, v in codes.items()) + ".", "",
          "Gates per subset: fp32/fp16 min PSNR vs the fp32 PyTorch reference >= 45 dB on every face; INT8 mean drop "
          "<= 0.1 dB and worst-face drop <= 0.5 dB (unless INT8 adds under 1 8-bit level RMS of error to that face). "
          "`tensorrt-int8` is TensorRT's Q/DQ ONNX run in ONNX Runtime on "
          "the CPU (no CUDA here); `fresh-install` is the default student exported with no face folder (built-in "
          "calibration, bundled faces) and re-verified later on the face folder with `fsr-edge verify`.", "",
          ]
    from fsr_edge.exporters.reverify import suite_table

    for name in students:
        md += [f"## {name}", "", suite_table(result[name]["artifacts"])]
    md += ["## fresh install, re-verified on the face folder", "",
           suite_table(result["fresh-install re-verified"]["artifacts"])]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.with_suffix(".md").write_text("\n".join(md) + "\n")
    OUT.with_suffix(".json").write_text(json.dumps({"exit_codes": codes, **{
        k: [{"id": a["id"], "verification": a["verification"]} for a in v["artifacts"]] for k, v in result.items()}},
        indent=1, allow_nan=False) + "\n")
    print(f"wrote {OUT.with_suffix('.md')}")
    return 0 if not any(codes.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
