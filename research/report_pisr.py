"""PISR report: regenerate docs/results/pisr.md + the picture sheet (writes under --out only).

    python -m research.report_pisr                         # evaluate the bundled pisr-* and the ablation weights
    python -m research.report_pisr --runs runs             # also rebuild the per-run tables from runs/pisr_x*_*
    python -m research.bundle pisr --runs runs             # first (release step): copy freshly trained runs in

Val split of ../shared/data/faces, x4 and x8, clean (antialiased bicubic) and blind (eq. 8, seeded per image)
LR faces: bicubic, the student w/o KD (random init), the w/o-KD ablation initialised from the teacher's
decoder, the PISR student, and the teacher's own reconstruction (it SEES the HR face: not an SR result).
Metrics from ``fsr_edge.metrics`` (8-bit quantised, no border crop): PSNR, SSIM, MS-SSIM (RGB), FD-VGG19.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import time
from pathlib import Path

import torch
from torch import nn

from research import facts_file, model_source

# Relative to the working directory (the repository root): the face set sits beside the checkout.
DEFAULT_FACES = Path(os.environ.get("FSR_EDGE_FACES", "../shared/data/faces"))
# Where the bundled runs of each scale were trained; say so again when you retrain.
HARDWARE = {8: "the 2-core CPU of the dev machine, two or three trainings sharing it, no GPU",
            4: "the 2-core CPU of the dev machine, three or four jobs sharing it, no GPU"}
# report row -> (name, weights file stem, run folder that trains it); the order is the table's. The product ships
# the student and the teacher; the w/o-KD ablations' weights live in research/weights/ (ABLATIONS)
ROWS = {
    "w/o KD (random init)": ("fsrcnn-nokd-x{s}", "pisr_nokd_x{s}", "pisr_x{s}_nokd"),
    "w/o KD (decoder init)": ("pisr-nokd-decinit-x{s}", "pisr_nokd_decinit_x{s}", "pisr_x{s}_nokd_decinit"),
    "PISR student": ("pisr-x{s}", "pisr_x{s}", "pisr_x{s}_student"),
    "teacher (sees HR)": ("pisr-teacher-x{s}", "pisr_teacher_x{s}", "pisr_x{s}_teacher"),
}
ABLATIONS = ("w/o KD (random init)", "w/o KD (decoder init)")
METRICS = ("psnr", "ssim", "ms_ssim", "fd_vgg19")
# the three student recipes compared run for run (label, run folder pisr_x{s}_<kind>), in the order of the extra tables
COMPARISON = (("PISR student", "student"), ("w/o KD (random init)", "nokd"), ("w/o KD (decoder init)", "nokd_decinit"))


class _TeacherInput(torch.utils.data.Dataset):
    """The val set as the teacher sees it: its input is the HR face itself (privileged information)."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, index):
        item = self.dataset[index]
        return {"lr_face": item["hr_face"], "hr_face": item["hr_face"], "name": item["name"]}


