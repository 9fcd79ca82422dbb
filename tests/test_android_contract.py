"""The Android demo against a real ExecuTorch export: what the app reads exists in the manifest, the install step
puts the assets where the app looks, the golden vectors hold in ExecuTorch's runtime, and the app's plain-Kotlin
core (compiled here with kotlinc when it is installed) agrees with the Python reference and writes a bench.json
that ``fsr-edge report`` reads and merges.

No Android SDK is needed; what needs one (Gradle build, device run) is listed in android_demo/README.md.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import numpy as np
import pytest

from fsr_edge.android import (ASSETS_DIR, argb_to_rgb, check_golden, executorch_artifacts, install_artifacts,
                              postprocess, preprocess_argb, psnr_db, read_golden, rgb_to_argb)
from fsr_edge.bench import load_manifest, sha256_file

REPO = Path(__file__).resolve().parents[1]
ANDROID = REPO / "android_demo"
CORE_MAIN = ANDROID / "core/src/main/kotlin/org/fsredge/demo/core"
APP_MAIN = ANDROID / "app/src/main/kotlin/org/fsredge/demo"
JVM_TEST = ANDROID / "tools/jvm_test.sh"

pytestmark = pytest.mark.slow


# ---------------------------------------------------------------------------------------------------- the export
def _export(dist: Path) -> None:
    """A real ExecuTorch (XNNPACK) export of the edge student into ``dist``, with the planned manifest fields.

    Stand-in for ``fsr-edge export`` until exporters/ provides it: same flat steps (torch.export ->
    to_edge_transform_and_lower -> .pte), golden vectors as raw little-endian float32.
    """
    import torch
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower
    from executorch.runtime import Runtime

    from fsr_edge.models import create_model
    from fsr_edge.profile import count_macs, count_params

    torch.manual_seed(0)
    model = create_model("edge_sr_x8").eval()
    lr_face = torch.rand(1, 3, model.lr_size, model.lr_size)
    program = to_edge_transform_and_lower(torch.export.export(model, (lr_face,)),
                                          partitioner=[XnnpackPartitioner()]).to_executorch()
    (dist / "edge_sr_x8_fp32.pte").write_bytes(program.buffer)
    with torch.no_grad():
        sr_face = model(lr_face)
    (dist / "golden").mkdir()
    lr_face.numpy().astype("<f4").tofile(dist / "golden/input.bin")
    sr_face.numpy().astype("<f4").tofile(dist / "golden/output.bin")
    ran = Runtime.get().load_program(dist / "edge_sr_x8_fp32.pte").load_method("forward").execute([lr_face])[0]
    tensor = lambda name, t: {"name": name, "shape": list(t.shape), "dtype": "float32", "layout": "NCHW",  # noqa: E731
                              "channel_order": "RGB", "value_range": [0, 1], "normalization": "none"}
    pte = dist / "edge_sr_x8_fp32.pte"
    manifest = {"fsr_edge_version": "0.1.0", "created_at": "2026-11-21T00:00:00+00:00",
                "model": {"name": "edge_sr_x8", "arch": "edge_sr_x8", "scale": 8, "lr_size": model.lr_size,
                          "params": count_params(model), "macs": count_macs(model, tuple(lr_face.shape))},
                "artifacts": [{"id": "executorch-fp32", "target": "executorch", "precision": "fp32",
                               "file": pte.name, "sha256": sha256_file(pte), "size_bytes": pte.stat().st_size,
                               "runtime": "executorch",
                               "io": {"input": tensor("lr_face", lr_face), "output": tensor("sr_face", sr_face)},
                               "golden": {"input": "golden/input.bin", "output": "golden/output.bin"},
                               "verification": {"status": "passed", "psnr_threshold_db": 40.0,
                                                "psnr_vs_reference_db": psnr_db(sr_face.numpy(), ran.numpy(),
                                                                                data_range=1.0)}}]}
    (dist / "manifest.json").write_text(json.dumps(manifest, indent=1))


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    pytest.importorskip("executorch.runtime", reason="ExecuTorch (fsr_edge[executorch]) is not installed")
    out = tmp_path_factory.mktemp("dist")
    _export(out)
    return out


@pytest.fixture(scope="module")
def manifest(dist) -> dict:
    return load_manifest(dist)


@pytest.fixture(scope="module")
def artifact(manifest) -> dict:
    arts = executorch_artifacts(manifest)
    assert arts, "the export wrote no executorch artifact"
    return arts[0]


# ---------------------------------------------------------------------------------------------------- Kotlin keys
def _kotlin_key_objects(source: str) -> dict[str, tuple[str, dict[str, str]]]:
    """``object Name`` blocks with a ``/** path: ... */`` KDoc -> (path, {CONST: "json key"})."""
    found = {}
    for m in re.finditer(r"/\*\*\s*path:\s*(.+?)\s*\*/\s*object\s+(\w+)\s*\{(.*?)\n\s*\}", source, re.S):
        consts = dict(re.findall(r'const val (\w+) = "([^"]+)"', m.group(3)))
        found[m.group(2)] = (" ".join(m.group(1).split()), consts)
    return found


def _resolve(manifest: dict, path: str) -> list:
    """Objects at a KDoc path such as ``manifest.artifacts[].io.input`` (``[]``: the app's executorch artifacts)."""
    nodes = [manifest]
    for part in path.split(".")[1:]:
        name, each = part.removesuffix("[]"), part.endswith("[]")
        nodes = [n[name] for n in nodes if isinstance(n, dict) and name in n]
        if each:
            nodes = [x for n in nodes for x in n if name != "artifacts" or x.get("target") == "executorch"]
    return nodes


def test_every_manifest_key_the_app_reads_exists_in_a_real_export(manifest):
    objects = _kotlin_key_objects((CORE_MAIN / "ManifestKeys.kt").read_text().split("object BenchKeys")[0])
    assert {"Root", "Model", "Artifact", "Io", "TensorSpec", "Golden", "Verification"} <= set(objects)
    for name, (path, consts) in objects.items():
        assert path.startswith("manifest"), f"{name}: KDoc path {path!r}"
        optional = "only where" in path
        for alternative in path.split(" and "):
            nodes = [n for n in _resolve(manifest, alternative.split(",")[0].strip()) if isinstance(n, dict)]
            if optional and not nodes:
                continue
            assert nodes, f"{name}: nothing at {alternative} in the exported manifest"
            for node in nodes:
                missing = sorted(set(consts.values()) - set(node))
                assert not missing, f"ManifestKeys.{name} reads {missing} at {alternative}; the export has {sorted(node)}"


_JSON_CALL = re.compile(r"\.(?:get|opt)(?:String|Int|Long|Double|Boolean|JSONObject|JSONArray)?\(\s*\"|\.has\(\s*\"|"
                        r"\.put\(\s*\"")


def test_app_sources_read_json_only_through_the_key_objects():
    offenders = []
    for kt in sorted([*CORE_MAIN.glob("*.kt"), *APP_MAIN.glob("*.kt")]):
        if kt.name == "ManifestKeys.kt":
            continue
        for no, line in enumerate(kt.read_text().splitlines(), 1):
            if _JSON_CALL.search(line):
                offenders.append(f"{kt.name}:{no}: {line.strip()}")
    assert not offenders, "JSON keys spelled outside ManifestKeys/BenchKeys:\n" + "\n".join(offenders)


def test_app_runtime_version_is_the_exporters():
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    pins = [d for d in pyproject["project"]["optional-dependencies"]["executorch"] if d.startswith("executorch")]
    catalog = tomllib.loads((ANDROID / "gradle/libs.versions.toml").read_text())
    assert pins == [f"executorch=={catalog['versions']['executorch']}"]


# ---------------------------------------------------------------------------------------------------- install
def test_install_puts_what_the_app_expects_into_its_assets(dist, manifest, tmp_path):
    app = tmp_path / "android_demo"
    (app / "app").mkdir(parents=True)
    written = install_artifacts(dist, app)
    assets = app / ASSETS_DIR
    assert written[-1] == assets / "manifest.json"
    assert json.loads((assets / "manifest.json").read_text()) == manifest
    for art in executorch_artifacts(manifest):
        pte = assets / art["file"]
        assert pte in written and pte.suffix == ".pte"
        assert sha256_file(pte) == art["sha256"] and pte.stat().st_size == art["size_bytes"]
        golden_in, golden_out = read_golden(art, assets)  # sizes checked against io shapes
        assert list(golden_in.shape) == art["io"]["input"]["shape"]
        assert list(golden_out.shape) == art["io"]["output"]["shape"]
    # Running it again (a re-export) replaces the files in place.
    assert install_artifacts(dist, app) == written


# ---------------------------------------------------------------------------------------------------- golden
def test_golden_vectors_hold_in_executorchs_runtime(dist, manifest):
    checks = check_golden(manifest, dist)
    assert checks and all(c.passed for c in checks), checks


def test_python_reference_round_trips_the_golden_output(dist, artifact):
    _, golden_out = read_golden(artifact, dist)
    spec = artifact["io"]["output"]
    size = spec["shape"][-1]
    back = preprocess_argb(postprocess(golden_out, spec=spec), size, size, spec=spec)
    lo, hi = spec["value_range"]
    # 8-bit quantisation of the clamped output: at most half a level off.
    assert np.abs(back - np.clip(golden_out, lo, hi)).max() <= (hi - lo) * 0.5 / 255 + 1e-6


# ---------------------------------------------------------------------------------------------------- Kotlin core
def _write_vectors(dist: Path, artifact: dict, out: Path, faces_root: Path | None) -> None:
    import torch
    from executorch.runtime import Runtime

    from fsr_edge.faces import align_face, ffhq_matrix

    spec_in, spec_out = artifact["io"]["input"], artifact["io"]["output"]
    h, w = spec_in["shape"][2:]
    rgb = np.random.default_rng(7).integers(0, 256, (h, w, 3), dtype=np.uint8)
    rgb_to_argb(rgb).astype("<i4").tofile(out / "pre_argb.bin")
    preprocess_argb(rgb_to_argb(rgb), w, h, spec=spec_in).astype("<f4").tofile(out / "pre_expected.bin")
    golden_in, golden_out = read_golden(artifact, dist)
    postprocess(golden_out, spec=spec_out).astype("<i4").tofile(out / "post_expected.bin")

    method = Runtime.get().load_program(dist / artifact["file"]).load_method("forward")
    runtime_out = method.execute([torch.from_numpy(golden_in)])[0].numpy()
    runtime_out.astype("<f4").tofile(out / "runtime_output.bin")
    lo, hi = spec_out["value_range"]
    runtime_psnr = psnr_db(golden_out, runtime_out, data_range=hi - lo)

    rng = np.random.default_rng(3)
    align = []
    for _ in range(6):
        # A face anywhere, any size and roll: the four points FFHQ uses, placed in an otherwise empty 68-point set.
        angle, scale, centre = rng.uniform(-0.6, 0.6), rng.uniform(20, 200), rng.uniform(100, 900, 2)
        rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        pts = np.array([[-0.5, -0.4], [0.5, -0.38], [-0.35, 0.5], [0.37, 0.52]]) + rng.normal(0, 0.03, (4, 2))
        pts = (pts * scale) @ rot.T + centre
        lm = np.zeros((68, 2))
        lm[36:42], lm[42:48], lm[48], lm[54] = pts[0], pts[1], pts[2], pts[3]
        for size in (spec_in["shape"][-1], spec_out["shape"][-1]):
            align.append({"points": pts.tolist(), "size": size, "photo_to_crop": ffhq_matrix(lm, size=size).tolist()})

    vectors = {"dist": str(dist), "artifact_id": artifact["id"],
               "pre": {"argb": "pre_argb.bin", "expected": "pre_expected.bin"},
               "post": {"expected_argb": "post_expected.bin"},
               "runtime_output": "runtime_output.bin", "runtime_psnr_db": runtime_psnr,
               "runtime_passed": runtime_psnr >= artifact["verification"]["psnr_threshold_db"],
               "align": align, "bench_out": "phone_bench.json"}
    if faces_root is not None:
        from fsr_edge.io import read_image

        face = sorted((faces_root / "aligned512").glob("*.jpg"))[0]
        photo = read_image(face).rgb
        lm = np.asarray(json.loads(face.with_suffix(".json").read_text())["landmarks68"], np.float64)
        photo_u8 = np.clip(np.floor(photo * 255 + 0.5), 0, 255).astype(np.uint8)
        rgb_to_argb(photo_u8).astype("<i4").tofile(out / "photo_argb.bin")
        crop = align_face(photo_u8.astype(np.float32) / 255, lm, size=spec_in["shape"][-1]).crop
        crop_u8 = np.clip(np.floor(crop * 255 + 0.5), 0, 255).astype(np.uint8)
        rgb_to_argb(crop_u8).astype("<i4").tofile(out / "lr_expected.bin")
        points = [lm[36:42].mean(0), lm[42:48].mean(0), lm[48], lm[54]]
        vectors["crop"] = {"photo_argb": "photo_argb.bin", "width": photo.shape[1], "height": photo.shape[0],
                           "points": [p.tolist() for p in points], "lr_expected_argb": "lr_expected.bin",
                           "min_psnr_db": 30.0}
    (out / "vectors.json").write_text(json.dumps(vectors))


def _kotlin_ready() -> str | None:
    if shutil.which("bash") is None:
        return "no bash"
    res = subprocess.run(["bash", str(JVM_TEST), "--check"], capture_output=True, text=True)
    return None if res.returncode == 0 else res.stderr.strip() or res.stdout.strip()


def test_kotlin_core_agrees_with_the_python_reference_and_its_bench_json_merges(dist, artifact, tmp_path):
    why = _kotlin_ready()
    if why:
        pytest.skip(f"Kotlin JVM tests not run: {why}")
    from tests.conftest import FACES_DIR

    faces_root = FACES_DIR if (FACES_DIR / "manifest.csv").exists() else None
    _write_vectors(dist, artifact, tmp_path, faces_root)
    res = subprocess.run(["bash", str(JVM_TEST), f"-Dfsredge.vectors={tmp_path}"], capture_output=True, text=True,
                         timeout=600)
    out = res.stdout + res.stderr
    assert res.returncode == 0 and re.search(r"^OK \(\d+ tests\)", out, re.M), out[-4000:]
    if faces_root is not None:
        crop_psnr = float((tmp_path / "crop_psnr_db.txt").read_text())
        print(f"app LR crop vs fsr_edge.faces.align_face: {crop_psnr:.2f} dB")

    # The phone's bench.json goes through the same code as a desktop one.
    from fsr_edge.bench import merge_reports, render_markdown
    from fsr_edge.bench.report import load_bench

    phone_dir = tmp_path / "phone"
    phone_dir.mkdir()
    (tmp_path / "phone_bench.json").rename(phone_dir / "bench.json")
    report = load_bench(phone_dir)
    row = next(r for r in report["rows"] if r["id"] == artifact["id"])
    assert row["status"] == "measured" and row["latency"]["p50_ms"] > 0
    md = render_markdown(report)
    assert artifact["id"] in md and "not measured" in md
    merged = merge_reports([phone_dir, phone_dir], tmp_path / "merged")
    assert artifact["id"] in merged.read_text()
