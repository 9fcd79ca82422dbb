"""Exporters: each target's round trip on a small EdgeSR, verification (incl. a sabotaged artifact), manifest,
TensorRT's Q/DQ ONNX and its explicit skip of the engine. Runtimes are the real ones (ONNX Runtime, OpenVINO, ExecuTorch); Core ML is
spec-checked because its prediction needs macOS."""

from __future__ import annotations

import json
import platform

import numpy as np
import pytest
import torch

from fsr_edge.calibration import builtin_calibration_set
from fsr_edge.exporters import Precision, RuntimeUnavailable, quantize_ptq, verify
from fsr_edge.exporters import manifest as mf
from fsr_edge.exporters.verify import VerificationSuite
from fsr_edge.models import create_model, save_model

LR = 16   # small input: every round trip stays well under the per-test budget


@pytest.fixture(scope="module")
def student():
    torch.manual_seed(0)
    return create_model("edge_sr_x8", channels=(16, 16, 8), blocks=1, lr_size=LR).eval()


@pytest.fixture(scope="module")
def example():
    return torch.rand(1, 3, LR, LR, generator=torch.Generator().manual_seed(1))


@pytest.fixture(scope="module")
def calib():
    return builtin_calibration_set(size=4, hr_size=LR * 8)


@pytest.fixture(scope="module")
def qstudent(student, calib):
    return quantize_ptq(student, calib)


def _psnr_vs(model, runner, x) -> float:
    from fsr_edge.exporters.verify import psnr

    with torch.no_grad():
        ref = model(x).numpy()
    return psnr(runner(x.numpy()), ref)


def test_onnx_fp32_and_int8_qdq_run_in_onnxruntime(student, qstudent, example, tmp_path):
    from fsr_edge.exporters import onnx as ox

    fp32 = ox.export(student, example, tmp_path, precision=Precision.FP32)
    int8 = ox.export(student, example, tmp_path, precision=Precision.INT8, quantized_model=qstudent)
    assert ox.op_counts(fp32.file).get("DepthToSpace") == 3
    assert _psnr_vs(student, ox.load_runner(fp32), example) >= 45
    assert _psnr_vs(student, ox.load_runner(int8), example) >= 25
    ops = ox.op_counts(int8.file)
    assert ops["DequantizeLinear"] >= 6 and ops["QuantizeLinear"] >= 1
    qdq = ox.qdq_structure(int8.file)
    assert qdq["conv_with_qdq_inputs"] == qdq["conv_total"] == 6
    # weights stored as INT8 initializers, not float + a runtime QuantizeLinear
    assert int8.file.stat().st_size < 0.5 * fp32.file.stat().st_size
    assert int8.delegation["int8_conv"] >= 1


def test_openvino_fp32_fp16_int8(student, qstudent, example, tmp_path):
    from fsr_edge.exporters import openvino as ovx

    arts = {p: ovx.export(student, example, tmp_path, precision=p, quantized_model=qstudent)
            for p in (Precision.FP32, Precision.FP16, Precision.INT8)}
    assert _psnr_vs(student, ovx.load_runner(arts[Precision.FP32]), example) >= 45
    assert _psnr_vs(student, ovx.load_runner(arts[Precision.FP16]), example) >= 45
    assert _psnr_vs(student, ovx.load_runner(arts[Precision.INT8]), example) >= 25
    d = arts[Precision.INT8].delegation
    assert d["int8_conv"] == 6 and d["float_conv"] == 0, d
    assert arts[Precision.FP32].runtime_config["INFERENCE_PRECISION_HINT"] == "f32"
    assert arts[Precision.FP16].file.with_suffix(".bin").stat().st_size < 0.6 * arts[Precision.FP32].file.with_suffix(".bin").stat().st_size


@pytest.mark.slow
@pytest.mark.parametrize("precision,floor", [(Precision.FP32, 45), (Precision.INT8, 25)])
def test_executorch_xnnpack_fp32_and_pt2e_int8(student, example, calib, tmp_path, precision, floor):
    from fsr_edge.exporters import executorch as etx

    art = etx.export(student, example, tmp_path, precision=precision, calibration=calib)
    assert art.file.suffix == ".pte"
    assert _psnr_vs(student, etx.load_runner(art), example) >= floor
    d = art.delegation
    assert d["delegate_calls"] >= 1 and d["delegated_nodes"] > 10
    # nothing falls back to portable kernels (getitem only unpacks the delegate outputs)
    assert set(d["portable_ops"]) <= {"getitem"}, d["portable_ops"]


