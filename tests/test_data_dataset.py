"""FaceDataset: splits, shapes, reproducible augmentation/degradation, landmarks that follow crops and flips."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from fsr_edge.data import FLIP_68, FaceDataset, bicubic_downsample, find_faces
from fsr_edge.errors import ConfigError, ImageError

LEFT_EYE, RIGHT_EYE = slice(36, 42), slice(42, 48)   # iBUG order: 36-41 sit on the image's left


def _write_face(path, size=512, blob=None, landmarks=None, seed=0):
    """A synthetic square 'face' (smooth noise); ``blob`` = (x, y) paints one bright dot there."""
    rng = np.random.default_rng(seed)
    img = (rng.random((size // 16, size // 16, 3)) * 120 + 40).astype(np.uint8)
    img = np.asarray(Image.fromarray(img).resize((size, size), Image.BICUBIC))
    if blob is not None:
        img = img.copy()
        yy, xx = np.mgrid[:size, :size]
        img[(xx - blob[0]) ** 2 + (yy - blob[1]) ** 2 <= 9] = 255
    Image.fromarray(img).save(path)
    if landmarks is not None:
        path.with_suffix(".json").write_text(json.dumps({"landmarks68": np.asarray(landmarks).tolist()}))


@pytest.fixture(scope="module")
def val8(faces_dir, tmp_path_factory):
    """A manifest of 8 real val faces (absolute paths): the real data at a third of the decoding time."""
    import csv

    with open(faces_dir / "manifest.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["split"] == "val"][:8]
    manifest = tmp_path_factory.mktemp("val8") / "manifest.csv"
    with open(manifest, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({**r, "file": str(faces_dir / r["file"])} for r in rows)
    return manifest


def test_flip_permutation_is_a_mirror_involution():
    assert sorted(FLIP_68) == list(range(68))
    assert [FLIP_68[j] for j in FLIP_68] == list(range(68))
    assert set(FLIP_68[36:42]) == set(range(42, 48)) and set(FLIP_68[48:55]) == set(range(48, 55))
    assert FLIP_68[0] == 16 and FLIP_68[8] == 8 and FLIP_68[30] == 30 and FLIP_68[36] == 45 and FLIP_68[39] == 42


def test_split_is_honoured(faces_dir):
    assert len(FaceDataset(faces_dir, split="train", preload=False)) == 180
    val = FaceDataset(faces_dir / "manifest.csv", split="val", preload=False)
    assert len(val) == 24
    assert len(FaceDataset(faces_dir, preload=False)) == 259   # train + val + the check-only wild split
    assert len(FaceDataset(faces_dir, split="wild", preload=False)) == 55
    train_ids = {r.name.rsplit("_", 1)[0] for r in find_faces(faces_dir, split="train")}
    assert not train_ids & {r.name.rsplit("_", 1)[0] for r in val.records}
    with pytest.raises(ConfigError, match="no rows in split 'test'"):
        find_faces(faces_dir, split="test")


@pytest.mark.parametrize("scale,lr_side", [(4, 64), (8, 32)])
def test_eval_items_real_faces(faces_dir, scale, lr_side):
    ds = FaceDataset(faces_dir, split="val", scale=scale, train=False, degradation="blind")
    item = ds[3]
    assert item["hr_face"].shape == (3, 256, 256) and item["lr_face"].shape == (3, lr_side, lr_side)
    assert item["lr_clean"].shape == (3, lr_side, lr_side) and item["landmarks68"].shape == (68, 2)
    assert item["degraded"] is True and item["index"] == 3 and item["name"] == ds.records[3].name
    assert torch.equal(item["lr_clean"], bicubic_downsample(item["hr_face"], scale))
    assert not torch.equal(item["lr_face"], item["lr_clean"])
    # landmarks: the 512 px JSON halved (pixel-index convention), left eye on the left, above the mouth
    raw = np.asarray(json.loads(ds.records[3].landmarks_path.read_text())["landmarks68"])
    np.testing.assert_allclose(item["landmarks68"].numpy(), (raw + 0.5) / 2 - 0.5, atol=1e-4)
    lm = item["landmarks68"]
    assert lm[LEFT_EYE, 0].mean() < lm[RIGHT_EYE, 0].mean()
    assert lm[LEFT_EYE, 1].mean() < lm[48:68, 1].mean()


def test_eval_is_deterministic_and_seeded_by_index(val8):
    a = FaceDataset(val8, split="val", train=False, degradation="blind", seed=5)
    b = FaceDataset(val8, split="val", train=False, degradation="blind", seed=5)
    c = FaceDataset(val8, split="val", train=False, degradation="blind", seed=6)
    a.set_epoch(4)   # evaluation ignores the epoch
    for i in (0, 7):
        assert torch.equal(a[i]["lr_face"], b[i]["lr_face"]) and torch.equal(a[i]["hr_face"], b[i]["hr_face"])
        assert torch.equal(a[i]["hr_face"], c[i]["hr_face"])
        assert not torch.equal(a[i]["lr_face"], c[i]["lr_face"])


def test_train_augmentation_reproducible_per_epoch_and_on_resume(val8):
    kw = dict(train=True, degradation="mix", seed=1)
    run = FaceDataset(val8, **kw)
    epochs = []
    for epoch in range(3):
        run.set_epoch(epoch)
        epochs.append([run[i] for i in range(4)])
    resumed = FaceDataset(val8, **kw)
    resumed.set_epoch(2)
    for i in range(4):
        for key in ("hr_face", "lr_face", "lr_clean", "landmarks68"):
            assert torch.equal(resumed[i][key], epochs[2][i][key])
    changed = sum(not torch.equal(epochs[0][i]["hr_face"], epochs[1][i]["hr_face"]) for i in range(4))
    assert changed >= 3   # a new epoch draws new crops
    for items in epochs:
        for item in items:
            assert item["hr_face"].shape == (3, 256, 256) and item["lr_face"].shape == (3, 32, 32)


def test_mix_degrades_about_p_blind_of_items(val8):
    ds = FaceDataset(val8, train=False, degradation="mix", p_blind=0.5, seed=0)
    flags = [ds.degradation_params(i).mode == "blind" for i in range(len(ds))]
    assert 1 <= sum(flags) <= 7
    for i in range(6):
        item = ds[i]
        assert item["degraded"] == flags[i]
        assert torch.equal(item["lr_face"], item["lr_clean"]) == (not flags[i])


def test_flip_mirrors_image_and_landmarks_real_faces(val8):
    kw = dict(train=True, crop=None, degradation="clean", seed=3)
    flipping, plain = FaceDataset(val8, **kw), FaceDataset(val8, hflip=False, **kw)
    n_flipped = 0
    for i in range(len(flipping)):
        a, b = flipping[i], plain[i]
        if torch.equal(a["hr_face"], b["hr_face"]):
            assert torch.equal(a["landmarks68"], b["landmarks68"])
            continue
        n_flipped += 1
        assert torch.equal(a["hr_face"], b["hr_face"].flip(-1))
        lm, orig = a["landmarks68"], b["landmarks68"]
        assert lm[LEFT_EYE, 0].mean() < lm[RIGHT_EYE, 0].mean()   # still the image-left eye after the flip
        np.testing.assert_allclose(lm[36], [255 - orig[45, 0], orig[45, 1]], atol=1e-4)
        # aligned faces are nearly symmetric: the mirrored points land near the original ones
        assert float((lm - orig).norm(dim=1).median()) < 8.0
    assert 1 <= n_flipped <= 7


def test_landmarks_follow_crop_and_flip(tmp_path):
    blob = (190.0, 230.0)   # painted where landmark 36 is
    landmarks = np.random.default_rng(0).uniform(100, 400, (68, 2))
    landmarks[36] = blob
    _write_face(tmp_path / "a.png", blob=blob, landmarks=landmarks)
    kw = dict(train=True, crop=(0.8, 1.0), degradation="clean", hr_size=128, scale=4)
    flipping, plain = FaceDataset(tmp_path, **kw), FaceDataset(tmp_path, hflip=False, **kw)
    seen = set()
    for epoch in range(8):
        flipping.set_epoch(epoch)
        plain.set_epoch(epoch)
        item = flipping[0]
        flipped = not torch.equal(item["hr_face"], plain[0]["hr_face"])
        seen.add(flipped)
        where = item["landmarks68"][45 if flipped else 36]
        yx = divmod(int(item["hr_face"].mean(0).argmax()), 128)
        assert abs(yx[1] - float(where[0])) <= 1.5 and abs(yx[0] - float(where[1])) <= 1.5, (epoch, yx, where)
    assert seen == {True, False}


def test_plain_folder_without_landmarks_and_dataloader(tmp_path):
    for k in range(3):
        _write_face(tmp_path / f"f{k}.jpg", size=256, seed=k)
    ds = FaceDataset(tmp_path, scale=8, train=True, degradation="mix")
    assert [r.name for r in ds.records] == ["f0", "f1", "f2"]
    assert torch.isnan(ds[0]["landmarks68"]).all()
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=3)))
    assert batch["hr_face"].shape == (3, 3, 256, 256) and batch["lr_face"].shape == (3, 3, 32, 32)
    assert batch["name"] == ["f0", "f1", "f2"] and batch["degraded"].dtype == torch.bool
    with pytest.raises(ConfigError, match="plain image folder has no splits"):
        FaceDataset(tmp_path, split="train")


def test_bad_files_raise_or_are_skipped(tmp_path, capsys):
    _write_face(tmp_path / "good.png", size=256)
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    _write_face(tmp_path / "wide.png", size=256)
    Image.open(tmp_path / "wide.png").resize((300, 256)).save(tmp_path / "wide.png")
    with pytest.raises(ImageError, match="broken.jpg"):
        FaceDataset(tmp_path)
    ds = FaceDataset(tmp_path, skip_bad=True)
    assert [r.name for r in ds.records] == ["good"]
    err = capsys.readouterr().err
    assert "broken.jpg" in err and "wide.png: 300x256 is not square" in err
    lazy = FaceDataset(tmp_path, preload=False)
    with pytest.raises(ImageError, match="broken.jpg"):
        lazy[0]
    assert lazy[1]["hr_face"].shape == (3, 256, 256)


def test_bad_options_raise_config_errors(tmp_path):
    _write_face(tmp_path / "a.png", size=256)
    with pytest.raises(ConfigError, match="not divisible by scale"):
        FaceDataset(tmp_path, hr_size=100, scale=8)
    with pytest.raises(ConfigError, match="choose one of"):
        FaceDataset(tmp_path, degradation="fuzzy")
    with pytest.raises(ConfigError, match="no such manifest"):
        FaceDataset(tmp_path / "missing.csv")
    with pytest.raises(ImageError, match="smaller than hr_size 512"):
        FaceDataset(tmp_path, hr_size=512)


def test_blind_config_from_a_yaml_dict(tmp_path):
    _write_face(tmp_path / "a.png", size=256)
    ds = FaceDataset(tmp_path, train=False, degradation="blind",
                     blind_config={"jpeg_quality": [60, 60], "noise_sigma": [0.0, 0.0]})
    assert ds.blind_config.jpeg_quality == (60, 60) and ds.degradation_params(0).jpeg_quality == 60


def test_dataloader_workers_give_the_same_items(tmp_path):
    for k in range(4):
        _write_face(tmp_path / f"f{k}.png", size=256, seed=k)
    ds = FaceDataset(tmp_path, scale=8, train=True, degradation="mix", seed=2, progress=False)
    ds.set_epoch(1)
    in_process = [ds[i] for i in range(4)]
    loader = torch.utils.data.DataLoader(ds, batch_size=2, num_workers=2)
    for b, batch in enumerate(loader):
        for j in range(2):
            for key in ("hr_face", "lr_face", "lr_clean"):
                assert torch.equal(batch[key][j], in_process[2 * b + j][key])


def test_geometric_and_photometric_jitter_reproducible_and_in_range(tmp_path):
    """Both options are seeded per (seed, epoch, index), leave crops/flips/degradations of stream 2 and 0/1 as
    they were, stay in [0, 1], and landmarks follow the rotation/scale/shift."""
    size = 128
    lm = np.stack([np.linspace(20, 108, 68), np.linspace(30, 100, 68)], axis=1)   # a diagonal inside the face
    for i in range(4):
        _write_face(tmp_path / f"f{i}.png", size=size, seed=i, landmarks=lm)
    kw = dict(hr_size=64, scale=8, train=True, degradation="mix", seed=3, crop=None, hflip=False)
    plain = FaceDataset(tmp_path, **kw)
    aug = FaceDataset(tmp_path, geometric=(6, 0.08, 0.05), photometric=0.5, **kw)
    again = FaceDataset(tmp_path, geometric=(6, 0.08, 0.05), photometric=0.5, **kw)
    for ds in (plain, aug, again):
        ds.set_epoch(2)
    for i in range(4):
        a, b, p = aug[i], again[i], plain[i]
        for key in ("hr_face", "lr_face", "landmarks68"):
            assert torch.equal(a[key], b[key])
        assert a["hr_face"].min() >= 0 and a["hr_face"].max() <= 1 and a["hr_face"].shape == (3, 64, 64)
        assert not torch.equal(a["hr_face"], p["hr_face"]) and a["view"] != p["view"]
        assert a["degraded"] == p["degraded"]   # the degradation draw does not move
        if "|photo" not in a["view"]:
            # landmarks moved by at most the drawn jitter: 6 deg, 8 % scale, 5 % shift of a 64 px face
            d = (a["landmarks68"] - p["landmarks68"]).norm(dim=1)
            assert 0 < d.max() < 64 * (math.radians(6) + 0.08 + 0.05 * 1.5)
    aug.set_epoch(3)
    assert not torch.equal(aug[0]["hr_face"], again[0]["hr_face"])   # a new epoch, a new draw
    # evaluation never jitters
    ev = FaceDataset(tmp_path, hr_size=64, scale=8, train=False, geometric=(6, 0.08, 0.05), photometric=1.0)
    assert ev.geometric is None and ev.photometric == 0.0
    with pytest.raises(ConfigError, match="geometric"):
        FaceDataset(tmp_path, geometric=(90, 0.0, 0.0), preload=False)
    with pytest.raises(ConfigError, match="photometric"):
        FaceDataset(tmp_path, photometric=1.5, preload=False)


def test_geometric_jitter_moves_a_landmark_with_its_pixel(tmp_path):
    """A bright dot at a landmark's position is still under that landmark after the affine jitter."""
    size, dot = 256, (90.0, 150.0)
    lm = np.tile(np.array(dot), (68, 1))
    _write_face(tmp_path / "dot.png", size=size, blob=dot, landmarks=lm)
    for seed in range(3):
        ds = FaceDataset(tmp_path, hr_size=256, scale=8, train=True, seed=seed, crop=None, hflip=False,
                         geometric=(10, 0.1, 0.05))
        item = ds[0]
        x, y = item["landmarks68"][0].round().long().tolist()
        patch = item["hr_face"][:, y - 1:y + 2, x - 1:x + 2]
        assert patch.min() > 0.85, (seed, x, y)


def test_photometric_p1_changes_every_face_and_p0_none(val8):
    on = FaceDataset(val8, train=True, photometric=1.0, seed=0)
    off = FaceDataset(val8, train=True, photometric=0.0, seed=0)
    for i in range(3):
        assert "|photo" in on[i]["view"] and "|photo" not in off[i]["view"]
        assert not torch.equal(on[i]["hr_face"], off[i]["hr_face"])
