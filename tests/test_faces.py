"""fsr_edge.faces on the real raw photos: detection, FFHQ alignment vs the dataset's own aligned crops,
paste-back round trips, identity embedding; plus geometry checks on synthetic inputs."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

pytest.importorskip("dlib", reason="fsr_edge[faces] (dlib-bin) not installed")

from fsr_edge.errors import ImageError  # noqa: E402
from fsr_edge.faces import (align_face, detect_faces, face_mask, ffhq_matrix, identity_distance,  # noqa: E402
                            identity_embedding, identity_similarity, landmarks68, paste_face)
from fsr_edge.faces import _warp  # noqa: E402


def _load(path, size=None) -> np.ndarray:
    img = Image.open(path).convert("RGB")
    if size:
        img = img.resize((size, size), Image.LANCZOS)
    return np.asarray(img, dtype=np.float32) / 255.0


def _psnr(a, b):
    return peak_signal_noise_ratio(a, b, data_range=1.0)


@pytest.fixture(scope="module")
def detections(raw_photos):
    """name -> (photo, faces), detected once for the whole module."""
    return {p.stem: (photo := _load(p), detect_faces(photo)) for p in raw_photos}


def test_detect_exactly_one_face_per_raw_photo(detections):
    assert len(detections) == 8
    for name, (photo, faces) in detections.items():
        assert len(faces) == 1, f"{name}: {len(faces)} faces"
        face = faces[0]
        h, w = photo.shape[:2]
        x0, y0, x1, y1 = face.box
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
        assert face.landmarks68.shape == (68, 2)
        # the landmarks sit on the face the box found: their centroid is inside the box
        cx, cy = face.landmarks68.mean(0)
        assert x0 < cx < x1 and y0 < cy < y1, name


def test_detection_on_downscaled_copy_maps_back(detections):
    photo, faces = detections["london-004_smiling"]
    full = detect_faces(photo, max_side=2000, upsample=0)   # no downscale at all
    small = detect_faces(photo, max_side=400, upsample=0)
    assert len(full) == len(small) == 1
    box_full, box_small = np.array(full[0].box), np.array(small[0].box)
    side = box_full[2] - box_full[0]
    # same face, box within 15% of its size although found at 30% of the resolution
    assert np.abs(box_full - box_small).max() < 0.15 * side
    # landmarks are predicted at full resolution either way: they agree closely
    assert np.linalg.norm(full[0].landmarks68 - small[0].landmarks68, axis=1).mean() < 0.03 * side


def test_align_matches_dataset_crops(detections, faces_dir):
    """Our 512 crop of each raw photo vs the dataset's aligned512 crop of the same photo (same file name)."""
    rows = []
    for name, (photo, faces) in detections.items():
        aligned = align_face(photo, faces[0].landmarks68, size=512)
        assert aligned.crop.shape == (512, 512, 3) and aligned.crop.dtype == np.float32
        ref = _load(faces_dir / "aligned512" / f"{name}.jpg")
        ref_lm = np.array(json.loads((faces_dir / "aligned512" / f"{name}.json").read_text())["landmarks68"])
        # the dataset maps the FFHQ square onto [0, 512] edges, ours onto pixel centres: +0.5 px apart
        lm_err = np.linalg.norm(aligned.landmarks68 + 0.5 - ref_lm, axis=1).mean()
        psnr = _psnr(ref, aligned.crop)
        ssim = structural_similarity(ref, aligned.crop, channel_axis=2, data_range=1.0)
        rows.append((name, lm_err, psnr, ssim))
    # Residual differences come from dlib's landmark jitter (1-2 px) between their detection and ours.
    for name, lm_err, psnr, ssim in rows:
        assert lm_err < 3.0, (name, lm_err)
        assert psnr > 26.0 and ssim > 0.78, (name, psnr, ssim)
    assert np.mean([r[2] for r in rows]) > 28.0
    # Negative control: the same crop against another person's aligned crop is far worse.
    photo, faces = detections["london-001_smiling"]
    ours = align_face(photo, faces[0].landmarks68, size=512).crop
    other = _load(faces_dir / "aligned512" / "london-002_smiling.jpg")
    assert _psnr(other, ours) < min(r[2] for r in rows) - 8.0