@pytest.mark.slow
def test_coreml_spec_checked_and_prediction_skipped_on_linux(student, example, tmp_path):
    from fsr_edge.exporters import coreml as cmx

    fp16 = cmx.export(student, example, tmp_path, precision=Precision.FP16)
    int8 = cmx.export(student, example, tmp_path, precision=Precision.INT8)
    s16, s8 = cmx.spec_summary(fp16.file), cmx.spec_summary(int8.file)
    assert s16["inputs"][0]["name"] == "lr_face" and s16["inputs"][0]["shape"] == [1, 3, LR, LR]
    assert s16["outputs"][0]["name"] == "sr_face"
    assert set(s16["weight_dtypes"]) == {"FLOAT16"}
    assert s8["weight_dtypes"].get("INT8", 0) >= 6
    assert s16["op_types"]["conv"] == 6 and s16["op_types"]["pixel_shuffle"] == 3
    if platform.system() != "Darwin":
        with pytest.raises(RuntimeUnavailable, match="macOS"):
            cmx.load_runner(fp16)


def test_tensorrt_without_cuda_verifies_its_qdq_onnx_in_onnxruntime(student, calib, example, tmp_path):
    from fsr_edge.exporters import tensorrt as trx

    ok, reason = trx.availability()
    if ok:
        pytest.skip("TensorRT is available here: covered by the gpu test")
    int8 = trx.export(student, example, tmp_path, precision=Precision.INT8, calibration=calib)
    assert int8.status == "exported" and int8.file.suffix == ".onnx" and "stand-in" in int8.runtime
    q = int8.delegation["qdq_onnx_check"]
    # TensorRT's explicit quantization: signed INT8, zero point 0 everywhere, every conv Q/DQ-fed
    assert q["conv_with_qdq_inputs"] == q["conv_total"] == 6 and q["all_zero_points_zero"]
    assert q["zero_point_dtypes"] == ["int8"] and q["tensorrt_compatible"], q
    assert _psnr_vs(student, trx.load_runner(int8), example) >= 25
    fp16 = trx.export(student, example, tmp_path, precision=Precision.FP16)
    assert fp16.status == "not_available" and fp16.file is None and "needs CUDA + TensorRT" in fp16.reason
    with pytest.raises(RuntimeUnavailable, match="needs CUDA"):
        trx.load_runner(fp16)


@pytest.mark.gpu
def test_tensorrt_engine_round_trip(student, calib, example, tmp_path):
    from fsr_edge.exporters import tensorrt as trx

    ok, reason = trx.availability()
    if not ok:
        pytest.skip(reason)
    for precision in (Precision.FP16, Precision.INT8):
        art = trx.export(student, example, tmp_path, precision=precision, calibration=calib)
        assert art.file.suffix == ".engine"
        assert _psnr_vs(student, trx.load_runner(art), example) >= (35 if precision is Precision.FP16 else 25)


def test_sabotaged_artifact_is_marked_failed(student, example, tmp_path):
    import onnx
    from onnx import numpy_helper

    from fsr_edge.exporters import onnx as ox

    art = ox.export(student, example, tmp_path, precision=Precision.FP32)
    suite = VerificationSuite.bundled(scale=8, hr_size=LR * 8)
    refs = suite.references(student)
    good, _ = verify(art, ox.load_runner(art), suite, refs)
    assert good["status"] == "passed" and good["psnr_vs_reference_db"] >= 45
    assert set(good["subsets"]) == {"val-clean", "val-blind", "stress"}
    model = onnx.load(str(art.file))
    # the last conv's bias (12 = 3 colours x 2 x 2 before the final pixel shuffle): a small colour cast
    init = [i for i in model.graph.initializer if tuple(i.dims) == (12,)][-1]
    init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) + 0.02, init.name))
    onnx.save(model, str(art.file))
    bad, _ = verify(art, ox.load_runner(art), suite, refs)
    assert bad["status"] == "failed" and "< 45.0 dB" in bad["reason"]
    assert all(s["status"] == "failed" for s in bad["subsets"].values())


