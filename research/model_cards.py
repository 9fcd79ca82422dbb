"""Write the model cards (``fsr_edge/models/cards/<name>.yaml``) from the measured results.

    python -m research.model_cards            # every bundled model
    python -m research.model_cards --check    # exit 1 when a card disagrees with the install (fsr_edge.cards.check_card)

Sources, each named in the card it feeds:
- ``fsr_edge/models/weights/zoo.json``: architecture, scale, input size, params, MACs, weights file (+ SHA-256 of the file);
- ``docs/results/student_study.json``: val and wild, clean and blind, PSNR/SSIM and the worst face
  (``python -m research.student_study quality ...``), and ExecuTorch/OpenVINO INT8 latency from one interleaved run;
- ``docs/results/export_suite.json``: each exported artifact's verification status and INT8 drop per subset
  (``python -m research.export_suite --faces ../shared/data/faces``);
- ``docs/results/bench/bench.json``: per-target latency from ``fsr-edge pipeline`` (the default student and the
  teacher it is benchmarked against).
Provenance (recipe, training data, licence) is the table below: one row per bundled model.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

from fsr_edge.cards import CARDS_DIR, MODES, SPLITS, check_card
from fsr_edge.safety import sha256_file
from fsr_edge.zoo import WEIGHTS_DIR, zoo

RESULTS = Path("docs/results")
STUDY = RESULTS / "student_study.json"
SUITE = RESULTS / "export_suite.json"
BENCH = RESULTS / "bench" / "bench.json"

FACE_DATA = ("train split of the project's face set: 180 aligned studio photos, 512 px resized to 256 (Face Research "
             "Lab London Set and the Young Adult White Faces 'canada' set, as distributed in webmorphR.stim)")
FACE_LICENCE = ("CC BY 4.0: Face Research Lab London Set, Lisa DeBruine and Benedict Jones, 2017, figshare, "
                "doi:10.6084/m9.figshare.5047666.v5; Young Adult White Faces with Manipulated Versions, Lisa DeBruine, "
                "figshare")
CAVEAT = "small and demographically narrow training data: expect weaker results on faces unlike these"

# name -> (role, one-line summary, recipes that made it (in order), how it was trained)
PROVENANCE = {
    "bicubic-x8": ("baseline", "antialiased bicubic x8: the floor every student must beat", [], "not trained"),
    "bicubic-x4": ("baseline", "antialiased bicubic x4: the floor every student must beat", [], "not trained"),
    "sesr-x8": ("student", "SESR student x8: collapsible linear blocks folded into plain 3x3 convs for export, "
                "output distillation from pisr-x8",
                ["recipes/sesr_x8.yaml", "recipes/sesr_x8_long.yaml", "recipes/sesr_x8_kd.yaml",
                 "recipes/sesr_x8_kd2.yaml", "recipes/sesr_x8_kd_flip.yaml"],
                "L1 with photometric and crop-jitter augmentation and a blind-degradation share, then L1 + output "
                "distillation from pisr-x8 (the last stage from its mirrored-pair SR), seed 0; folded for export"),
    "mskd-x8": ("student", "EdgeSR student x8 distilled from the MSKD teacher (SSKD/MSKD feature distillation)",
                ["recipes/mskd_edge_x8.yaml"], "MSKD: multi-scale feature and output distillation from mskd-teacher-x8"),
    "mskd-teacher-x8": ("teacher", "DFDNet-style prior-rich teacher x8 (VGG19 encoder, component dictionary)",
                        ["recipes/mskd_teacher_x8.yaml", "recipes/mskd_teacher_x8_stage2.yaml",
                         "recipes/mskd_teacher_x8_stage3.yaml", "recipes/mskd_teacher_x8_stage4.yaml"],
                        "staged L1 + perceptual + adversarial training with a fixed component dictionary"),
    "pisr-x8": ("student", "FSRCNN-style student x8 initialised from the PISR teacher's decoder, VID distillation",
                ["recipes/pisr_x8_teacher.yaml", "recipes/pisr_x8_student.yaml"],
                "PISR: L1 + Laplace VID distillation from pisr-teacher-x8, decoder initialisation"),
    "pisr-x4": ("student", "FSRCNN-style student x4 initialised from the PISR teacher's decoder, VID distillation",
                ["recipes/pisr_x4_teacher.yaml", "recipes/pisr_x4_student.yaml"],
                "PISR: L1 + Laplace VID distillation from pisr-teacher-x4, decoder initialisation"),
    "pisr-teacher-x8": ("training only", "PISR teacher x8: an autoencoder that sees the HR face (privileged "
                        "information); its decoder initialises pisr-x8", ["recipes/pisr_x8_teacher.yaml"],
                        "L1 reconstruction of the HR face through the student-shaped decoder"),
    "pisr-teacher-x4": ("training only", "PISR teacher x4: an autoencoder that sees the HR face (privileged "
                        "information); its decoder initialises pisr-x4", ["recipes/pisr_x4_teacher.yaml"],
                        "L1 reconstruction of the HR face through the student-shaped decoder"),
}


def _load(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def _r(v, nd=3):
    return None if v is None else round(float(v), nd)


def _quality(study_row: dict | None, training_only: bool) -> dict:
    if training_only:
        return {"not_measured": "training only: its input is the HR face, not an LR face"}
    if not study_row:
        return {"not_measured": f"no row in {STUDY}: run python -m research.student_study quality --model NAME"}
    out = {"protocol": "8-bit RGB PSNR (dB) and SSIM on whole aligned 256 px faces, LR seeded per face (seed 0); "
                       "val: 24 London studio faces of identities unseen in training; wild: 55 in-the-wild photos "
                       "(check only: never trained or calibrated on)"}
    for split in SPLITS:
        for mode in MODES:
            q = study_row["quality"].get(f"{split}/{mode}")
            if q is None:
                continue
            out.setdefault(split, {})[mode] = {
                "faces": q["n"], "psnr_db": _r(q["means"]["psnr"]), "ssim": _r(q["means"].get("ssim"), 4),
                "worst_psnr_db": _r(q["worst_psnr"]), "worst_face": q["worst_face"]}
    return out


def _int8(suite_rows: list | None) -> dict:
    if not suite_rows:
        return {"not_measured": f"no rows in {SUITE}"}
    out = {"gates": "mean drop <= 0.1 dB and worst-face drop <= 0.5 dB against the fp32 model, on every subset "
                    "(a face whose INT8 output adds under 1 8-bit level RMS of error passes the worst-face gate)"}
    for art in suite_rows:
        if "-int8-" not in art["id"]:
            continue
        ver = art["verification"]
        entry = {"status": ver["status"]}
        if ver.get("reason"):
            entry["reason"] = ver["reason"]
        subsets = {}
        for sub, s in (ver.get("subsets") or {}).items():
            if "mean_drop_db" in s:
                subsets[sub] = {"mean_drop_db": _r(s["mean_drop_db"]), "worst_drop_db": _r(s["worst_drop_db"]),
                                "worst_face": s.get("worst_face")}
        if subsets:
            entry["subsets"] = subsets
        out[art["id"]] = entry
    return out


def _latency(name: str, study_row: dict | None, bench: dict) -> dict:
    out = {}
    lat = (study_row or {}).get("latency") or {}
    if lat:
        out["student_study"] = {"threads": lat.get("threads"), "batch": 1,
                                "executorch_int8_ms": _r(lat.get("executorch_int8_ms"), 2),
                                "openvino_int8_ms": _r(lat.get("openvino_int8_ms"), 2),
                                "note": "medians of one run, each runtime in a process of its own with the models "
                                        "interleaved; compare ratios between models"}
    rows = [r for r in bench.get("rows", []) if r.get("model") == name and r.get("latency")]
    if rows:
        out["pipeline_bench"] = {"threads": bench.get("threads"), "machine": bench.get("machine"),
                                 "p50_ms": {r["id"]: _r(r["latency"]["p50_ms"], 2) for r in rows}}
    if not out:
        out["not_measured"] = "no latency row for this model"
    return out


def build_card(name: str, entry: dict, *, study: dict, suite: dict, bench: dict) -> dict:
    role, summary, recipes, method = PROVENANCE[name]
    side = entry["lr_size"] * entry["scale"]
    weights = {"file": entry["weights"]}
    if entry["weights"]:
        weights.update(bytes=(WEIGHTS_DIR / entry["weights"]).stat().st_size,
                       sha256=sha256_file(WEIGHTS_DIR / entry["weights"]), format="safetensors")
    study_row = study.get("models", {}).get(name)
    sources = [str(p) for p, used in ((Path("fsr_edge/models/weights/zoo.json"), True), (STUDY, bool(study_row)),
                                      (SUITE, name in suite), (BENCH, any(r.get("model") == name for r in bench.get("rows", []))))
               if used]
    return {
        "name": name,
        "summary": summary,
        "role": role,
        "architecture": {"arch": entry["arch"], "scale": entry["scale"], "input": [1, 3, entry["lr_size"], entry["lr_size"]],
                         "output": [1, 3, side, side], "params": entry["params"], "macs": entry["macs"],
                         "io": "RGB float32 in [0, 1], NCHW"},
        "weights": weights,
        "training": ({"method": method, "recipes": recipes, "data": FACE_DATA, "data_licence": FACE_LICENCE,
                      "caveat": CAVEAT} if recipes else {"method": method}),
        "quality": _quality(study_row, entry["training_only"]),
        "int8": _int8(suite.get(name)) if role == "student" else {"not_measured": "not exported for INT8"},
        "latency": _latency(name, study_row, bench),
        "sources": sources,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m research.model_cards", description=__doc__.split("\n\n")[0])
    p.add_argument("--check", action="store_true", help="only check the cards against the install")
    args = p.parse_args(argv)
    snapshot = zoo()
    if args.check:
        from fsr_edge.cards import model_card

        bad = {n: check_card(model_card(n), e) for n, e in snapshot["models"].items()}
        bad = {n: v for n, v in bad.items() if v}
        for n, problems in bad.items():
            print(f"{n}: " + "; ".join(problems))
        return 1 if bad else 0
    missing = sorted(set(snapshot["models"]) - set(PROVENANCE))
    if missing:
        print(f"no provenance row for {', '.join(missing)}: add one to PROVENANCE in {__file__}", file=sys.stderr)
        return 1
    study, suite, bench = _load(STUDY), _load(SUITE), _load(BENCH)
    CARDS_DIR.mkdir(parents=True, exist_ok=True)
    for name, entry in sorted(snapshot["models"].items()):
        card = build_card(name, entry, study=study, suite=suite, bench=bench)
        text = f"# Model card of {name}: written by `python -m research.model_cards` from the files under sources.\n"
        text += yaml.safe_dump(card, sort_keys=False, allow_unicode=True, width=120, default_flow_style=None)
        (CARDS_DIR / f"{name}.yaml").write_text(text, encoding="utf-8")
        print(f"wrote {CARDS_DIR / (name + '.yaml')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