def evaluate(faces: Path, scales: tuple[int, ...], *, fd_scales: tuple[int, ...], fd_blind: bool, cache: dict,
             progress: bool) -> dict:
    """Metrics per scale / LR kind / row. Rows whose weights are unchanged since ``cache`` (a previous pisr.json)
    are reused: FD-VGG19 (a VGG19 pass per 256x256 face) is slow on the shared CPU: it runs only for ``fd_scales``."""
    from fsr_edge.data import FaceDataset
    from fsr_edge.metrics import evaluate_model, frechet_distance
    from fsr_edge.models import load_model
    from fsr_edge.profile import count_macs, count_params

    results: dict = {}
    for s in scales:
        models: dict[str, nn.Module] = {"bicubic": load_model(f"bicubic-x{s}")}
        for row, (name, stem, _) in ROWS.items():
            source = model_source(name.format(s=s), stem.format(s=s))
            if source is not None:
                models[row] = load_model(source)
        hr_embedding = None  # the same HR faces for clean and blind
        for deg in ("clean", "blind"):
            val = FaceDataset(faces, split="val", hr_size=256, scale=s, degradation=deg, train=False, progress=False)
            for row, model in models.items():
                teacher = row.startswith("teacher")
                if teacher and deg == "blind":
                    continue  # the teacher never sees LR: one row (clean HR input) says everything
                want_fd = s in fd_scales and (deg == "clean" or fd_blind)
                fingerprint = _fingerprint(model)
                old = cache.get(f"x{s}", {}).get(deg, {}).get(row)
                if old and old.get("fingerprint") == fingerprint and (old.get("fd_vgg19") is not None or not want_fd):
                    results.setdefault(f"x{s}", {}).setdefault(deg, {})[row] = old
                    continue
                data = _TeacherInput(val) if teacher else val
                out = evaluate_model(model, data, metrics=("psnr", "ssim", "ms_ssim"), progress=progress,
                                     desc=f"x{s} {deg} {row}")
                fd = None
                if want_fd:
                    if hr_embedding is None:
                        hr_embedding = _embed(torch.stack([val[i]["hr_face"] for i in range(len(val))]), progress)
                    fd = frechet_distance(_embed(_sr_faces(model, data), progress), hr_embedding)
                in_side = 256 if teacher else 256 // s
                results.setdefault(f"x{s}", {}).setdefault(deg, {})[row] = {
                    **{m: out["means"].get(m) for m in ("psnr", "ssim", "ms_ssim")}, "fd_vgg19": fd,
                    "params": count_params(model), "macs": count_macs(model, (1, 3, in_side, in_side)),
                    "n_images": out["n_images"], "fingerprint": fingerprint}
    return results


