"""Benchmark the ExecuTorch ``.pte`` artifacts of a DIST on an Android phone over ``adb``; writes the same
bench.json fields as ``fsr-edge bench`` so ``fsr-edge report`` merges the phone with the desktop.

    python -m fsr_edge.bench.android DIST --runner path/to/executor_runner -o REPORT_DIR [--serial SERIAL]

Needs ``adb`` on PATH, a phone with USB debugging on, and ExecuTorch's ``executor_runner`` built for
arm64-v8a with the XNNPACK backend (step by step: tools/android_bench/README.md). The runner prints one total
per run ("Model executed successfully N time(s) in T ms"), so latency here is the distribution of per-run means
(``--runs`` runs of ``--executions`` each), not per-call percentiles: the row says so; the runner times only
``method->execute()`` (inputs prepared outside the timed region). The manifest's golden pair is run once on the
phone and compared (PSNR) with the stored output. Peak RSS comes from
toybox ``time -v`` where the phone's shell has it. This module cannot run on a machine without a phone.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

REMOTE_DIR = "/data/local/tmp/fsr_edge"
_RUN_RE = re.compile(r"executed successfully\s+(\d+)\s+time\(s\)\s+in\s+([\d.]+)\s*ms")
_RSS_RE = re.compile(r"Max RSS\D*(\d+)\s*(KiB|kB|KB)?", re.I)


def parse_executor_runner(text: str) -> dict | None:
    """{'executions': N, 'total_ms': T, 'mean_ms': T/N} from executor_runner's log, or None."""
    m = _RUN_RE.search(text)
    if not m:
        return None
    n, total = int(m.group(1)), float(m.group(2))
    return {"executions": n, "total_ms": total, "mean_ms": total / max(n, 1)}


def parse_max_rss_mb(text: str) -> float | None:
    m = _RSS_RE.search(text)
    return int(m.group(1)) / 1024 if m else None


def android_row(artifact: dict, runs: list[dict], *, rss_mb: list[float], threads: int, first_ms: float | None,
                golden_psnr_db: float | None = None) -> dict:
    """A bench.json row from executor_runner runs (each: executions, total_ms, mean_ms)."""
    means = sorted(r["mean_ms"] for r in runs)
    row = {"id": f"{artifact.get('id', 'executorch')}-android", "role": "student", "target": "executorch",
           "runtime": "executorch", "precision": artifact.get("precision"), "device": "android-cpu",
           "file": artifact.get("file"), "size_bytes": artifact.get("size_bytes"), "params": artifact.get("params"),
           "macs": artifact.get("macs"), "threads": threads}
    if not means:
        return {**row, "status": "failed", "reason": "executor_runner printed no timing line"}
    row.update(status="measured", load_s=None, first_inference_ms=first_ms,
               latency={"p50_ms": float(np.median(means)), "p90_ms": float(np.percentile(means, 90)),
                        "p99_ms": float(np.percentile(means, 99)), "mean_ms": float(np.mean(means)), "min_ms": means[0],
                        "iterations": sum(r["executions"] for r in runs), "median_ci95_rel": float("nan"),
                        "stop_reason": f"{len(runs)} executor_runner runs x {runs[0]['executions']} executions; "
                                       "percentiles are over per-run means (the runner prints totals only)"},
               peak_rss_mb=max(rss_mb) if rss_mb else None, peak_rss_delta_mb=None, golden_psnr_db=golden_psnr_db)
    if row["macs"]:
        row["gflops_achieved"] = 2 * row["macs"] / (row["latency"]["p50_ms"] / 1e3) / 1e9
    return row


def _adb(serial: str | None, *args: str, timeout: float = 300) -> str:
    cmd = ["adb"] + (["-s", serial] if serial else []) + list(args)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {(proc.stderr or proc.stdout).strip()[:300]}")
    return proc.stdout + proc.stderr


def _device_info(serial: str | None) -> dict:
    prop = lambda key: _adb(serial, "shell", "getprop", key).strip()  # noqa: E731
    cpus = _adb(serial, "shell", "cat /sys/devices/system/cpu/possible").strip()
    return {"hostname": f"android:{prop('ro.product.model')}", "platform": f"Android {prop('ro.build.version.release')}",
            "cpu_model": prop("ro.soc.model") or prop("ro.board.platform") or prop("ro.hardware"),
            "logical_cpus": cpus, "usable_cpus": None, "cpu_mhz": None, "isa": [prop("ro.product.cpu.abi")],
            "gpu": None, "load_avg_1m": None}


