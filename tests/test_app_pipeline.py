"""The per-frame face pipeline (fsr_edge.faces.FacePipeline): OpenCV alignment matches the photo path's LR faces,
paste-back touches only each face's ROI, tracking keeps faces between detections, the One-Euro filter smooths
a still signal and follows a moving one, and ``fsr-edge bench-photo`` writes its report."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

pytest.importorskip("dlib", reason="fsr_edge[faces] (dlib-bin) not installed")
pytest.importorskip("cv2", reason="opencv-python-headless not installed")

from fsr_edge.bench.photo import make_photos  # noqa: E402
from fsr_edge.faces import _cv, lr_face_from_photo  # noqa: E402
from fsr_edge.faces.frames import FacePipeline, box_from_landmarks, iou  # noqa: E402
from fsr_edge.faces.smoothing import OneEuroFilter  # noqa: E402
from fsr_edge.models import load_model  # noqa: E402


@pytest.fixture(scope="module")
def model():
    return load_model("bicubic-x8").eval()


@pytest.fixture(scope="module")
def astronaut_frame():
    """720p frame with the astronaut's face (skimage ships it: no face set needed)."""
    return np.rint(make_photos(None, (720, 1280))["1 face"] * 255).astype(np.uint8)


def _psnr(a, b) -> float:
    return float(10 * np.log10(1.0 / max(float(((a - b) ** 2).mean()), 1e-12)))


def test_cv_alignment_matches_the_photo_path(model, astronaut_frame):
    pipe = FacePipeline(model)
    (box,) = pipe.detect(astronaut_frame)
    lm = pipe.landmarks(astronaut_frame, [box])[0]
    matrix, lr = _cv.align_lr(astronaut_frame, lm, lr_size=32, scale=8)
    aligned, ref = lr_face_from_photo(astronaut_frame.astype(np.float32) / 255, lm, lr_size=32, scale=8)
    assert lr.shape == ref.shape == (3, 32, 32)
    assert np.allclose(matrix, aligned.matrix)
    # the antialiasing the training LR faces had is kept: same low-pass, not just the same geometry
    assert _psnr(lr.numpy(), ref.numpy()) > 45


def test_paste_touches_only_the_face_roi(model, astronaut_frame):
    pipe = FacePipeline(model)
    res = pipe(astronaut_frame)
    assert len(res.faces) == 1 and res.frame is not astronaut_frame
    changed = np.argwhere((res.frame != astronaut_frame).any(-1))
    (y0, x0), (y1, x1) = changed.min(0), changed.max(0)
    fx0, fy0, fx1, fy1 = res.faces[0].box
    # the change stays around the face (the FFHQ crop is ~2x the detector box), far from the frame's edges
    assert x0 > fx0 - (fx1 - fx0) and x1 < fx1 + (fx1 - fx0) and y1 < fy1 + (fy1 - fy0)
    assert (res.frame[:, :100] == astronaut_frame[:, :100]).all()


def test_uint8_and_float_paste_agree():
    rng = np.random.default_rng(0)
    frame = (rng.random((200, 300, 3)) * 255).astype(np.uint8)
    face = rng.random((64, 64, 3)).astype(np.float32)
    matrix = np.array([[0.8, 0.1, -60.0], [-0.1, 0.8, -20.0]])     # frame -> 64 px crop, slightly rotated
    as_u8 = _cv.paste_roi(frame.copy(), face, matrix)
    as_f32 = _cv.paste_roi(frame.astype(np.float32) / 255, face, matrix)
    assert np.abs(as_u8.astype(np.float32) - as_f32 * 255).max() <= 2.0
    assert (as_u8[150:, :] == frame[150:, :]).all()                  # below the crop: untouched


def test_landmark_box_gives_the_same_landmarks(model, astronaut_frame):
    pipe = FacePipeline(model)
    (box,) = pipe.detect(astronaut_frame)
    lm = pipe.landmarks(astronaut_frame, [box])[0]
    tracked_box = box_from_landmarks(lm)
    assert iou(tracked_box, box) > 0.5
    # what matters for tracking: landmarks from the derived box agree with those from the detector's box
    again = pipe.landmarks(astronaut_frame, [tracked_box])[0]
    assert np.linalg.norm(again - lm, axis=1).mean() < 0.02 * (box[2] - box[0])


def test_tracking_keeps_the_face_between_detections(model, astronaut_frame):
    pipe = FacePipeline(model, detect_every=4, smooth=True)
    shifted = np.roll(astronaut_frame, 6, axis=1)                   # a small move between frames
    results = [pipe(f, i / 30) for i, f in enumerate([astronaut_frame, shifted] * 4)]
    assert [r.detected for r in results] == [True, False, False, False] * 2
    assert all(len(r.faces) == 1 for r in results)
    assert len({r.faces[0].track_id for r in results}) == 1          # one track through the re-detection


