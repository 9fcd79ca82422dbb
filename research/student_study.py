"""Student study: quality on val AND wild (clean and blind, mean and worst face) and INT8 latency at batch 1,
for choosing the shipped student on a measured latency-quality frontier. Writes docs/results/ only.

    python -m research.student_study quality --faces ../shared/data/faces \\
        --model bicubic-x8 --model mskd-x8 --model pisr-x8 --model bicubic-x4 --model pisr-x4 [--model runs/X/best.safetensors]
    python -m research.student_study latency --faces ../shared/data/faces --threads 2 --model mskd-x8 --model ...
                                                            # every row in one run: it replaces the previous one
    python -m research.student_study report                 # docs/results/student_study.md + .png from the .json

``quality`` and ``latency`` merge their rows into docs/results/student_study.json (one entry per model name), so
candidates can be added as they finish training. ``wild`` is a check-only split: it is evaluated here, never
trained or calibrated on (calibration for INT8 uses the train split, as ``fsr-edge export`` does).

Latency: ExecuTorch (XNNPACK) INT8 and OpenVINO INT8 (CPU plugin, f32 hint, NNCF PTQ on 32 train faces), every
model and runtime in ONE process, interleaved round by round (``research.export_study.interleaved_ms``), so the
ratios between rows hold on a shared machine where absolute milliseconds drift.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import torch

RESULTS = Path("docs/results")
OUT_JSON = RESULTS / "student_study.json"
SPLITS = ("val", "wild")
MODES = ("clean", "blind")


def _load(name: str):
    from fsr_edge.models import load_model

    model = load_model(name).eval()
    if hasattr(model, "reparameterize"):   # what ships: collapsible blocks folded into plain convs
        model.reparameterize()
    return model


def _label(name: str) -> str:
    p = Path(name)
    if p.suffix != ".safetensors":
        return name
    return p.parent.name if p.stem in ("best", "final") else p.stem   # runs/NAME/best.safetensors -> NAME


def _params_macs(model) -> tuple[int, float | None]:
    params = sum(p.numel() for p in model.parameters())
    try:
        from fsr_edge.profile import count_macs

        macs = float(count_macs(model, (1, 3, model.lr_size, model.lr_size)))
    except Exception:   # noqa: BLE001  (MACs are informative only)
        macs = None
    return params, macs


def quality(names: list[str], faces: Path, *, metrics: list[str]) -> dict:
    from fsr_edge.data import FaceDataset
    from fsr_edge.metrics import evaluate_model

    rows = {}
    sets: dict[tuple, FaceDataset] = {}
    for name in names:
        model = _load(name)
        torch.manual_seed(0)
        params, macs = _params_macs(model)
        row = {"source": name, "scale": model.scale, "params": params, "macs": macs, "quality": {}}
        for split in SPLITS:
            for mode in MODES:
                key = (split, mode, model.scale)
                if key not in sets:
                    sets[key] = FaceDataset(faces, split=split, hr_size=256, scale=model.scale, degradation=mode,
                                            train=False, seed=0, progress=False)
                res = evaluate_model(model, sets[key], metrics=metrics, progress=False, desc=name)
                psnrs = res["per_image"]["psnr"]
                worst = min(range(len(psnrs)), key=psnrs.__getitem__)
                row["quality"][f"{split}/{mode}"] = {
                    "n": res["n_images"], "means": res["means"],
                    "worst_psnr": psnrs[worst], "worst_face": res["names"][worst],
                    "per_image_psnr": dict(zip(res["names"], psnrs))}
                print(f"{_label(name):28s} {split:4s} {mode:5s} PSNR {res['means']['psnr']:.2f} "
                      f"worst {psnrs[worst]:.2f} ({res['names'][worst]})", flush=True)
        rows[_label(name)] = row
    return rows


LATENCY_TARGETS = ("executorch", "openvino")


def latency(names: list[str], faces: Path, *, threads: int, rounds: int, work: Path) -> dict:
    """INT8 latency of each model as the product ships it: ``export_student`` (the bundled QAT state where one
    fits, else PTQ on the train split; SESR candidates folded first), then each runtime timed in a fresh process
    of its own with the benchmark worker's environment, its models interleaved round by round. One runtime per
    process: two runtimes' thread pools in one process on a 2-core machine slow each other down."""
    import subprocess
    import sys

    from fsr_edge.bench.harness import worker_env
    from fsr_edge.exporters import export_student
    from fsr_edge.models import save_model

    files: dict[str, dict[str, tuple[str, int]]] = {t: {} for t in LATENCY_TARGETS}   # target -> label -> (file, lr)
    meta: dict[str, dict] = {}
    for name in names:
        model = _load(name)
        label = _label(name)
        if not list(model.parameters()):
            continue   # bicubic: nothing to quantize
        source = name
        if Path(name).suffix == ".safetensors" and hasattr(model, "reparameterize"):
            from fsr_edge.models import read_metadata

            kwargs = {**json.loads(read_metadata(name)["fsr_edge.kwargs"]), "deploy": True}
            source = str(save_model(model, work / f"{label}.safetensors", arch=read_metadata(name)["fsr_edge.arch"],
                                    kwargs=kwargs))
        dist = work / label
        manifest = export_student(source, dist, targets=list(LATENCY_TARGETS), precisions=["int8"], faces_dir=faces,
                                  overwrite=True, progress=False, log=lambda *_: None)
        meta[label] = {"threads": threads, "calibration": manifest["calibration"]["method"]}
        for art in manifest["artifacts"]:
            if art.get("file") and art.get("export_status") == "exported":
                files[art["target"]][label] = (str(dist / art["file"]), int(model.lr_size))
                meta[label][f"{art['target']}_int8_verification"] = art["verification"]["status"]
        print(f"exported {label} ({meta[label]['calibration']})", flush=True)
    out: dict[str, dict] = {label: dict(m) for label, m in meta.items()}
    for target, by_label in files.items():
        run = subprocess.run([sys.executable, "-m", "research.student_study", "time", "--target", target,
                              "--threads", str(threads), "--rounds", str(rounds), "--files", json.dumps(by_label)],
                             env=worker_env(threads), capture_output=True, text=True)
        if run.returncode != 0:
            raise SystemExit(f"timing {target} failed: {run.stderr.strip().splitlines()[-1:]}")
        for label, ms in json.loads(run.stdout.strip().splitlines()[-1]).items():
            out[label][f"{target}_int8_ms"] = ms
    return out


