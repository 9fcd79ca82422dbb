"""bench.json -> report.md + plots, and the merge of several machines' bench.json into one comparison."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import FsrEdgeError
from ..io import atomic_write_text

_PRECISION_COLOURS = {"fp32": "#1f77b4", "fp16": "#2ca02c", "int8": "#d62728", "bf16": "#9467bd"}
_ROLE_MARKERS = {"student": "o", "teacher": "s", "baseline": "^"}


def _fmt(x, spec: str = ".2f", none: str = "-") -> str:
    if x is None:
        return none
    try:
        return format(x, spec)
    except (TypeError, ValueError):
        return str(x)


def _human(n) -> str:
    if n is None:
        return "-"
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= div:
            return f"{n / div:.2f} {unit}"
    return str(n)


def _size(b) -> str:
    if not b:
        return "-"
    return f"{b / 2**20:.2f} MiB" if b >= 2**20 else f"{b / 1024:.1f} KiB"


def _label(r: dict) -> str:
    dev = "" if r.get("device", "cpu") == "cpu" else f" {r['device']}"
    who = Path(str(r.get("model") or r["role"])).stem if r["role"] == "baseline" else r["role"]  # e.g. bicubic-x8
    return f"{who}: {r['runtime']} {r['precision']}{dev}"


def fastest_student(rows: list[dict]) -> dict | None:
    """The fastest measured exported student artifact on the CPU (the PyTorch eager reference is not one)."""
    students = [r for r in rows if r.get("status") == "measured" and r["role"] == "student" and r.get("file")
                and r.get("device", "cpu") == "cpu"]
    return min(students, key=lambda r: r["latency"]["p50_ms"], default=None)


def int8_vs_fp32(rows: list[dict]) -> list[dict]:
    """Per runtime with both measured on the CPU: INT8 time and size relative to fp32, and both qualities."""
    by = {(r["runtime"], r["precision"]): r for r in rows
          if r.get("status") == "measured" and r["role"] == "student" and r.get("device", "cpu") == "cpu"}
    out = []
    for (runtime, precision), fp32 in by.items():
        q = by.get((runtime, "int8"))
        if precision != "fp32" or q is None:
            continue
        out.append({"runtime": runtime, "fp32_p50_ms": fp32["latency"]["p50_ms"], "int8_p50_ms": q["latency"]["p50_ms"],
                    "time_ratio": q["latency"]["p50_ms"] / fp32["latency"]["p50_ms"],
                    "fp32_psnr_db": (fp32.get("quality") or {}).get("psnr_db"),
                    "int8_psnr_db": (q.get("quality") or {}).get("psnr_db"),
                    "size_ratio": q["size_bytes"] / fp32["size_bytes"] if q.get("size_bytes") and fp32.get("size_bytes") else None})
    return out


def _ci_text(lat: dict, spec: str = ".3f") -> str:
    """'95% CI 4.00-4.08 ms, within the +-1% bound' for a row's median (or why there is none)."""
    ci, rel = lat.get("median_ci95_ms"), lat.get("median_ci95_rel")
    if not ci:  # a report from before the CI's ends were recorded has only its half width
        return (f"95% CI +-{rel:.1%}" if isinstance(rel, (int, float)) and rel < float("inf")
                else f"{lat.get('iterations', '?')} calls, too few for a CI")
    target, passes = lat.get("ci_target_rel"), lat.get("passes") or []
    why = (f"over its {len(passes)} passes (pass medians "
           f"{', '.join(format(p['p50_ms'], spec) for p in passes)} ms)" if len(passes) > 1
           else f"before its {lat.get('stop_reason', 'cap')}")
    bound = ("" if target is None else
             f", within the +-{target:.0%} bound" + (f" over its {len(passes)} passes" if len(passes) > 1 else "")
             if lat.get("ci_reached") else
             f", +-{lat['median_ci95_rel']:.1%}: did not reach the +-{target:.0%} bound {why}")
    return f"95% CI {format(ci[0], spec)}-{format(ci[1], spec)} ms{bound}"


def _interval(ci, spec: str) -> str:
    return f" (95% CI {format(ci[0], spec)}-{format(ci[1], spec)})" if ci else ""


