"""Benchmark harness on real tiny artifacts (ONNX Runtime and OpenVINO run here): rows measured in their own
processes, sha256 mismatches refused, runtimes that cannot run here reported as not measured, reports merged."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from fsr_edge import timing
from fsr_edge.bench import BenchOptions, bench_dist, merge_reports
from fsr_edge.bench.crosscheck import agreement, parse_benchmark_app
from fsr_edge.errors import FsrEdgeError

pytest.importorskip("onnxruntime")
pytest.importorskip("openvino")

FAST = BenchOptions(threads=1, iterations=5, warmup_s=0.0, crosscheck_s=1.0, photo_pipeline=False, baselines=False,
                    peak_runs=0)  # the GEMM peak has its own test (a torch subprocess costs seconds here)
BARE = BenchOptions(threads=1, iterations=3, photo_pipeline=False, baselines=False, crosscheck_s=0, peak_runs=0)


def make_tiny_dist(dist: Path) -> Path:
    """A real DIST: fsrcnn_x8 (random init) through the export library's ONNX and OpenVINO exporters, golden
    pair and manifest written by its own writers, plus entries for two targets that cannot be built here."""
    from fsr_edge.exporters import Precision, io_contract
    from fsr_edge.exporters import onnx as onnx_exporter
    from fsr_edge.exporters import openvino as openvino_exporter
    from fsr_edge.exporters.manifest import digest, new_manifest, write_golden, write_manifest
    from fsr_edge.models import create_model, save_model
    from fsr_edge.profile import count_macs, count_params

    dist.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    model = create_model("fsrcnn_x8").eval()
    weights = save_model(model, dist / "student.safetensors", arch="fsrcnn_x8")
    lr_face = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        sr_face = model(lr_face)
    golden = {"input": write_golden(lr_face.numpy(), dist / "golden_in.bin"),
              "output": write_golden(sr_face.numpy(), dist / "golden_out.bin"),
              "output_source": "pytorch_fp32_reference", "min_psnr_db": 45.0}
    manifest = new_manifest(model={"name": str(weights), "arch": "fsrcnn_x8", "scale": 8, "lr_size": 32,
                                   "params": count_params(model), "macs": count_macs(model, (1, 3, 32, 32)),
                                   "weights_sha256": digest(weights)[0], "kwargs": {}},
                            calibration=None, verification_faces="test")
    verified = {"status": "passed", "reason": "", "psnr_vs_reference_db": None, "val_psnr_db": None,
                "fp32_val_psnr_db": None, "drop_db": None}
    for module in (onnx_exporter, openvino_exporter):
        art = module.export(model, lr_face, dist, precision=Precision.FP32, name="student")
        sha, size = digest(art.file)
        manifest["artifacts"].append({
            "id": art.id, "target": art.target.value, "precision": "fp32", "file": art.file.name,
            "extra_files": [p.name for p in art.extra_files], "sha256": sha, "size_bytes": size,
            "runtime": art.runtime, "runtime_config": art.runtime_config,
            "inputs": [io_contract("lr_face", art.input_shape)], "outputs": [io_contract("sr_face", art.output_shape)],
            "tool_versions": art.tool_versions, "verification": verified, "delegation": None, "golden": golden,
            "export_status": "exported", "export_reason": "", "notes": []})
    for target, precision, why in (("coreml", "fp16", "spec checked; prediction needs macOS"),
                                   ("tensorrt", "int8", "TensorRT needs CUDA")):
        # what the exporter writes for a target it could not build or run here
        manifest["artifacts"].append({
            "id": f"{target}-{precision}-32x32", "target": target, "precision": precision, "file": None,
            "extra_files": [], "sha256": None, "size_bytes": None, "runtime": target, "runtime_config": {},
            "inputs": [io_contract("lr_face", (1, 3, 32, 32))], "outputs": [io_contract("sr_face", (1, 3, 256, 256))],
            "tool_versions": {}, "verification": {**verified, "status": "skipped", "reason": why}, "delegation": None,
            "golden": None, "export_status": "not_available", "export_reason": why, "notes": []})
    write_manifest(dist, manifest)
    return dist


@pytest.fixture(scope="module")
def tiny_dist(tmp_path_factory) -> Path:
    return make_tiny_dist(tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="module")
def tiny_report_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("report")


@pytest.fixture(scope="module")
def tiny_report(tiny_dist, tiny_report_dir) -> dict:
    return bench_dist(tiny_dist, tiny_report_dir, teacher=None, options=FAST, progress=None)


def _row(report: dict, row_id: str) -> dict:
    return next(r for r in report["rows"] if r["id"] == row_id)


def test_onnx_and_openvino_rows_are_measured(tiny_report):
    for row_id in ("onnx-fp32-32x32", "openvino-fp32-32x32"):
        row = _row(tiny_report, row_id)
        assert row["status"] == "measured", row.get("reason")
        lat = row["latency"]
        assert lat["iterations"] == 5 and lat["stop_reason"] == "fixed iteration count"
        assert 0 < lat["min_ms"] <= lat["p50_ms"] <= lat["p90_ms"] <= lat["p99_ms"]
        assert row["load_s"] > 0 and row["first_inference_ms"] > 0
        assert row["output_shape"] == [1, 3, 256, 256]
        # the manifest's golden pair re-run in this runtime: same network, so a near-exact match
        assert row["golden_psnr_db"] > 60
        assert row["sha256_ok"] is True
        assert row["threads"] == 1
        assert 0 < row["quality"]["psnr_db"] < 60 and 0 < row["quality"]["ssim"] <= 1
        assert row["macs"] > 1e7 and row["gflops_achieved"] == pytest.approx(2 * row["macs"] / lat["p50_ms"] / 1e6)
    # both runtimes ran the same network on the same face: same quality to well under 0.01 dB
    assert _row(tiny_report, "onnx-fp32-32x32")["quality"]["psnr_db"] == pytest.approx(
        _row(tiny_report, "openvino-fp32-32x32")["quality"]["psnr_db"], abs=0.01)
    assert "f32" in _row(tiny_report, "openvino-fp32-32x32")["runtime_info"]["execution_precision"]


def test_each_row_runs_in_its_own_process(tiny_report):
    measured = [r for r in tiny_report["rows"] if r["status"] == "measured"]
    pids = {r["worker_pid"] for r in measured}
    assert len(pids) == len(measured) == 2 and os.getpid() not in pids
    # a worker importing only onnxruntime is far smaller than this pytest process, which has torch loaded:
    # had the row been measured in-process (or its RSS mixed with the parent's) it could not be
    parent_rss_mb = int(Path("/proc/self/status").read_text().split("VmRSS:")[1].split()[0]) / 1024
    ort = _row(tiny_report, "onnx-fp32-32x32")
    assert ort["rss_after_import_mb"] < parent_rss_mb / 2
    assert ort["peak_rss_mb"] < parent_rss_mb
    assert ort["peak_rss_mb"] >= ort["rss_after_load_mb"] >= ort["rss_after_import_mb"] > 0


def test_runtimes_absent_here_are_not_measured_never_numbers(tiny_report):
    for row_id, why in (("coreml-fp16-32x32", "macOS"), ("tensorrt-int8-32x32", "CUDA")):
        row = _row(tiny_report, row_id)
        if row["status"] == "measured":  # a Mac or a CUDA machine
            continue
        assert row["status"] == "not measured" and why in row["reason"]
        assert "latency" not in row and "peak_rss_mb" not in row


def test_teacher_absent_is_said_not_invented(tiny_report):
    teacher = _row(tiny_report, "teacher-eager-cpu-fp32")
    assert teacher["status"] == "not measured" and "not available" in teacher["reason"]
    assert "latency" not in teacher
    assert tiny_report["ratios"]["status"] == "not measured"


def test_report_files_are_written(tiny_report, tiny_report_dir):
    out = tiny_report_dir
    md = (out / "report.md").read_text()
    assert "Teacher: not available in this build" in md and "ratios: not measured" in md
    assert "| onnx-fp32-32x32 | onnxruntime | fp32 |" in md
    assert "**not measured**" in md
    for png in ("latency_by_target.png", "quality_vs_latency.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads((out / "bench.json").read_text())
    assert {r["id"] for r in data["rows"]} >= {"onnx-fp32-32x32", "openvino-fp32-32x32", "coreml-fp16-32x32",
                                               "tensorrt-int8-32x32"}
    assert data["peaks"]["theoretical"]["gflops"] is None or data["peaks"]["theoretical"]["gflops"] > 0


def test_sha256_mismatch_is_failed_and_not_loaded(tiny_dist, tmp_path):
    dist = tmp_path / "dist"
    shutil.copytree(tiny_dist, dist)
    with open(dist / "student_fp32_32x32.onnx", "ab") as f:
        f.write(b"\0")  # one byte appended: a truncated/modified download
    report = bench_dist(dist, tmp_path / "rep", teacher=None,
                        options=BARE, progress=None)
    row = _row(report, "onnx-fp32-32x32")
    assert row["status"] == "failed" and "sha256 differs" in row["reason"] and "integrity" in row["reason"]
    assert row["sha256_ok"] is False and "latency" not in row
    assert _row(report, "openvino-fp32-32x32")["status"] == "measured"  # the intact artifact is still measured


def test_adaptive_rows_are_timed_in_passes_and_merged(tiny_dist, tmp_path):
    """--passes 2: each adaptive row is timed in two fresh processes, its median and CI from all their calls, each
    pass's median kept; with --passes 1 a row is one process, as before."""
    adaptive = BenchOptions(threads=1, time_cap_s=0.6, min_time_s=0.0, warmup_s=0.0, min_iterations=20,
                            photo_pipeline=False, baselines=False, crosscheck_s=0, peak_runs=0)
    report = bench_dist(tiny_dist, tmp_path / "rep", teacher=None, options=adaptive, progress=None)
    lat = _row(report, "onnx-fp32-32x32")["latency"]
    assert [p["iterations"] for p in lat["passes"]] and len(lat["passes"]) == 2
    assert lat["iterations"] == sum(p["iterations"] for p in lat["passes"]) and "times_ms" not in lat
    assert lat["stop_reason"].startswith("pass 1: ") and "; pass 2: " in lat["stop_reason"]
    lo, hi = lat["median_ci95_ms"]
    assert lo <= lat["p50_ms"] <= hi
    assert "p50 per pass" in (tmp_path / "rep" / "report.md").read_text()
    one = bench_dist(tiny_dist, tmp_path / "rep1", teacher=None, progress=None,
                     options=BenchOptions(**{**adaptive.__dict__, "passes": 1}))
    assert "passes" not in _row(one, "onnx-fp32-32x32")["latency"]
    with pytest.raises(FsrEdgeError, match="passes"):
        bench_dist(tiny_dist, tmp_path / "rep0", teacher=None, progress=None,
                   options=BenchOptions(**{**adaptive.__dict__, "passes": 0}))


