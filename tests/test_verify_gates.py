"""Verification gates, range-safe quantization and the integrity of every exported file: each gate is shown to
pass on a good artifact and to fail on an input made to fail it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import numpy as np
import pytest
import torch

from fsr_edge.calibration import builtin_calibration_set
from fsr_edge.errors import ConfigError, WeightsError
from fsr_edge.exporters import Precision, quantize_ptq
from fsr_edge.exporters import manifest as mf
from fsr_edge.exporters.verify import (MAX_INT8_DROP_DB, MAX_INT8_WORST_DROP_DB, MIN_PSNR_VS_REFERENCE_DB, EvalSet,
                                       VerificationSuite, check_subset, stress_set)
from fsr_edge.models import create_model, load_model, save_model

LR = 16


@pytest.fixture(scope="module")
def student():
    torch.manual_seed(0)
    return create_model("edge_sr_x8", channels=(16, 16, 8), blocks=1, lr_size=LR).eval()


@pytest.fixture(scope="module")
def weights(student, tmp_path_factory):
    return save_model(student, tmp_path_factory.mktemp("w") / "tiny.safetensors", arch="edge_sr_x8",
                      kwargs={"channels": [16, 16, 8], "blocks": 1, "lr_size": LR})


@pytest.fixture(scope="module")
def dist(weights, tmp_path_factory):
    """One real export (ONNX fp32 + INT8, OpenVINO fp32) on the bundled faces' suite."""
    from fsr_edge.exporters import export_student

    out = tmp_path_factory.mktemp("e") / "dist"
    export_student(str(weights), out, targets=["onnx", "openvino"], precisions=["fp32", "int8"], log=lambda *_: None)
    return out


def _subset(n: int = 4, size: int = 8) -> EvalSet:
    rng = np.random.default_rng(0)
    hr = [rng.uniform(0, 1, (1, 3, size, size)).astype(np.float32) for _ in range(n)]
    return EvalSet([h[:, :, ::2, ::2].copy() for h in hr], hr, [f"f{i}" for i in range(n)], "synthetic", name="val-clean")


# ---- the gates, face by face ----------------------------------------------------------------------------------

def test_fp32_gate_is_on_the_worst_face_not_the_mean():
    s = _subset()
    ref = [h.copy() for h in s.hr_faces]
    outs = [r.copy() for r in ref]
    assert check_subset(Precision.FP32, outs, ref, s)["status"] == "passed"
    outs[2] = outs[2] + 0.02                     # one face off by 34 dB; the pooled mean would still be > 40 dB
    rec = check_subset(Precision.FP32, outs, ref, s)
    assert rec["status"] == "failed" and f"< {MIN_PSNR_VS_REFERENCE_DB} dB (f2)" in rec["reason"]
    assert rec["min_psnr_vs_reference_db"] < MIN_PSNR_VS_REFERENCE_DB < rec["mean_psnr_vs_reference_db"]


def test_int8_gates_fail_on_mean_drop_and_on_one_bad_face():
    s = _subset()
    ref = [np.clip(h + 0.01, 0, 1) for h in s.hr_faces]
    assert check_subset(Precision.INT8, [r.copy() for r in ref], ref, s)["status"] == "passed"
    everywhere = [np.clip(r + 0.003, 0, 1) for r in ref]        # a small drop on every face
    rec = check_subset(Precision.INT8, everywhere, ref, s)
    assert rec["mean_drop_db"] > MAX_INT8_DROP_DB and "mean PSNR drop" in rec["reason"]
    one_face = [r.copy() for r in ref]
    one_face[1] = np.clip(ref[1] + 0.02, 0, 1)                   # one face only: the mean stays small
    rec = check_subset(Precision.INT8, one_face, ref, s)
    assert rec["status"] == "failed" and rec["worst_face"] == "f1"
    assert rec["worst_drop_db"] > MAX_INT8_WORST_DROP_DB and "worst-face drop" in rec["reason"]