def summary_lines(report: dict) -> list[str]:
    """The closing note: fastest artifact, its median, fraction of peak, student/teacher ratios with their
    intervals. Self-contained: it is printed at the end of a run, where the report's tables are not."""
    rows = report["rows"]
    lines = []
    best = fastest_student(rows)
    if best:
        frac = best.get("fraction_of_measured_peak")
        lines.append(f"Fastest student artifact: {best['id']} ({best['runtime']} {best['precision']}), median "
                     f"{best['latency']['p50_ms']:.3f} ms ({_ci_text(best['latency'])}) at {report['threads']} threads, "
                     f"{_fmt(best.get('gflops_achieved'), '.1f')} GFLOP/s = "
                     f"{_fmt(frac * 100 if frac is not None else None, '.0f')}% of this machine's measured fp32 GEMM peak "
                     f"({_fmt(report['peaks']['measured']['gflops'], '.1f')} GFLOP/s"
                     + ("; an INT8 artifact, measured against the fp32 peak" if best["precision"] == "int8" else "")
                     + ")"
                     + (f", {best['quality']['psnr_db']:.2f} dB PSNR" if best.get("quality") else "") + ".")
    else:
        lines.append("No student artifact was measured.")
    rat = report.get("ratios") or {}
    if rat.get("status") == "measured":
        teacher = next((r for r in rows if r["id"] == rat["teacher_id"]), None)
        if teacher:
            lines.append(f"Teacher ({teacher['id']}): median {teacher['latency']['p50_ms']:.1f} ms "
                         f"({_ci_text(teacher['latency'], '.1f')}; {teacher['latency']['iterations']} calls).")
        for p in rat["pairs"]:
            lines.append(f"Student/teacher, {p['label']} ({p['student_id']} vs {rat['teacher_id']}): time "
                         f"{p['time_ratio']:.4f}x{_interval(p.get('time_ratio_ci'), '.4f')}, "
                         f"{p['speedup']:.1f}x faster{_interval(p.get('speedup_ci'), '.0f')}"
                         + (f" (timed alternately with the teacher in one process, {p['paired_rounds']} rounds)"
                            if p.get("paired_rounds") else " (from the two rows' medians)")
                         + f", peak RSS {p['peak_rss_ratio']:.2f}x"
                         + (f", RSS over baseline {p['rss_delta_ratio']:.2f}x" if p.get("rss_delta_ratio") is not None else "")
                         + (f", size on disk {p['size_ratio']:.4f}x" if p.get("size_ratio") is not None else "") + ".")
    else:
        lines.append(f"Student/teacher ratios: not measured ({rat.get('reason', 'no teacher')}).")
    for e in int8_vs_fp32(rows):
        lines.append(f"INT8 on {e['runtime']}: {e['time_ratio']:.2f}x the fp32 time "
                     f"({'faster' if e['time_ratio'] < 1 else 'NOT faster'}), PSNR {_fmt(e['int8_psnr_db'])} vs "
                     f"{_fmt(e['fp32_psnr_db'])} dB.")
    cpus = report["machine"].get("usable_cpus") or 0
    loads = [x for x in [report["machine"].get("load_avg_1m")] + [r.get("load_avg_1m_end") for r in rows] if x is not None]
    short = [r for r in rows if r.get("status") == "measured" and r["latency"].get("ci_target_rel") is not None
             and not r["latency"].get("ci_reached")]
    if short:
        lines.append("Rows whose median CI did not reach the bound within their time (a row timed in 2 passes "
                     "also misses it when the passes differ; their numbers carry the wider interval): " + ", ".join(f"{r['id']} (+-{r['latency']['median_ci95_rel']:.1%}, "
                                                      f"{r['latency']['iterations']} calls)" for r in short) + ".")
    if cpus and loads and max(loads) > cpus:
        lines.append(f"The machine was shared: 1-min load average up to {max(loads):.1f} on {cpus} CPUs during the run, "
                     "so latencies include waiting for a core; compare runtimes within this report, and "
                     "rerun on a quiet machine for absolute numbers.")
    for r in rows:
        if r.get("status") == "failed":
            lines.append(f"Failed row {r['id']}: {r.get('reason', 'failed')}.")
    gaps = [c for c in report.get("crosschecks", []) if "agrees" in c and not c["agrees"]]
    if gaps:
        lines.append("OpenVINO's benchmark_app and this harness differ by more than 20% on "
                     + ", ".join(f"{c['id']} ({c['gap']:+.0%})" for c in gaps)
                     + ": the two ran one after the other, so other work on the machine hits them differently, and "
                       "the harness times a Python call that copies the input in and the output out, which "
                       "benchmark_app does not.")
    return lines


