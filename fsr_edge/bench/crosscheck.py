"""Cross-check the harness with the runtimes' own benchmark tools.

- OpenVINO: ``benchmark_app`` (ships in the openvino wheel) on the same IR, same thread count, one stream,
  latency hint, the same inference precision the harness used; its median is compared with the harness p50.
- ExecuTorch: its ``executor_runner`` / benchmark binaries are C++ build products, not in the pip wheel; where
  one is on PATH (``executor_runner``) it is run, otherwise the row says so.
- ONNX Runtime: ``onnxruntime_perf_test`` is likewise not in the wheel; used when on PATH.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

AGREEMENT = 0.20  # the harness and the runtime's tool must agree within 20% or the report explains the gap


def _benchmark_app() -> str | None:
    found = shutil.which("benchmark_app")
    if found:
        return found
    candidate = Path(sys.executable).parent / "benchmark_app"  # the venv's, when PATH lacks it
    return str(candidate) if candidate.exists() else None


def openvino_benchmark_app(model_path: str | Path, *, threads: int, seconds: float, hint: str | None,
                           pin: bool = False) -> dict:
    """Run benchmark_app; return {median_ms, average_ms, min_ms, max_ms, command} or {error}."""
    exe = _benchmark_app()
    if exe is None:
        return {"tool": "benchmark_app", "error": "benchmark_app not found (it ships in the openvino wheel)"}
    # the harness's settings, spelled out: one stream (= the latency hint), its threads and pinning
    # (benchmark_app accepts -nstreams/-nthreads/-pin only with -hint none)
    cmd = [exe, "-m", str(model_path), "-d", "CPU", "-t", f"{seconds:g}", "-api", "sync", "-hint", "none",
           "-nstreams", "1", "-nthreads", str(threads), "-pin", "YES" if pin else "NO"]
    if hint:
        cmd += ["-infer_precision", hint]  # the same inference precision the harness ran
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds * 6 + 120)
    except subprocess.TimeoutExpired:
        return {"tool": "benchmark_app", "command": " ".join(cmd), "error": "timed out"}
    out = proc.stdout + proc.stderr
    parsed = parse_benchmark_app(out)
    if proc.returncode != 0 or "median_ms" not in parsed:
        tail = [line for line in out.splitlines() if "ERROR" in line or "rror" in line][-1:] or out.splitlines()[-1:]
        return {"tool": "benchmark_app", "command": " ".join(cmd), "error": f"exit {proc.returncode}: {' '.join(tail)[:300]}"}
    return {"tool": "benchmark_app", "command": " ".join(Path(c).name if c == exe else c for c in cmd), **parsed}


def parse_benchmark_app(text: str) -> dict:
    """The latency block of benchmark_app's output: ``Median: 0.86 ms`` etc."""
    out = {}
    for key in ("Median", "Average", "Min", "Max"):
        m = re.search(rf"^\[ INFO \]\s+{key}:\s+([\d.]+) ms", text, re.M)
        if m:
            out[f"{key.lower()}_ms" if key != "Average" else "average_ms"] = float(m.group(1))
    m = re.search(r"Count:\s+(\d+) iterations", text)
    if m:
        out["iterations"] = int(m.group(1))
    return out


def agreement(harness_ms: float, tool_ms: float) -> dict:
    gap = harness_ms / tool_ms - 1
    return {"harness_p50_ms": harness_ms, "tool_median_ms": tool_ms, "gap": gap, "agrees": abs(gap) <= AGREEMENT}


def executorch_runner_status() -> str:
    exe = shutil.which("executor_runner")
    if exe:
        return f"executor_runner found at {exe}"
    return ("not run: ExecuTorch's executor_runner is a C++ build product (cmake target of the executorch repo), "
            "not part of the executorch pip wheel; the Android runner (tools/android_bench) uses it on a phone")
