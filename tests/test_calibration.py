"""Calibration sets: the selection rule, replayable degradations, sha256 checks, loaders, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from fsr_edge.calibration import CalibrationSet, builtin_calibration_set, select_calibration_set
from fsr_edge.cli import main
from fsr_edge.errors import ImageError


def test_builtin_set_replays_bit_for_bit_and_round_trips(tmp_path):
    calib = builtin_calibration_set(size=4, seed=3)
    first = calib.lr_faces()
    assert len(first) == 4 and first[0].shape == (1, 3, 32, 32) and first[0].dtype == torch.float32
    assert 0.0 <= float(first[0].min()) and float(first[0].max()) <= 1.0
    path = calib.save(tmp_path / "calib.json")
    again = CalibrationSet.load(path).lr_faces()
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    # different seed, different degradations
    other = builtin_calibration_set(size=4, seed=4).lr_faces()
    assert not all(torch.equal(a, b) for a, b in zip(first, other))


def test_loaders_feed_pt2e_nncf_and_coreml():
    calib = builtin_calibration_set(size=2)
    assert [t[0].shape for t in calib.to_pt2e()] == [(1, 3, 32, 32)] * 2
    samples = calib.to_coreml("lr_face")
    assert samples[0]["lr_face"].shape == (1, 3, 32, 32) and samples[0]["lr_face"].dtype == np.float32
    ds = calib.to_nncf()
    assert len(list(ds.get_inference_data())) == 2


def test_refuses_to_overwrite_and_catches_changed_images(tmp_path):
    calib = builtin_calibration_set(size=2)
    path = calib.save(tmp_path / "c.json")
    with pytest.raises(Exception, match="already exists"):
        calib.save(path)
    d = json.loads(path.read_text())
    d["items"][0]["sha256"] = "0" * 64
    path.write_text(json.dumps(d))
    with pytest.raises(ImageError, match="differs"):
        CalibrationSet.load(path).lr_faces()


def test_rule_spreads_over_identities_sources_expressions(faces_dir, tmp_path):
    calib = select_calibration_set(faces_dir, size=8, seed=0)
    idents = [it.identity for it in calib.items]
    assert len(set(idents)) == 8, "8 images must come from 8 identities"
    assert {it.source for it in calib.items} == {"london", "canada"}
    assert {it.expression for it in calib.items} >= {"neutral", "smiling"}
    # never the val split
    val = {l.split(",")[0] for l in (faces_dir / "manifest.csv").read_text().splitlines() if l.endswith(",val")}
    assert not {it.path for it in calib.items} & val
    # the rule is deterministic in the seed
    assert [it.path for it in select_calibration_set(faces_dir, size=8, seed=0).items] == [it.path for it in calib.items]
    path = calib.save(tmp_path / "calib.json")
    lr = CalibrationSet.load(path).lr_faces()
    assert lr[0].shape == (1, 3, 32, 32)


def test_cli_calibrate_builtin(tmp_path, capsys):
    out = tmp_path / "calib.json"
    assert main(["calibrate", "--builtin", "--size", "3", "-o", str(out)]) == 0
    assert json.loads(out.read_text())["size"] == 3
    assert main(["calibrate", "--builtin", "-o", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