def render_markdown(report: dict, *, plots: list[str] = ()) -> str:
    m, rows = report["machine"], report["rows"]
    peaks = report["peaks"]
    out = [f"# fsr_edge benchmark: {report['manifest_model'].get('name')} on {m['cpu_model']}", ""]
    out += [f"- Created {report['created_at']} by fsr_edge {report['fsr_edge_version']} from `{report['dist']}`",
            f"- Machine: {m['cpu_model']}, {m['usable_cpus']} usable CPUs at {_fmt(m.get('cpu_mhz'), '.0f')} MHz, "
            f"ISA {', '.join(m['isa']) or '-'}, {m['platform']}, GPU: {(m.get('gpu') or {}).get('name', 'none')}; "
            f"1-min load average at start {_fmt(m.get('load_avg_1m'), '.1f')} (other work on the machine slows every row alike)",
            f"- Threads: {report['threads']} for every runtime (set explicitly in each); OpenMP wait policy "
            f"{report.get('settings', {}).get('omp_wait_policy', '-')}, runtime spinning/pinning "
            f"{'on' if report.get('settings', {}).get('spin') else 'off'} (busy-waiting threads collapse on shared cores)",
            f"- Peak fp32 compute: measured {_fmt(peaks['measured']['gflops'], '.1f')} GFLOP/s ({peaks['measured']['how']}); "
            f"theoretical {_fmt(peaks['theoretical']['gflops'], '.1f')} GFLOP/s ({peaks['theoretical']['how']}). "
            "Fractions of peak below use the measured one.",
            f"- Quality set: {report['eval_set']['source']}",
            f"- Teacher: {report['teacher'] or 'not available in this build'}"]
    out += [f"- Note: {n}" for n in report.get("notes", [])] + [""]
    out += ["## Summary", ""] + [f"- {line}" for line in summary_lines(report)] + [""]

    out += ["## Latency, memory and efficiency", "",
            "Steady state after warm-up, batch 1, input and output in host memory; each row in its own process.", "",
            "| row | runtime | prec | dev | status | load s | first ms | p50 ms | p90 ms | p99 ms | mean ms | iters | "
            "peak RSS MB | RSS over imports MB | size | params | MACs | GFLOP/s | % peak | PSNR dB | SSIM |",
            "|" + "---|" * 21]
    for r in rows:
        if r.get("status") != "measured":
            out.append(f"| {r['id']} | {r['runtime']} | {r['precision']} | {r.get('device', 'cpu')} | "
                       f"**{r['status']}**: {r.get('reason', '')} |" + " - |" * 16)
            continue
        lat, q = r["latency"], r.get("quality") or {}
        frac = r.get("fraction_of_measured_peak")
        gpu = f" (GPU {r['gpu_peak_mb']:.0f})" if r.get("gpu_peak_mb") is not None else ""
        out.append(f"| {r['id']} | {r['runtime']} | {r['precision']} | {r.get('device', 'cpu')} | measured"
                   + (f" (verification {r['verification']})" if r.get("verification") not in (None, "passed") else "")
                   + f" | {_fmt(r.get('load_s'), '.3f')} | {_fmt(r.get('first_inference_ms'))} | **{lat['p50_ms']:.3f}** | "
                   f"{_fmt(lat.get('p90_ms'), '.3f')} | {_fmt(lat.get('p99_ms'), '.3f')} | {_fmt(lat.get('mean_ms'), '.3f')} | "
                   f"{lat.get('iterations', '-')} | {_fmt(r.get('peak_rss_mb'), '.0f')}{gpu} | "
                   f"{_fmt(r.get('peak_rss_delta_mb'), '.0f')} | {_size(r.get('size_bytes'))} | {_human(r.get('params'))} | "
                   f"{_human(r.get('macs'))} | {_fmt(r.get('gflops_achieved'), '.1f')} | "
                   f"{_fmt(frac * 100 if frac is not None else None, '.0f')} | {_fmt(q.get('psnr_db'))} | {_fmt(q.get('ssim'), '.4f')} |")
    out += ["", "Median and its 95% CI per row (each pass of a row is timed until that CI is within the bound, or its "
            "share of the time cap; a row timed in several passes, each in a fresh process at another moment of the "
            "run, takes its median and CI from all their calls, so the interval spans the passes; `--iterations` "
            "fixes the count instead):", "",
            "| row | p50 ms | 95% CI ms | CI half width | bound | reached | calls | p50 per pass | stopped by |",
            "|" + "---|" * 9]
    for r in rows:
        if r.get("status") != "measured":
            continue
        lat = r["latency"]
        ci, target = lat.get("median_ci95_ms"), lat.get("ci_target_rel")
        out.append(f"| {r['id']} | {lat['p50_ms']:.3f} | {f'{ci[0]:.3f}-{ci[1]:.3f}' if ci else '-'} | "
                   f"+-{lat['median_ci95_rel']:.1%} | {'-' if target is None else f'+-{target:.0%}'} | "
                   f"{'-' if target is None else ('yes' if lat.get('ci_reached') else '**no**')} | "
                   f"{lat.get('iterations', '-')} | "
                   f"{', '.join(format(p['p50_ms'], '.3f') for p in lat.get('passes') or []) or '-'} | "
                   f"{lat.get('stop_reason', '-')} |")
    out.append("")
    for r in rows:
        if r.get("macs_note"):
            out += [f"MACs of {r['id']}: {r['macs_note']}.", ""]
        if r.get("size_note"):
            out += [f"Size of {r['id']}: {r['size_note']}.", ""]
    golden = [r for r in rows if r.get("golden_psnr_db") is not None]
    if golden:
        out += ["Golden pair check (the manifest's stored input -> output, re-run in this runtime): "
                + ", ".join(f"{r['id']} " + ("bit-identical" if r["golden_psnr_db"] == float("inf")
                                              else f"{r['golden_psnr_db']:.1f} dB") for r in golden), ""]

    int8 = int8_vs_fp32(rows)
    if int8:
        out += ["## Does INT8 pay? (same runtime, same machine)", "",
                "| runtime | fp32 p50 ms | int8 p50 ms | int8 / fp32 time | fp32 PSNR dB | int8 PSNR dB | size int8 / fp32 |",
                "|---|---|---|---|---|---|---|"]
        for e in int8:
            out.append(f"| {e['runtime']} | {e['fp32_p50_ms']:.3f} | {e['int8_p50_ms']:.3f} | {e['time_ratio']:.2f} "
                       f"({'faster' if e['time_ratio'] < 1 else 'slower'}) | {_fmt(e['fp32_psnr_db'])} | "
                       f"{_fmt(e['int8_psnr_db'])} | {_fmt(e['size_ratio'])} |")
        out.append("")

    rat = report.get("ratios") or {}
    out += ["## Student vs teacher (the paper's Table 3, on this machine)", ""]
    if rat.get("status") == "measured":
        t = next(r for r in rows if r["id"] == rat["teacher_id"])
        out += ["| pair | student p50 ms | teacher p50 ms | time ratio | speedup | student peak RSS MB | teacher peak RSS MB | "
                "peak RSS ratio | RSS-over-imports ratio | size ratio |", "|" + "---|" * 10]
        for p in rat["pairs"]:
            s = next(r for r in rows if r["id"] == p["student_id"])
            out.append(f"| {p['label']}: {s['id']} | {s['latency']['p50_ms']:.3f} | {t['latency']['p50_ms']:.3f} | "
                       f"{p['time_ratio']:.4f}{_interval(p.get('time_ratio_ci'), '.4f')}"
                       f"{' paired' if p.get('paired_rounds') else ''} | "
                       f"{p['speedup']:.1f}x{_interval(p.get('speedup_ci'), '.0f')} | {s['peak_rss_mb']:.0f} | {t['peak_rss_mb']:.0f} | "
                       f"{p['peak_rss_ratio']:.2f} | {_fmt(p.get('rss_delta_ratio'))} | {_fmt(p.get('size_ratio'), '.4f')} |")
        out += ["", "The teacher row times the teacher's whole forward as the paper counts it (its landmark step "
                "and dictionary matching included, where its forward runs them). Time ratios marked paired were timed "
                "in the teacher's process, one teacher call then 3 calls of the student per round, so both sides of "
                "a round see the same load; the ratio is the median over rounds with its 95% CI. Otherwise the ratio "
                "is the two rows' medians and its interval runs from one end of their 95% CIs to the other "
                "(conservative: both medians would have to sit at their extremes at once)."]
    else:
        out += [f"Not measured: {rat.get('reason', 'no teacher')}. Time and memory ratios need the teacher."]
    out.append("")

    if report.get("crosschecks"):
        out += ["## Cross-check with the runtimes' own tools", "",
                "| row | tool | tool median ms | harness p50 ms | gap | within 20% | note |", "|---|---|---|---|---|---|---|"]
        for c in report["crosschecks"]:
            if "median_ms" in c:
                load = c.get("load_avg_1m") or {}
                out.append(f"| {c['id']} | {c['tool']} | {c['median_ms']:.3f} | {c['harness_p50_ms']:.3f} | {c['gap']:+.1%} | "
                           f"{'yes' if c['agrees'] else 'NO'} | `{c.get('command', '')}`; 1-min load average "
                           f"{_fmt(load.get('harness_row_end'), '.1f')} (harness) / {_fmt(load.get('tool_end'), '.1f')} (tool) |")
            else:
                out.append(f"| {c['id']} | {c['tool']} | - | - | - | - | {c.get('error', '')} |")
        gaps = [c for c in report["crosschecks"] if "agrees" in c and not c["agrees"]]
        if gaps:
            out += ["", _gap_note(gaps, rows, report)]
        out.append("")

    photo = report.get("photo_pipeline")
    if photo:
        out += ["## Whole pipeline on a 1080p photo (what an app pays)", ""]
        if photo.get("status") != "measured":
            out += [f"Not measured: {photo.get('reason')}", ""]
        else:
            out += [f"Upscale step: {photo['runtime']} {photo.get('precision', '')} ({Path(str(photo['model'])).name}), "
                    f"{photo['threads']} threads. {photo['how']}", "",
                    "| photo | faces found | cold s | warm median s | detect+landmarks s | align s | upscale s | paste-back s |",
                    "|---|---|---|---|---|---|---|---|"]
            for p in photo["cases"]:
                st = p["warm_stages_s"]
                out.append(f"| {p['name']} | {p['faces']} | {p['cold_s']:.3f} | {p['warm_median_s']:.3f} | "
                           f"{_fmt(st.get('detect'), '.3f')} | {_fmt(st.get('align'), '.3f')} | {_fmt(st.get('upscale'), '.3f')} | "
                           f"{_fmt(st.get('paste'), '.3f')} |")
            out.append("")

    if plots:
        out += ["## Plots", ""] + [f"![{Path(p).stem}]({Path(p).name})" for p in plots] + [""]
    out += ["## How the numbers were taken", "", _METHOD_NOTE, ""]
    return "\n".join(out)


