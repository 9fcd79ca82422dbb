"""Latency statistics shared by the benchmark worker and the harness: the median's 95% CI from calls in the order
they ran, and the summary a benchmark row reports. Standard library and numpy only: the worker process imports
this without torch.
"""

from __future__ import annotations

import math

import numpy as np


def median_ci(sorted_ms: list[float]) -> tuple[float, float] | None:
    """Distribution-free 95% CI of the median: the order statistics n/2 -+ 1.96 sqrt(n)/2 (the binomial(n, 1/2)
    count below the median, normal approximation); None with fewer than 8 samples."""
    n = len(sorted_ms)
    if n < 8:
        return None
    half = 1.96 * math.sqrt(n) / 2
    lo, hi = max(0, math.floor(n / 2 - half)), min(n - 1, math.ceil(n / 2 + half))
    return sorted_ms[lo], sorted_ms[hi]


def median_ci_rel(sorted_ms: list[float]) -> float:
    """Relative half width of the median's 95% CI (``median_ci``): (hi - lo) / (2 median)."""
    ci = median_ci(sorted_ms)
    med = sorted_ms[len(sorted_ms) // 2] if sorted_ms else 0.0
    return (ci[1] - ci[0]) / (2 * med) if ci and med > 0 else math.inf


def batch_median_ci(times_ms: list[float], batches: int = 10) -> tuple[float, float] | None:
    """95% CI of the median from the medians of consecutive batches of calls, in the order they ran: on a shared
    machine the load drifts, so neighbouring calls are alike and the order-statistic CI (which assumes independent
    calls) is too narrow; batch medians carry the drift. Ranks j and k+1-j of k batch medians, j the largest with
    P(Binomial(k, 1/2) < j) <= 2.5%. None with fewer than 6 batches of 5 calls."""
    k = min(batches, len(times_ms) // 5)
    if k < 6:
        return None
    size = len(times_ms) // k
    medians = sorted(float(np.median(times_ms[i * size:(i + 1) * size])) for i in range(k))
    j, below = 0, 0.0
    while below + math.comb(k, j) / 2**k <= 0.025:
        below += math.comb(k, j) / 2**k
        j += 1
    j = max(j, 1)
    return medians[j - 1], medians[k - j]


def median_ci_in_order(times_ms: list[float]) -> tuple[tuple[float, float] | None, float]:
    """The median's 95% CI (and its relative half width) from calls in the order they ran: the span of the
    order-statistic CI and the batch-median CI, so neither independent noise nor drift is left out."""
    s = sorted(times_ms)
    cis = [ci for ci in (median_ci(s), batch_median_ci(times_ms)) if ci]
    if not cis:
        return None, math.inf
    lo, hi = min(c[0] for c in cis), max(c[1] for c in cis)
    med = s[len(s) // 2]
    return (lo, hi), ((hi - lo) / (2 * med) if med > 0 else math.inf)


def summarize(times_ms: list[float], *, rel_ci: float | None) -> dict:
    """A row's latency numbers from its calls in the order they ran. ``rel_ci``: the bound the median's CI was
    timed to (None: a fixed call count, no bound)."""
    s = sorted(times_ms)
    ci, ci_rel = median_ci_in_order(times_ms)
    pct = lambda q: float(np.percentile(s, q))  # noqa: E731
    return {"iterations": len(s), "mean_ms": float(np.mean(s)), "std_ms": float(np.std(s)), "min_ms": s[0],
            "p50_ms": pct(50), "p90_ms": pct(90), "p99_ms": pct(99),
            "median_ci95_ms": list(ci) if ci else None, "median_ci95_rel": ci_rel,
            "ci_target_rel": rel_ci, "ci_reached": rel_ci is not None and ci_rel <= rel_ci}


def merge_passes(passes: list[dict]) -> dict:
    """One row's latency from several passes, each timed in its own process at another moment of the run (each
    pass: a ``summarize`` dict plus its ``times_ms``, ``stop_reason``, ``wall_s`` and ``warmup_iterations``).
    The statistics are those of all calls, pass after pass, so the batch-median CI spans the passes: a change of
    load or of the process's own state (memory placement, thread placement) between them widens the interval
    instead of hiding outside it. Each pass's own median and CI stay under ``passes``."""
    times = [t for p in passes for t in p["times_ms"]]
    rel = passes[0].get("ci_target_rel")
    out = summarize(times, rel_ci=rel)
    out.update(warmup_iterations=sum(p.get("warmup_iterations", 0) for p in passes),
               wall_s=sum(p.get("wall_s", 0.0) for p in passes),
               stop_reason="; ".join(f"pass {i + 1}: {p.get('stop_reason')}" for i, p in enumerate(passes)),
               passes=[{k: p.get(k) for k in ("iterations", "p50_ms", "median_ci95_ms", "stop_reason")} for p in passes])
    return out
