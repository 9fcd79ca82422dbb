"""fsr_edge.android: the Python reference of the app's pixel code, and the install step's refusals (fast, no export)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fsr_edge.android import (argb_to_rgb, install_artifacts, postprocess, preprocess_argb, psnr_db, read_golden,
                              rgb_to_argb)
from fsr_edge.errors import FsrEdgeError


def _spec(size: int, *, order: str = "RGB", value_range=(0.0, 1.0), normalization="none") -> dict:
    return {"name": "x", "shape": [1, 3, size, size], "dtype": "float32", "layout": "NCHW", "channel_order": order,
            "value_range": list(value_range), "normalization": normalization}


def _random_rgb(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_argb_packing_is_androids_layout():
    rgb = np.array([[[255, 0, 51], [1, 2, 3]]], np.uint8)
    argb = rgb_to_argb(rgb)
    assert argb.dtype == np.int32
    assert [int(v) & 0xFFFFFFFF for v in argb] == [0xFFFF0033, 0xFF010203]
    np.testing.assert_array_equal(argb_to_rgb(argb, 2, 1), rgb)


def test_preprocess_is_planar_rgb_in_the_specs_range():
    rgb = _random_rgb(4, 6)
    spec = {**_spec(4), "shape": [1, 3, 4, 6]}
    tensor = preprocess_argb(rgb_to_argb(rgb), 6, 4, spec=spec)
    assert tensor.shape == (1, 3, 4, 6) and tensor.dtype == np.float32
    np.testing.assert_array_equal(tensor[0], np.moveaxis(rgb, -1, 0).astype(np.float32) / np.float32(255))


def test_bgr_signed_range_and_normalisation_follow_the_spec():
    rgb = _random_rgb(4, 4, seed=1)
    spec = _spec(4, order="BGR", value_range=(-1, 1), normalization={"mean": [0.1, 0.2, 0.3], "std": [0.5, 0.6, 0.7]})
    tensor = preprocess_argb(rgb_to_argb(rgb), 4, 4, spec=spec)
    blue = rgb[..., 2].astype(np.float32) / np.float32(255) * np.float32(2) - np.float32(1)
    np.testing.assert_allclose(tensor[0, 0], (blue - 0.1) / 0.5, rtol=1e-6)
    np.testing.assert_array_equal(argb_to_rgb(postprocess(tensor, spec=spec), 4, 4), rgb)


def test_postprocess_rounds_half_up_and_clamps():
    spec = _spec(2)
    tensor = np.array([0.5 / 255, 1.5 / 255, -0.2, 1.3], np.float32).reshape(1, 1, 2, 2).repeat(3, axis=1)
    rgb = argb_to_rgb(postprocess(tensor, spec=spec), 2, 2)
    assert rgb[..., 0].ravel().tolist() == [1, 2, 0, 255]


def test_round_trip_of_eight_bit_images_is_exact():
    rgb = _random_rgb(8, 8, seed=2)
    spec = _spec(8)
    np.testing.assert_array_equal(argb_to_rgb(postprocess(preprocess_argb(rgb_to_argb(rgb), 8, 8, spec=spec),
                                                          spec=spec), 8, 8), rgb)


def test_contracts_the_app_cannot_feed_are_refused():
    px = rgb_to_argb(_random_rgb(4, 4))
    with pytest.raises(FsrEdgeError, match="shape"):
        preprocess_argb(px, 4, 4, spec=_spec(8))
    with pytest.raises(FsrEdgeError, match="NCHW"):
        preprocess_argb(px, 4, 4, spec={**_spec(4), "layout": "NHWC"})
    with pytest.raises(FsrEdgeError, match="normalization"):
        preprocess_argb(px, 4, 4, spec=_spec(4, normalization="imagenet"))


def test_psnr_matches_its_definition():
    a = np.zeros(100, np.float32)
    b = np.full(100, 0.1, np.float32)
    assert psnr_db(a, b, data_range=1.0) == pytest.approx(20.0)
    assert psnr_db(a, a, data_range=1.0) == float("inf")


def _golden(file: str, size: int) -> dict:
    return {"file": file, "shape": [1, 3, size, size], "dtype": "float32", "byte_order": "little"}


def test_read_golden_checks_sizes_and_contract(tmp_path):
    art = {"id": "a", "inputs": [_spec(2)], "outputs": [_spec(4)],
           "golden": {"input": _golden("i.bin", 2), "output": _golden("o.bin", 4), "min_psnr_db": 45.0}}
    np.arange(12, dtype="<f4").tofile(tmp_path / "i.bin")
    np.zeros(47, "<f4").tofile(tmp_path / "o.bin")
    with pytest.raises(FsrEdgeError, match="o.bin"):
        read_golden(art, tmp_path)
    np.zeros(48, "<f4").tofile(tmp_path / "o.bin")
    golden_in, golden_out = read_golden(art, tmp_path)
    assert golden_in.shape == (1, 3, 2, 2) and golden_in[0, 2, 1, 1] == 11 and golden_out.shape == (1, 3, 4, 4)
    art["golden"]["output"]["byte_order"] = "big"
    with pytest.raises(FsrEdgeError, match="big"):
        read_golden(art, tmp_path)


def _manifest(artifacts: list[dict]) -> dict:
    """A manifest that passes exporters.manifest.validate, around hand-made artifacts."""
    from fsr_edge.exporters.manifest import ARTIFACT_KEYS, FORMAT, TOP_KEYS, VERIFICATION_KEYS

    base = {k: None for k in TOP_KEYS}
    base.update(format=FORMAT, model={"name": "m", "arch": "a", "scale": 2, "lr_size": 2, "params": 1, "macs": 1,
                                      "weights_sha256": "0"})
    full = []
    for art in artifacts:
        entry = {k: None for k in ARTIFACT_KEYS}
        entry.update(extra_files=[], golden=None, **art)
        entry["verification"] = {**{k: None for k in VERIFICATION_KEYS}, **art["verification"]}
        full.append(entry)
    return {**base, "artifacts": full}


def _fake_export(tmp_path, *, sha="", file="m.pte"):
    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / "m.pte").write_bytes(b"pte bytes")
    art = {"id": "executorch-fp32-2x2", "target": "executorch", "precision": "fp32", "file": file, "sha256": sha,
           "inputs": [_spec(2)], "outputs": [_spec(4)], "verification": {"status": "passed"}}
    (dist / "manifest.json").write_text(json.dumps(_manifest([art])))
    app = tmp_path / "android_demo"
    (app / "app").mkdir(parents=True)
    return dist, app


def test_install_refuses_a_stale_program_and_a_wrong_folder(tmp_path):
    dist, app = _fake_export(tmp_path, sha="0" * 64)
    with pytest.raises(FsrEdgeError, match="sha256"):
        install_artifacts(dist, app)
    with pytest.raises(FsrEdgeError, match="android_demo"):
        install_artifacts(dist, tmp_path)
    assert not (app / "app/src/main/assets/manifest.json").exists()


def test_install_refuses_a_program_with_no_recorded_sha256(tmp_path):
    dist, app = _fake_export(tmp_path, sha="")
    with pytest.raises(FsrEdgeError, match="no sha256 recorded"):
        install_artifacts(dist, app)
    assert not (app / "app/src/main/assets/m.pte").exists()


def test_check_golden_refuses_a_corrupt_program_before_running_it(tmp_path):
    from fsr_edge.android import check_golden
    from fsr_edge.errors import WeightsError

    dist, _ = _fake_export(tmp_path)  # m.pte holds b"pte bytes": no ExecuTorch header
    manifest = json.loads((dist / "manifest.json").read_text())
    manifest["artifacts"][0]["golden"] = {
        "input": _write_golden_pair(dist, "in", (1, 3, 2, 2)), "output": _write_golden_pair(dist, "out", (1, 3, 4, 4)),
        "output_source": "artifact", "min_psnr_db": 40.0}
    with pytest.raises(WeightsError, match="not an ExecuTorch program"):
        check_golden(manifest, dist)


def _write_golden_pair(dist, stem, shape):
    from fsr_edge.exporters.manifest import write_golden

    return write_golden(np.zeros(shape, np.float32), dist / f"{stem}.bin")


def test_install_refuses_paths_leaving_the_export(tmp_path):
    dist, app = _fake_export(tmp_path, file="../m.pte")
    (tmp_path / "m.pte").write_bytes(b"x")
    with pytest.raises(FsrEdgeError, match="leaves"):
        install_artifacts(dist, app)
