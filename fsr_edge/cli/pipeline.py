"""fsr-edge pipeline: the main job. With no arguments: export the bundled default student to every target
available here, verify each artifact, benchmark them against the bundled teacher, and write dist/ (artifacts +
manifest.json) and dist/report/ (report.md, bench.json, plots); prints a closing summary. Other libraries'
warnings and progress bars are held back (--verbose shows them)."""

from __future__ import annotations

import argparse
import os


def add_parser(sub, name):
    p = sub.add_parser(name, help="main job: export the bundled student everywhere, verify, benchmark vs the teacher",
                       description=__doc__)
    p.add_argument("-o", "--output", default="dist", help="output folder (default: dist)")
    p.add_argument("--model", default=None, help="student name or .safetensors (default: the bundled default student, marked by "
                        "`fsr-edge models`; a build without it uses mskd-x8 or pisr-x8 and the report says so)")
    p.add_argument("--teacher", default=None, help="teacher name or .safetensors (default: the bundled mskd-teacher-x8)")
    p.add_argument("--data", default=os.environ.get("FSR_EDGE_FACES"),
                   help="face folder for verification (val, wild, stress) and the quality columns (default: "
                        "$FSR_EDGE_FACES, else the 24 bundled London val faces)")
    p.add_argument("--threads", type=int, default=None, help="threads for every runtime (default: all usable cores)")
    p.add_argument("--quick", action="store_true",
                   help="ONNX + OpenVINO only, short timings (1 s per row), 4 quality faces, no 1080p photo timing: a smoke run")
    p.add_argument("--spin", action="store_true",
                   help="let runtimes busy-wait and pin threads (for a dedicated machine; see fsr-edge bench --help)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a non-empty output folder that is not a previous pipeline output")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="also show other libraries' warnings, log lines and progress bars (held back by default)")
    return p


def run(args: argparse.Namespace) -> int:
    from ..bench.main_job import run_pipeline
    from ..bench.report import summary_lines
    from ._quiet import Quiet

    with Quiet(verbose=args.verbose) as quiet:
        result = run_pipeline(args.output, model=args.model, teacher=args.teacher, data=args.data, quick=args.quick,
                              overwrite=args.overwrite, threads=args.threads, spin=args.spin, say=quiet.say)
    arts = result.manifest["artifacts"]
    passed = sum((a.get("verification") or {}).get("status") == "passed" for a in arts)
    print(f"\nfsr-edge pipeline: done in {result.seconds:.0f} s")
    print(f"  artifacts: {len(arts)} in {result.out_dir}/ ({passed} verified), manifest {result.out_dir}/manifest.json")
    print(f"  report:    {result.out_dir}/report/report.md")
    for line in summary_lines(result.report):
        print(f"  {line}")
    if quiet.held_lines:
        print(f"  ({quiet.held_lines} lines of other libraries' warnings and progress output held back; "
              "--verbose shows them)")
    from .bench import _exit_status

    return _exit_status(result.report)