def test_ffhq_matrix_geometry():
    rng = np.random.default_rng(0)
    lm = rng.uniform(100, 300, size=(68, 2))
    lm[36:42] = [150, 150] + rng.normal(0, 2, (6, 2))   # eyes on a horizontal line, mouth below
    lm[42:48] = [250, 150] + rng.normal(0, 2, (6, 2))
    lm[48], lm[54] = [170, 260], [230, 260]
    m = ffhq_matrix(lm, size=256)
    mapped = _warp.apply(m, lm)
    eye_l, eye_r = mapped[36:42].mean(0), mapped[42:48].mean(0)
    assert abs(eye_l[1] - eye_r[1]) < 2.0                     # eye line is horizontal in the crop
    assert abs((eye_l[0] + eye_r[0]) / 2 - 127.5) < 1.0        # eyes centred horizontally
    # FFHQ: the crop side is max(2 * 2 * eye distance, 2 * 1.8 * eye-to-mouth) in photo pixels
    eye_dist = np.linalg.norm(lm[42:48].mean(0) - lm[36:42].mean(0))
    mouth = (lm[48] + lm[54]) / 2 - (lm[36:42].mean(0) + lm[42:48].mean(0)) / 2
    side = 2 * max(2.0 * eye_dist, 1.8 * np.linalg.norm(mouth))
    assert np.sqrt(abs(np.linalg.det(m[:, :2]))) == pytest.approx(256 / side, rel=1e-6)


def test_alignment_undoes_rotation(detections):
    """Rotating the photo rotates the landmarks; the aligned crops must stay the same."""
    photo, faces = detections["london-009_smiling"]
    photo = photo[::3, ::3]                              # 450 px: keeps the test fast
    lm = faces[0].landmarks68 / 3.0                      # pixel i of photo[::3] is pixel 3i of the original
    h, w = photo.shape[:2]
    angle = np.deg2rad(20.0)
    centre = np.array([(w - 1) / 2, (h - 1) / 2])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    rot_m = np.concatenate([rot, (centre - rot @ centre)[:, None]], axis=1)
    rotated = _warp.warp_affine(photo, rot_m, (w, h))
    a = align_face(photo, lm, size=128).crop
    b = align_face(rotated, _warp.apply(rot_m, lm), size=128).crop
    assert _psnr(a, b) > 30.0


def test_paste_unchanged_crop_round_trip(detections):
    photo, faces = detections["london-002_smiling"]
    photo = np.ascontiguousarray(photo[::2, ::2])                # 675 px
    lm = faces[0].landmarks68 / 2.0                              # pixel i of photo[::2] is pixel 2i
    aligned = align_face(photo, lm, size=256)
    back = paste_face(photo, aligned.crop, aligned.matrix)
    # where the mask is fully on, the pasted pixels are the crop's resampled twice: close to the original
    inner = _warp.warp_affine(face_mask(256)[..., None], np.linalg.inv(_warp.as_3x3(aligned.matrix)),
                              photo.shape[1::-1])[..., 0] > 0.999
    assert inner.sum() > 10_000
    assert _psnr(photo[inner], back[inner]) > 35.0
    # outside the crop's footprint nothing changed, bit for bit
    footprint = _warp.warp_affine(np.ones((256, 256, 1), np.float32), np.linalg.inv(_warp.as_3x3(aligned.matrix)),
                                  photo.shape[1::-1])[..., 0]
    ys, xs = np.nonzero(footprint > 0)
    outside = np.ones(photo.shape[:2], bool)
    outside[max(0, ys.min() - 4):ys.max() + 5, max(0, xs.min() - 4):xs.max() + 5] = False
    assert np.array_equal(back[outside], photo[outside])
    assert back is not photo and not np.shares_memory(back, photo)