def test_int8_worst_face_drop_on_a_near_perfect_face_is_judged_by_the_error_it_adds():
    """At ~47 dB (the fp32 student on the stress set's ramp) a 1.5 dB drop is under one 8-bit level of added RMS
    error and passes; two levels added to that face fail the worst-face gate, and so does any drop over 0.5 dB on
    a face at an ordinary PSNR (there 0.5 dB is already several levels)."""
    from fsr_edge.exporters.verify import MAX_INT8_ADDED_RMS_LEVELS, added_rms_levels

    rng = np.random.default_rng(0)
    s = _subset(size=32)
    hr = [0.2 + 0.6 * h for h in s.hr_faces]
    s = EvalSet(s.lr_faces, hr, s.names, s.source, s.name)
    ref = [h + rng.normal(0, 1.1 / 255, h.shape).astype(np.float32) for h in hr]        # ~47 dB
    noise = [rng.normal(0, 1 / 255, h.shape).astype(np.float32) for h in hr]
    faint = [r.copy() for r in ref]
    faint[1] = ref[1] + 0.7 * noise[1]                           # +0.7 levels RMS: ~1.5 dB down
    rec = check_subset(Precision.INT8, faint, ref, s)
    assert rec["worst_face"] == "f1" and rec["worst_drop_db"] > MAX_INT8_WORST_DROP_DB
    assert rec["worst_face_added_rms_levels"] < MAX_INT8_ADDED_RMS_LEVELS and "worst-face" not in rec["reason"]
    visible = [r.copy() for r in ref]
    visible[1] = ref[1] + 2.0 * noise[1]                         # +2 levels RMS
    rec = check_subset(Precision.INT8, visible, ref, s)
    assert rec["status"] == "failed" and "worst-face drop" in rec["reason"] and "levels RMS" in rec["reason"]
    assert added_rms_levels(24.5, 25.0) > 4 * MAX_INT8_ADDED_RMS_LEVELS   # an ordinary face: the floor never helps


def test_non_finite_output_fails_every_precision():
    s = _subset()
    outs = [h.copy() for h in s.hr_faces]
    outs[0][0, 0, 0, 0] = np.nan
    for precision in Precision:
        assert "non-finite" in check_subset(precision, outs, s.hr_faces, s)["reason"]


def test_stress_set_covers_every_case_and_the_full_range():
    from fsr_edge.data.photometric import STRESS_CASES, STRESS_LR_CASES

    base = EvalSet.builtin(scale=8, hr_size=128, mode="clean")
    stress = stress_set(base, scale=8, faces=2)
    cases = {n.split("/")[0] for n in stress.names}
    assert cases == set(STRESS_CASES) | set(STRESS_LR_CASES)
    lr = np.concatenate(stress.lr_faces)
    assert lr.min() <= 0.01 and lr.max() >= 0.99                 # dark and bright ends are both there
    assert all(h.shape == (1, 3, 128, 128) for h in stress.hr_faces)


def test_bundled_suite_is_the_london_val_faces_clean_blind_and_stress():
    suite = VerificationSuite.bundled(scale=8, hr_size=128)
    assert [s.name for s in suite.subsets] == ["val-clean", "val-blind", "stress"]
    assert len(suite.subsets[0].names) == 24 and suite.subsets[0].names[0].startswith("london-")
    assert "CC BY 4.0" in suite.subsets[0].source


@pytest.mark.faces
def test_face_folder_suite_has_val_and_wild_clean_and_blind(faces_dir):
    suite = VerificationSuite.from_faces(faces_dir, scale=8, hr_size=64)
    names = [s.name for s in suite.subsets]
    assert names == ["val-clean", "val-blind", "wild-clean", "wild-blind", "stress"]
    assert len(suite.subsets[2].names) == 55


# ---- range-safe quantization ------------------------------------------------------------------------------