def test_onnx_failing_the_safety_check_is_failed_and_not_loaded(tiny_dist, tmp_path):
    """A manifest re-written around a broken ONNX (sha256 matches): fsr_edge.safety.check_onnx_file refuses it."""
    from fsr_edge.exporters.manifest import digest, load_manifest, write_manifest

    dist = tmp_path / "dist"
    shutil.copytree(tiny_dist, dist)
    (dist / "student_fp32_32x32.onnx").write_bytes(b"\x08\x07not a protobuf model")
    manifest = load_manifest(dist)
    manifest["artifacts"] = [a for a in manifest["artifacts"] if a["id"] == "onnx-fp32-32x32"]
    manifest["artifacts"][0]["sha256"] = digest(dist / "student_fp32_32x32.onnx")[0]
    write_manifest(dist, manifest)
    report = bench_dist(dist, tmp_path / "rep", teacher=None,
                        options=BARE, progress=None)
    row = _row(report, "onnx-fp32-32x32")
    assert row["status"] == "failed" and "ONNX" in row["reason"] and "not loaded" in row["reason"]
    assert "latency" not in row


def test_missing_or_broken_manifest_is_one_clear_error(tmp_path):
    with pytest.raises(FsrEdgeError, match="no manifest"):
        bench_dist(tmp_path, tmp_path / "rep", teacher=None, options=FAST, progress=None)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(FsrEdgeError, match="cannot read export manifest"):
        bench_dist(tmp_path, tmp_path / "rep", teacher=None, options=FAST, progress=None)