def test_export_student_writes_valid_manifest_with_golden_pairs(student, tmp_path):
    from fsr_edge.exporters import export_student

    weights = save_model(student, tmp_path / "tiny.safetensors", arch="edge_sr_x8",
                         kwargs={"channels": [16, 16, 8], "blocks": 1, "lr_size": LR})
    dist = tmp_path / "dist"
    manifest = export_student(str(weights), dist, targets=["onnx", "tensorrt"], precisions=["fp32", "fp16"],
                              log=lambda *_: None)
    on_disk = mf.load_manifest(dist)
    assert on_disk["model"]["arch"] == "edge_sr_x8" and on_disk["model"]["lr_size"] == LR
    assert "bundled London val faces" in on_disk["verification_faces"]
    by_id = {a["id"]: a for a in on_disk["artifacts"]}
    assert set(by_id) == {"onnx-fp32-16x16", "tensorrt-fp16-16x16"}
    onnx_art = by_id["onnx-fp32-16x16"]
    assert onnx_art["verification"]["status"] == "passed"
    assert onnx_art["inputs"][0] == {"name": "lr_face", "shape": [1, 3, LR, LR], "dtype": "float32", "layout": "NCHW",
                                     "channel_order": "RGB", "value_range": [0.0, 1.0], "normalization": "none"}
    assert mf.digest(dist / onnx_art["file"]) == (onnx_art["sha256"], onnx_art["size_bytes"])
    # the golden pair is the fp32 PyTorch reference, and the runtime reproduces it
    from fsr_edge.exporters import onnx as ox
    from fsr_edge.exporters.artifact import Artifact, Target

    gin = mf.read_golden(dist, onnx_art["golden"]["input"])
    gout = mf.read_golden(dist, onnx_art["golden"]["output"])
    with torch.no_grad():
        np.testing.assert_allclose(student(torch.from_numpy(gin)).numpy(), gout, atol=1e-6)
    art = Artifact(Target.ONNX, Precision.FP32, dist / onnx_art["file"], "", tuple(gin.shape), tuple(gout.shape))
    np.testing.assert_allclose(ox.load_runner(art)(gin), gout, atol=1e-5)
    trt = by_id["tensorrt-fp16-16x16"]
    assert trt["verification"]["status"] == "skipped" and "CUDA" in trt["verification"]["reason"]
    json.dumps(manifest, allow_nan=False)   # strict JSON: no NaN or infinity anywhere


def test_manifest_validation_names_missing_fields():
    from fsr_edge.errors import ConfigError

    with pytest.raises(ConfigError, match="top level lacks"):
        mf.validate({"format": mf.FORMAT})


def test_cli_export_rejects_unknown_target(tmp_path, capsys):
    from fsr_edge.cli import main

    assert main(["export", "--model", "bicubic-x8", "--targets", "onnx,tflite", "-o", str(tmp_path / "d")]) == 2
    assert "unknown target 'tflite'" in capsys.readouterr().err


def test_int8_export_without_face_data_uses_builtin_calibration(student, tmp_path):
    from fsr_edge.exporters import export_student

    weights = save_model(student, tmp_path / "tiny.safetensors", arch="edge_sr_x8",
                         kwargs={"channels": [16, 16, 8], "blocks": 1, "lr_size": LR})
    manifest = export_student(str(weights), tmp_path / "dist", targets=["onnx"], precisions=["int8"],
                              faces_dir=None, log=lambda *_: None)
    assert "built-in" in manifest["calibration"]["source"] and manifest["calibration"]["method"] == "NNCF PTQ"
    assert "photometric" in manifest["calibration"]["rule"]
    art = manifest["artifacts"][0]
    v = art["verification"]
    assert art["id"] == "onnx-int8-16x16" and set(v["subsets"]) == {"val-clean", "val-blind", "stress"}
    # the artifact's status is exactly "every subset passed", and each subset is judged on its own numbers
    assert (v["status"] == "passed") == all(s["status"] == "passed" for s in v["subsets"].values())
    for s in v["subsets"].values():
        expect_fail = s["mean_drop_db"] > 0.1 or s["worst_drop_db"] > 0.5
        assert (s["status"] == "failed") == expect_fail, s
    assert v["drop_db"] == max(s["mean_drop_db"] for s in v["subsets"].values())