def test_ptq_pins_the_input_and_skip_ranges_whatever_the_calibration(student):
    """A calibration on dark faces only would give the input quantizer a range that clips every brighter pixel;
    the input and the bilinear skip are pinned to [0, 1] instead (and frozen for QAT)."""
    import nncf

    from fsr_edge.exporters.quantize import activation_ranges, use_reference_kernels

    calib = builtin_calibration_set(size=4, hr_size=LR * 8, photometric=False)
    dark = [x * 0.4 for x in calib.lr_faces()]
    use_reference_kernels()
    unpinned = nncf.quantize(student, nncf.Dataset(dark), subset_size=4,
                             preset=nncf.QuantizationPreset.PERFORMANCE)
    assert activation_ranges(unpinned)["lr_face"][1] < 0.5           # what calibration alone does

    class Dark:
        def __len__(self):
            return 4

        def lr_faces(self):
            return dark

        def to_nncf(self):
            return nncf.Dataset(dark)

    q = quantize_ptq(student, Dark())
    ranges = activation_ranges(q)
    assert ranges["lr_face"] == (0.0, 1.0) and ranges["/interpolate/0"] == (0.0, 1.0)
    frozen = [p.requires_grad for n, p in q.named_parameters() if "lr_face__0" in n and "scale" in n]
    assert frozen == [False]