def _gap_note(gaps: list[dict], rows: list[dict], report: dict) -> str:
    """Why the harness and a runtime's own tool disagree by more than 20%, from what was recorded."""
    cpus = report["machine"].get("usable_cpus") or 1
    parts = []
    for c in gaps:
        row = next((r for r in rows if r["id"] == c["id"]), None)
        load = c.get("load_avg_1m") or {}
        spread = row["latency"]["p90_ms"] / row["latency"]["p50_ms"] if row else None
        parts.append(f"{c['id']}: the two ran one after the other at 1-min load averages "
                     f"{_fmt(load.get('harness_row_end'), '.1f')} and {_fmt(load.get('tool_end'), '.1f')} on {cpus} CPUs"
                     + (f", and the harness's own p90/p50 was {spread:.2f}" if spread else "") + ".")
    loaded = any(((c.get("load_avg_1m") or {}).get("tool_end") or 0) > cpus for c in gaps)
    why = ("With more runnable jobs than CPUs, every call waits for a core a varying time, so two separate runs' "
           "medians can differ by more than 20% without either being wrong; rerun on a quiet machine to close the gap. "
           if loaded else "")
    return ("Gaps over 20%: " + " ".join(parts) + " " + why
            + "Beyond that, the harness times a Python call that copies the input in and the 64x larger output out; "
              "benchmark_app times the bare C++ infer() on pre-allocated tensors, which matters for sub-millisecond rows.")