def _fingerprint(model: nn.Module) -> str:
    import hashlib

    digest = hashlib.sha256(type(model).__name__.encode())
    for key, tensor in sorted(model.state_dict().items()):
        digest.update(key.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


@torch.no_grad()
def _sr_faces(model: nn.Module, data) -> torch.Tensor:
    model.eval()
    return torch.cat([model(torch.stack([data[i]["lr_face"] for i in range(j, min(j + 8, len(data)))])).clamp(0, 1)
                      for j in range(0, len(data), 8)])


@torch.no_grad()
def _embed(faces: torch.Tensor, progress: bool) -> torch.Tensor:
    from tqdm import tqdm

    from fsr_edge.metrics import quantize_8bit, vgg19_embedding

    chunks = faces.split(4)
    return torch.cat([vgg19_embedding(quantize_8bit(c)) for c in tqdm(chunks, desc="VGG19 embeddings", leave=False,
                                                                      disable=not progress)])


def picture_sheet(faces: Path, path: Path, *, scale: int = 8, n_faces: int = 3) -> None:
    """Rows of val faces; columns LR (nearest), bicubic, w/o KD, PISR, HR; the central 160x160 of each 256 face."""
    import numpy as np
    from PIL import Image, ImageDraw

    from fsr_edge.data import FaceDataset
    from fsr_edge.models import load_model

    val = FaceDataset(faces, split="val", hr_size=256, scale=scale, degradation="clean", train=False, progress=False)
    columns = {"LR x8 (nearest)": None, "bicubic": load_model(f"bicubic-x{scale}")}
    for label, row in (("w/o KD", "w/o KD (random init)"), ("PISR", "PISR student")):
        name, stem, _ = ROWS[row]
        source = model_source(name.format(s=scale), stem.format(s=scale))
        if source is not None:
            columns[label] = load_model(source)
    columns["HR"] = None
    box, header = 160, 18
    lo = (256 - box) // 2
    sheet = Image.new("RGB", (box * len(columns), header + box * n_faces), "white")
    draw = ImageDraw.Draw(sheet)
    picks = np.linspace(0, len(val) - 1, n_faces).round().astype(int)
    for c, label in enumerate(columns):
        draw.text((c * box + 4, 3), label, fill="black")
    with torch.no_grad():
        for r, idx in enumerate(picks):
            item = val[int(idx)]
            for c, (label, model) in enumerate(columns.items()):
                if label == "HR":
                    img = item["hr_face"]
                elif model is None:
                    img = item["lr_face"].repeat_interleave(scale, 1).repeat_interleave(scale, 2)
                else:
                    img = model(item["lr_face"][None])[0].clamp(0, 1)
                tile = (img[:, lo:lo + box, lo:lo + box].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
                sheet.paste(Image.fromarray(tile), (c * box, header + r * box))
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path, optimize=True)


def seed_table(runs: Path) -> dict:
    """Best loop-validation PSNR (x{s} clean val, float RGB) of each comparison run and its ``_seed1`` twin."""
    table: dict = {}
    for s in (4, 8):
        for label, kind in COMPARISON:
            for seed, suffix in ((0, ""), (1, "_seed1")):
                if (finished := _finished_run(runs / f"pisr_x{s}_{kind}{suffix}")) is None:
                    continue
                facts = finished[0]
                table.setdefault(f"x{s}", {}).setdefault(label, {})[str(seed)] = {
                    "best_val_psnr": facts["best_val_psnr"], "steps": facts["steps"], "wall_s": facts["wall_s"]}
    return table


def _finished_run(run_dir: Path) -> tuple[dict, dict] | None:
    """``(summary, config)`` of a run that finished (has ``summary.json``), else None."""
    import yaml

    summary = run_dir / "summary.json"
    if not summary.exists():
        return None
    return json.loads(summary.read_text()), yaml.safe_load((run_dir / "config.yaml").read_text())


def shape_table(runs: Path) -> list[dict]:
    """The x8 student-shape study: w/o-KD runs ``RUNS/pisr_x8_shape_*`` (same recipe, other mapping shapes)."""
    from fsr_edge.models import create_model
    from fsr_edge.profile import count_params

    rows = []
    for summary in sorted(runs.glob("pisr_x8_shape_*/summary.json")):
        facts, cfg = _finished_run(summary.parent)
        kwargs = {k: v for k, v in cfg["model"].items() if k != "_component_"}
        model = create_model(cfg["model"]["_component_"].rpartition(".")[2], **kwargs)
        rows.append({"run": summary.parent.name, "m": len(model.mapping), "s": model.shrink[0].out_channels,
                     "d": model.extract[0].out_channels, "params": count_params(model),
                     "degradation": cfg["data"]["train"]["degradation"], "steps": facts["steps"],
                     "best_val_psnr": facts["best_val_psnr"]})
    return rows


def distill_weight_table(runs: Path) -> list[dict]:
    """x8 runs of the PISR student's method (decoder init + VID) that differ only in lambda_S, seed 0, in the two
    training-data settings where it was probed: p_blind 0.5 without crop jitter (where 0.01 was first
    chosen: ``pisr_x8_nokd_decinit_pb50`` = lambda_S 0, ``pisr_x8_student_pb50``, ``pisr_x8_student_ls*``) and
    the shipped recipes' p_blind 0.25 with crop jitter (``pisr_x8_nokd_decinit``, ``pisr_x8_student``,
    ``pisr_x8_student_crop_ls*``)."""
    rows = []
    for run in ["pisr_x8_nokd_decinit_pb50", "pisr_x8_student_pb50",
                *sorted(p.name for p in runs.glob("pisr_x8_student_ls*")),
                "pisr_x8_nokd_decinit", "pisr_x8_student", *sorted(p.name for p in runs.glob("pisr_x8_student_crop_ls*"))]:
        if (finished := _finished_run(runs / run)) is None:
            continue
        facts, cfg = finished
        train_node = cfg["data"]["train"]
        rows.append({"run": run, "lambda_distill": cfg["method"]["lambda_distill"],
                     "distill_layer": cfg["method"].get("distill_layer"), "p_blind": float(train_node["p_blind"]),
                     "crop": train_node.get("crop"), "steps": facts["steps"], "best_val_psnr": facts["best_val_psnr"]})
    return sorted(rows, key=lambda r: (-r["p_blind"], r["lambda_distill"]))


def imitation_weight_table(runs: Path) -> list[dict]:
    """x8 teachers that differ only in lambda_T (``pisr_x8_teacher``, ``pisr_x8_teacher_lt*``), each with the
    best loop-validation PSNR of its own reconstruction and of the student distilled from it
    (``pisr_x8_student_pb50`` / ``pisr_x8_student_t<suffix>``: the student recipe at p_blind 0.5, as when this
    was probed), when that run finished."""
    rows = []
    for teacher in ["pisr_x8_teacher", *sorted(p.name for p in runs.glob("pisr_x8_teacher_lt*"))]:
        if (finished := _finished_run(runs / teacher)) is None:
            continue
        facts, cfg = finished
        suffix = teacher.removeprefix("pisr_x8_teacher").lstrip("_")
        student_run = f"pisr_x8_student_t{suffix}" if suffix else "pisr_x8_student_pb50"
        student = _finished_run(runs / student_run)
        rows.append({"teacher_run": teacher, "lambda_imitation": cfg["method"]["lambda_imitation"],
                     "teacher_best_val_psnr": facts["best_val_psnr"],
                     "student_run": student_run if student else None,
                     "student_best_val_psnr": student[0]["best_val_psnr"] if student else None})
    return rows


def blind_mix_table(runs: Path, faces: Path) -> list[dict]:
    """x8 comparison runs (PISR student, both w/o-KD baselines) at each share of blind-degraded training faces and
    with or without crop jitter: ``pisr_x8_<kind>[_pbNN|_cleanonly][_crop|_nocrop][_seed1]``. Each run's best weights
    are measured on the val split with clean and with blind LR (8-bit RGB PSNR, like the tables above): what a lower
    p_blind or the jitter buys on clean faces, and what it costs on camera-like ones."""
    from fsr_edge.data import FaceDataset
    from fsr_edge.metrics import evaluate_model
    from fsr_edge.models import load_model

    val = {deg: FaceDataset(faces, split="val", hr_size=256, scale=8, degradation=deg, train=False, progress=False)
           for deg in ("clean", "blind")}
    rows = []
    for label, kind in COMPARISON:
        for run_dir in sorted(runs.glob(f"pisr_x8_{kind}*")):
            if not re.fullmatch(rf"pisr_x8_{kind}(_pb\d+|_cleanonly)?(_crop|_nocrop)?(_seed1)?", run_dir.name):
                continue
            if (finished := _finished_run(run_dir)) is None:
                continue
            facts, cfg = finished
            model = load_model(run_dir / "best.safetensors")
            psnr = {deg: evaluate_model(model, data, metrics=("psnr",), progress=False)["means"]["psnr"]
                    for deg, data in val.items()}
            train_node = cfg["data"]["train"]
            p_blind = float(train_node["p_blind"]) if train_node["degradation"] == "mix" else float(
                train_node["degradation"] == "blind")
            crop = _dataset_arg(train_node, "crop")
            rows.append({"run": run_dir.name, "model": label, "p_blind": p_blind,
                         "crop": list(crop) if crop else None, "seed": int(cfg["seed"]), "steps": facts["steps"],
                         "clean_psnr": psnr["clean"], "blind_psnr": psnr["blind"]})
    return sorted(rows, key=lambda r: (-r["p_blind"], r["crop"] or [], r["model"], r["seed"]))


def _dataset_arg(train_node: dict, name: str):
    """A FaceDataset argument of a run's train-data config, or FaceDataset's own default where the config omits it."""
    import inspect

    from fsr_edge.data import FaceDataset

    return train_node.get(name, inspect.signature(FaceDataset).parameters[name].default)


def _crop_cell(crop) -> str:
    """A crop-jitter range for a table cell: ``0.9-1`` or ``none`` (whole faces)."""
    return "-".join(f"{c:g}" for c in crop) if crop else "none"


def _minutes(seconds) -> str:
    return "?" if seconds is None else f"{seconds / 60:.1f} min"


def _fmt(v, digits):
    return "n/a" if v is None else f"{v:.{digits}f}"


def _table_section(title: str, intro: str, header: str, align: str, rows: list[str]) -> list[str]:
    """A "### title" Markdown section: an intro paragraph, then a table (``align``: the separator row)."""
    return [f"### {title}", "", intro, "", header, align, *rows, ""]


def write_markdown(results: dict, path: Path, *, sheet: Path | None, wall_s: float, seeds: dict,
                   shapes: list[dict], weights: list[dict], imitation: list[dict], blind_mix: list[dict]) -> None:
    lines = ["# PISR on the face val split", "",
             "Regenerate: `python -m research.report_pisr` (bundled and research/weights/ weights; "
             "`python -m research.bundle pisr --runs runs` first copies freshly trained runs in). Val split of `../shared/data/faces`: 24 faces of 12 identities unseen in "
             "training, 256x256 HR. **clean**: antialiased bicubic LR; **blind**: the eq. 8 degradation (blur, "
             "noise, JPEG) seeded per image. Metrics from `fsr_edge.metrics`: RGB, 8-bit quantised, no border crop; "
             "FD-VGG19 is the Frechet distance on VGG19 relu5_4 features (an FID substitute, NOT comparable with "
             "published FID; 24 images make it noisy). MACs per face at the model's input size (LR 256/scale; the "
             "teacher's input is the 256x256 HR face). FD-VGG19 only where computed (default: x8 clean; `--fd-scales`, "
             "`--fd-blind` add more: VGG19 at 256x256 is slow on the shared CPU); n/a elsewhere.", ""]
    for scale_key, per_deg in results.items():
        s = int(scale_key[1:])
        lines += [f"## {scale_key} ({256 // s}x{256 // s} -> 256x256)", ""]
        if set(per_deg.get("clean", {})) <= {"bicubic"}:
            lines += [f"No x{s} PISR weights are bundled yet: the recipes exist (`recipes/pisr_x{s}_*.yaml`) but were "
                      "not trained within this machine's CPU budget. Bicubic only:", ""]
        for deg, rows in per_deg.items():
            lines += [f"### {deg}", "", "| model | PSNR (dB) | vs bicubic | SSIM | MS-SSIM | FD-VGG19 | params | MACs |",
                      "|---|---:|---:|---:|---:|---:|---:|---:|"]
            bic_deg = rows.get("bicubic", {}).get("psnr")
            for row, r in rows.items():
                gain = "" if row == "bicubic" or bic_deg is None else f"{r['psnr'] - bic_deg:+.2f}"
                name = "teacher (input = HR face, not SR)" if row.startswith("teacher") else row
                lines.append(f"| {name} | {_fmt(r['psnr'], 2)} | {gain} | {_fmt(r['ssim'], 4)} | {_fmt(r['ms_ssim'], 4)} | "
                             f"{_fmt(r.get('fd_vgg19'), 1)} | {r['params']:,} | {r['macs'] / 1e6:,.1f} M |")
            lines.append("")
        facts = []
        for row, (_, stem, _) in ROWS.items():
            meta = facts_file(stem.format(s=s))
            if meta.exists():
                f = json.loads(meta.read_text())
                wall = _minutes(f.get("wall_s"))
                facts.append(f"| {row} | `{f['run']}` | {f.get('steps')} | {f.get('best_step')} | {wall} |")
        if facts:
            lines += [f"Training ({HARDWARE[s]}; wall time as measured):", "",
                      "| model | recipe run | steps | best step (val) | wall |", "|---|---|---:|---:|---:|", *facts, ""]
    for scale_key, rows in seeds.items():
        if not any(len(v) > 1 for v in rows.values()):
            continue
        table = []
        for label, per_seed in rows.items():
            vals = [per_seed[k]["best_val_psnr"] for k in ("0", "1") if k in per_seed]
            cells = [f"{per_seed[k]['best_val_psnr']:.2f}" if k in per_seed else "not run" for k in ("0", "1")]
            table.append(f"| {label} | {cells[0]} | {cells[1]} | {sum(vals) / len(vals):.2f} |")
        lines += _table_section(
            f"{scale_key}: two seeds (the margin is small)",
            "Best validation PSNR logged by the training loop (clean val, float RGB, not 8-bit quantised, "
            "so a few hundredths off the tables above). Seed 1 runs are the same recipe with `seed=1 data.train.seed=1`: "
            "another model init (random-init rows) or distillation-head init (PISR), data order, flips and degradation draws.",
            "| model | seed 0 | seed 1 | mean |", "|---|---:|---:|---:|", table)
    if len({(r["p_blind"], str(r["crop"])) for r in blind_mix}) > 1:
        bicubic = {deg: results.get("x8", {}).get(deg, {}).get("bicubic", {}).get("psnr") for deg in ("clean", "blind")}
        lines += _table_section(
            "x8: training data: share of blind-degraded faces (p_blind) and crop jitter",
            "The three comparison recipes (`recipes/pisr_x8_student.yaml`, `..._nokd.yaml`, `..._nokd_decinit.yaml`) "
            "with only `data.train.p_blind` or `data.train.crop` (and, for seed 1, `seed=1 data.train.seed=1`) "
            "changed, except that the PISR student rows without crop jitter used lambda_S 0.01 "
            "(`method.lambda_distill=0.01`); runs `runs/pisr_x8_<kind>[_pbNN][_nocrop][_seed1]`; p_blind 0 is "
            "`data.train.degradation=clean` (`runs/pisr_x8_nokd_cleanonly`: what the w/o-KD network reaches on clean "
            "faces when it never sees camera-like ones). Crop jitter (a, b): each training face is a random square "
            "window of a to b of the face side, resized to 256 (`crop: null`: whole faces, flips only). Each run's "
            "best weights measured here on the val split, clean and "
            f"blind LR (8-bit RGB PSNR, as in the tables above). Bicubic: {_fmt(bicubic['clean'], 2)} dB clean, "
            f"{_fmt(bicubic['blind'], 2)} dB blind.",
            "| run | model | p_blind | crop jitter | seed | clean PSNR (dB) | blind PSNR (dB) |",
            "|---|---|---:|---|---:|---:|---:|",
            [f"| `{r['run']}` | {r['model']} | {r['p_blind']:g} | "
             f"{_crop_cell(r.get('crop'))} | {r['seed']} | "
             f"{r['clean_psnr']:.2f} | {r['blind_psnr']:.2f} |" for r in blind_mix])
    if len(weights) > 1:
        lines += _table_section(
            "x8: distillation weight lambda_S",
            "The PISR student's recipe (decoder init, VID at the same layer, same data, steps and seed 0) with only "
            "lambda_S changed, in two training-data settings: as it stood when lambda_S was first chosen (p_blind 0.5, "
            "whole faces) and as shipped now (p_blind 0.25, crop jitter 0.9-1). lambda_S = 0 is the decoder-init "
            "ablation. Best loop-validation PSNR (clean val, float RGB). Which weight ships was chosen on this val "
            "split (the face set has no separate test split).",
            "| run | p_blind | crop jitter | lambda_S | steps | best val PSNR (dB) |", "|---|---:|---|---:|---:|---:|",
            [f"| `{r['run']}` | {r.get('p_blind', 0.5):g} | {_crop_cell(r.get('crop'))} | {r['lambda_distill']:g} | "
             f"{r['steps']} | {r['best_val_psnr']:.2f} |" for r in weights])
    if len(imitation) > 1:
        lines += _table_section(
            "x8: teacher imitation weight lambda_T",
            "The teacher recipe with only lambda_T changed (the L1 pull of its LR-sized code towards the clean LR "
            "face), and the student recipe as it stood when this was probed (decoder init + VID, lambda_S 0.01, "
            "seed 0, p_blind 0.5, whole faces) distilled from each. "
            "Best loop-validation PSNR (clean val, float RGB); the teacher's is its reconstruction from the HR face. Runs: "
            "`fsr-edge train recipes/pisr_x8_teacher.yaml method.lambda_imitation=0.1 output_dir=runs/pisr_x8_teacher_lt0.1`, "
            "then `fsr-edge train recipes/pisr_x8_student.yaml method.teacher=runs/pisr_x8_teacher_lt0.1/best.safetensors "
            "data.train.p_blind=0.5 data.train.crop=null method.lambda_distill=0.01 output_dir=runs/pisr_x8_student_tlt0.1`.",
            "| teacher run | lambda_T | teacher (sees HR) | student run | student |", "|---|---:|---:|---|---:|",
            [f"| `{r['teacher_run']}` | {r['lambda_imitation']:g} | {r['teacher_best_val_psnr']:.2f} | "
             f"{'`' + r['student_run'] + '`' if r['student_run'] else 'not run'} | "
             f"{_fmt(r['student_best_val_psnr'], 2)} |" for r in imitation])
    if shapes:
        lines += _table_section(
            "x8: student shape (why the x8 student is wider and deeper than FSRCNN)",
            "w/o-KD runs of `recipes/pisr_x8_nokd.yaml` with another mapping shape, clean LR only, 1000 steps: "
            "`fsr-edge train recipes/pisr_x8_nokd.yaml max_steps=1000 data.train.degradation=clean model.m=M "
            "model.s=S output_dir=runs/pisr_x8_shape_mM_sS`. Best loop-validation PSNR (clean val, float RGB). "
            "The FSRCNN-sized shape (s=24, m=4, 15 LR px receptive field) reached 27.67 dB in the same setting; "
            "runs with PyTorch's default conv init (before the He init in `fsr_edge.models.fsrcnn`) gave "
            "s=32/m=8 28.14, s=48/m=8 28.45, and s=48/m=12 never left the bilinear output (25.01).",
            "| run | mapping (m x s) | d | params | train LR | steps | best val PSNR (dB) |", "|---|---|---:|---:|---|---:|---:|",
            [f"| `{r['run']}` | {r['m']} x {r['s']} | {r['d']} | {r['params']:,} | {r['degradation']} | {r['steps']} "
             f"| {r['best_val_psnr']:.2f} |" for r in shapes])
    if sheet is not None:
        lines += [f"![val faces x8 clean: LR, bicubic, w/o KD, PISR, HR]({sheet.name})", "",
                  f"`{sheet.name}`: central 160x160 of three val faces, x8 clean; columns LR (nearest-neighbour "
                  "enlarged), bicubic, w/o KD (random init), PISR student, HR.", ""]
    lines += [f"Report computed in {wall_s / 60:.1f} min."]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def _from_runs(table, runs: Path | None, saved: Path, empty):
    """``table(runs)`` when training runs are given (and saved for later), else the saved copy."""
    value = table(runs) if runs is not None else (json.loads(saved.read_text()) if saved.exists() else empty)
    saved.write_text(json.dumps(value, indent=1))
    return value


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m research.report_pisr", description=__doc__.splitlines()[0])
    p.add_argument("--faces", type=Path, default=DEFAULT_FACES, help="face set folder (with manifest.csv)")
    p.add_argument("--out", type=Path, default=Path("docs/results"), help="where pisr.md and the sheet go")
    p.add_argument("--runs", type=Path, default=None, metavar="RUNS",
                   help="rebuild the seed/shape/weight tables from RUNS/pisr_x*_* (else their saved copies)")
    p.add_argument("--scales", type=int, nargs="+", default=[8, 4])
    p.add_argument("--fd-scales", type=int, nargs="*", default=[8],
                   help="scales that get FD-VGG19 on clean LR (VGG19 at 256x256 is slow on a shared 2-core CPU)")
    p.add_argument("--fd-blind", action="store_true", help="FD-VGG19 for the blind LR rows too")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    from fsr_edge.errors import ConfigError

    if not (args.faces / "manifest.csv").exists():
        raise SystemExit(str(ConfigError(f"{args.faces}: face set not found (no manifest.csv); pass --faces")))
    started = time.monotonic()
    cache_path = args.out / "pisr.json"
    cache = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    results = evaluate(args.faces, tuple(args.scales), fd_scales=tuple(args.fd_scales), fd_blind=args.fd_blind,
                       cache=cache,
                       progress=not args.no_progress)
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    (args.out / "pisr.json").write_text(json.dumps(results, indent=1))
    sheet = args.out / "pisr_x8_sheet.png"
    picture_sheet(args.faces, sheet)
    seeds = _from_runs(seed_table, args.runs, args.out / "pisr_seeds.json", {})
    shapes = _from_runs(shape_table, args.runs, args.out / "pisr_shapes.json", [])
    weights = _from_runs(distill_weight_table, args.runs, args.out / "pisr_distill_weights.json", [])
    imitation = _from_runs(imitation_weight_table, args.runs, args.out / "pisr_imitation_weights.json", [])
    blind_mix = _from_runs(lambda runs: blind_mix_table(runs, args.faces), args.runs,
                           args.out / "pisr_blind_mix.json", [])
    write_markdown(results, args.out / "pisr.md", sheet=sheet, wall_s=time.monotonic() - started, seeds=seeds,
                   shapes=shapes, weights=weights, imitation=imitation,
                   blind_mix=blind_mix)
    print(f"wrote {args.out / 'pisr.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
