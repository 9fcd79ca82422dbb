"""Re-verify an existing export (``fsr-edge verify DIST``): integrity of every file, then the same gates as
export on a verification suite of the caller's choice, from the saved files in their own runtimes."""

from __future__ import annotations

from pathlib import Path

from fsr_edge.errors import ConfigError

from . import manifest as mf
from .artifact import Artifact, Precision, RuntimeUnavailable, load_runner
from .verify import verify


def runner_for(dist: Path, entry: dict):
    """(runner, artifact, skip reason) for a manifest entry: its target's loader on the saved file."""
    art = Artifact(entry["target"], Precision(entry["precision"]), mf.resolve_inside(dist, entry["file"]), entry.get("runtime") or "",
                   tuple(entry["inputs"][0]["shape"]), tuple(entry["outputs"][0]["shape"]),
                   runtime_config=dict(entry.get("runtime_config") or {}),
                   extra_files=[dist / p for p in entry.get("extra_files") or []])
    try:
        return load_runner(art), art, ""
    except RuntimeUnavailable as err:
        return None, art, str(err)


def reverify(dist: str | Path, *, faces_dir: str | Path | None = None, seed: int = 0, log=print) -> dict:
    """{"faces": suite description, "model": ..., "artifacts": [{"id", "target", "precision", "verification"}]}."""
    from fsr_edge.models import load_model

    from .pipeline import check_finite, verification_suite
    from .quantize import weights_sha256

    dist = Path(dist)
    manifest = mf.load_manifest(dist)
    model = manifest["model"]
    try:
        student = load_model(model["name"]).eval()
    except Exception as err:
        raise ConfigError(f"{dist}: cannot load the exported model {model['name']!r} for the fp32 reference "
                          f"({err})") from None
    if weights_sha256(student) != model["weights_sha256"]:
        raise ConfigError(f"{dist}: the model {model['name']!r} here has other weights than the ones exported "
                          "(weights_sha256 differs); re-verify with the same fsr_edge version or weights file")
    lr = int(model["lr_size"])
    suite = verification_suite(faces_dir, scale=int(model["scale"]), hr_size=lr * int(model["scale"]), seed=seed)
    references = suite.references(student)
    check_finite(references, what=f"the fp32 PyTorch student {model['name']}")
    out = []
    for entry in manifest["artifacts"]:
        row = {"id": entry["id"], "target": entry["target"], "precision": entry["precision"]}
        if not entry.get("file"):
            row["verification"] = {**verify(None, None, suite, references,
                                            skip_reason=entry.get("export_reason") or "no artifact file")[0]}
            out.append(row)
            continue
        problems = mf.check_artifact_files(dist, entry)
        if problems:
            row["verification"] = {**verify(None, None, suite, references)[0], "status": "failed",
                                   "reason": f"integrity: {'; '.join(problems)}"}
            log(f"  {entry['id']:<26} failed  integrity: {problems[0]}")
            out.append(row)
            continue
        shape = tuple(entry["inputs"][0]["shape"][-2:])
        shape_suite = suite if shape == (lr, lr) else suite.resized(shape[0])
        shape_refs = references if shape_suite is suite else shape_suite.references(student)
        runner, art, skip = runner_for(dist, entry)
        record, _ = verify(art, runner, shape_suite, shape_refs, skip_reason=skip)
        row["verification"] = record
        log(f"  {entry['id']:<26} {record['status']}{'  (' + record['reason'] + ')' if record['reason'] else ''}")
        out.append(row)
    return {"dist": str(dist), "faces": suite.describe(), "model": model, "artifacts": out}


def suite_table(artifacts: list[dict]) -> str:
    """Markdown: artifact x subset with min PSNR vs reference, mean and worst-face drop, worst face, status."""
    lines = ["| artifact | subset | faces | min PSNR vs reference (dB) | mean drop (dB) | worst drop (dB) | worst face "
             "| status |", "|---|---|---|---|---|---|---|---|"]
    for a in artifacts:
        v = a["verification"]
        if not v.get("subsets"):
            lines.append(f"| {a['id']} | - | - | - | - | - | - | {v['status']}: {v['reason']} |")
            continue
        for name, s in v["subsets"].items():
            status = s["status"] + (f": {s['reason']}" if s["reason"] else "")
            lines.append(f"| {a['id']} | {name} | {s['faces']} | {_n(s['min_psnr_vs_reference_db'])} | "
                         f"{_n(s['mean_drop_db'], 3)} | {_n(s['worst_drop_db'], 3)} | {s['worst_face'] or '-'} | "
                         f"{status} |")
    return "\n".join(lines) + "\n"


def _n(x, nd: int = 2) -> str:
    return "-" if x is None else f"{x:.{nd}f}"