_METHOD_NOTE = (
    "Each row runs in its own process (`fsr_edge/bench/_worker.py`, started fresh): import the runtime, read the RSS "
    "(baseline), load the artifact (load time), one inference (first-inference time), warm-up (>= 3 calls and 0.5 s), "
    "then timed calls one by one (perf_counter_ns) until the median's distribution-free 95% CI is within the target "
    "or the time cap is hit. Student and baseline rows are timed in 2 such processes (passes), one before and one "
    "after the teacher's row, each with half the time cap, and report the median and CI of all their calls; "
    "peak RSS is the process's VmHWM read before the quality pass (`ru_maxrss` is recorded "
    "too, but on Linux it keeps the parent's size from the fork), and "
    "'RSS over imports' is that peak minus the RSS after importing the runtime; GPU peak (CUDA rows) is torch's "
    "allocator peak (PyTorch; TensorRT I/O buffers, not its own workspace). Artifacts are checked against the "
    "manifest's sha256 before loading. GFLOP/s = 2 x MACs / p50. OpenVINO artifacts run with the manifest's "
    "INFERENCE_PRECISION_HINT (f32 for fp32 IR when it names none: this CPU's default would be bf16). Quality: the artifact's own outputs on the "
    "quality set vs ground truth, PSNR/SSIM on RGB in [0, 1] (fsr_edge.metrics).")


