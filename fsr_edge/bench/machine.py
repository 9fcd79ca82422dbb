"""What machine a report comes from, and its compute peak, so "how close to the limit" is a number.

Two fp32 peaks, both recorded:
- theoretical: cores x GHz x fp32 FLOP/cycle/core, FLOP/cycle from the CPU flags (vector lanes x 2 for FMA x
  an assumed 2 FMA pipes). It can overstate: AMD Zen 4 runs AVX-512 as two 256-bit halves, hypervisors hide
  turbo, and shared cores are shared;
- measured: the best fp32 GEMM rate torch (MKL) reaches here, at the benchmark's thread count or one core's
  rate times the thread count, whichever is higher (the best this machine really does on dense fp32).
  Achieved fractions use this one: it is the honest denominator.
"""

from __future__ import annotations

import os
import platform
import re
import socket
import subprocess
import time
from pathlib import Path


def _lscpu() -> dict[str, str]:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    return {k.strip(): v.strip() for k, v in (line.split(":", 1) for line in out.splitlines() if ":" in line)}


def _cpu_mhz() -> float | None:
    try:
        mhz = [float(m) for m in re.findall(r"^cpu MHz\s*:\s*([\d.]+)", Path("/proc/cpuinfo").read_text(), re.M)]
    except OSError:
        mhz = []
    if mhz:
        return max(mhz)
    lscpu = _lscpu()
    for key in ("CPU max MHz", "CPU MHz"):
        if key in lscpu:
            return float(lscpu[key])
    return None


def machine_info() -> dict:
    lscpu = _lscpu()
    flags = set(lscpu.get("Flags", "").split())
    info = {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_model": lscpu.get("Model name") or platform.processor() or "unknown",
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_mhz": _cpu_mhz(),
        "isa": sorted(f for f in flags if f in {"avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16",
                                                 "avx_vnni", "amx_tile", "amx_int8", "amx_bf16", "f16c"}),
        "hypervisor": lscpu.get("Hypervisor vendor"),
        "cpu_vendor": lscpu.get("Vendor ID"),
        "cpu_family": int(lscpu["CPU family"]) if lscpu.get("CPU family", "").isdigit() else None,
        "load_avg_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "gpu": _gpu_info(),
    }
    info["theoretical_peak"] = theoretical_peak_gflops(info)
    return info


def _gpu_info() -> dict | None:
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    p = torch.cuda.get_device_properties(0)
    return {"name": p.name, "memory_gb": round(p.total_memory / 2**30, 1), "cuda": torch.version.cuda}


def theoretical_peak_gflops(info: dict, *, threads: int | None = None) -> dict:
    """fp32 peak from cores x clock x (lanes x 2 FMA x FMA pipes); the assumptions travel with the number."""
    isa = set(info.get("isa", []))
    lanes = 16 if "avx512f" in isa else 8 if "avx2" in isa or "avx" in isa else 4
    datapath = ""
    if lanes == 16 and info.get("cpu_vendor") == "AuthenticAMD" and (info.get("cpu_family") or 0) < 26:
        lanes, datapath = 8, "; AMD Zen 4 and older run AVX-512 on 256-bit FMA units"
    fma = 2 if "fma" in isa or "avx512f" in isa else 1
    pipes = 2
    cores = threads or info.get("usable_cpus") or 1
    ghz = (info.get("cpu_mhz") or 0) / 1000
    flop_per_cycle = lanes * fma * pipes
    return {"gflops": cores * ghz * flop_per_cycle if ghz else None, "cores": cores, "ghz": ghz,
            "flop_per_cycle_per_core": flop_per_cycle,
            "how": f"{cores} cores x {ghz:.2f} GHz x {flop_per_cycle} fp32 FLOP/cycle "
                   f"({lanes} fp32 lanes x {fma} (FMA) x {pipes} FMA pipes, assumed{datapath}); base clock, turbo not counted"}


def _best_gemm_gflops(threads: int, sizes: tuple[int, ...], repeats: int) -> tuple[float, str]:
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    best, best_how = 0.0, ""
    try:
        for size in sizes:
            a, b, out = torch.rand(size, size), torch.rand(size, size), torch.empty(size, size)
            torch.mm(a, b, out=out)  # warm-up: first call allocates and picks kernels
            t_best = float("inf")
            for _ in range(repeats):
                t0 = time.perf_counter()
                torch.mm(a, b, out=out)
                t_best = min(t_best, time.perf_counter() - t0)
            gflops = 2 * size**3 / t_best / 1e9
            if gflops > best:
                best, best_how = gflops, f"{size}x{size} in {t_best * 1e3:.2f} ms"
    finally:
        torch.set_num_threads(old)
    return best, best_how


def measured_gemm_peak_gflops(*, threads: int, sizes: tuple[int, ...] = (512, 1024), repeats: int = 10) -> dict:
    """The best dense fp32 rate torch (MKL) reaches here: max of the GEMM at ``threads`` threads and ``threads`` x
    the single-thread GEMM. On shared cores the multi-thread GEMM is limited by the other jobs at that moment;
    one core's best rate times the cores is the rate the cores deliver when they are the benchmark's."""
    multi, multi_how = _best_gemm_gflops(threads, sizes, repeats)
    single, single_how = _best_gemm_gflops(1, sizes, repeats) if threads > 1 else (multi, multi_how)
    gflops = max(multi, single * threads)
    return {"gflops": gflops, "threads": threads, "gemm_threads_gflops": multi, "gemm_1thread_gflops": single,
            "how": (f"max(best torch.mm fp32 at {threads} threads: {multi:.1f} GFLOP/s ({multi_how}), "
                    f"{threads} x best at 1 thread: {threads} x {single:.1f} GFLOP/s ({single_how})); "
                    f"sizes {', '.join(map(str, sizes))}, best of {repeats}")}


def gemm_peak_in_subprocess(*, threads: int, env: dict[str, str]) -> dict:
    """``measured_gemm_peak_gflops`` in a fresh process with the workers' environment (same thread settings
    and wait policy as the rows it is the denominator of)."""
    import json
    import sys

    code = ("import json, sys; from fsr_edge.bench.machine import measured_gemm_peak_gflops; "
            f"print(json.dumps(measured_gemm_peak_gflops(threads={int(threads)})))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    if proc.returncode != 0:
        return measured_gemm_peak_gflops(threads=threads)  # fall back to this process rather than no peak
    return json.loads(proc.stdout.strip().splitlines()[-1])