def test_paste_into_upscaled_photo(detections):
    """Crop restored 'perfectly' (= aligned from the x2 photo) pastes into the x2 photo at the right place."""
    photo, faces = detections["london-010_smiling"]
    photo = np.ascontiguousarray(photo[::4, ::4])                # 338 px
    lm = faces[0].landmarks68 / 4.0
    big = np.asarray(Image.fromarray((photo * 255).astype(np.uint8)).resize((676, 676), Image.BICUBIC),
                     dtype=np.float32) / 255.0
    small = align_face(photo, lm, size=64)
    # the x2 crop made straight from the x2 photo with the x2 landmarks is what a perfect x2 model returns
    hr = align_face(big, (lm + 0.5) * 2 - 0.5, size=128)
    assert np.allclose(_warp.as_3x3(hr.matrix) @ _warp.scale_matrix(2),
                       _warp.scale_matrix(2) @ _warp.as_3x3(small.matrix), atol=1e-9)
    # deliberately brighten the restored crop: the change must land on the face and nowhere else
    restored = np.clip(hr.crop + 0.2, 0, 1)
    out = paste_face(big, restored, small.matrix, scale=2)
    diff = (out - big).mean(2)
    cy, cx = _warp.apply(np.linalg.inv(_warp.as_3x3(hr.matrix)), [[63.5, 63.5]])[0][::-1]
    assert diff[int(cy), int(cx)] > 0.15                         # crop centre: fully replaced
    assert diff[5, 5] == 0.0 and diff[-5, -5] == 0.0             # photo corners untouched


def test_face_mask_is_soft():
    m = face_mask(128)
    assert m.shape == (128, 128) and m.dtype == np.float32
    assert m[0].max() == 0.0 and m[:, -1].max() == 0.0 and m[64, 64] == 1.0
    row = m[64, :64]
    assert np.all(np.diff(row) >= 0) and 0 < row[10] < 1      # ramps up smoothly, no hard edge


def test_identity_same_person_closer(detections, faces_dir):
    names = ["london-001_smiling", "london-004_smiling", "london-008_smiling"]
    raw = [identity_embedding(detections[n][0], landmarks68=detections[n][1][0].landmarks68) for n in names]
    neutral = []
    for n in names:
        ref = faces_dir / "aligned512" / f"{n.replace('smiling', 'neutral')}.jpg"
        lm = np.array(json.loads(ref.with_suffix(".json").read_text())["landmarks68"])
        neutral.append(identity_embedding(_load(ref), landmarks68=lm))
    assert raw[0].shape == (128,) and raw[0].dtype == np.float32
    sim = np.array([[identity_similarity(a, b) for b in neutral] for a in raw])
    dist = np.array([[identity_distance(a, b) for b in neutral] for a in raw])
    for i in range(len(names)):
        others = [j for j in range(len(names)) if j != i]
        assert sim[i, i] > sim[i, others].max(), sim
        assert dist[i, i] < 0.6 < dist[i, others].min(), dist   # dlib's own same-person threshold
    assert identity_similarity(raw[0], raw[0]) == pytest.approx(1.0)


def test_no_face_and_bad_inputs():
    rng = np.random.default_rng(1)
    noise = rng.random((120, 160, 3)).astype(np.float32)
    assert detect_faces(noise) == []
    assert detect_faces((noise * 255).astype(np.uint8)) == []           # uint8 accepted too
    with pytest.raises(ImageError, match="RGB"):
        detect_faces(noise[..., 0])
    with pytest.raises(ImageError, match="68, 2"):
        align_face(noise, np.zeros((5, 2)), size=32)
    with pytest.raises(ImageError, match="no face"):
        identity_embedding(noise)
    assert landmarks68(noise, (10, 10, 90, 90)).shape == (68, 2)