def _log_ms_axis(ax) -> None:
    """Log x axis with plain millisecond labels (1, 2, 5, 10 ...) instead of 3x10^0 that collide."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def plot_report(report: dict, out_dir: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in report["rows"] if r.get("status") == "measured"]
    if not rows:
        return []
    paths = []
    rows_sorted = sorted(rows, key=lambda r: r["latency"]["p50_ms"])
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(rows_sorted) + 1.5))
    y = range(len(rows_sorted))
    p50 = [r["latency"]["p50_ms"] for r in rows_sorted]
    p90 = [r["latency"]["p90_ms"] - r["latency"]["p50_ms"] for r in rows_sorted]
    colours = [_PRECISION_COLOURS.get(r["precision"], "grey") for r in rows_sorted]
    ax.barh(list(y), p50, xerr=[[0] * len(p90), p90], color=colours, capsize=3)
    ax.set_yticks(list(y), [_label(r) for r in rows_sorted], fontsize=8)
    ax.invert_yaxis()
    _log_ms_axis(ax)
    ax.set_xlabel("median latency, ms (log scale; whisker to p90)")
    for i, (v, extra) in enumerate(zip(p50, p90)):
        ax.text(v + extra, i, f"  {v:.2f} ms", va="center", fontsize=7)
    ax.set_xlim(min(p50) * 0.7, max(v + e for v, e in zip(p50, p90)) * 3)  # room for the value labels
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for p, c in _PRECISION_COLOURS.items()
               if any(r["precision"] == p for r in rows_sorted)]
    ax.legend(handles, [p for p in _PRECISION_COLOURS if any(r["precision"] == p for r in rows_sorted)],
              title="precision", fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.set_title(f"Latency by target and precision, batch 1, {report['threads']} threads\n{report['machine']['cpu_model']}",
                 fontsize=9)
    fig.tight_layout()
    paths.append(str(out_dir / "latency_by_target.png"))
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    q_rows = [r for r in rows if r.get("quality")]
    if q_rows:
        paths.append(str(out_dir / "quality_vs_latency.png"))
        _plot_quality_vs_latency(q_rows, report, paths[-1])
    return paths


def _place_labels(ax, points: list[tuple[float, float]], texts: list[str], *, fontsize: float = 7) -> None:
    """Number each point without overlaps: for each label, in order, the first of a ring of offsets (growing
    outwards) whose box hits neither an earlier label nor any marker; a leader line joins each label to its point."""
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    to_px = ax.transData.transform
    marker_px = [to_px(pt) for pt in points]
    r_marker = 6.0  # px: half a marker of size 60 at dpi 110, plus a margin
    taken: list[tuple[float, float, float, float]] = [(x - r_marker, y - r_marker, x + r_marker, y + r_marker)
                                                      for x, y in marker_px]
    axes_box = ax.get_window_extent(renderer)
    directions = [(1, 1), (1, -1), (-1, 1), (-1, -1), (1, 0), (-1, 0), (0, 1), (0, -1)]
    for (x, y), (px, py), text in zip(points, marker_px, texts):
        probe = ax.text(0, 0, text, fontsize=fontsize, transform=None)
        box = probe.get_window_extent(renderer)
        probe.remove()
        w, h = box.width + 2, box.height + 2
        chosen = None
        for radius in (8, 14, 22, 32, 44, 58):
            for dx, dy in directions:
                cx, cy = px + dx * radius, py + dy * radius
                x0 = cx if dx > 0 else cx - w if dx < 0 else cx - w / 2
                y0 = cy if dy > 0 else cy - h if dy < 0 else cy - h / 2
                cand = (x0, y0, x0 + w, y0 + h)
                inside = (cand[0] >= axes_box.x0 and cand[2] <= axes_box.x1 and cand[1] >= axes_box.y0
                          and cand[3] <= axes_box.y1)
                if inside and not any(cand[0] < t[2] and t[0] < cand[2] and cand[1] < t[3] and t[1] < cand[3]
                                      for t in taken):
                    chosen = cand
                    break
            if chosen:
                break
        if chosen is None:  # nowhere free: the smallest offset, overlapping rather than dropped
            chosen = (px + 8, py + 8, px + 8 + w, py + 8 + h)
        taken.append(chosen)
        offset = (chosen[0] - px + 1, chosen[1] - py + 1)
        ax.annotate(text, (x, y), xytext=(offset[0] * 72 / fig.dpi, offset[1] * 72 / fig.dpi),
                    textcoords="offset points", fontsize=fontsize, ha="left", va="bottom", zorder=4,
                    arrowprops={"arrowstyle": "-", "lw": 0.5, "color": "0.4", "shrinkA": 0, "shrinkB": 3})


def _zoom_students(ax, q_rows: list[dict]) -> None:
    """The student artifacts often sit within a factor of a few in latency at one PSNR: a crowd on the log axis
    that spans bicubic to the teacher. Zoom on them in an inset in the lower right, where a point would mean slow
    and poor (so none usually is); no inset if a point is there or the students are already spread out."""
    import numpy as np

    students = [(k, r) for k, r in enumerate(q_rows, start=1) if r["role"] == "student"]
    if len(students) < 3:
        return
    xs = [r["latency"]["p50_ms"] for _, r in students]
    all_x = [r["latency"]["p50_ms"] for r in q_rows]
    if np.log(max(xs) / min(xs)) > 0.35 * np.log(max(all_x) / min(all_x)):
        return
    to_axes = ax.transAxes.inverted().transform
    region = (0.42, 0.04, 0.98, 0.50)  # x0, y0, x1, y1 in axes fractions
    for r in q_rows:
        fx, fy = to_axes(ax.transData.transform((r["latency"]["p50_ms"], r["quality"]["psnr_db"])))
        if region[0] - 0.03 <= fx <= region[2] and region[1] <= fy <= region[3] + 0.03:
            return
    inset = ax.inset_axes((region[0], region[1], region[2] - region[0], region[3] - region[1]))
    ys = [r["quality"]["psnr_db"] for _, r in students]
    for _, r in students:
        inset.scatter(r["latency"]["p50_ms"], r["quality"]["psnr_db"], marker=_ROLE_MARKERS["student"],
                      color=_PRECISION_COLOURS.get(r["precision"], "grey"), s=40, edgecolor="black", alpha=0.8, zorder=3)
        ci = r["latency"].get("median_ci95_ms")
        if ci:
            inset.plot(ci, [r["quality"]["psnr_db"]] * 2, color="0.3", lw=0.8, zorder=2)
    pad_x = (max(xs) - min(xs)) * 0.15 or max(xs) * 0.05
    span_y = max(max(ys) - min(ys), 0.02)
    inset.set_xlim(min(xs) - pad_x, max(xs) + pad_x)
    inset.set_ylim(min(ys) - 0.6 * span_y, max(ys) + 0.9 * span_y)
    inset.tick_params(labelsize=6)
    inset.set_title("students, zoomed (linear ms)", fontsize=6.5)
    inset.grid(True, alpha=0.3)
    _place_labels(inset, [(r["latency"]["p50_ms"], r["quality"]["psnr_db"]) for _, r in students],
                  [str(k) for k, _ in students], fontsize=6.5)


def _plot_quality_vs_latency(q_rows: list[dict], report: dict, path: str) -> None:
    """PSNR vs median latency, one point per row: colour = precision, marker = role, each point numbered; the
    legend (colours, markers, the Pareto front) and the numbered key sit outside the axes, so nothing covers a point."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    q_rows = sorted(q_rows, key=lambda r: r["latency"]["p50_ms"])
    fig = plt.figure(figsize=(11, 5.5), dpi=110)
    ax = fig.add_axes((0.07, 0.11, 0.52, 0.80))
    xs = [r["latency"]["p50_ms"] for r in q_rows]
    ys = [r["quality"]["psnr_db"] for r in q_rows]
    for r, x, y in zip(q_rows, xs, ys):
        ci = r["latency"].get("median_ci95_ms")
        ax.errorbar(x, y, xerr=[[x - ci[0]], [ci[1] - x]] if ci else None, fmt="none", ecolor="0.3", lw=0.8, zorder=2)
        # translucent: one network in several runtimes sits at one PSNR, and near-equal latencies overlap
        ax.scatter(x, y, marker=_ROLE_MARKERS.get(r["role"], "o"), color=_PRECISION_COLOURS.get(r["precision"], "grey"),
                   s=45, edgecolor="black", alpha=0.8, zorder=3)
    front, best = [], -1e9
    for r in q_rows:
        if r["quality"]["psnr_db"] > best:
            front.append(r)
            best = r["quality"]["psnr_db"]
    ax.plot([r["latency"]["p50_ms"] for r in front], [r["quality"]["psnr_db"] for r in front], "k--", lw=0.8, zorder=1)
    _log_ms_axis(ax)
    ax.set_xlim(min(xs) / 1.6, max(xs) * 1.6)
    span = max(max(ys) - min(ys), 0.5)
    ax.set_ylim(min(ys) - 0.15 * span, max(ys) + 0.2 * span)
    ax.set_xlabel("median latency, ms (log scale; bar: its 95% CI)")
    ax.set_ylabel("PSNR vs ground truth, dB")
    ax.set_title(f"Quality vs latency ({report['eval_set']['images']} faces, {report['threads']} threads)", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    _place_labels(ax, list(zip(xs, ys)), [str(k) for k in range(1, len(q_rows) + 1)])
    _zoom_students(ax, q_rows)

    precisions = [p for p in _PRECISION_COLOURS if any(r["precision"] == p for r in q_rows)]
    roles = [role for role in _ROLE_MARKERS if any(r["role"] == role for r in q_rows)]
    handles = ([Line2D([], [], ls="", marker="o", markersize=8, markerfacecolor=_PRECISION_COLOURS[p],
                       markeredgecolor="black", label=f"{p} (colour)") for p in precisions]
               + [Line2D([], [], ls="", marker=_ROLE_MARKERS[role], markersize=8, markerfacecolor="white",
                         markeredgecolor="black", label=f"{role} (marker)") for role in roles]
               + [Line2D([], [], ls="--", color="black", lw=0.8, label="Pareto front")])
    legend = ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0,
                       title="colour = precision, marker = role", title_fontsize=7)
    ax.add_artist(legend)
    keys = [f"{k:>2}  {_label(r)}: {r['latency']['p50_ms']:.2f} ms, {r['quality']['psnr_db']:.2f} dB"
            for k, r in enumerate(q_rows, start=1)]
    fig.text(0.615, 0.58, "\n".join(keys), fontsize=6.5, va="top", ha="left", family="monospace")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(report: dict, out_dir: str | Path) -> Path:
    """Write bench.json, the plots and report.md into ``out_dir``; returns report.md's path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / "bench.json", json.dumps(report, indent=1, default=str))
    plots = plot_report(report, out_dir)
    atomic_write_text(out_dir / "report.md", render_markdown(report, plots=plots))
    return out_dir / "report.md"


# ---------------------------------------------------------------- merge across machines


def load_bench(path: str | Path) -> dict:
    path = Path(path)
    f = path / "bench.json" if path.is_dir() else path
    if not f.exists():
        raise FsrEdgeError(f"{path}: no bench.json; pass REPORT_DIR folders written by `fsr-edge bench -o`")
    try:
        report = json.loads(f.read_text())
    except json.JSONDecodeError as err:
        raise FsrEdgeError(f"{f}: not valid JSON ({err.msg}); was it written completely?") from None
    if "rows" not in report or "machine" not in report:
        raise FsrEdgeError(f"{f}: not an fsr-edge bench.json (no 'rows' or 'machine')")
    return report


def _machine_label(report: dict) -> str:
    m = report["machine"]
    gpu = (m.get("gpu") or {}).get("name")
    return f"{m.get('hostname', '?')} ({m.get('cpu_model', '?')}{', ' + gpu if gpu else ''}, {report.get('threads')} thr)"


def merge_reports(paths: list[str | Path], out_dir: str | Path) -> Path:
    """One comparison of several machines' bench.json: row x machine median latency, peak RSS and PSNR."""
    reports = [load_bench(p) for p in paths]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    labels = []
    for r in reports:
        label = _machine_label(r)
        while label in labels:
            label += "'"
        labels.append(label)
    ids: list[str] = []
    for r in reports:
        ids += [row["id"] for row in r["rows"] if row["id"] not in ids]
    merged = {"machines": labels, "reports": [str(Path(p)) for p in paths],
              "rows": {i: {} for i in ids}}
    for label, r in zip(labels, reports):
        for row in r["rows"]:
            cell = {"status": row.get("status"), "reason": row.get("reason")}
            if row.get("status") == "measured":
                cell.update(p50_ms=row["latency"]["p50_ms"], peak_rss_mb=row["peak_rss_mb"],
                            psnr_db=(row.get("quality") or {}).get("psnr_db"),
                            fraction_of_measured_peak=row.get("fraction_of_measured_peak"))
            merged["rows"][row["id"]][label] = cell

    def cell_text(c: dict | None, key: str, spec: str) -> str:
        if not c:
            return "absent"
        if c["status"] != "measured":
            return f"{c['status']}"
        return _fmt(c.get(key), spec)

    md = ["# fsr_edge benchmark comparison across machines", ""]
    md += [f"- M{i + 1}: {label} — {r['created_at']}, model {r['manifest_model'].get('name')}, "
           f"measured peak {_fmt(r['peaks']['measured']['gflops'], '.1f')} GFLOP/s" for i, (label, r) in enumerate(zip(labels, reports))]
    md.append("")
    for title, key, spec in (("Median latency, ms", "p50_ms", ".3f"), ("Peak RSS, MB", "peak_rss_mb", ".0f"),
                             ("PSNR vs ground truth, dB", "psnr_db", ".2f")):
        md += [f"## {title}", "", "| row | " + " | ".join(f"M{i + 1}" for i in range(len(labels))) + " |",
               "|---|" + "---|" * len(labels)]
        for i in ids:
            md.append(f"| {i} | " + " | ".join(cell_text(merged["rows"][i].get(label), key, spec) for label in labels) + " |")
        md.append("")
    not_measured = [(i, label, c["reason"]) for i in ids for label, c in merged["rows"][i].items()
                    if c["status"] != "measured"]
    if not_measured:
        md += ["## Not measured / failed", ""] + [f"- {i} on {label}: {why}" for i, label, why in not_measured] + [""]
    md += ["## Closing notes per machine", ""]
    for i, r in enumerate(reports):
        md += [f"M{i + 1}:"] + [f"- {line}" for line in summary_lines(r)] + [""]
    atomic_write_text(out_dir / "bench_merged.json", json.dumps(merged, indent=1))
    plot = _plot_merged(merged, out_dir)
    if plot:
        md += ["## Plot", "", f"![latency by machine]({Path(plot).name})", ""]
    atomic_write_text(out_dir / "report.md", "\n".join(md))
    return out_dir / "report.md"


def _plot_merged(merged: dict, out_dir: Path) -> str | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    ids = [i for i, cells in merged["rows"].items() if any(c.get("p50_ms") for c in cells.values())]
    if not ids:
        return None
    labels = merged["machines"]
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(ids) * max(1, len(labels) / 2) + 1.5))
    h = 0.8 / len(labels)
    for k, label in enumerate(labels):
        vals = [merged["rows"][i].get(label, {}).get("p50_ms") or 0 for i in ids]
        ax.barh(np.arange(len(ids)) + k * h, vals, height=h, label=f"M{k + 1}")
    ax.set_yticks(np.arange(len(ids)) + h * (len(labels) - 1) / 2, ids, fontsize=7)
    ax.invert_yaxis()
    _log_ms_axis(ax)
    ax.set_xlabel("median latency, ms (log); missing bar = not measured there")
    ax.legend(fontsize=7)
    fig.tight_layout()
    path = out_dir / "latency_by_machine.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)
