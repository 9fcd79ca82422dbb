"""Benchmark harness: latency, memory, compute efficiency and quality of every exported artifact, against the
teacher, each row measured in its own process; reports (Markdown, JSON, plots) and their merge across machines.

    report = bench_dist("dist", "dist/report", teacher=default_teacher(), options=BenchOptions(threads=2))
"""

from ..safety import sha256_file
from .harness import (DEFAULT_TEACHER, BenchOptions, bench_dist, failures, load_manifest, ratios,
                      runtime_unavailable)
from .report import merge_reports, render_markdown, summary_lines, write_report


def default_teacher() -> str | None:
    """The bundled teacher's name, or None when this build ships none (the report then says so)."""
    from ..models import list_models

    return DEFAULT_TEACHER if DEFAULT_TEACHER in list_models(pretrained=True) else None


__all__ = ["DEFAULT_TEACHER", "BenchOptions", "bench_dist", "default_teacher", "failures", "load_manifest", "merge_reports",
           "ratios", "render_markdown", "runtime_unavailable", "sha256_file", "summary_lines", "write_report"]
