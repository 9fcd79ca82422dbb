"""Student study: quality on val AND wild (clean and blind, mean and worst face) and INT8 latency at batch 1,
for choosing the shipped student on a measured latency-quality frontier. Writes docs/results/ only.

    python -m research.student_study quality --faces ../shared/data/faces \\
        --model bicubic-x8 --model mskd-x8 --model pisr-x8 --model bicubic-x4 --model pisr-x4 [--model runs/X/best.safetensors]
    python -m research.student_study latency --faces ../shared/data/faces --threads 2 --model mskd-x8 --model ...
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


def latency(names: list[str], faces: Path, *, threads: int, rounds: int, work: Path) -> dict:
    import openvino as ov

    from fsr_edge.calibration import select_calibration_set
    from fsr_edge.exporters import executorch as etx
    from fsr_edge.exporters import onnx as ox
    from fsr_edge.exporters.artifact import Precision
    from fsr_edge.exporters.quantize import quantize_ptq
    from research.export_study import interleaved_ms

    torch.set_num_threads(threads)
    core = ov.Core()
    runners, meta = {}, {}
    for name in names:
        model = _load(name)
        label = _label(name)
        if not list(model.parameters()):
            continue   # bicubic: nothing to quantize
        x = torch.rand(1, 3, model.lr_size, model.lr_size)
        xn = x.numpy()
        calib = select_calibration_set(faces, size=32, scale=model.scale, hr_size=model.lr_size * model.scale)
        q = quantize_ptq(model, calib)
        tag = label.replace("/", "_")
        i8_onnx = ox.export(model, x, work, precision=Precision.INT8, quantized_model=q, name=f"{tag}_int8")
        req = core.compile_model(str(i8_onnx.file), "CPU", {"INFERENCE_NUM_THREADS": str(threads),
                                                             "INFERENCE_PRECISION_HINT": "f32"}).create_infer_request()
        et = etx.export(model, x, work, precision=Precision.INT8, calibration=calib, name=f"{tag}_et_int8")
        et_run = etx.load_runner(et)
        runners[f"{label}|executorch_int8"] = lambda r=et_run, a=xn: r(a)
        runners[f"{label}|openvino_int8"] = lambda r=req, a=xn: r.infer([a])
        meta[label] = {"executorch_delegation": et.delegation.get("summary")}
        print(f"exported {label}", flush=True)
    ms = interleaved_ms(runners, rounds=rounds)
    out = {}
    for key, v in ms.items():
        label, target = key.split("|")
        out.setdefault(label, {"threads": threads, **meta[label]})[f"{target}_ms"] = v
    return out


def _merge(section: str, rows: dict) -> None:
    doc = json.loads(OUT_JSON.read_text()) if OUT_JSON.is_file() else {"models": {}}
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


def report() -> None:
    doc = json.loads(OUT_JSON.read_text())
    models = doc["models"]
    lines = ["# Student study: val and wild, clean and blind, against INT8 latency", "",
             "Regenerate: `python -m research.student_study quality ...`, `... latency ...`, then "
             "`python -m research.student_study report` (commands at the top of research/student_study.py).", "",
             "Quality: 8-bit RGB PSNR (dB) / SSIM, whole aligned faces 256 px, LR seeded per face (seed 0). "
             "val = 24 London studio faces (12 identities, disjoint from train); wild = 55 in-the-wild photos "
             "(check only: never trained or calibrated on). Worst = the lowest single-face PSNR.", ""]
    for scale in sorted({m["scale"] for m in models.values() if "scale" in m}, reverse=True):
        lines += [f"## x{scale}", "",
                  "| model | params | val clean | val blind | wild clean | wild blind | wild clean worst | "
                  "wild blind worst | val clean worst | wild clean SSIM | ET INT8 ms | OV INT8 ms |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        rows = sorted(((k, m) for k, m in models.items() if m.get("scale") == scale),
                      key=lambda km: km[1]["quality"]["wild/clean"]["means"]["psnr"])
        for label, m in rows:
            q, lat = m["quality"], m.get("latency", {})
            lines.append(
                f"| {label} | {m['params']:,} | {_fmt(q['val/clean']['means']['psnr'])} | "
                f"{_fmt(q['val/blind']['means']['psnr'])} | {_fmt(q['wild/clean']['means']['psnr'])} | "
                f"{_fmt(q['wild/blind']['means']['psnr'])} | {_fmt(q['wild/clean']['worst_psnr'])} | "
                f"{_fmt(q['wild/blind']['worst_psnr'])} | {_fmt(q['val/clean']['worst_psnr'])} | "
                f"{_fmt(q['wild/clean']['means'].get('ssim'), 4)} | {_fmt(lat.get('executorch_int8_ms'), 3)} | "
                f"{_fmt(lat.get('openvino_int8_ms'), 3)} |")
        lines.append("")
    threads = {m["latency"]["threads"] for m in models.values() if "latency" in m}
    lines += [f"Latency: median ms per 1-face call at batch 1, {', '.join(map(str, sorted(threads))) or '-'} threads, "
              "every row of one `latency` run interleaved in one process (ratios between rows hold; absolute ms "
              "drift with the load of this shared 2-core machine). Empty = not measured.", ""]
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
    p.add_argument("step", choices=["quality", "latency", "report"])
    p.add_argument("--model", action="append", default=[])
    p.add_argument("--faces", type=Path, default=Path("../shared/data/faces"))
    p.add_argument("--metrics", default="psnr,ssim")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--note", action="append", default=None,
                   help="report: replace the report's notes (kept in the .json) with these lines")
    args = p.parse_args(argv)
    if args.step == "quality":
        _merge("quality", quality(args.model, args.faces, metrics=args.metrics.split(",")))
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