def time_target(target: str, files: dict[str, tuple[str, int]], *, threads: int, rounds: int) -> dict[str, float]:
    """In this process: median ms per call of each (file, LR size) in ``target``'s runtime, interleaved."""
    import numpy as np

    from fsr_edge.runtimes import Session
    from fsr_edge.targets import get
    from research.export_study import interleaved_ms

    runners = {}
    for label, (path, lr_size) in files.items():
        infer, _ = get(target).load(path, Session(threads=threads, precision="int8"))
        x = np.random.default_rng(0).random((1, 3, lr_size, lr_size), dtype=np.float32)
        runners[label] = (lambda f=infer, a=x: f(a))
    return interleaved_ms(runners, rounds=rounds)


def _merge(section: str, rows: dict) -> None:
    doc = json.loads(OUT_JSON.read_text()) if OUT_JSON.is_file() else {"models": {}}
    if section == "latency":   # latency rows compare only within one run: a new run replaces every row
        for entry in doc["models"].values():
            entry.pop("latency", None)
    for label, row in rows.items():
        entry = doc["models"].setdefault(label, {})
        if section == "quality":
            entry.update(row)
        else:
            entry["latency"] = row
    OUT_JSON.parent.mkdir(parents=True, exist_ok=True)
    OUT_JSON.write_text(json.dumps(doc, indent=1, sort_keys=True))


def _fmt(v, nd=2):
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{nd}f}"


def _pair(q: dict, metric: str, nd: int) -> str:
    """'clean / blind' on wild for a metric the quality step measured (empty when it did not)."""
    vals = [q[f"wild/{mode}"]["means"].get(metric) for mode in MODES]
    return "" if all(v is None for v in vals) else " / ".join(_fmt(v, nd) for v in vals)