def test_openvino_crosscheck_ran_benchmark_app(tiny_report):
    check = next(c for c in tiny_report["crosschecks"] if c["id"] == "openvino-fp32-32x32")
    assert "error" not in check, check
    assert check["median_ms"] > 0 and check["harness_p50_ms"] == _row(tiny_report, "openvino-fp32-32x32")["latency"]["p50_ms"]
    assert "-infer_precision f32" in check["command"]


def test_machine_peaks_are_measured_and_explained():
    from fsr_edge.bench import machine

    info = machine.machine_info()
    assert info["logical_cpus"] >= 1 and info["cpu_model"]
    measured = machine.measured_gemm_peak_gflops(threads=1, sizes=(256,), repeats=3)
    assert measured["gflops"] > 0.5 and "torch.mm" in measured["how"]
    theo = machine.theoretical_peak_gflops(info, threads=2)
    if theo["gflops"]:  # clock known
        assert theo["cores"] == 2 and "FLOP/cycle" in theo["how"]
    zen4 = machine.theoretical_peak_gflops({"isa": ["avx512f", "fma"], "cpu_mhz": 2000, "cpu_vendor": "AuthenticAMD",
                                            "cpu_family": 25}, threads=1)
    assert zen4["flop_per_cycle_per_core"] == 32 and zen4["gflops"] == pytest.approx(64.0)


