"""``fsr-edge degrade`` end to end: pairs written, parameters logged and replayable, reruns identical."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from fsr_edge.cli import main
from fsr_edge.data import DegradationParams, FacePairs, apply_degradation
from fsr_edge.io import read_image


def _faces(folder, n=3, size=256):
    folder.mkdir()
    rng = np.random.default_rng(0)
    for k in range(n):
        small = (rng.random((size // 8, size // 8, 3)) * 200 + 20).astype(np.uint8)
        Image.fromarray(small).resize((size, size), Image.BICUBIC).save(folder / f"face{k}.png")
    return folder


def _files(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_degrade_synthetic_pairs_replay_and_rerun(tmp_path, capsys):
    src = _faces(tmp_path / "in")
    out1, out2 = tmp_path / "out1", tmp_path / "out2"
    args = [str(src), "--scale", "4", "--mode", "blind", "--hr-size", "128", "--seed", "3", "--no-progress"]
    assert main(["degrade", *args, "-o", str(out1)]) == 0
    assert main(["degrade", *args, "-o", str(out2)]) == 0
    files1, files2 = _files(out1), _files(out2)
    assert sorted(files1) == ["degradation.json"] + [f"{d}/face{k}.png" for d in ("hr", "lr") for k in range(3)]
    assert files1 == files2   # same seed: byte-identical outputs, log included
    doc = json.loads(files1["degradation.json"])
    assert doc["seed"] == 3 and doc["scale"] == 4 and doc["config"]["jpeg_quality"] == [40, 90]
    for name, params in doc["images"].items():
        hr = read_image(out1 / "hr" / f"{name}.png").rgb
        lr = read_image(out1 / "lr" / f"{name}.png").rgb
        assert hr.shape == (128, 128, 3) and lr.shape == (32, 32, 3)
        drawn = DegradationParams.from_dict({k: v for k, v in params.items()
                                             if k not in ("index", "source", "seed")})
        assert drawn.mode == "blind" and drawn.jpeg_quality is not None
        # the log replays the LR exactly from the written HR
        assert np.array_equal(apply_degradation(hr, drawn), lr)
    pairs = FacePairs(out1)
    assert len(pairs) == 3 and pairs.scale == 4 and all(pairs.degraded)
    item = pairs[0]
    assert item["name"] == "face0" and item["lr_face"].shape == (3, 32, 32) and item["hr_face"].shape == (3, 128, 128)
    assert np.array_equal(item["lr_face"].permute(1, 2, 0).numpy(), read_image(out1 / "lr" / "face0.png").rgb)
    out3 = tmp_path / "out3"
    assert main(["degrade", *args[:-3], "--seed", "4", "--no-progress", "-o", str(out3)]) == 0
    assert _files(out3)["lr/face0.png"] != files1["lr/face0.png"]


def test_degrade_refuses_overwrite_and_reports_bad_files(tmp_path, capsys):
    src = _faces(tmp_path / "in", n=2)
    out = tmp_path / "out"
    args = ["degrade", str(src), "-o", str(out), "--mode", "clean", "--no-progress"]
    assert main(args) == 0
    before = _files(out)
    assert main(args) == 2
    assert "output exists; pass --overwrite" in capsys.readouterr().err
    assert _files(out) == before
    (src / "zz_broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    assert main(args + ["--overwrite"]) == 1
    err = capsys.readouterr().err
    assert err.count("zz_broken.png") == 1 and "Traceback" not in err
    doc = json.loads((out / "degradation.json").read_text())
    assert sorted(doc["images"]) == ["face0", "face1"] and doc["failed"] == [str(src / "zz_broken.png")]
    assert doc["config"] is None and doc["images"]["face0"]["mode"] == "clean"
    lr = read_image(out / "lr" / "face0.png").rgb
    assert lr.shape == (32, 32, 3)


def test_degrade_real_val_split_reproducible(faces_dir, tmp_path):
    # A 10-row manifest (absolute paths, both splits) keeps this quick while exercising the split filter.
    import csv

    with open(faces_dir / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    rows = [r for r in rows if r["split"] == "val"][:6] + [r for r in rows if r["split"] == "train"][:4]
    manifest = tmp_path / "manifest.csv"
    with open(manifest, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({**r, "file": str(faces_dir / r["file"])} for r in rows)
    out1, out2 = tmp_path / "a", tmp_path / "b"
    for out in (out1, out2):
        assert main(["degrade", str(manifest), "--split", "val", "-o", str(out), "--scale", "8",
                     "--mode", "blind", "--no-progress"]) == 0
    files1 = _files(out1)
    assert sorted(f for f in files1 if f.startswith("lr/")) == sorted(
        f"lr/{r['file'].rsplit('/', 1)[1].rsplit('.', 1)[0]}.png" for r in rows[:6])
    assert files1 == _files(out2)
    assert read_image(out1 / "hr" / "london-003_neutral.png").rgb.shape == (256, 256, 3)
    assert read_image(out1 / "lr" / "london-003_neutral.png").rgb.shape == (32, 32, 3)


def test_degrade_config_file_sets_the_ranges(tmp_path, capsys):
    src = _faces(tmp_path / "in", n=2)
    cfg = tmp_path / "ranges.yaml"
    cfg.write_text("jpeg_quality: [55, 55]\nnoise_sigma: [0.0, 0.0]\nmotion_prob: 0.0\n")
    out = tmp_path / "out"
    assert main(["degrade", str(src), "-o", str(out), "--scale", "4", "--hr-size", "64", "--config", str(cfg),
                 "--no-progress"]) == 0
    doc = json.loads((out / "degradation.json").read_text())
    assert doc["config"]["jpeg_quality"] == [55, 55] and doc["config"]["motion_prob"] == 0.0
    assert {p["jpeg_quality"] for p in doc["images"].values()} == {55}
    assert {p["noise_sigma"] for p in doc["images"].values()} == {0.0}
    cfg.write_text("jpeg_qualty: [55, 55]\n")
    assert main(["degrade", str(src), "-o", str(tmp_path / "o2"), "--config", str(cfg)]) == 2
    assert "unknown key(s) jpeg_qualty" in capsys.readouterr().err


def test_degrade_bad_arguments(tmp_path, capsys):
    src = _faces(tmp_path / "in", n=1)
    assert main(["degrade", str(src), "-o", str(tmp_path / "o"), "--split", "val"]) == 2
    assert "no splits" in capsys.readouterr().err
    assert main(["degrade", str(tmp_path / "nope"), "-o", str(tmp_path / "o")]) == 2
    assert "not a folder of faces nor a manifest.csv" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["degrade", str(src), "-o", str(tmp_path / "o"), "--mode", "fuzzy"])
