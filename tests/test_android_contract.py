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
from fsr_edge.exporters.manifest import digest, load_manifest

from conftest import require

REPO = Path(__file__).resolve().parents[1]
ANDROID = REPO / "android_demo"
CORE_MAIN = ANDROID / "core/src/main/kotlin/org/fsredge/demo/core"
APP_MAIN = ANDROID / "app/src/main/kotlin/org/fsredge/demo"
JVM_TEST = ANDROID / "tools/jvm_test.sh"

pytestmark = pytest.mark.slow



# ---------------------------------------------------------------------------------------------------- the export
def _export(dist: Path, tmp: Path) -> None:
    """``fsr-edge export --targets executorch --precisions fp32`` of an edge student (seeded weights: the contract,
    not the quality, is under test), verification faces built in (no face data needed)."""
    import torch

    from fsr_edge.exporters import export_student
    from fsr_edge.models import create_model, save_model

    torch.manual_seed(0)
    weights = tmp / "edge_sr_x8.safetensors"
    save_model(create_model("edge_sr_x8"), weights, arch="edge_sr_x8")
    export_student(str(weights), dist, targets=["executorch"], precisions=["fp32"], progress=False,
                   log=lambda *_: None)


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    pytest.importorskip("executorch.runtime", reason="ExecuTorch (fsr_edge[executorch]) is not installed")
    out = tmp_path_factory.mktemp("dist")
    _export(out, tmp_path_factory.mktemp("weights"))
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
            nodes = [x for n in nodes for x in n]
            if name == "artifacts":
                nodes = executorch_artifacts({"artifacts": nodes})
    return nodes


def test_every_manifest_key_the_app_reads_exists_in_a_real_export(manifest):
    objects = _kotlin_key_objects((CORE_MAIN / "ManifestKeys.kt").read_text().split("object BenchKeys")[0])
    assert {"Root", "Model", "Artifact", "TensorSpec", "Golden", "GoldenFile", "Verification"} <= set(objects)
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


def test_manifest_is_json_that_androids_parser_accepts(dist):
    # Python's json writes Infinity/NaN for non-finite floats; android's org.json.JSONObject rejects the whole file.
    def refuse(token):
        raise AssertionError(f"manifest.json holds {token}: Android cannot parse it (write null instead)")

    json.loads((dist / "manifest.json").read_text(), parse_constant=refuse)


def test_app_reads_the_exporters_manifest_format():
    from fsr_edge.exporters.manifest import FORMAT

    assert f'const val FORMAT = "{FORMAT}"' in (CORE_MAIN / "Manifest.kt").read_text()


def test_app_resources_the_kotlin_names_exist():
    """What aapt would catch first: every R.layout/R.id/R.string the sources use, and every @string/@style the
    layouts and AndroidManifest.xml use, is defined (no Android SDK needed to check it)."""
    res = ANDROID / "app/src/main/res"
    sources = "\n".join(p.read_text() for p in ANDROID.glob("app/src/*/kotlin/**/*.kt"))
    xml = "\n".join(p.read_text() for p in [*res.rglob("*.xml"), ANDROID / "app/src/main/AndroidManifest.xml"])
    values = "\n".join(p.read_text() for p in res.glob("values/*.xml"))
    layouts = {p.stem for p in res.glob("layout/*.xml")}
    ids = set(re.findall(r'@\+id/(\w+)', xml))
    strings = set(re.findall(r'<string name="(\w+)"', values))
    styles = set(re.findall(r'<style name="([\w.]+)"', values))
    used_ids = set(re.findall(r"R\.id\.(\w+)", sources))
    assert len(used_ids) >= 10 and layouts == {"activity_main", "activity_benchmark"}
    assert set(re.findall(r"R\.layout\.(\w+)", sources)) <= layouts
    assert used_ids <= ids, used_ids - ids
    assert set(re.findall(r"R\.string\.(\w+)", sources)) | set(re.findall(r"@string/(\w+)", xml)) <= strings
    assert set(re.findall(r"@style/([\w.]+)", xml)) <= styles
    activities = set(re.findall(r'android:name="\.(\w+)"', xml))
    assert activities == {"MainActivity", "BenchmarkActivity"}
    assert all(re.search(rf"class {a}\b", sources) for a in activities)


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
        assert digest(pte) == (art["sha256"], art["size_bytes"])
        golden_in, golden_out = read_golden(art, assets)  # shapes checked against the tensor contracts
        assert list(golden_in.shape) == art["inputs"][0]["shape"]
        assert list(golden_out.shape) == art["outputs"][0]["shape"]
    # Running it again (a re-export) replaces the files in place.
    assert install_artifacts(dist, app) == written


# ---------------------------------------------------------------------------------------------------- golden
def test_golden_vectors_hold_in_executorchs_runtime(dist, manifest):
    checks = check_golden(manifest, dist)
    assert checks and all(c.passed for c in checks), checks


def test_python_reference_round_trips_the_golden_output(dist, artifact):
    _, golden_out = read_golden(artifact, dist)
    spec = artifact["outputs"][0]
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

    spec_in, spec_out = artifact["inputs"][0], artifact["outputs"][0]
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
               # Android's org.json refuses Infinity: an exact match travels as null.
               "runtime_output": "runtime_output.bin",
               "runtime_psnr_db": None if np.isinf(runtime_psnr) else runtime_psnr,
               "runtime_passed": runtime_psnr >= artifact["golden"]["min_psnr_db"],
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


def test_kotlin_core_agrees_with_the_python_reference_and_its_bench_json_merges(dist, artifact, tmp_path, request):
    why = _kotlin_ready()
    require(not why, f"Kotlin JVM tests not run: {why}")   # .ci/run installs the JDK and kotlinc
    try:  # the real-face crop comparison is one case among several: without the face set the others still run
        faces_root = request.getfixturevalue("faces_dir")
    except pytest.skip.Exception:
        faces_root = None
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
