"""The target table drives export, verification, the benchmark, the CLI and the availability probes: every row's
modules exist, nothing repeats it, the loaders stay torch-free, and a new row (one module + one row, as in
docs/export.md "Adding a target") is exported, verified, re-verified and loaded by the benchmark worker."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import subprocess
import sys
import types
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from fsr_edge import targets
from fsr_edge.exporters.artifact import SUPPORTED, Artifact, Precision, Target
from fsr_edge.runtimes import Session

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("row", targets.TARGETS, ids=lambda r: r.name)
def test_every_row_names_modules_that_exist(row):
    assert row.extra and row.runtime and row.packages and row.precisions
    assert set(row.precisions) <= {p.value for p in Precision}
    for ref in filter(None, (row.loader, row.probe)):
        module, _, name = ref.partition(":")
        assert callable(getattr(importlib.import_module(module), name)), ref
    exporter = row.export_module()
    assert callable(exporter.export) and callable(exporter.load_runner)
    assert targets.get(row.runtime) is row and targets.get(row.name) is row


def test_enum_precisions_cli_and_main_job_come_from_the_table():
    from fsr_edge.cli import export as export_cli

    assert [t.value for t in Target] == targets.names()
    assert {t.value: [p.value for p in ps] for t, ps in SUPPORTED.items()} == {
        r.name: list(r.precisions) for r in targets.TARGETS}
    parser = export_cli.add_parser(argparse.ArgumentParser().add_subparsers(), "export")
    assert parser.parse_args(["-o", "x"]).targets.split(",") == targets.names()


def test_table_and_loaders_import_without_torch():
    code = ("import sys, importlib, fsr_edge.targets as t\n"
            "for r in t.TARGETS: importlib.import_module(r.loader.partition(':')[0])\n"
            "import fsr_edge.cli.export\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_unavailable_names_the_package_and_its_extra(monkeypatch):
    from fsr_edge.bench import runtime_unavailable

    ghost = replace(targets.get("onnx"), name="ghost", extra="ghost", runtime="ghostrt",
                    packages=("fsr_edge_no_such_runtime",))
    monkeypatch.setattr(targets, "TARGETS", (*targets.TARGETS, ghost))
    assert "ghost" in targets.names()
    assert runtime_unavailable("ghostrt") == ("fsr_edge_no_such_runtime is not installed "
                                              "(pip install 'fsr_edge[ghost]')")
    assert targets.unavailable("onnx") is None
    if sys.platform != "darwin":
        assert "macOS" in targets.unavailable("coreml")


# ---------------------------------------------------------------- a new target: one module + one row

def _fake_target_module(calls: list) -> types.ModuleType:
    """A target whose artifact is an fp32 ONNX file with its own suffix, run by ONNX Runtime."""
    from fsr_edge.exporters.onnx import to_onnx
    from fsr_edge.runtimes import onnx as ort_loader

    def export(model, example_input, out_dir, *, precision, calibration=None, quantized_model=None, name="model"):
        path = Path(out_dir) / f"{name}_{Precision(precision).value}.onnx"
        to_onnx(model, example_input, path)
        with torch.no_grad():
            out_shape = tuple(model(example_input).shape)
        return Artifact("fake", Precision(precision), path, "onnxruntime (fake)", tuple(example_input.shape), out_shape)

    def load(path, session):
        calls.append((Path(path).name, session))
        return ort_loader.load(path, session)

    module = types.ModuleType("fsr_edge_fake_target")
    module.export, module.load = export, load
    return module


@pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None, reason="onnxruntime not installed")
def test_a_new_row_is_exported_verified_reverified_and_benched(tmp_path, monkeypatch):
    from fsr_edge.exporters import export_student
    from fsr_edge.exporters.reverify import reverify
    from fsr_edge.models import create_model, save_model

    calls: list = []
    monkeypatch.setitem(sys.modules, "fsr_edge_fake_target", _fake_target_module(calls))
    fake = targets.TargetSpec("fake", extra="onnx", runtime="fake-ort", packages=("onnxruntime",),
                              precisions=("fp32",), exporter="fsr_edge_fake_target",
                              loader="fsr_edge_fake_target:load")
    monkeypatch.setattr(targets, "TARGETS", (*targets.TARGETS, fake))

    torch.manual_seed(0)
    kwargs = {"channels": (16, 16, 8), "blocks": 1, "lr_size": 16}
    student = create_model("edge_sr_x8", **kwargs).eval()
    weights = save_model(student, tmp_path / "student.safetensors", arch="edge_sr_x8", kwargs=kwargs)
    dist = tmp_path / "dist"
    manifest = export_student(str(weights), dist, targets=["fake"], precisions=["fp32", "int8"], progress=False,
                              log=lambda _m: None)
    (entry,) = manifest["artifacts"]                      # int8 is not in the row: not attempted
    assert (entry["target"], entry["verification"]["status"]) == ("fake", "passed")
    assert calls and calls[-1][1].precision == "fp32"     # verification ran through the row's loader

    calls.clear()
    (row,) = reverify(dist, log=lambda _m: None)["artifacts"]
    assert row["verification"]["status"] == "passed" and len(calls) == 1

    spec = importlib.util.spec_from_file_location("bench_worker", ROOT / "fsr_edge/bench/_worker.py")
    worker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(worker)
    infer, info = worker._load({"runtime": "fake-ort", "path": str(dist / entry["file"]), "threads": 1})
    assert calls[-1][1] == Session(threads=1) and info["providers"] == ["CPUExecutionProvider"]
    assert infer(np.zeros((1, 3, 16, 16), np.float32)).shape == (1, 3, 128, 128)