def report() -> None:
    doc = json.loads(OUT_JSON.read_text())
    models = doc["models"]
    lines = ["# Student study: val and wild, clean and blind, against INT8 latency", "",
             "Regenerate: `python -m research.student_study quality ...`, `... latency ...`, then "
             "`python -m research.student_study report` (commands at the top of research/student_study.py).", "",
             "Quality: 8-bit RGB PSNR (dB) / SSIM, whole aligned faces 256 px, LR seeded per face (seed 0). "
             "val = 24 London studio faces (12 identities, disjoint from train); wild = 55 in-the-wild photos "
             "(check only: never trained or calibrated on). Worst = the lowest single-face PSNR. VGG dist = "
             "fsr_edge.metrics.vgg_perceptual_distance (LPIPS' recipe without its learned weights; lower is better); "
             "ID cos = cosine of dlib's 128-d identity embeddings of SR and HR (higher is better; same person "
             "0.98-1.0, different people ~0.85 on the val faces). Both where measured "
             "(`quality --metrics psnr,ssim,vgg_perceptual,identity_cosine`).", ""]
    for scale in sorted({m["scale"] for m in models.values() if "scale" in m}, reverse=True):
        lines += [f"## x{scale}", "",
                  "| model | params | val clean | val blind | wild clean | wild blind | wild clean worst | "
                  "wild blind worst | val clean worst | wild clean SSIM | wild clean / blind VGG dist | "
                  "wild clean / blind ID cos | ET INT8 ms | OV INT8 ms | INT8 gates ET / OV |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
        rows = sorted(((k, m) for k, m in models.items() if m.get("scale") == scale),
                      key=lambda km: km[1]["quality"]["wild/clean"]["means"]["psnr"])
        for label, m in rows:
            q, lat = m["quality"], m.get("latency", {})
            lines.append(
                f"| {label} | {m['params']:,} | {_fmt(q['val/clean']['means']['psnr'])} | "
                f"{_fmt(q['val/blind']['means']['psnr'])} | {_fmt(q['wild/clean']['means']['psnr'])} | "
                f"{_fmt(q['wild/blind']['means']['psnr'])} | {_fmt(q['wild/clean']['worst_psnr'])} | "
                f"{_fmt(q['wild/blind']['worst_psnr'])} | {_fmt(q['val/clean']['worst_psnr'])} | "
                f"{_fmt(q['wild/clean']['means'].get('ssim'), 4)} | {_pair(q, 'vgg_perceptual', 4)} | "
                f"{_pair(q, 'identity_cosine', 4)} | {_fmt(lat.get('executorch_int8_ms'), 3)} | "
                f"{_fmt(lat.get('openvino_int8_ms'), 3)} | "
                f"{' / '.join(lat.get(f'{t}_int8_verification', '') for t in LATENCY_TARGETS) if lat else ''} |")
        lines.append("")
    threads = {m["latency"]["threads"] for m in models.values() if "latency" in m}
    lines += [f"Latency: median ms per 1-face call at batch 1, {', '.join(map(str, sorted(threads))) or '-'} threads, "
              "of each model's INT8 artifact as `fsr-edge export` makes it (the bundled QAT state where there is one, "
              "else PTQ on the train split), every row from one `latency` run: each runtime in a fresh process of its "
              "own, its models interleaved round by round (ratios between rows hold; absolute ms drift with the load "
              "of this shared 2-core machine). INT8 gates: that artifact's export verification on val, wild and "
              "stress. Empty = not measured.", ""]
    if doc.get("notes"):
        lines += ["## Notes", ""] + [f"- {n}" for n in doc["notes"]] + [""]
    _plot(models, RESULTS / "student_study.png")
    lines += ["![PSNR on wild vs ExecuTorch INT8 latency](student_study.png)", ""]
    (RESULTS / "student_study.md").write_text("\n".join(lines))
    print(RESULTS / "student_study.md")


def _plot(models: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for ax, mode in zip(axes, MODES):
        for label, m in models.items():
            lat = m.get("latency", {}).get("executorch_int8_ms")
            if lat is None or m.get("scale") != 8:
                continue
            y = m["quality"][f"wild/{mode}"]["means"]["psnr"]
            ax.scatter([lat], [y])
            ax.annotate(label, (lat, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.set_xlabel("ExecuTorch INT8 ms / face (batch 1)")
        ax.set_ylabel(f"PSNR on wild, {mode} LR (dB)")
        ax.set_title(f"x8 students, wild {mode}")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("step", choices=["quality", "latency", "report", "time"])   # time: one runtime, run by latency
    p.add_argument("--model", action="append", default=[])
    p.add_argument("--faces", type=Path, default=Path("../shared/data/faces"))
    p.add_argument("--metrics", default="psnr,ssim")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--target", choices=LATENCY_TARGETS, help="time: the runtime")
    p.add_argument("--files", help="time: JSON {label: [artifact file, LR size]}")
    p.add_argument("--note", action="append", default=None,
                   help="report: replace the report's notes (kept in the .json) with these lines")
    args = p.parse_args(argv)
    if args.step == "quality":
        _merge("quality", quality(args.model, args.faces, metrics=args.metrics.split(",")))
    elif args.step == "time":
        print(json.dumps(time_target(args.target, json.loads(args.files), threads=args.threads, rounds=args.rounds)))
    elif args.step == "latency":
        import tempfile

        with tempfile.TemporaryDirectory() as work:
            _merge("latency", latency(args.model, args.faces, threads=args.threads, rounds=args.rounds,
                                      work=Path(work)))
    else:
        if args.note is not None:
            doc = json.loads(OUT_JSON.read_text())
            doc["notes"] = args.note
            OUT_JSON.write_text(json.dumps(doc, indent=1, sort_keys=True))
        report()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