def test_qat_state_from_other_weights_is_refused(student, qstudent, tmp_path):
    from fsr_edge.errors import ConfigError
    from fsr_edge.exporters import export_student, save_quantized

    weights = save_model(student, tmp_path / "tiny.safetensors", arch="edge_sr_x8",
                         kwargs={"channels": [16, 16, 8], "blocks": 1, "lr_size": LR})
    state = save_quantized(qstudent, tmp_path / "q.safetensors", arch="edge_sr_x8",
                           kwargs={"channels": [16, 16, 8], "blocks": 1, "lr_size": LR}, base_weights_sha256="0" * 64)
    with pytest.raises(ConfigError, match="other fp32 weights"):
        export_student(str(weights), tmp_path / "dist", targets=["onnx"], precisions=["int8"], qat_state=str(state),
                       log=lambda *_: None)


def test_list_of_shapes_gives_one_verified_artifact_per_shape(student, tmp_path):
    from fsr_edge.exporters import export_student

    weights = save_model(student, tmp_path / "tiny.safetensors", arch="edge_sr_x8",
                         kwargs={"channels": [16, 16, 8], "blocks": 1, "lr_size": LR})
    manifest = export_student(str(weights), tmp_path / "dist", targets=["onnx"], precisions=["fp32"],
                              shapes=[(LR, LR), (24, 24)], log=lambda *_: None)
    by_id = {a["id"]: a for a in manifest["artifacts"]}
    assert set(by_id) == {"onnx-fp32-16x16", "onnx-fp32-24x24"}
    other = by_id["onnx-fp32-24x24"]
    assert other["inputs"][0]["shape"] == [1, 3, 24, 24] and other["outputs"][0]["shape"] == [1, 3, 192, 192]
    assert other["verification"]["status"] == "passed" and other["verification"]["psnr_vs_reference_db"] >= 45


@pytest.mark.slow
def test_cli_export_fresh_install_path(tmp_path, capsys):
    """The bundled student with no face folder (what a fresh install does): every artifact passes every gate on
    the bundled faces' suite, and the command says so with exit 0."""
    from fsr_edge.cli import main

    dist = tmp_path / "dist"
    rc = main(["export", "--targets", "onnx,openvino", "--precision", "fp32,int8", "--builtin-faces", "-o", str(dist)])
    manifest = mf.load_manifest(dist)
    statuses = {a["id"]: a["verification"]["status"] for a in manifest["artifacts"]}
    assert rc == 0 and set(statuses.values()) == {"passed"}, statuses
    assert set(statuses) == {"onnx-fp32-32x32", "onnx-int8-32x32", "openvino-fp32-32x32", "openvino-int8-32x32"}
    assert "bundled" in manifest["verification_faces"]
    assert "| onnx-int8-32x32 |" in (dist / "summary.md").read_text()
    assert main(["export", "-o", str(dist)]) == 2       # never overwrites silently
    assert "exists" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["sesr-x8", "mskd-x8", "pisr-x8", "pisr-x4"])
def test_bundled_qat_states_still_load_into_the_bundled_students(name, tmp_path):
    """A QAT state names the student's graph nodes (e.g. up1/0/conv2d/0): a forward that calls its blocks any
    other way (sliced Sequentials) breaks the main job's INT8 export although fresh NNCF runs still pass."""
    from fsr_edge.exporters import export_student
    from fsr_edge.exporters.pipeline import bundled_qat_path

    assert bundled_qat_path(name).exists()
    manifest = export_student(name, tmp_path / "dist", targets=["onnx"], precisions=["int8"], log=lambda *_: None)
    assert manifest["calibration"]["method"] == f"QAT state {bundled_qat_path(name).name}"
    art = manifest["artifacts"][0]
    assert art["verification"]["status"] == "passed" and art["verification"]["psnr_vs_reference_db"] > 25