@pytest.fixture(scope="module")
def group_photo(raw_photos):
    """640x480 'group photo': three real faces of ~28, ~36 and ~45 px on a plain background."""
    canvas = Image.new("RGB", (640, 480), (120, 130, 140))
    for path, (x, y, side) in zip(raw_photos[:3], [(40, 100, 90), (260, 200, 70), (480, 60, 110)]):
        canvas.paste(Image.open(path).convert("RGB").resize((side, side), Image.LANCZOS), (x, y))
    return np.asarray(canvas, dtype=np.float32) / 255.0, [(40, 100, 90), (260, 200, 70), (480, 60, 110)]


def test_group_photo_every_face_restored(group_photo):
    from fsr_edge.faces import bicubic_upscale, upscale_photo
    from fsr_edge.models import load_model

    photo, tiles = group_photo
    result = upscale_photo(photo, load_model("bicubic-x4"))
    assert len(result.faces) == 3
    assert result.rgb.shape == (1920, 2560, 3) and result.alpha is None
    changed = np.abs(result.rgb - bicubic_upscale(photo, 4)).max(2) > 1e-4
    for x, y, side in tiles:   # each pasted face tile got a restored face in its middle
        cy, cx = 4 * (y + side // 2), 4 * (x + side // 2)
        assert changed[cy - 8:cy + 8, cx - 8:cx + 8].all(), (x, y, side)
    assert not changed[-100:, :100].any()      # empty background corner untouched


def test_without_dlib_alignment_works_and_detection_says_what_to_install(tmp_path):
    """A fresh process where ``import dlib`` fails: fsr_edge.faces imports, geometry works, dlib parts and
    ``fsr-edge upscale`` on photos fail with one line naming the extra."""
    import subprocess

    script = (
        "import sys; sys.modules['dlib'] = None\n"
        "import numpy as np\n"
        "from fsr_edge.errors import FsrEdgeError\n"
        "from fsr_edge.faces import align_face, detect_faces\n"
        "lm = np.random.default_rng(0).uniform(20, 80, (68, 2))\n"
        "assert align_face(np.zeros((100, 100, 3), np.float32), lm, size=32).crop.shape == (32, 32, 3)\n"
        "try:\n    detect_faces(np.zeros((100, 100, 3), np.float32))\nexcept FsrEdgeError as e:\n    print('ERR', e)\n"
        "from fsr_edge.cli import main\n"
        f"print('CODE', main(['upscale', '{tmp_path}', '-o', '{tmp_path / 'out'}', '--model', 'bicubic-x4']))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "ERR" in proc.stdout and "fsr_edge[faces]" in proc.stdout
    assert "CODE 2" in proc.stdout
    assert proc.stderr.count("\n") == 1 and "fsr_edge[faces]" in proc.stderr and "Traceback" not in proc.stderr


def test_landmarks_on_aligned_crops_without_detection(faces_dir):
    """landmarks68(crop) with no box: the canonical aligned-face box, on LR faces upsampled back (the DFDNet
    teacher's landmark step), lands close to the dataset's landmarks."""
    import torch
    import torch.nn.functional as F

    from fsr_edge.data.degradations import bicubic_downsample

    errors = []
    for name in ["london-003_neutral", "london-020_smiling", "canada-008f_neutral"]:
        path = faces_dir / "aligned512" / f"{name}.jpg"
        if not path.exists():
            continue
        hr = torch.from_numpy(_load(path, 256)).permute(2, 0, 1)
        up = F.interpolate(bicubic_downsample(hr, 8)[None], scale_factor=8, mode="bicubic")[0].clamp(0, 1)
        pts = landmarks68(up.permute(1, 2, 0).numpy())
        ref = (np.array(json.loads(path.with_suffix(".json").read_text())["landmarks68"]) + 0.5) / 2 - 0.5
        errors.append(np.linalg.norm(pts - ref, axis=1).mean())
    assert len(errors) >= 2
    assert max(errors) < 3.5, errors    # px at 256 (the mean-face template alone is ~3.6 px off on average)


def _smooth_image(h=96, w=128, seed=0):
    """Band-limited random image, so resampling methods can agree to high precision."""
    small = np.random.default_rng(seed).random((h // 8, w // 8, 3))
    from skimage.transform import resize

    return resize(small, (h, w), order=3, mode="reflect").astype(np.float32).clip(0, 1)


def test_warp_conventions_agree_with_skimage():
    """Our pixel-centre convention and antialiasing against independent implementations (skimage, torch)."""
    from skimage.transform import AffineTransform, warp

    img = _smooth_image()
    # upscaling rotation (density > 1): direct bicubic sampling, same as skimage.warp order=3
    m = AffineTransform(scale=1.7, rotation=0.3, translation=(20, -30)).params
    ours = _warp.warp_affine(img, m, (150, 120))
    ref = warp(img, np.linalg.inv(m), output_shape=(120, 150), order=3, mode="reflect")
    inside = (slice(30, 90), slice(40, 110))
    assert _psnr(ref[inside], ours[inside]) > 40.0
    # pure 4x shrink (density 0.25): antialiased like torch's antialiased bicubic (the training pairs' resize);
    # a quarter-pixel offset already costs ~20 dB, so this pins the pixel-centre convention too
    import torch
    import torch.nn.functional as F

    ref = F.interpolate(torch.from_numpy(img).permute(2, 0, 1)[None], size=(24, 32), mode="bicubic",
                        antialias=True)[0].permute(1, 2, 0).numpy()
    inner = (slice(2, -2), slice(2, -2))
    assert _psnr(ref[inner], _warp.warp_affine(img, _warp.scale_matrix(0.25), (32, 24))[inner]) > 42.0
    shifted = _warp.scale_matrix(0.25) + [[0, 0, 0.25], [0, 0, 0], [0, 0, 0]]
    assert _psnr(ref[inner], _warp.warp_affine(img, shifted, (32, 24))[inner]) < 30.0
    # on white noise, where antialiasing matters most, ours still matches torch's antialiased resize, and
    # torch's own non-antialiased resize is far off from it (so this comparison can tell them apart)
    noise = np.random.default_rng(1).random((96, 128, 3)).astype(np.float32)
    resized = {aa: F.interpolate(torch.from_numpy(noise).permute(2, 0, 1)[None], size=(24, 32), mode="bicubic",
                                 antialias=aa)[0].permute(1, 2, 0).numpy() for aa in (True, False)}
    ours = _warp.warp_affine(noise, _warp.scale_matrix(0.25), (32, 24))
    assert _psnr(resized[True][inner], ours[inner]) > 35.0
    assert _psnr(resized[True][inner], resized[False][inner]) < 20.0


def test_upscale_photo_without_face_is_bicubic_with_alpha():
    from fsr_edge.faces import bicubic_upscale, upscale_photo
    from fsr_edge.models import load_model

    rng = np.random.default_rng(3)
    rgb = rng.random((40, 48, 3)).astype(np.float32)
    alpha = np.tile(np.linspace(0, 1, 48, dtype=np.float32), (40, 1))
    result = upscale_photo(rgb, load_model("bicubic-x4"), alpha=alpha)
    assert result.faces == [] and result.rgb.shape == (160, 192, 3) and result.alpha.shape == (160, 192)
    assert np.array_equal(result.rgb, bicubic_upscale(rgb, 4))
    assert np.allclose(result.alpha, bicubic_upscale(alpha[..., None], 4)[..., 0])
    with pytest.raises(ImageError, match="64 MP"):
        upscale_photo(np.zeros((1100, 1000, 3), np.float32), load_model("bicubic-x8"))