def test_int8_onnx_input_quantizer_is_scale_1_over_255(dist):
    import onnx
    from onnx import numpy_helper

    m = mf.load_manifest(dist)
    art = next(a for a in m["artifacts"] if a["id"] == "onnx-int8-16x16")
    g = onnx.load(str(dist / art["file"])).graph
    consts = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    for n in g.node:
        if n.op_type == "Constant":
            consts[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
    q_in = next(n for n in g.node if n.op_type == "QuantizeLinear" and n.input[0] == "lr_face")
    assert float(consts[q_in.input[1]]) == pytest.approx(1 / 255) and int(consts[q_in.input[2]]) == 0


def test_executorch_input_observer_is_fixed_to_0_1(student):
    pytest.importorskip("executorch")
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (XNNPACKQuantizer,
                                                                         get_symmetric_quantization_config)
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    from fsr_edge.exporters.executorch import pin_known_ranges

    x = torch.rand(1, 3, LR, LR)
    ep = torch.export.export(student, (x,))
    config = get_symmetric_quantization_config(is_per_channel=True)
    prepared = prepare_pt2e(ep.module(), XNNPACKQuantizer().set_global(config))
    assert len(pin_known_ranges(prepared)) == 2                       # the input and the bilinear skip
    prepared(x * 0.3)                                                  # a dark calibration cannot move them
    converted = convert_pt2e(prepared)
    on_input = [n for n in converted.graph.nodes if "quantize_per_tensor" in str(n.target)
                and n.args[0].op == "placeholder"]
    assert [(n.args[1], n.args[2]) for n in on_input] == [(pytest.approx(1 / 255), -128)]


def test_calibration_refuses_check_only_splits(tmp_path):
    from fsr_edge.calibration import select_calibration_set

    for split in ("val", "wild"):
        with pytest.raises(ConfigError, match="never for calibration"):
            select_calibration_set(tmp_path, split=split)


def test_calibration_photometric_spread_replays_from_the_manifest(tmp_path):
    from fsr_edge.calibration import CalibrationSet

    calib = builtin_calibration_set(size=6, hr_size=64)
    assert all(it.photometric for it in calib.items) and "photometric" in calib.rule
    calib.save(tmp_path / "c.json")
    again = CalibrationSet.load(tmp_path / "c.json")
    for a, b in zip(calib.lr_faces(), again.lr_faces()):
        assert torch.equal(a, b)
    lr = torch.cat(calib.lr_faces())
    plain = torch.cat(builtin_calibration_set(size=6, hr_size=64, photometric=False).lr_faces())
    assert (lr.amax() - lr.amin()) >= (plain.amax() - plain.amin()) - 0.05


# ---- exported files: golden vectors, integrity, paths, lock -------------------------------------------------

def test_golden_output_is_the_fp32_reference_with_a_tolerance(dist, student):
    m = mf.load_manifest(dist)
    for art in m["artifacts"]:
        g = art["golden"]
        assert g["output_source"] == "pytorch_fp32_reference" and g["min_psnr_db"] >= 30
        gin, gout = mf.read_golden(dist, g["input"]), mf.read_golden(dist, g["output"])
        with torch.no_grad():
            np.testing.assert_allclose(student(torch.from_numpy(gin)).numpy(), gout, atol=1e-5)
        assert art["verification"]["golden_psnr_db"] >= g["min_psnr_db"]


def test_manifest_records_a_sha256_for_every_file(dist):
    m = mf.load_manifest(dist)
    ov = next(a for a in m["artifacts"] if a["target"] == "openvino")
    assert set(ov["files"]) == set(mf.artifact_paths(ov))
    assert any(p.endswith(".bin") and "golden" not in p for p in ov["files"])
    assert all(not mf.check_artifact_files(dist, a) for a in m["artifacts"])
    json.loads((dist / "manifest.json").read_text(), parse_constant=lambda c: pytest.fail(f"non-JSON {c}"))


def _copy(dist, tmp_path):
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(dist, out)
    return out, mf.load_manifest(out)


def test_tampered_bin_and_deleted_golden_are_caught(dist, tmp_path):
    copy, m = _copy(dist, tmp_path)
    ov = next(a for a in m["artifacts"] if a["target"] == "openvino")
    weights_bin = next(p for p in ov["extra_files"] if p.endswith(".bin"))
    data = bytearray((copy / weights_bin).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / weights_bin).write_bytes(bytes(data))
    assert any("sha256 differs" in p for p in mf.check_artifact_files(copy, ov))
    onnx_art = next(a for a in m["artifacts"] if a["target"] == "onnx")
    (copy / onnx_art["golden"]["output"]["file"]).unlink()
    assert any("missing" in p for p in mf.check_artifact_files(copy, onnx_art))


@pytest.mark.parametrize("bad", ["../outside.onnx", "/etc/passwd", "onnx/../../x"])
def test_manifest_paths_outside_the_folder_are_refused(dist, bad):
    with pytest.raises(WeightsError, match="relative path inside"):
        mf.resolve_inside(dist, bad)


def test_symlink_and_fifo_in_a_manifest_are_refused_without_hanging(tmp_path):
    (tmp_path / "real.onnx").write_bytes(b"x")
    os.symlink("/etc/hostname", tmp_path / "link.onnx")
    os.mkfifo(tmp_path / "pipe.onnx")
    with pytest.raises(WeightsError, match="symlink"):
        mf.resolve_inside(tmp_path, "link.onnx")
    with pytest.raises(WeightsError, match="FIFO"):
        mf.resolve_inside(tmp_path, "pipe.onnx")
    assert mf.resolve_inside(tmp_path, "real.onnx") == tmp_path / "real.onnx"


def test_manifest_whose_artifacts_is_not_a_list_is_refused(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps({k: {} for k in mf.TOP_KEYS} | {"format": mf.FORMAT,
                                                       "model": {}, "artifacts": "x"}))
    with pytest.raises(ConfigError):
        mf.load_manifest(tmp_path)


def test_second_export_into_a_folder_being_written_is_refused(weights, tmp_path):
    from fsr_edge.exporters import export_student

    out = tmp_path / "dist"
    with mf.export_lock(out):
        with pytest.raises(ConfigError, match="another export"):
            export_student(str(weights), out, targets=["onnx"], precisions=["fp32"], log=lambda *_: None)
    # a lock left by a process that no longer exists is taken over
    (out / ".export.lock").write_text("999999999")
    export_student(str(weights), out, targets=["onnx"], precisions=["fp32"], log=lambda *_: None)
    assert not (out / ".export.lock").exists()


def test_bench_and_verify_cli_exit_non_zero_on_a_tampered_artifact(dist, tmp_path):
    copy, m = _copy(dist, tmp_path)
    onnx_art = next(a for a in m["artifacts"] if a["id"] == "onnx-fp32-16x16")
    data = bytearray((copy / onnx_art["file"]).read_bytes())
    data[-10] ^= 0xFF
    (copy / onnx_art["file"]).write_bytes(bytes(data))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    verify = subprocess.run([sys.executable, "-m", "fsr_edge.cli", "verify", str(copy)], capture_output=True,
                            text=True, env=env, timeout=600)
    assert verify.returncode == 1, verify.stdout + verify.stderr
    assert "integrity" in verify.stdout and "Traceback" not in verify.stderr
    bench = subprocess.run([sys.executable, "-m", "fsr_edge.cli", "bench", str(copy), "-o", str(tmp_path / "b"),
                            "--quick", "--no-teacher", "--no-photo-pipeline"], capture_output=True, text=True,
                           env=env, timeout=900)
    assert bench.returncode == 1, bench.stdout[-2000:] + bench.stderr[-2000:]
    assert "FAILED onnx-fp32-16x16" in bench.stdout


# ---- non-finite models ------------------------------------------------------------------------------------

def test_nan_weights_are_refused_by_load_export_upscale_and_eval(student, tmp_path):
    from fsr_edge.cli import main

    broken = create_model("edge_sr_x8", channels=(16, 16, 8), blocks=1, lr_size=LR)
    broken.load_state_dict(student.state_dict())
    with torch.no_grad():
        broken.head.weight[0, 0, 0, 0] = float("nan")
    path = save_model(broken, tmp_path / "nan.safetensors", arch="edge_sr_x8",
                      kwargs={"channels": [16, 16, 8], "blocks": 1, "lr_size": LR})
    with pytest.raises(WeightsError, match="NaN or Inf"):
        load_model(path)
    from PIL import Image

    Image.fromarray(np.full((LR, LR, 3), 128, np.uint8)).save(tmp_path / "face.png")
    cases = [["export", "--model", str(path), "--targets", "onnx", "--precision", "fp32", "-o", str(tmp_path / "d")],
             ["upscale", str(tmp_path / "face.png"), "--model", str(path), "--aligned", "-o", str(tmp_path / "u")],
             ["eval", "--model", str(path), "--data", str(tmp_path), "--scale", "8", "-o", str(tmp_path / "e.json")]]
    for argv in cases:
        r = subprocess.run([sys.executable, "-m", "fsr_edge.cli", *argv], capture_output=True, text=True, timeout=300)
        assert r.returncode != 0 and "NaN or Inf" in r.stderr, (argv, r.stderr[-500:])
        assert "Traceback" not in r.stderr
    assert not (tmp_path / "u").exists() or not any((tmp_path / "u").iterdir())


# ---- TensorRT's explicit-quantization rules ---------------------------------------------------------------

def test_tensorrt_qdq_onnx_is_signed_symmetric_int8_and_verified_on_the_cpu(dist, weights, tmp_path):
    from fsr_edge.exporters import export_student
    from fsr_edge.exporters import tensorrt as trx

    ok, _ = trx.availability()
    manifest = export_student(str(weights), tmp_path / "t", targets=["tensorrt"], precisions=["int8"],
                              log=lambda *_: None)
    art = manifest["artifacts"][0]
    check = art["delegation"]["qdq_onnx_check"]
    assert check["tensorrt_compatible"] and check["zero_point_dtypes"] == ["int8"] and check["all_zero_points_zero"]
    assert check["conv_with_qdq_inputs"] == check["conv_total"] == 6
    if not ok:
        assert art["file"].endswith(".onnx") and "stand-in" in art["runtime"]
        assert art["verification"]["status"] in ("passed", "failed") and art["verification"]["subsets"]


@pytest.mark.slow
def test_calibration_on_a_narrow_pixel_range_fails_the_gates():
    """Internal activation ranges fitted to dark faces only (x0.35) clip on normal and bright faces: the INT8
    student must fail the gates (measured: stress mean drop 0.64 dB, worst face 2.65 dB), while the stated rule's
    calibration passes them."""
    import nncf

    from fsr_edge.exporters.pipeline import verification_suite

    student = load_model("mskd-x8")
    suite = verification_suite(None, scale=8, hr_size=256)
    refs = suite.references(student)
    good = builtin_calibration_set(size=8)

    class Narrow:
        def __len__(self):
            return len(good)

        def lr_faces(self):
            return [x * 0.35 for x in good.lr_faces()]

        def to_nncf(self):
            return nncf.Dataset(self.lr_faces())

    def stress_record(calib):
        q = quantize_ptq(student, calib)
        subset, ref = suite.subsets[-1], refs[-1]
        with torch.no_grad():
            outs = [q(torch.from_numpy(x)).numpy() for x in subset.lr_faces]
        return check_subset(Precision.INT8, outs, ref, subset)

    assert stress_record(Narrow())["status"] == "failed"
    assert stress_record(good)["status"] == "passed"
