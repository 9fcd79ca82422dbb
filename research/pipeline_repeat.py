"""Do two runs of the main job agree within their own intervals? Compares two ``fsr-edge pipeline`` outputs.

    fsr-edge pipeline -o /tmp/dist_a && fsr-edge pipeline -o /tmp/dist_b      # back to back, nothing else running
    python -m research.pipeline_repeat /tmp/dist_a /tmp/dist_b                 # docs/results/pipeline_repeat.md/.json

Reads each folder's ``report/bench.json``. Two intervals agree when they overlap. Headline ratios are the paired
student/teacher ratios (timed alternately inside the teacher's worker); rows are each artifact's median with its
95% CI, with whether the row reached the stated bound. The load average at the start and end of each run is part of
the report: rows timed under a changing load can disagree while each CI is honest about its own run.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

OUT = Path("docs/results/pipeline_repeat")


def _bench(dist: Path) -> dict:
    path = dist / "report" / "bench.json"
    if not path.is_file():
        raise SystemExit(f"{path} not found: give the folders two `fsr-edge pipeline -o DIR` runs wrote")
    return json.loads(path.read_text())


def overlap(a, b) -> bool | None:
    if not a or not b:
        return None
    return a[0] <= b[1] and b[0] <= a[1]


def compare(first: dict, second: dict) -> dict:
    rows = []
    by_id = {r["id"]: r for r in second.get("rows", [])}
    for r in first.get("rows", []):
        o = by_id.get(r["id"])
        if not o or not r.get("latency") or not o.get("latency"):
            continue
        la, lb = r["latency"], o["latency"]
        rows.append({"id": r["id"], "role": r["role"],
                     "first": {"p50_ms": la["p50_ms"], "ci": la.get("median_ci95_ms"), "bound_met": la.get("ci_reached")},
                     "second": {"p50_ms": lb["p50_ms"], "ci": lb.get("median_ci95_ms"), "bound_met": lb.get("ci_reached")},
                     "agree": overlap(la.get("median_ci95_ms"), lb.get("median_ci95_ms"))})
    ratios = []
    pairs_b = {p["label"]: p for p in (second.get("ratios") or {}).get("pairs", [])}
    for p in (first.get("ratios") or {}).get("pairs", []):
        q = pairs_b.get(p["label"])
        if not q:
            continue
        ratios.append({"label": p["label"], "student_id": p["student_id"], "student_id_second": q["student_id"],
                       "first": {"speedup": p["speedup"], "ci": p.get("speedup_ci"), "rounds": p.get("paired_rounds")},
                       "second": {"speedup": q["speedup"], "ci": q.get("speedup_ci"), "rounds": q.get("paired_rounds")},
                       "agree": overlap(p.get("speedup_ci"), q.get("speedup_ci"))})
    load = {k: {"start": b["machine"].get("load_avg_1m"),
                "end": max((r.get("load_avg_1m_end") or 0.0) for r in b.get("rows", [])) or None}
            for k, b in (("first", first), ("second", second))}
    settings = first.get("settings", {})
    return {"rows": rows, "ratios": ratios, "load_avg_1m": load, "rel_ci": settings.get("rel_ci"),
            "time_cap_s": settings.get("time_cap_s"), "passes": settings.get("passes", 1), "machine": first.get("machine", {}).get("cpu_model"),
            "rows_agree": sum(1 for r in rows if r["agree"]), "rows_compared": sum(1 for r in rows if r["agree"] is not None),
            "ratios_agree": all(r["agree"] for r in ratios) if ratios else None}


def _ci(v: dict, nd: int) -> str:
    ci = v.get("ci")
    return f"{v.get('p50_ms', v.get('speedup')):.{nd}f} ({ci[0]:.{nd}f}-{ci[1]:.{nd}f})" if ci else \
        f"{v.get('p50_ms', v.get('speedup')):.{nd}f} (no CI)"


def markdown(rep: dict, dists: tuple[str, str]) -> str:
    yn = {True: "yes", False: "**no**", None: "n/a"}
    lines = ["# Two consecutive main jobs: do they agree within their intervals?", "",
             f"`fsr-edge pipeline` twice, back to back ({dists[0]}, then {dists[1]}), bundled default, on "
             f"{rep['machine']}; then `python -m research.pipeline_repeat {dists[0]} {dists[1]}`. Each row is timed until "
             f"its median's 95% CI is within +-{(rep['rel_ci'] or 0):.0%} or its time cap ({rep['time_cap_s']} s per "
             f"student row" + (f", in {rep['passes']} passes of a fresh process each, before and after the teacher, "
                               "the CI taken over the calls of all passes" if (rep.get('passes') or 1) > 1 else "")
             + "); the headline ratios are timed in pairs inside the teacher's worker.", "",
             f"Load average (1 min) at start / highest at a row's end: first run {rep['load_avg_1m']['first']['start']:.2f} / "
             f"{rep['load_avg_1m']['first']['end'] or 0:.2f}, second run {rep['load_avg_1m']['second']['start']:.2f} / "
             f"{rep['load_avg_1m']['second']['end'] or 0:.2f} (2 CPUs).", "",
             f"**Headline ratios agree: {yn[rep['ratios_agree']]}. Rows agree: {rep['rows_agree']} of {rep['rows_compared']}.**",
             "", "## Headline ratios (student speed-up over the teacher, paired)", "",
             "| pair | first run (95% CI) | second run (95% CI) | agree |", "|---|---|---|---|"]
    for r in rep["ratios"]:
        sid = r["student_id"] if r["student_id"] == r["student_id_second"] else f"{r['student_id']} / {r['student_id_second']}"
        lines.append(f"| {r['label']}: {sid} | {_ci(r['first'], 1)} | {_ci(r['second'], 1)} | {yn[r['agree']]} |")
    lines += ["", "## Rows (p50 ms, 95% CI of the median)", "",
              "| row | first run | bound met | second run | bound met | agree |", "|---|---|---|---|---|---|"]
    for r in rep["rows"]:
        lines.append(f"| {r['id']} | {_ci(r['first'], 3)} | {yn[bool(r['first']['bound_met'])]} | {_ci(r['second'], 3)} | "
                     f"{yn[bool(r['second']['bound_met'])]} | {yn[r['agree']]} |")
    if (rep.get("passes") or 1) > 1:
        lines += ["", "Each row's interval spans its passes: two processes of the same runtime a minute apart differ "
                  "by a few percent (where the runtime placed its memory and threads, the load at that moment), more "
                  "than one process's own noise, so a row whose passes differ misses the +-1% bound and says so, and "
                  "its wider interval is the one that holds from run to run. The paired headline ratios stay the "
                  "tightest figures to quote."]
    else:
        lines += ["", "A row's CI covers the noise within its own run; a change of load between the two runs moves the "
                  "median by more than that, so rows are compared within one report and the headline ratios, timed "
                  "in pairs, are the figures to quote."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m research.pipeline_repeat", description=__doc__.split("\n\n")[0])
    p.add_argument("first", type=Path)
    p.add_argument("second", type=Path)
    p.add_argument("-o", "--out", type=Path, default=OUT, help="report path without suffix (.md and .json written)")
    args = p.parse_args(argv)
    rep = compare(_bench(args.first), _bench(args.second))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(rep, indent=1) + "\n")
    args.out.with_suffix(".md").write_text(markdown(rep, (str(args.first), str(args.second))))
    print(markdown(rep, (str(args.first), str(args.second))))
    return 0 if rep["ratios_agree"] else 1


if __name__ == "__main__":
    sys.exit(main())
