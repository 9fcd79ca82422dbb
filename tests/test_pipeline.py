"""`fsr-edge pipeline`, the main job: output-folder safety, the student/teacher resolution, and (where the export
library is in the build) a real --quick run end to end."""

from __future__ import annotations

import json
import importlib.util
from pathlib import Path

import pytest

from fsr_edge.bench import main_job
from fsr_edge.cli import main as cli_main
from fsr_edge.errors import FsrEdgeError


def test_refuses_a_foreign_non_empty_output_folder(tmp_path, capsys):
    out = tmp_path / "dist"
    out.mkdir()
    (out / "thesis.tex").write_text("mine")
    rc = cli_main(["pipeline", "-o", str(out), "--quick"])
    err = capsys.readouterr().err
    assert rc == 2 and "not empty and was not written by fsr-edge pipeline" in err and "--overwrite" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert (out / "thesis.tex").read_text() == "mine"  # untouched


def test_accepts_empty_missing_and_previous_pipeline_folders(tmp_path):
    main_job.check_output_dir(tmp_path / "new", overwrite=False)
    (tmp_path / "empty").mkdir()
    main_job.check_output_dir(tmp_path / "empty", overwrite=False)
    prev = tmp_path / "prev"
    prev.mkdir()
    (prev / main_job.MARKER).write_text("{}")
    (prev / "manifest.json").write_text("{}")
    main_job.check_output_dir(prev, overwrite=False)
    (tmp_path / "file").write_text("x")
    with pytest.raises(FsrEdgeError, match="not a folder"):
        main_job.check_output_dir(tmp_path / "file", overwrite=True)


def test_publish_replaces_the_previous_output_in_one_rename(tmp_path):
    out, work = tmp_path / "dist", tmp_path / ".dist.tmp"
    out.mkdir()
    (out / "old.onnx").write_text("old")
    work.mkdir()
    (work / "new.onnx").write_text("new")
    main_job._publish(work, out)
    assert sorted(p.name for p in out.iterdir()) == ["new.onnx"] and not work.exists()
    assert not list(tmp_path.glob(".dist.old-*"))


def test_student_resolution_never_silently_falls_back(monkeypatch):
    import fsr_edge.models as models
    from fsr_edge.exporters import DEFAULT_STUDENT, FALLBACK_STUDENTS

    assert main_job.resolve_student("my.safetensors") == ("my.safetensors", [])
    monkeypatch.setattr(models, "list_models", lambda pretrained=False: ["bicubic-x8", FALLBACK_STUDENTS[0]])
    name, notes = main_job.resolve_student(None)
    assert name == FALLBACK_STUDENTS[0] and DEFAULT_STUDENT in notes[0]
    monkeypatch.setattr(models, "list_models", lambda pretrained=False: ["bicubic-x8", DEFAULT_STUDENT])
    assert main_job.resolve_student(None) == (DEFAULT_STUDENT, [])
    monkeypatch.setattr(models, "list_models", lambda pretrained=False: ["bicubic-x8"])
    with pytest.raises(FsrEdgeError, match="no bundled student"):
        main_job.resolve_student(None)


def _export_library_present() -> bool:
    try:
        from fsr_edge.exporters import export_student  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.slow
@pytest.mark.skipif(not _export_library_present(), reason="fsr_edge.exporters.export_student is not in this build")
@pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None, reason="onnxruntime not installed")
def test_quick_pipeline_end_to_end(tmp_path):
    import torch

    from fsr_edge.models import create_model, save_model

    torch.manual_seed(0)
    student = save_model(create_model("edge_sr_x8"), tmp_path / "student.safetensors", arch="edge_sr_x8")
    out = tmp_path / "dist"
    result = main_job.run_pipeline(out, model=str(student), quick=True, threads=1, photo_pipeline=False,
                                   say=lambda _m: None)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["artifacts"] and (out / main_job.MARKER).exists()
    report = json.loads((out / "report" / "bench.json").read_text())
    measured = [r for r in report["rows"] if r["status"] == "measured" and r["role"] == "student"]
    assert any(r["runtime"] == "onnxruntime" for r in measured)
    assert (out / "report" / "report.md").read_text().startswith("# fsr_edge benchmark")
    assert result.report["rows"] == report["rows"]
    # a second run may replace its own earlier output without --overwrite
    main_job.check_output_dir(out, overwrite=False)


def test_published_output_has_the_usual_permissions(tmp_path):
    """mkdtemp makes the work folder 0700; what is published is shared: 0777/0666 minus the umask."""
    import os
    import stat
    import tempfile

    work = Path(tempfile.mkdtemp(prefix=".dist.tmp-", dir=tmp_path))
    (work / "report").mkdir(mode=0o700)
    (work / "report" / "report.md").write_text("r")
    (work / "manifest.json").write_text("{}")
    os.chmod(work / "manifest.json", 0o600)
    old = os.umask(0o022)
    try:
        main_job._publish(work, tmp_path / "dist")
    finally:
        os.umask(old)
    out = tmp_path / "dist"
    modes = {p.relative_to(tmp_path).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in [out, *out.rglob("*")]}
    assert modes == {"dist": 0o755, "dist/report": 0o755, "dist/report/report.md": 0o644, "dist/manifest.json": 0o644}


# lines the main job itself prints; anything else on stdout or stderr came from another library
_OWN_LINE = ("[pipeline]", "[export]", "[bench]", "fsr-edge pipeline:", "  ")


@pytest.mark.slow
@pytest.mark.skipif(not _export_library_present(), reason="fsr_edge.exporters.export_student is not in this build")
@pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None, reason="onnxruntime not installed")
def test_quick_main_job_prints_no_third_party_lines(tmp_path):
    """`fsr-edge pipeline --quick` as a user runs it: every line of its output is its own (no warnings, log lines or
    progress bars of other libraries), each artifact's status appears once, and --verbose is offered."""
    import subprocess
    import sys

    import torch

    from fsr_edge.models import create_model, save_model

    torch.manual_seed(0)
    student = save_model(create_model("edge_sr_x8"), tmp_path / "student.safetensors", arch="edge_sr_x8")
    done = subprocess.run([sys.executable, "-m", "fsr_edge.cli", "pipeline", "-o", str(tmp_path / "dist"), "--quick",
                           "--model", str(student), "--threads", "1", "--teacher", "bicubic-x8"],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode in (0, 1), done.stderr[-3000:]
    foreign = [ln for ln in (done.stdout + done.stderr).splitlines() if ln.strip() and not ln.startswith(_OWN_LINE)]
    assert not foreign, "\n".join(foreign)
    assert done.stderr.strip() == ""
    manifest = json.loads((tmp_path / "dist" / "manifest.json").read_text())
    for art in manifest["artifacts"]:
        assert sum(art["id"] in ln for ln in done.stdout.splitlines() if ln.startswith(("[export]", "[pipeline]"))) == 1
