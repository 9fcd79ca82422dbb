"""The command line as a newcomer meets it: plain-text help for every subcommand, help text for every option,
`fsr-edge models` fast (no torch import) and marking the default, `upscale` defaulting to that model and refusing
a training-only one in one line."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys

import pytest

from fsr_edge.cli import build_parser
from fsr_edge.cli import main as cli_main

RST = re.compile(r"``|:(?:py:)?(?:func|class|meth|mod|attr|data|obj|ref|exc):`")


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {"": parser, **sub.choices}


@pytest.mark.parametrize("command", list(_subparsers()))
def test_help_has_no_restructuredtext_markup(command):
    text = _subparsers()[command].format_help()
    assert not RST.search(text), f"fsr-edge {command} --help: {RST.search(text).group(0)!r} in\n{text}"


@pytest.mark.parametrize("command", list(_subparsers()))
def test_every_option_has_help(command):
    parser = _subparsers()[command]
    bare = [a.option_strings or [a.dest] for a in parser._actions if not (a.help or "").strip()]
    assert not bare, f"fsr-edge {command}: options without help text: {bare}"


def test_plain_text_turns_roles_and_literals_into_words():
    from fsr_edge.cli._text import plain_text

    assert plain_text("``dist/`` from :func:`export_student` and :class:`~x.Y`") == "dist/ from export_student and x.Y"


def test_models_marks_the_default_without_importing_torch():
    from fsr_edge.exporters.pipeline import default_student

    code = ("import sys; from fsr_edge.cli import main; rc = main(['models', '--json']); "
            "assert 'torch' not in sys.modules, 'fsr-edge models imported torch'; sys.exit(rc)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = json.loads(done.stdout)
    marked = [r["name"] for r in rows if r["default"]]
    assert marked == [default_student()]
    from fsr_edge.models import training_only

    assert all(r["training_only"] == training_only(r["name"]) for r in rows)
    assert all(r["role"] == "training only" for r in rows if r["training_only"])


def test_models_table_names_the_default(capsys):
    from fsr_edge.exporters.pipeline import default_student

    assert cli_main(["models"]) == 0
    out = capsys.readouterr().out
    assert f"| **{default_student()}** | default |" in out and f"default: {default_student()}" in out


def test_zoo_snapshot_describes_this_install():
    """models/weights/zoo.json is what the registry says (rewrite it with python -m fsr_edge.zoo)."""
    from fsr_edge import zoo
    from fsr_edge.exporters.pipeline import default_student
    from fsr_edge.models import list_models, pretrained_spec, training_only

    snapshot = json.loads(zoo.ZOO_FILE.read_text())
    assert zoo._snapshot_is_current(snapshot), "stale: run python -m fsr_edge.zoo"
    assert snapshot["default"] == default_student()
    assert sorted(snapshot["models"]) == list_models(pretrained=True)
    for name, entry in snapshot["models"].items():
        spec = pretrained_spec(name)
        assert (entry["arch"], entry["description"], entry["training_only"]) == (
            spec.arch, spec.description, training_only(name))


@pytest.mark.slow
def test_zoo_snapshot_counts_match_the_models():
    from fsr_edge import zoo

    snapshot = json.loads(zoo.ZOO_FILE.read_text())
    for name, entry in snapshot["models"].items():
        assert zoo.count_entry(name) == entry, name


def test_a_changed_weights_file_makes_the_snapshot_stale(tmp_path, monkeypatch):
    from fsr_edge import zoo

    snapshot = json.loads(zoo.ZOO_FILE.read_text())
    name, entry = next((n, e) for n, e in snapshot["models"].items() if e["files"])
    file = next(iter(entry["files"]))
    entry["files"][file] += 1
    assert not zoo._snapshot_is_current(snapshot)
    snapshot["models"].pop(name)
    assert not zoo._snapshot_is_current(snapshot)


def test_pisr_teachers_are_registered_training_only():
    from fsr_edge.models import list_models, training_only

    teachers = [n for n in list_models(pretrained=True) if n.startswith("pisr-teacher")]
    if not teachers:
        pytest.skip("no PISR teacher bundled in this build")
    assert all(training_only(n) for n in teachers)
    assert not training_only("mskd-x8") and not training_only("bicubic-x8") and not training_only("no-such-model")


def test_upscale_refuses_a_training_only_model_in_one_line(tmp_path, capsys):
    from fsr_edge.models import create_model, list_models, save_model

    names = [n for n in list_models(pretrained=True) if n.startswith("pisr-teacher")]
    # a user's file of a training-only architecture is refused too, by its metadata
    path = save_model(create_model("pisr_teacher_x8"), tmp_path / "teacher.safetensors", arch="pisr_teacher_x8")
    from fsr_edge.models._registry import _TRAINING_ONLY_ARCHS

    for model in names + ([str(path)] if "pisr_teacher_x8" in _TRAINING_ONLY_ARCHS else []):
        rc = cli_main(["upscale", str(tmp_path / "x.png"), "-o", str(tmp_path / "out"), "--model", model, "--aligned"])
        err = capsys.readouterr().err
        assert rc == 2 and "meant only for training" in err and len(err.strip().splitlines()) == 1, err
        assert not (tmp_path / "out").exists()
    if not names:
        pytest.skip("no PISR teacher bundled in this build")


def test_upscale_defaults_to_the_default_student():
    from fsr_edge.cli.upscale import _inference_model
    from fsr_edge.exporters.pipeline import default_student

    args = build_parser().parse_args(["upscale", "photo.jpg", "-o", "out"])
    assert args.model is None and _inference_model(args.model) == default_student()
    assert _inference_model("bicubic-x8") == "bicubic-x8"
