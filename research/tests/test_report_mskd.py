"""research/report_mskd.py and the MSKD experiments table: the report's pieces, and the one table that both the
driver (research/mskd_x8_cpu.sh) and the report read."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from fsr_edge.models import create_model, load_model

REPO = Path(__file__).resolve().parents[2]


def test_the_driver_and_the_report_read_one_experiments_table():
    from research.mskd_experiments import EXPERIMENTS, STUDENT_RUNS
    from research.report_mskd import STUDENT_RUNS as REPORT_RUNS

    assert REPORT_RUNS is STUDENT_RUNS and len(STUDENT_RUNS) == len(EXPERIMENTS)   # labels and run folders unique
    assert len(set(STUDENT_RUNS.values())) == len(EXPERIMENTS)
    listing = subprocess.run([sys.executable, "-m", "research.mskd_experiments"], cwd=REPO, capture_output=True,
                             text=True, timeout=60, check=True).stdout.splitlines()
    assert len(listing) == len(EXPERIMENTS)
    for line, e in zip(listing, EXPERIMENTS):
        out, *overrides = shlex.split(line)
        assert out == f"runs/{e.run}" and f"output_dir=runs/{e.run}" in overrides
        assert f"seed={e.seed}" in overrides and f"max_steps={e.steps}" in overrides
    driver = (REPO / "research" / "mskd_x8_cpu.sh").read_text()
    assert "research.mskd_experiments" in driver and "edge:wokd_j4" not in driver   # no second copy of the grid
    ship = next(e for e in EXPERIMENTS if e.label == "edge student SSKD")
    assert ship.overrides()[:2] == ["seed=0", "method.kd_scales=[2]"]


def test_report_landmark_gap_scores_the_teacher_with_each_landmark_source(faces_dir, tmp_path, tiny_dictionary):
    from fsr_edge.data import FaceDataset
    from fsr_edge.metrics import psnr, quantize_8bit
    from research.report_mskd import landmark_gap

    dic = tiny_dictionary(tmp_path / "dic.safetensors")
    teacher = create_model("dfdnet_teacher_x8", dictionary=str(dic), decoder_channels=[16, 16, 8]).eval()
    torch.nn.init.normal_(teacher.to_rgb[0].weight, std=0.05)
    teacher.detect_landmarks = False
    val = FaceDataset(faces_dir, split="val", degradation="clean", train=False, progress=False)
    items = [val[0], val[1]]
    gap = landmark_gap(teacher, items)
    assert set(gap) == {"template", "own landmark step", "HR landmarks"}
    assert teacher.detect_landmarks is False                         # restored
    with torch.no_grad():
        want = [float(psnr(quantize_8bit(teacher.forward_features(it["lr_face"][None], it["landmarks68"][None])[0]),
                           quantize_8bit(it["hr_face"][None]))) for it in items]
        template = [float(psnr(quantize_8bit(teacher(it["lr_face"][None])), quantize_8bit(it["hr_face"][None])))
                    for it in items]
    assert gap["HR landmarks"] == pytest.approx(sum(want) / 2, abs=1e-4)
    assert gap["template"] == pytest.approx(sum(template) / 2, abs=1e-4)
    assert gap["template"] != gap["HR landmarks"]                   # the landmarks reach the output


def test_report_carry_over_keeps_earlier_rows_this_run_could_not_evaluate():
    from research.report_mskd import _label, carry_over

    settings = {"limit": None, "metrics": ["psnr"]}
    earlier = {"settings": settings, "rows": {"a": {"clean": {"means": {"psnr": 1.0}}},
                                              "b": {"clean": {"means": {"psnr": 2.0}}}},
               "dictionary": {"training_fp32": {"bytes": 3}}}
    results = {"settings": dict(settings), "rows": {"a": {"clean": {"means": {"psnr": 9.0}}}}, "dictionary": {}}
    carry_over(results, earlier)
    assert results["rows"]["a"] == {"clean": {"means": {"psnr": 9.0}}}     # evaluated now: the new value wins
    assert results["rows"]["b"]["carried"] is True and results["rows"]["b"]["clean"]["means"]["psnr"] == 2.0
    assert results["dictionary"] == {"training_fp32": {"bytes": 3}}
    assert _label("b", results["rows"]["b"]) == "b *" and _label("a", results["rows"]["a"]) == "a"
    # carried or not, rows are listed in the tables' order (baselines, teachers, STUDENT_RUNS), unknown ones last
    from research.report_mskd import STUDENT_RUNS, in_table_order

    first, second = list(STUDENT_RUNS)[:2]
    assert list(in_table_order({"zzz": 0, second: 1, "bicubic": 2, first: 3})) == ["bicubic", first, second, "zzz"]
    # rows measured under other settings (here: on the first 4 val faces only) are not mixed in
    other = {"settings": dict(settings), "rows": {}, "dictionary": {}}
    carry_over(other, {**earlier, "settings": {"limit": 4, "metrics": ["psnr"]}})
    assert other["rows"] == {}


def test_report_fold_gap_scores_the_faces_of_each_side_of_the_split(faces_dir):
    from fsr_edge.data import FaceDataset, identity_folds
    from fsr_edge.metrics import psnr, quantize_8bit
    from research.report_mskd import fold_gap

    model = load_model("bicubic-x8")
    gap = fold_gap(model, str(faces_dir), held_out_fold=1, limit=2)
    assert gap["trained on faces"] == gap["held out faces"] == 2
    train = FaceDataset(faces_dir, split="train", hr_size=256, scale=8, degradation="clean", train=False, seed=0,
                        progress=False)
    folds = identity_folds(faces_dir, split="train")
    for key, fold in (("trained on", 0), ("held out", 1)):
        items = [train[i] for i, f in enumerate(folds) if f == fold][:2]
        with torch.no_grad():
            want = sum(float(psnr(quantize_8bit(model(it["lr_face"][None])), quantize_8bit(it["hr_face"][None])))
                       for it in items) / 2
        assert gap[key] == pytest.approx(want, abs=1e-3)
def test_regenerating_the_mskd_report_keeps_its_hand_written_reading():
    from research.report_mskd import keep_reading

    old = "# MSKD\n\n| old table |\n\n## Reading (by hand)\n\n- the teacher is step-limited\n"
    new = keep_reading("# MSKD\n\n| new table |\n", old)
    assert new == "# MSKD\n\n| new table |\n\n## Reading (by hand)\n\n- the teacher is step-limited\n"
    assert keep_reading("# MSKD\n", "# first report, nothing by hand\n") == "# MSKD\n"


def test_bundled_weights_name_their_run_without_machine_paths():
    from fsr_edge.models import list_models, pretrained_spec, read_metadata
    from fsr_edge.models._registry import WEIGHTS_DIR
    from research.report_mskd import REPO, _source

    assert _source(REPO / "runs" / "r" / "best.safetensors") == str(Path("runs") / "r" / "best.safetensors")
    assert _source(Path("/elsewhere/best.safetensors")) == "/elsewhere/best.safetensors"
    for name in ("mskd-x8", "mskd-teacher-x8"):
        assert name in list_models(pretrained=True), f"{name}: its weights are committed in fsr_edge/models/weights"
        source = read_metadata(WEIGHTS_DIR / pretrained_spec(name).weights)["fsr_edge.source"]
        assert source.startswith("runs/") and not Path(source).is_absolute(), (name, source)