def bench_android(dist: str | Path, out_dir: str | Path, *, runner: str | Path, serial: str | None = None,
                  threads: int = 4, runs: int = 10, executions: int = 50) -> dict:
    from .. import __version__
    from ..android import psnr_db
    from ..safety import sha256_file
    from .harness import golden_files, load_manifest
    from .report import write_report

    if shutil.which("adb") is None:
        raise RuntimeError("adb not found on PATH (Android platform-tools); this runner needs a phone over USB")
    dist, out_dir = Path(dist), Path(out_dir)
    manifest = load_manifest(dist)
    info = _device_info(serial)
    _adb(serial, "shell", "mkdir", "-p", REMOTE_DIR)
    _adb(serial, "push", str(runner), f"{REMOTE_DIR}/executor_runner")
    _adb(serial, "shell", "chmod", "755", f"{REMOTE_DIR}/executor_runner")
    has_time = "Max RSS" in _adb(serial, "shell", "time -v true 2>&1 || true")
    rows = []
    for art in manifest["artifacts"]:
        if art.get("target") != "executorch" or not art.get("file"):
            continue
        path = dist / art["file"]
        if sha256_file(path) != art.get("sha256"):
            rows.append({"id": f"{art['id']}-android", "role": "student", "runtime": "executorch",
                         "precision": art.get("precision"), "device": "android-cpu", "status": "failed",
                         "reason": "sha256 mismatch with the manifest; not pushed"})
            continue
        remote = f"{REMOTE_DIR}/{path.name}"
        _adb(serial, "push", str(path), remote)
        base = f"cd {REMOTE_DIR} && ./executor_runner --model_path {path.name} --cpu_threads {threads}"
        first, golden_psnr = None, None
        golden = golden_files(art, dist)
        if golden:
            # the manifest's golden pair on the phone: --inputs feeds the raw float32 file, --output_file writes
            # <base>-0.bin; its PSNR to the stored output says the phone computes what the desktop verified
            _adb(serial, "push", str(golden[0]), f"{REMOTE_DIR}/golden_in.bin")
            first = parse_executor_runner(_adb(serial, "shell", f"{base} --num_executions 1 --inputs golden_in.bin "
                                                                  "--output_file phone_out 2>&1"))
            local = out_dir / f"{art['id']}-phone_out-0.bin"
            out_dir.mkdir(parents=True, exist_ok=True)
            _adb(serial, "pull", f"{REMOTE_DIR}/phone_out-0.bin", str(local))
            ref = np.fromfile(golden[1], dtype="<f4")
            got = np.fromfile(local, dtype="<f4")
            if got.shape == ref.shape:
                golden_psnr = psnr_db(ref, got, data_range=1.0)
        else:
            first = parse_executor_runner(_adb(serial, "shell", f"{base} --num_executions 1 2>&1"))
        results, rss = [], []
        for _ in range(runs):
            cmd = f"{base} --num_executions {executions}"
            out = _adb(serial, "shell", f"{'time -v ' if has_time else ''}{cmd} 2>&1")
            parsed = parse_executor_runner(out)
            if parsed:
                results.append(parsed)
            mb = parse_max_rss_mb(out)
            if mb:
                rss.append(mb)
        rows.append(android_row(art, results, rss_mb=rss, threads=threads, first_ms=first["mean_ms"] if first else None,
                                golden_psnr_db=golden_psnr))
    report = {"fsr_edge_version": __version__, "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
              "dist": str(dist), "notes": ["measured on an Android phone with ExecuTorch's executor_runner over adb"],
              "manifest_model": manifest["model"], "machine": info, "threads": threads,
              "peaks": {"measured": {"gflops": None, "how": "not measured on the phone"},
                        "theoretical": {"gflops": None, "how": "not derived for the phone"}},
              "eval_set": {"source": "not measured on the phone (quality: see the desktop report; the same .pte)",
                           "images": 0},
              "teacher": None, "rows": rows, "ratios": {"status": "not measured", "reason": "the teacher does not run on the phone"},
              "crosschecks": [], "photo_pipeline": None}
    write_report(report, out_dir)
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m fsr_edge.bench.android", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dist")
    p.add_argument("--runner", required=True, help="executor_runner built for Android arm64-v8a (with XNNPACK)")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--serial", default=None, help="adb device serial (default: the only device)")
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--executions", type=int, default=50)
    args = p.parse_args(argv)
    try:
        bench_android(args.dist, args.output, runner=args.runner, serial=args.serial, threads=args.threads,
                      runs=args.runs, executions=args.executions)
    except (RuntimeError, OSError) as err:
        print(f"android bench: error: {err}", file=sys.stderr)
        return 2
    print(f"report: {args.output}/report.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
