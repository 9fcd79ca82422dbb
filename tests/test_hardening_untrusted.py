"""Model files from elsewhere: pickles never load, safetensors damage is one clear line, ONNX external data cannot
leave the model's folder, ExecuTorch programs are verified, artifacts are checked against their sha256. Every
torch.load in the code base passes weights_only=True (checked on the source)."""

from __future__ import annotations

import ast
import builtins
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from fsr_edge.cli import main
from fsr_edge.hardening import export_tiny_pte, onnx_with_external_data
from fsr_edge.errors import WeightsError
from fsr_edge.models import create_model, load_model, save_model
from fsr_edge.safety import (check_onnx_file, load_executorch_method, load_executorch_program, sha256_file,
                             verify_sha256)

REPO = Path(__file__).resolve().parents[1]


def _one_line(err: pytest.ExceptionInfo, path: Path) -> str:
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg, msg
    return msg


# --- pickles -----------------------------------------------------------------------------------------------------

class _Payload:
    """Unpickling this runs open(marker, "w"): the smallest proof that a pickle runs code when loaded."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return builtins.open, (str(self.marker), "w")


def test_pickle_weights_never_run(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "model.pt"
    torch.save({"weight": torch.zeros(1), "x": _Payload(marker)}, evil)
    pickle.loads(pickle.dumps(_Payload(marker)))          # the payload is live ...
    assert marker.exists()
    marker.unlink()
    disguised = tmp_path / "model.safetensors"
    disguised.write_bytes(evil.read_bytes())
    for path in (evil, disguised, tmp_path / "model.pth", tmp_path / "model.ckpt"):
        if not path.exists():
            path.write_bytes(evil.read_bytes())
        with pytest.raises(WeightsError) as err:
            load_model(path)
        _one_line(err, path)
    assert not marker.exists(), "loading a pickle ran its code"   # ... and fsr_edge never ran it
    with pytest.raises(pickle.UnpicklingError):                 # what weights_only=True buys everywhere else
        torch.load(evil, weights_only=True)
    assert not marker.exists()


def _python_files() -> list[Path]:
    roots = ["fsr_edge", "exporters", "recipes", "calibration", "tools", "tests"]
    return sorted(p for r in roots if (REPO / r).exists() for p in (REPO / r).rglob("*.py"))


def test_every_torch_load_passes_weights_only_true():
    """AST check over the code base: torch.load(..., weights_only=True) with a literal True, no pickle.load(s),
    no np.load(allow_pickle=True). A new call that forgets it fails here."""
    offenders, torch_loads = [], 0
    for path in _python_files():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = ast.unparse(node.func)
            kw = {k.arg: k.value for k in node.keywords}
            where = f"{path.relative_to(REPO)}:{node.lineno}: {name}"
            if name in ("torch.load", "torch.serialization.load"):
                torch_loads += 1
                value = kw.get("weights_only")
                if not (isinstance(value, ast.Constant) and value.value is True):
                    offenders.append(where + " without weights_only=True")
            elif name in ("pickle.load", "pickle.loads", "dill.load", "joblib.load", "torch.jit.load"):
                if path.name != Path(__file__).name:   # this file unpickles its own payload on purpose
                    offenders.append(where)
            elif name in ("np.load", "numpy.load"):
                value = kw.get("allow_pickle")
                if isinstance(value, ast.Constant) and value.value:
                    offenders.append(where + " with allow_pickle=True")
    assert torch_loads >= 1, "the scan found no torch.load at all: is it looking at the code?"
    assert not offenders, offenders


# --- safetensors ---------------------------------------------------------------------------------------------------

def _tiny_fsrcnn_state() -> dict[str, torch.Tensor]:
    return {k: v.contiguous() for k, v in create_model("fsrcnn_x4", d=8, s=4, m=1).state_dict().items()}


def test_damaged_safetensors_are_one_clear_line(tmp_path):
    good = save_model(create_model("fsrcnn_x4", d=8, s=4, m=1), tmp_path / "good.safetensors", arch="fsrcnn_x4",
                      kwargs={"d": 8, "s": 4, "m": 1})
    assert load_model(good).scale == 4
    raw = good.read_bytes()
    header_len = struct.unpack("<Q", raw[:8])[0]
    state = _tiny_fsrcnn_state()
    bad: dict[str, tuple[Path, str]] = {}

    def case(name: str, expect: str, data: bytes | None = None, meta: dict | None = None):
        path = tmp_path / f"{name}.safetensors"
        if meta is not None:
            save_file(state, str(path), metadata=meta)
        else:
            path.write_bytes(data)
        bad[name] = (path, expect)

    case("empty", "not a valid safetensors", b"")
    case("truncated", "truncated", raw[: len(raw) // 2])
    case("header_only", "truncated", raw[: 8 + header_len])
    case("huge_header", "not a valid safetensors", struct.pack("<Q", 2**62) + b"{}")
    case("garbled_header", "not a valid safetensors", raw[:8] + b"#" * header_len + raw[8 + header_len:])
    case("no_arch", "no 'fsr_edge.arch'", meta={"format": "pt"})
    case("unknown_arch", "unknown architecture", meta={"fsr_edge.arch": "resnet9000", "fsr_edge.kwargs": "{}"})
    case("wrong_arch", "do not fit", meta={"fsr_edge.arch": "fsrcnn_x8", "fsr_edge.kwargs": "{}"})
    case("kwargs_not_json", "fsr_edge.kwargs", meta={"fsr_edge.arch": "fsrcnn_x4", "fsr_edge.kwargs": "{d: 8"})
    case("kwargs_list", "fsr_edge.kwargs", meta={"fsr_edge.arch": "fsrcnn_x4", "fsr_edge.kwargs": "[8]"})
    case("kwargs_unknown", "fsr_edge.kwargs", meta={"fsr_edge.arch": "fsrcnn_x4", "fsr_edge.kwargs": '{"bogus": 1}'})
    case("kwargs_negative", "fsr_edge.kwargs", meta={"fsr_edge.arch": "fsrcnn_x4", "fsr_edge.kwargs": '{"d": -5}'})
    case("wrong_shapes", "wrong shape", meta={"fsr_edge.arch": "fsrcnn_x4",
                                              "fsr_edge.kwargs": '{"d": 16, "s": 4, "m": 1}'})
    for name, (path, expect) in bad.items():
        with pytest.raises(WeightsError) as err:
            load_model(path)
        assert expect in _one_line(err, path), (name, str(err.value))


def test_cli_with_bad_weights_exits_2_with_one_line(tmp_path, capsys):
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    face = tmp_path / "face.png"
    from PIL import Image
    Image.new("RGB", (32, 32)).save(face)
    rc = main(["upscale", str(face), "-o", str(tmp_path / "o"), "--model", str(weights), "--aligned", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and str(weights) in err and "Traceback" not in err


# --- ONNX ------------------------------------------------------------------------------------------------------------

def test_onnx_external_data_cannot_leave_the_model_folder(tmp_path):
    # a legitimate model with its weights in a file beside it passes, and runs
    ok = onnx_with_external_data(tmp_path / "ok", "weights.bin")
    (tmp_path / "ok" / "weights.bin").write_bytes(np.full(4, 2, np.float32).tobytes())
    assert check_onnx_file(ok) == ok
    import onnxruntime as ort
    y = ort.InferenceSession(str(ok), providers=["CPUExecutionProvider"]).run(None, {"x": np.ones(4, np.float32)})[0]
    assert np.array_equal(y, np.full(4, 3, np.float32))

    refusals = {
        "traversal": (onnx_with_external_data(tmp_path / "a" / "b" / "m1", "../../etc/passwd"), "leaves the model's folder"),
        "absolute": (onnx_with_external_data(tmp_path / "m2", "/etc/passwd"), "relative path"),
        "missing": (onnx_with_external_data(tmp_path / "m4", "nothing.bin"), "no such file"),
        "short": (onnx_with_external_data(tmp_path / "m5", "short.bin", offset=8, length=16), "past the file's end"),
    }
    (tmp_path / "m5" / "short.bin").write_bytes(b"\0" * 12)
    link_model = onnx_with_external_data(tmp_path / "m3", "data.bin")
    (tmp_path / "m3" / "data.bin").symlink_to("/etc/passwd")           # a link inside the folder pointing out
    refusals["symlink"] = (link_model, "leaves the model's folder")
    for name, (path, expect) in refusals.items():
        with pytest.raises(WeightsError) as err:
            check_onnx_file(path)
        assert expect in _one_line(err, path), (name, str(err.value))
    # the runtimes refuse the traversal too (defence in depth, not our only guard)
    with pytest.raises(Exception, match="(?i)outside|fail"):
        ort.InferenceSession(str(refusals["traversal"][0]), providers=["CPUExecutionProvider"])


def test_onnx_full_checker_runs_before_use(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    for name, data in (("empty", b""), ("noise", np.random.default_rng(0).bytes(500))):
        path = tmp_path / f"{name}.onnx"
        path.write_bytes(data)
        with pytest.raises(WeightsError) as err:
            check_onnx_file(path)
        _one_line(err, path)
    # structurally valid protobuf, semantically wrong: Add of float and int64 fails the full (type) check
    graph = helper.make_graph([helper.make_node("Add", ["x", "k"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4]),
                               helper.make_tensor_value_info("k", TensorProto.INT64, [4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])])
    path = tmp_path / "types.onnx"
    onnx.save_model(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9), str(path))
    with pytest.raises(WeightsError, match="full check") as err:
        check_onnx_file(path)
    _one_line(err, path)


# --- ExecuTorch ------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_pte(tmp_path_factory) -> Path:
    pytest.importorskip("executorch", reason="executorch extra not installed")
    return export_tiny_pte(tmp_path_factory.mktemp("pte") / "tiny.pte")


def test_executorch_programs_are_verified(tiny_pte, tmp_path):
    from executorch.runtime import Verification

    method = load_executorch_method(tiny_pte)
    x = torch.rand(1, 3, 8, 8)
    assert method.execute([x])[0].shape == (1, 3, 8, 8)
    assert "InternalConsistency" in Verification.__members__     # the level load_executorch_program asks for
    data = tiny_pte.read_bytes()
    rng = np.random.default_rng(0)
    broken = {"truncated": data[: len(data) // 2], "header_only": data[:8], "noise": rng.bytes(len(data))}
    # bytes changed in the program's structure (not its weights): every one must be refused at load
    for i in range(12):
        b = bytearray(data)
        for pos in rng.integers(8, 600, size=4):
            b[pos] = (b[pos] + 1 + int(rng.integers(0, 254))) % 256
        broken[f"flipped_{i}"] = bytes(b)
    refused = 0
    for name, blob in broken.items():
        path = tmp_path / f"{name}.pte"
        path.write_bytes(blob)
        try:
            method = load_executorch_method(path)
        except WeightsError as err:
            assert "\n" not in str(err) and str(path) in str(err)
            refused += 1
            continue
        method.execute([x])    # what got through must at least run (a flip may land in padding or a weight)
    assert refused >= 3 + 8, f"only {refused} of {len(broken)} damaged programs were refused"
    with pytest.raises(WeightsError, match="not an ExecuTorch program"):
        (tmp_path / "text.pte").write_text("hello")
        load_executorch_program(tmp_path / "text.pte")


# --- sha256 ----------------------------------------------------------------------------------------------------------

def test_sha256_is_checked_before_use(tmp_path):
    art = tmp_path / "student.onnx"
    art.write_bytes(b"pretend artifact" * 100)
    digest = sha256_file(art)
    assert verify_sha256(art, digest) == art
    assert verify_sha256(art, digest.upper()) == art
    art.write_bytes(b"Pretend artifact" * 100)                   # one byte changed
    for expected, word in ((digest, "differs"), (None, "no sha256"), ("", "no sha256")):
        with pytest.raises(WeightsError, match=word) as err:
            verify_sha256(art, expected)
        _one_line(err, art)
    with pytest.raises(WeightsError, match="no such"):
        verify_sha256(tmp_path / "gone.onnx", digest)


def test_sha256_of_a_folder_is_the_manifests_rule(tmp_path):
    """A Core ML .mlpackage is a folder: its sha256 covers each file's relative path and bytes, so a renamed or
    changed file inside it is caught by verify_sha256 like a changed single-file artifact."""
    import hashlib

    from fsr_edge.errors import WeightsError
    from fsr_edge.safety import sha256_file, verify_sha256

    pkg = tmp_path / "m.mlpackage"
    (pkg / "Data").mkdir(parents=True)
    (pkg / "Manifest.json").write_bytes(b"{}")
    (pkg / "Data" / "weight.bin").write_bytes(b"\1\2\3")
    want = hashlib.sha256(b"Data/weight.bin" + b"\1\2\3" + b"Manifest.json" + b"{}").hexdigest()
    assert sha256_file(pkg) == want
    assert verify_sha256(pkg, want) == pkg
    (pkg / "Data" / "weight.bin").rename(pkg / "Data" / "other.bin")
    with pytest.raises(WeightsError, match="differs"):
        verify_sha256(pkg, want)
