"""fsr-edge export: the student to ONNX / OpenVINO / ExecuTorch / Core ML / TensorRT, each verified against
PyTorch on real faces, with DIST/manifest.json (schema in fsr_edge.exporters.manifest). Other libraries'
warnings and progress bars are held back (--verbose shows them).

Exit status: 0 when every produced artifact passed (or was skipped with a reason), 1 when any failed.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

DEFAULT_FACES = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "faces"


def add_parser(sub, name):
    from ..targets import TARGETS

    names = ",".join(t.name for t in TARGETS)
    p = sub.add_parser(name, help="export the student to edge runtimes, verify each artifact, write a manifest",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="bundled name or .safetensors (default: the bundled student, "
                   "fsr_edge.exporters.DEFAULT_STUDENT or its fallback)")
    p.add_argument("--targets", default=names, help=f"comma list of {names.replace(',', ', ')} (default: all)")
    p.add_argument("--precision", default="fp32,fp16,int8",
                   help="comma list of fp32, fp16, int8 (each target exports the ones it offers)")
    p.add_argument("-o", "--output", required=True, type=Path, help="output folder (DIST)")
    p.add_argument("--faces", type=Path, default=None,
                   help="aligned face folder with manifest.csv: val and wild splits (clean, blind) and a stress set verify, "
                        "train split calibrates "
                        f"(default: $FSR_EDGE_FACES or {DEFAULT_FACES} if present, else the bundled faces)")
    p.add_argument("--builtin-faces", action="store_true",
                   help="ignore face folders: calibrate on the built-in face, verify on the bundled faces (what a "
                        "fresh install does)")
    p.add_argument("--calibration", type=Path, default=None, help="calibration manifest from `fsr-edge calibrate`")
    p.add_argument("--calibration-size", type=int, default=32, help="faces to calibrate on (default 32)")
    p.add_argument("--qat-state", default="auto",
                   help="'auto' (the bundled QAT state when it fits the weights, else PTQ), 'none' (PTQ), or a file")
    p.add_argument("--shapes", default=None, help="extra LR input shapes, e.g. 32x32,48x48 (default: the model's)")
    p.add_argument("--android-demo", type=Path, default=None,
                   help="also install the artifacts into this Android demo folder (fsr_edge.android)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing DIST/manifest.json")
    p.add_argument("--seed", type=int, default=0, help="seed of the LR degradations and calibration picks (default 0)")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="also show other libraries' warnings, log lines and progress bars (held back by default)")
    return p


def _default_faces() -> Path | None:
    for cand in (os.environ.get("FSR_EDGE_FACES"), DEFAULT_FACES):
        if cand and (Path(cand) / "manifest.csv").exists():
            return Path(cand)
    return None


def run(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ..exporters import default_student, export_student

    model = args.model or default_student()
    if args.faces is not None and not (args.faces / "manifest.csv").exists():
        raise ConfigError(f"--faces {args.faces}: no manifest.csv there (an aligned face folder with train/val "
                          "splits is needed; leave --faces out to use the bundled faces)")
    faces = None if args.builtin_faces else (args.faces or _default_faces())
    shapes = None
    if args.shapes:
        try:
            shapes = [tuple(int(v) for v in s.lower().split("x")) for s in args.shapes.split(",")]
        except ValueError:
            raise ConfigError(f"--shapes {args.shapes!r}: expected HxW[,HxW...], e.g. 32x32,48x48") from None
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    precisions = [p.strip() for p in args.precision.split(",") if p.strip()]
    from ..exporters.artifact import Precision
    from ..targets import names

    for t in targets:
        if t not in names():
            raise ConfigError(f"--targets: unknown target {t!r} (choose from {', '.join(names())})")
    for p in precisions:
        if p not in {x.value for x in Precision}:
            raise ConfigError(f"--precision: unknown precision {p!r} (choose from fp32, fp16, int8)")
    from ._quiet import Quiet

    from ..io import output_folder

    output_folder(args.output)
    print(f"exporting {model} -> {args.output}")
    with Quiet(verbose=args.verbose) as quiet:
        manifest = export_student(model, args.output, targets=targets, precisions=precisions, faces_dir=faces,
                                  calibration=args.calibration, calibration_size=args.calibration_size,
                                  qat_state=args.qat_state, shapes=shapes, overwrite=args.overwrite, seed=args.seed,
                                  progress=args.verbose, log=quiet.say)
    from ..exporters.manifest import summary_table

    (args.output / "summary.md").write_text(summary_table(manifest))
    print(f"wrote {args.output / 'manifest.json'} and {args.output / 'summary.md'}")
    if args.android_demo is not None:
        try:
            from ..android import install_artifacts
        except ImportError:
            raise ConfigError("--android-demo: fsr_edge.android is not part of this install") from None
        install_artifacts(args.output, args.android_demo)
        print(f"installed artifacts into {args.android_demo}")
    return exit_status(manifest["artifacts"])


def exit_status(artifacts: list[dict]) -> int:
    """1 when any artifact failed verification (named on one line; the files stay on disk), else 0."""
    failed = [a["id"] for a in artifacts if a["verification"]["status"] == "failed"]
    if failed:
        print(f"FAILED verification: {', '.join(failed)} (kept on disk, marked failed)")
        return 1
    return 0
