"""fsr-edge bench DIST -o REPORT_DIR: latency, memory, compute efficiency and quality of every artifact in DIST
(each in its own process), against the teacher; writes report.md, bench.json and plots. Every row is timed until
its median's 95% confidence interval is within the bound (--ci, default +-1%) or the row's time cap is reached,
and the report says which. Other libraries' warnings and progress bars are held back (--verbose shows them)."""

from __future__ import annotations

import argparse


def add_parser(sub, name):
    p = sub.add_parser(name, help="benchmark every artifact of an export (latency, memory, quality) against the teacher",
                       description=__doc__)
    p.add_argument("dist", help="folder written by `fsr-edge export -o DIST` (has manifest.json)")
    p.add_argument("-o", "--output", required=True, help="report folder (report.md, bench.json, *.png)")
    p.add_argument("--teacher", default=None,
                   help="teacher model name or .safetensors (default: the bundled mskd-teacher-x8 when this build has it)")
    p.add_argument("--no-teacher", action="store_true", help="skip the teacher row")
    p.add_argument("--threads", type=int, default=None, help="threads for every runtime (default: all usable cores)")
    p.add_argument("--iterations", type=int, default=None,
                   help="fixed number of timed iterations (default: adaptive, until the median's 95%% CI is within "
                        "the --ci bound or --time-cap)")
    p.add_argument("--time-cap", type=float, default=8.0, help="seconds of timed iterations per row at most (default 8)")
    p.add_argument("--teacher-time-cap", type=float, default=60.0,
                   help="the same for the teacher row, whose calls take ~100x longer (default 60)")
    p.add_argument("--ci", type=float, default=1.0, metavar="PCT",
                   help="stop a row once its median's 95%% CI is within +-PCT%% of the median (default 1)")
    p.add_argument("--passes", type=int, default=2,
                   help="time each student row in this many fresh processes spread over the run (before and after "
                        "the teacher), its interval spanning them all (default 2; 1: one process per row)")
    p.add_argument("--data", default=None,
                   help="face folder for the quality columns (manifest.csv val split, or a folder of aligned faces); "
                        "default: the 24 bundled London val faces")
    p.add_argument("--degradation", choices=("blind", "clean"), default="blind",
                   help="how LR faces are made for the quality columns (default blind: as export verification)")
    p.add_argument("--eval-limit", type=int, default=None, help="use at most this many faces for quality")
    p.add_argument("--crosscheck-seconds", type=float, default=10.0, help="benchmark_app -t (default 10)")
    p.add_argument("--no-photo-pipeline", action="store_true",
                   help="skip timing detect + align + upscale + paste-back on 1080p photos")
    p.add_argument("--spin", action="store_true",
                   help="let runtimes busy-wait and pin threads (their defaults: a little faster on a dedicated "
                        "machine, far slower on shared cores); default: sleeping threads, no pinning")
    p.add_argument("--quick", action="store_true", help="2 s per row, 3 s cross-check, 8 quality faces")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="also show other libraries' warnings, log lines and progress bars (held back by default)")
    return p


def run(args: argparse.Namespace) -> int:
    from ..bench import BenchOptions, bench_dist, default_teacher
    from ..bench.report import summary_lines
    from ..errors import ConfigError

    if args.threads is not None and args.threads < 1:
        raise ConfigError(f"--threads must be >= 1, got {args.threads}")
    if not 0 < args.ci < 100:
        raise ConfigError(f"--ci must be a percentage between 0 and 100, got {args.ci}")
    if args.iterations is not None and args.iterations < 1:
        raise ConfigError(f"--iterations must be >= 1, got {args.iterations}")
    if args.passes < 1:
        raise ConfigError(f"--passes must be >= 1, got {args.passes}")
    opts = BenchOptions(threads=args.threads, iterations=args.iterations,
                        time_cap_s=2.0 if args.quick else args.time_cap, rel_ci=args.ci / 100,
                        teacher_time_cap_s=10.0 if args.quick else args.teacher_time_cap,
                        crosscheck_s=3.0 if args.quick else args.crosscheck_seconds,
                        eval_limit=args.eval_limit or (8 if args.quick else None),
                        photo_pipeline=not args.no_photo_pipeline, spin=args.spin, degradation=args.degradation,
                        passes=args.passes)
    from ..io import output_folder

    output_folder(args.output)
    teacher = None if args.no_teacher else (args.teacher or default_teacher())
    from ._quiet import Quiet

    with Quiet(verbose=args.verbose) as quiet:
        report = bench_dist(args.dist, args.output, teacher=teacher, data=args.data, options=opts, progress=quiet.say)
    print(f"\nreport: {args.output}/report.md")
    for line in summary_lines(report):
        print(f"  {line}")
    return _exit_status(report)


def _exit_status(report: dict) -> int:
    """1 when any student artifact failed verification, integrity or its run (each named on one line)."""
    from ..bench import failures

    bad = failures(report)
    for line in bad:
        print(f"FAILED {line}")
    return 1 if bad else 0
