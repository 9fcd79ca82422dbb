"""``fsr-edge report REPORT_DIR... -o OUT``: merge bench.json files from several machines (or runs) into one
comparison (report.md, bench_merged.json, latency_by_machine.png)."""

from __future__ import annotations

import argparse


def add_parser(sub, name):
    p = sub.add_parser(name, help="merge several `fsr-edge bench` reports (machines) into one comparison",
                       description=__doc__)
    p.add_argument("reports", nargs="+", help="REPORT_DIR folders (or bench.json files) written by fsr-edge bench")
    p.add_argument("-o", "--output", required=True, help="folder for the merged report")
    return p


def run(args: argparse.Namespace) -> int:
    from ..bench.report import merge_reports

    path = merge_reports(args.reports, args.output)
    print(f"merged {len(args.reports)} reports: {path}")
    return 0