def test_a_face_missed_once_by_the_detector_stays_tracked(model, astronaut_frame):
    pipe = FacePipeline(model, detect_every=2, detector="hog")   # HOG misses the barred face (BlazeFace does not)
    (box,) = pipe.detect(astronaut_frame)
    x0, y0, x1, y1 = (int(v) for v in box)
    hidden = astronaut_frame.copy()
    hidden[y0 + (y1 - y0) // 5:y0 + (y1 - y0) // 2, x0:x1] = 128     # a bar over the eyes: HOG misses the face
    assert pipe.detect(hidden) == []
    results = [pipe(f, i / 30) for i, f in enumerate([astronaut_frame, astronaut_frame, hidden, hidden, hidden])]
    assert [r.detected for r in results] == [True, False, True, False, True]
    # missed on frame 2: tracked on; missed again on frame 4: dropped
    assert [len(r.faces) for r in results] == [1, 1, 1, 1, 0]
    assert len({r.faces[0].track_id for r in results[:4]}) == 1


def test_stage_timings_are_reported(model, astronaut_frame):
    res = FacePipeline(model)(astronaut_frame)
    assert set(res.stages_s) == {"detect", "landmarks", "align", "upscale", "paste"}
    assert all(v > 0 for v in res.stages_s.values())


def test_one_euro_smooths_still_and_follows_motion():
    rng = np.random.default_rng(0)
    still = OneEuroFilter(min_cutoff=1.0, beta=0.05)
    noisy = [still(i / 30, 100 + rng.normal(0, 1.0, (68, 2))) for i in range(90)]
    assert np.std(np.diff(np.array(noisy)[30:], axis=0)) < 0.5 * np.sqrt(2)   # jitter well below the input's
    moving = OneEuroFilter(min_cutoff=1.0, beta=0.05)
    track = [moving(i / 30, np.full((68, 2), 10.0 * i)) for i in range(60)]     # 300 px/s
    assert abs(track[-1][0, 0] - 590.0) < 15                                     # follows with a short lag


@pytest.mark.faces
def test_one_and_six_faces_on_real_photos(faces_dir, model):
    photos = make_photos(faces_dir / "raw")
    for case, n in (("1 face", 1), ("6 faces", 6)):
        frame = np.rint(photos[case] * 255).astype(np.uint8)
        assert len(FacePipeline(model)(frame).faces) == n, case


@pytest.mark.faces
def test_cv_alignment_psnr_on_raw_photos(faces_dir):
    from fsr_edge.bench.photo import align_psnr

    res = align_psnr(faces_dir / "raw")
    assert res["faces"] >= 8 and res["min_db"] > 45


def test_bench_photo_writes_json_and_markdown(tmp_path, capsys):
    from fsr_edge.cli import main

    code = main(["bench-photo", "-o", str(tmp_path), "--model", "bicubic-x8", "--sizes", "720p", "--iterations", "3",
                 "--no-recall", "--no-flicker", "--threads", str(torch.get_num_threads())])
    assert code == 0
    rep = json.loads((tmp_path / "profile.json").read_text())
    rows = rep["profile"]["cases"]
    assert {(r["size"], r["case"]) for r in rows} == {("720p", "1 face"), ("720p", "6 faces")}
    for row in rows:
        assert row["photo"]["total_p50_ms"] > 0 and row["tracked"]["stages_ms"]["detect"] < 0.1
    assert "whole / upscale" in (tmp_path / "profile.md").read_text()


def test_blazeface_boxes_land_where_dlib_hog_puts_them(model, astronaut_frame):
    """The bundled BlazeFace finds the face, and its box, mapped into HOG's frame, starts dlib's landmark predictor
    where HOG's box would: the landmarks agree to a few percent of the inter-ocular distance."""
    pytest.importorskip("ai_edge_litert", reason="fsr_edge[faces] (ai-edge-litert) not installed")
    blaze, hog = FacePipeline(model), FacePipeline(model, detector="hog")
    assert blaze.detector == "blazeface"
    (b_box,), (h_box,) = blaze.detect(astronaut_frame), hog.detect(astronaut_frame)
    assert iou(b_box, h_box) > 0.6
    b_lm, h_lm = blaze.landmarks(astronaut_frame, [b_box])[0], hog.landmarks(astronaut_frame, [h_box])[0]
    inter_ocular = np.linalg.norm(h_lm[36:42].mean(0) - h_lm[42:48].mean(0))
    assert np.linalg.norm(b_lm - h_lm, axis=1).mean() < 0.05 * inter_ocular
    assert blaze.detect(np.zeros((360, 640, 3), np.uint8)) == []          # an empty frame: no face


def test_loading_the_detector_prints_nothing(capfd):
    """LiteRT announces its XNNPACK delegate from C++ on stderr; a command's output must not carry that line."""
    pytest.importorskip("ai_edge_litert", reason="fsr_edge[faces] (ai-edge-litert) not installed")
    from fsr_edge.faces import _blazeface

    _blazeface.BlazeFace()
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_an_altered_detector_file_is_refused(tmp_path, monkeypatch):
    pytest.importorskip("ai_edge_litert", reason="fsr_edge[faces] (ai-edge-litert) not installed")
    from fsr_edge.errors import FsrEdgeError
    from fsr_edge.faces import _blazeface

    bad = tmp_path / "face_detection_full_range.tflite"
    data = bytearray(_blazeface.MODEL_FILE.read_bytes())
    data[len(data) // 2] ^= 0xFF                                   # one flipped byte in the weights
    bad.write_bytes(bytes(data))
    monkeypatch.setattr(_blazeface, "MODEL_FILE", bad)
    with pytest.raises(FsrEdgeError, match="missing or altered"):
        _blazeface.BlazeFace()