def test_benchmark_app_output_is_parsed():
    text = ("[ INFO ] Count:            108 iterations\n[ INFO ] Duration:         3035.82 ms\n[ INFO ] Latency:\n"
            "[ INFO ]    Median:        27.49 ms\n[ INFO ]    Average:       27.90 ms\n[ INFO ]    Min:           13.89 ms\n"
            "[ INFO ]    Max:           42.57 ms\n")
    assert parse_benchmark_app(text) == {"median_ms": 27.49, "average_ms": 27.90, "min_ms": 13.89, "max_ms": 42.57,
                                         "iterations": 108}
    assert agreement(1.1, 1.0)["agrees"] and not agreement(1.3, 1.0)["agrees"]


def test_adaptive_stop_rule_tightens_with_samples():
    rng = np.random.default_rng(0)
    few = sorted(1 + 0.1 * rng.standard_normal(40))
    many = sorted(1 + 0.1 * rng.standard_normal(4000))
    assert timing.median_ci_rel(many) < timing.median_ci_rel(few) < 0.2
    assert timing.median_ci_rel(many) < 0.01  # 4000 samples of 10% noise: the median is known to < 1%
    assert timing.median_ci_rel([1.0] * 5) == float("inf")  # too few to say


def test_reports_from_several_machines_merge(tiny_report, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for folder, host in ((a, "desktop"), (b, "jetson")):
        folder.mkdir()
        rep = json.loads(json.dumps(tiny_report))
        rep["machine"]["hostname"] = host
        if host == "jetson":  # a machine where only the engine ran
            for row in rep["rows"]:
                if row["id"] == "onnx-fp32-32x32":
                    row.update(status="not measured", reason="onnxruntime is not installed")
                    row.pop("latency")
        (folder / "bench.json").write_text(json.dumps(rep))
    md = merge_reports([a, b], tmp_path / "merged").read_text()
    assert "desktop" in md and "jetson" in md
    onnx_line = next(line for line in md.splitlines() if line.startswith("| onnx-fp32-32x32 |"))
    assert "not measured" in onnx_line and f"{_row(tiny_report, 'onnx-fp32-32x32')['latency']['p50_ms']:.3f}" in onnx_line
    merged = json.loads((tmp_path / "merged" / "bench_merged.json").read_text())
    assert len(merged["machines"]) == 2
    with pytest.raises(FsrEdgeError, match="no bench.json"):
        merge_reports([tmp_path / "nowhere"], tmp_path / "m2")


def test_android_runner_parses_executor_runner_and_writes_the_same_fields(tmp_path):
    """The adb path needs a phone (not here); its parsing and its bench.json rows are checked on real log lines."""
    from fsr_edge.bench.android import android_row, parse_executor_runner, parse_max_rss_mb
    from fsr_edge.bench.report import load_bench, write_report

    log = ("I 00:00:00.035 executorch:executor_runner.cpp:250] Model file s.pte is loaded.\n"
           "I 00:00:01.201 executorch:executor_runner.cpp:409] Model executed successfully 50 time(s) in 123.500000 ms.\n")
    run = parse_executor_runner(log)
    assert run == {"executions": 50, "total_ms": 123.5, "mean_ms": 2.47}
    assert parse_executor_runner("Execution of method forward failed") is None
    assert parse_max_rss_mb("Real 1.2s\nMax RSS 20480KiB\n") == 20.0
    runs = [run, {**run, "mean_ms": 2.5}, {**run, "mean_ms": 2.6}]
    row = android_row({"id": "executorch-int8", "precision": "int8", "macs": 10**8}, runs, rss_mb=[20.0], threads=4,
                      first_ms=9.0, golden_psnr_db=80.0)
    assert row["status"] == "measured" and row["latency"]["p50_ms"] == 2.5 and row["latency"]["iterations"] == 150
    assert "per-run means" in row["latency"]["stop_reason"]
    assert android_row({"id": "x"}, [], rss_mb=[], threads=4, first_ms=None)["status"] == "failed"
    report = {"fsr_edge_version": "t", "created_at": "now", "dist": "d", "manifest_model": {"name": "m"},
              "machine": {"hostname": "android:Pixel", "cpu_model": "Tensor", "usable_cpus": None, "isa": [],
                          "platform": "Android 15"},
              "threads": 4, "peaks": {"measured": {"gflops": None, "how": "-"}, "theoretical": {"gflops": None, "how": "-"}},
              "eval_set": {"source": "-", "images": 0}, "teacher": None, "rows": [row],
              "ratios": {"status": "not measured", "reason": "phone"}, "crosschecks": [], "photo_pipeline": None}
    write_report(report, tmp_path)
    assert load_bench(tmp_path)["rows"][0]["latency"]["p50_ms"] == 2.5
    assert "| executorch-int8-android | executorch | int8 |" in (tmp_path / "report.md").read_text()


def test_golden_files_reads_the_manifests_dicts(tiny_dist):
    from fsr_edge.bench.harness import golden_files, load_manifest

    art = load_manifest(tiny_dist)["artifacts"][0]
    assert isinstance(art["golden"]["input"], dict)  # {file, shape, dtype, byte_order}, not a path
    assert golden_files(art, tiny_dist) == (tiny_dist / "golden_in.bin", tiny_dist / "golden_out.bin")
    assert golden_files({**art, "golden": None}, tiny_dist) is None


_FAKE_ADB = """#!/bin/sh
# stands in for adb (no phone here): the device is the folder $FAKE_PHONE; the runner prints what executor_runner does
[ "$1" = "-s" ] && shift 2
case "$1" in
  push) cp "$2" "$FAKE_PHONE/$(basename "$3")" ;;
  pull) cp "$FAKE_PHONE/golden_in.bin.out" "$3" ;;
  shell) case "$*" in
      *executor_runner*--inputs*) cp "$FAKE_GOLDEN_OUT" "$FAKE_PHONE/golden_in.bin.out"
                                  echo "Model executed successfully 1 time(s) in 2.000000 ms." ;;
      *executor_runner*) echo "Model executed successfully 50 time(s) in 100.000000 ms." ;;
      *getprop*) echo Pixel ;;
    esac ;;
esac
"""


def test_android_bench_pushes_the_golden_pair_of_a_real_manifest(tiny_dist, tmp_path, monkeypatch):
    """bench_android on a real exported manifest (golden input/output are dicts): the golden pair goes to the phone
    and its PSNR is computed. adb is not installed here, so a shell script stands in for the phone."""
    import shutil

    from fsr_edge.bench.android import bench_android
    from fsr_edge.exporters.manifest import load_manifest, write_manifest

    dist = tmp_path / "dist"
    shutil.copytree(tiny_dist, dist)
    manifest = load_manifest(dist)
    manifest["artifacts"][0]["target"] = "executorch"  # the runner is fake; the manifest's golden entry is real
    write_manifest(dist, manifest)
    bin_dir, phone = tmp_path / "bin", tmp_path / "phone"
    bin_dir.mkdir(), phone.mkdir()
    (bin_dir / "adb").write_text(_FAKE_ADB)
    (bin_dir / "adb").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_PHONE", str(phone))
    monkeypatch.setenv("FAKE_GOLDEN_OUT", str(dist / "golden_out.bin"))
    report = bench_android(dist, tmp_path / "out", runner=bin_dir / "adb", runs=2, executions=50)
    row = report["rows"][0]
    assert row["status"] == "measured" and row["golden_psnr_db"] == float("inf")
    assert (phone / "golden_in.bin").read_bytes() == (dist / "golden_in.bin").read_bytes()


@pytest.mark.slow
def test_photo_pipeline_times_one_and_six_faces(tiny_dist, tmp_path, monkeypatch):
    pytest.importorskip("dlib", reason="face detection needs the fsr_edge[faces] extra")
    from fsr_edge.bench.photo import time_photo_pipeline

    # run from a folder holding a broken fsr_edge/ (as a checkout's root holds the source tree, where
    # fsr_edge.exporters is not a subfolder): the fresh process must still import the installed package
    (tmp_path / "fsr_edge").mkdir()
    (tmp_path / "fsr_edge" / "__init__.py").write_text("raise ImportError('the working directory shadowed fsr_edge')\n")
    monkeypatch.chdir(tmp_path)
    res = time_photo_pipeline(None, threads=1, raw_dir=None, iterations=1, runtime="onnxruntime",
                              path=str(tiny_dist / "student_fp32_32x32.onnx"), lr_size=32, scale=8)
    assert res["status"] == "measured", res.get("reason")
    faces = {c["name"]: c["faces"] for c in res["cases"]}
    assert faces == {"1 face": 1, "6 faces": 6}
    for case in res["cases"]:
        stages = case["warm_stages_s"]
        assert set(stages) == {"detect", "align", "upscale", "paste"} and all(v > 0 for v in stages.values())
        assert sum(stages.values()) <= case["warm_median_s"] * 1.05
        assert case["cold_s"] > 0


@pytest.mark.slow
def test_teacher_row_gives_table3_ratios(tiny_dist, tmp_path):
    """Any model file can stand as --teacher: it is measured like the rest and the ratios follow from the rows."""
    from fsr_edge.models import create_model, save_model

    teacher = save_model(create_model("edge_sr_x8"), tmp_path / "teacher.safetensors", arch="edge_sr_x8")
    report = bench_dist(tiny_dist, tmp_path / "rep", teacher=str(teacher), progress=None,
                        options=BenchOptions(threads=1, iterations=3, warmup_s=0.0, crosscheck_s=0, peak_runs=0,
                                             photo_pipeline=False, baselines=False))
    t = _row(report, "teacher-eager-cpu-fp32")
    assert t["status"] == "measured" and t["size_bytes"] == teacher.stat().st_size and t["params"] > 0
    rat = report["ratios"]
    assert rat["status"] == "measured" and rat["teacher_id"] == t["id"]
    pair = next(p for p in rat["pairs"] if p["label"] == "fastest student artifact")
    s = _row(report, pair["student_id"])
    # the headline ratio is timed in pairs (both sides under the same load); the rows' own ratio is kept beside it
    assert s.get("file") and pair["rows_time_ratio"] == pytest.approx(s["latency"]["p50_ms"] / t["latency"]["p50_ms"])
    assert pair["time_ratio_ci"][0] <= pair["time_ratio"] <= pair["time_ratio_ci"][1]
    assert pair["speedup"] == pytest.approx(1 / pair["time_ratio"])
    assert pair["peak_rss_ratio"] == pytest.approx(s["peak_rss_mb"] / t["peak_rss_mb"])
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "## Student vs teacher" in md and "fastest student artifact" in md


def test_cli_bench_reports_a_missing_dist_in_one_line(tmp_path, capsys):
    from fsr_edge.cli import main as cli_main

    rc = cli_main(["bench", str(tmp_path / "nowhere"), "-o", str(tmp_path / "rep")])
    err = capsys.readouterr().err
    assert rc == 2 and "no manifest" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    rc = cli_main(["bench", str(tmp_path), "-o", str(tmp_path / "rep"), "--threads", "0"])
    assert rc == 2 and "--threads must be >= 1" in capsys.readouterr().err


def test_pytorch_worker_applies_model_attrs_and_refuses_unknown_ones(tmp_path):
    # The MSKD report measures its teacher through this worker with the landmark step switched on.
    from fsr_edge.bench.harness import run_worker
    from fsr_edge.models import create_model, save_model

    model = create_model("fsrcnn_x8", d=8, s=4, m=1).eval()
    path = save_model(model, tmp_path / "m.safetensors", arch="fsrcnn_x8", kwargs={"d": 8, "s": 4, "m": 1})
    lr_face = torch.rand(1, 3, 8, 8)
    model.skip = False                        # the golden output is the model WITHOUT its bilinear skip
    with torch.no_grad():
        golden = model(lr_face)
    lr_face.numpy().astype("<f4").tofile(tmp_path / "in.bin")
    golden.numpy().astype("<f4").tofile(tmp_path / "out.bin")
    spec = {"runtime": "pytorch", "path": str(path), "threads": 1, "input_shape": [1, 3, 8, 8], "iterations": 3,
            "warmup_s": 0.0, "golden_input": str(tmp_path / "in.bin"), "golden_output": str(tmp_path / "out.bin")}
    ok = run_worker({**spec, "model_attrs": {"skip": False}}, workdir=tmp_path, name="ok", threads=1)
    assert ok["status"] == "ok" and ok["golden_max_abs_err"] < 1e-5 and ok["peak_rss_mb"] > 0
    as_saved = run_worker(spec, workdir=tmp_path, name="as_saved", threads=1)
    assert as_saved["golden_max_abs_err"] > 0.01        # the file's own setting (skip on) differs
    bad = run_worker({**spec, "model_attrs": {"detect_landmarks": True}}, workdir=tmp_path, name="bad", threads=1)
    assert bad["status"] == "failed" and "no attribute 'detect_landmarks'" in bad["reason"]


def _worker_module():
    spec = importlib.util.spec_from_file_location("bench_worker", Path(__file__).parents[1] / "fsr_edge/bench/_worker.py")
    worker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(worker)
    return worker


def test_median_ci_is_order_statistics_around_the_median():
    rng = np.random.default_rng(1)
    # coverage: the interval holds the true median (1.0) in about 95% of 400 samples of 101 draws
    hits = 0
    for _ in range(400):
        lo, hi = timing.median_ci(sorted(1 + 0.1 * rng.standard_normal(101)))
        hits += lo <= 1.0 <= hi
    assert 0.92 <= hits / 400 <= 0.99
    s = sorted(rng.random(50))
    lo, hi = timing.median_ci(s)
    assert lo <= s[25] <= hi and timing.median_ci_rel(s) == pytest.approx((hi - lo) / (2 * s[25]))
    assert timing.median_ci(s[:7]) is None


def test_rows_say_whether_they_reached_the_bound():
    worker = _worker_module()
    rng = np.random.default_rng(0)
    steady = iter(1.0 + 0.001 * rng.random(100000))
    noisy = iter(rng.lognormal(0, 1.0, 100000))
    spec = {"warmup_s": 0.0, "min_iterations": 20, "rel_ci": 0.01, "time_cap_s": 0.05}

    def timed(values):
        def infer(_x):
            end = worker.time.perf_counter() + next(values) * 1e-4
            while worker.time.perf_counter() < end:
                pass
        return infer

    ok = worker._steady_state(timed(steady), None, {**spec, "time_cap_s": 5.0})
    assert ok["ci_reached"] and ok["ci_target_rel"] == 0.01 and ok["median_ci95_rel"] <= 0.01
    assert ok["median_ci95_ms"][0] <= ok["p50_ms"] <= ok["median_ci95_ms"][1] and "within" in ok["stop_reason"]
    capped = worker._steady_state(timed(noisy), None, spec)
    assert not capped["ci_reached"] and capped["stop_reason"].startswith("time cap")
    fixed = worker._steady_state(timed(steady), None, {**spec, "iterations": 12})
    assert fixed["iterations"] == 12 and fixed["ci_target_rel"] is None and not fixed["ci_reached"]
    spread = worker._steady_state(timed(steady), None, {**spec, "time_cap_s": 5.0, "min_time_s": 0.2})
    assert spread["ci_reached"] and spread["wall_s"] >= 0.2  # no stop on the CI before min_time_s


def test_drifting_load_widens_the_ci():
    """Calls in the order they ran: a step in the machine's load for the last fifth of the calls is drift, not
    independent noise; the batch-median CI takes it in where the order-statistic CI of the pooled calls would not."""
    rng = np.random.default_rng(0)
    times = list(np.r_[1.0 + 0.01 * rng.random(800), 1.2 + 0.01 * rng.random(200)])
    pooled = timing.median_ci(sorted(times))
    (lo, hi), rel = timing.median_ci_in_order(times)
    assert pooled[1] - pooled[0] < 0.1 * (hi - lo) and lo < 1.01 and hi > 1.2 and rel > 0.05
    shuffled = list(rng.permutation(times))
    assert timing.median_ci_in_order(shuffled)[1] < rel / 3  # the same calls without drift: narrow again
    assert timing.batch_median_ci(times[:29]) is None  # fewer than 6 batches of 5


def test_passes_in_other_processes_widen_the_interval_to_cover_both():
    """Two passes of one row, each tight on its own (+-0.5 %) but 4 % apart (another process, another moment):
    the merged interval holds both medians, so it says the bound was not met instead of quoting either pass."""
    rng = np.random.default_rng(0)
    passes = []
    for level in (1.0, 1.04):
        t = list(level + 0.002 * rng.random(600))
        passes.append({**timing.summarize(t, rel_ci=0.01), "times_ms": t, "stop_reason": "median 95% CI within +-1%",
                       "wall_s": 1.0, "warmup_iterations": 3})
    assert all(p["ci_reached"] for p in passes)
    merged = timing.merge_passes(passes)
    lo, hi = merged["median_ci95_ms"]
    assert lo <= 1.002 and hi >= 1.04 and not merged["ci_reached"] and merged["iterations"] == 1200
    assert [p["p50_ms"] for p in merged["passes"]] == [passes[0]["p50_ms"], passes[1]["p50_ms"]]
    assert merged["stop_reason"].startswith("pass 1: median") and merged["wall_s"] == 2.0
    same = timing.merge_passes([passes[0], {**passes[0]}])   # two passes that agree stay within the bound
    assert same["ci_reached"]


_STUDENT_LAT = {"p50_ms": 2.0, "median_ci95_ms": [1.9, 2.1], "median_ci95_rel": 0.05, "ci_reached": True,
                "ci_target_rel": 0.01, "iterations": 900, "stop_reason": "median 95% CI within +-1%"}
_TEACHER_LAT = {"p50_ms": 500.0, "median_ci95_ms": [480.0, 530.0], "median_ci95_rel": 0.05, "ci_reached": False,
                "ci_target_rel": 0.01, "iterations": 40, "stop_reason": "time cap 60 s"}


def test_summary_carries_the_intervals_and_says_which_rows_missed_the_bound():
    from fsr_edge.bench.report import summary_lines

    student, teacher = _STUDENT_LAT, _TEACHER_LAT
    iv = {"time_ratio_ci": [1.9 / 530, 2.1 / 480], "speedup_ci": [480 / 2.1, 530 / 1.9], "ci_reached": False}
    rows = [{"id": "s", "role": "student", "status": "measured", "runtime": "onnxruntime", "precision": "fp32",
             "file": "s.onnx", "latency": student, "peak_rss_mb": 50.0},
            {"id": "t", "role": "teacher", "status": "measured", "runtime": "pytorch", "precision": "fp32",
             "latency": teacher, "peak_rss_mb": 500.0}]
    report = {"rows": rows, "threads": 2, "peaks": {"measured": {"gflops": 100.0}}, "machine": {"usable_cpus": 2},
              "ratios": {"status": "measured", "teacher_id": "t", "pairs": [
                  {"label": "fastest student artifact", "student_id": "s", "time_ratio": 0.004, "speedup": 250.0,
                   "peak_rss_ratio": 0.1, **iv}]}}
    text = "\n".join(summary_lines(report))
    assert "250.0x faster (95% CI 229-279)" in text and "did not reach the +-1% bound" in text
    assert "within the +-1% bound" in text  # the student's row
    assert "see " not in text and "below" not in text  # self-contained: nothing points elsewhere


def test_ratio_intervals_run_from_one_end_of_both_cis_to_the_other():
    from fsr_edge.bench.harness import ratio_intervals

    iv = ratio_intervals(_STUDENT_LAT, _TEACHER_LAT)
    assert iv["speedup_ci"] == pytest.approx([480 / 2.1, 530 / 1.9]) and iv["ci_reached"] is False
    assert iv["time_ratio_ci"] == pytest.approx([1.9 / 530, 2.1 / 480])
    assert iv["time_ratio_ci"][0] <= 2.0 / 500 <= iv["time_ratio_ci"][1]
    assert ratio_intervals({"p50_ms": 2.0}, _TEACHER_LAT) == {}


def test_paired_ratios_hold_still_when_the_load_changes(monkeypatch):
    """Teacher and student timed alternately in one process: a load that doubles both halfway leaves each round's
    ratio where it was, so the paired ratio's CI stays narrow where the two rows' medians would move apart."""
    worker = _worker_module()
    rng = np.random.default_rng(0)
    clock = {"ns": 0, "calls": 0}

    class FakeTime:  # the calls advance a clock: no dependence on how busy the test machine is
        @staticmethod
        def perf_counter_ns():
            return clock["ns"]

        @staticmethod
        def perf_counter():
            return clock["ns"] / 1e9

    def call(ms):
        clock["calls"] += 1
        load = 1.0 if clock["calls"] < 25 else 2.0
        clock["ns"] += int(ms * load * (1 + 0.02 * rng.random()) * 1e6)

    monkeypatch.setattr(worker, "time", FakeTime)
    monkeypatch.setattr(worker, "_load", lambda spec, **_: ((lambda _x: call(0.2)), {}))
    spec = {"threads": 1, "rel_ci": 0.01, "paired_time_s": 10.0,
            "paired": [{"id": "student", "runtime": "fake", "input_shape": [1, 3, 4, 4]}]}
    out = worker._paired_ratios(lambda _x: call(4.0), None, spec)["student"]
    assert out["time_ratio"] == pytest.approx(0.05, rel=0.03) and out["rounds"] >= 10 and out["ci_reached"]
    assert out["time_ratio_ci"][0] <= out["time_ratio"] <= out["time_ratio_ci"][1] and out["ci_rel"] <= 0.01
    assert clock["calls"] > 25  # the load doubled during the rounds
