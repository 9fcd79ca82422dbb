"""MSKD x8 report: regenerate docs/results/mskd.md, mskd.json and the picture sheet mskd_sheet.png (writes under
--out only).

    python -m research.report_mskd                      # evaluate what exists (bundled + runs/)
    python -m research.bundle mskd    # first (the release step): ship runs/ weights as mskd-x8 / mskd-teacher-x8

Val split of ../shared/data/faces at x8 (32 -> 256), clean (antialiased bicubic) and blind (eq. 8, seeded per
image) LR faces. Rows: bicubic, the PISR x8 student (when bundled), the DFDNet teacher (its own landmark step:
dlib on the upsampled LR face, the training set's mean template where that fails; counts reported), the paper
student and the edge student, each w/o KD / SSKD / MSKD where the run exists. Metrics from ``fsr_edge.metrics``
(8-bit quantised, no border crop). Costs: params, MACs at 32 -> 256, CPU latency (median, batch 1) and peak RSS
of a fresh process that loads the model and upscales one face, dictionary size.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from research import REPO
from research.mskd_experiments import STUDENT_RUNS

DEFAULT_FACES = REPO.parent / "shared" / "data" / "faces"
METRICS = ("psnr", "ssim", "ms_ssim", "fd_vgg19", "vgg_perceptual", "identity_cosine")
LOWER_IS_BETTER = {"fd_vgg19", "vgg_perceptual"}
# STUDENT_RUNS: row label -> run folder (its best.safetensors, else final.safetensors), the experiments table's rows
SHIP_STUDENT = "edge student SSKD"   # -> mskd-x8 (on 2 seeds the one KD setting that ties w/o KD on PSNR)
TEACHER_RUN = "mskd_teacher_x8_stage4"   # what ships as mskd-teacher-x8 (fine-tuned on its detected landmarks)
# earlier stages, reported to show what each bought; the students distil stage 2 (their cached teacher features)
EARLIER_TEACHERS = {"teacher, stage 3 (trained on HR landmarks only)": "mskd_teacher_x8_stage3",
                    "teacher, stage 2 (the students' teacher)": "mskd_teacher_x8_stage2",
                    "teacher, stage 1 only": "mskd_teacher_x8"}
# cross-fit teachers (recipes/mskd_teacher_x8_xfit.yaml): one teacher per half of the training identities, trained
# without fold k (fsr_edge.data.identity_folds), so fold k's faces are new to it
CROSS_FIT_TEACHERS = {"teacher, cross-fit, without fold 0": "mskd_teacher_x8_xfit0",
                      "teacher, cross-fit, without fold 1": "mskd_teacher_x8_xfit1"}
DICT_RUN = Path("mskd_dict") / "dict_k8.safetensors"
SHIP_DICT_PREFIX = "mskd_teacher_x8_dict"


def run_weights(run_dir: Path) -> Path:
    """A run's best-on-validation weights, else its last ones (a run that never validated)."""
    best = run_dir / "best.safetensors"
    return best if best.exists() else run_dir / "final.safetensors"


def _source(path: Path) -> str:
    """Where shipped weights came from, relative to the repository when inside it (no machine paths shipped)."""
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def _models(runs: Path) -> dict[str, tuple[str, torch.nn.Module]]:
    """label -> (source, model) for every row that exists here."""
    from fsr_edge.models import list_models, load_model

    bundled = set(list_models(pretrained=True))
    rows = {"bicubic": ("bicubic-x8", load_model("bicubic-x8"))}
    if "pisr-x8" in bundled:
        rows["PISR x8 student"] = ("pisr-x8", load_model("pisr-x8"))
    teacher = run_weights(runs / TEACHER_RUN)
    if teacher.exists():
        rows["teacher (DFDNet-style)"] = (str(teacher), load_model(teacher))
    elif "mskd-teacher-x8" in bundled:
        rows["teacher (DFDNet-style)"] = ("mskd-teacher-x8", load_model("mskd-teacher-x8"))
    for label, run in {**EARLIER_TEACHERS, **CROSS_FIT_TEACHERS, **STUDENT_RUNS}.items():
        path = run_weights(runs / run)
        if path.exists():
            rows[label] = (str(path), load_model(path))
    if SHIP_STUDENT not in rows and "mskd-x8" in bundled:
        rows[SHIP_STUDENT] = ("mskd-x8", load_model("mskd-x8"))
    for _, model in rows.values():
        if hasattr(model, "detect_landmarks"):
            model.detect_landmarks = True      # the teacher's own landmark step, as at inference
    return rows


@torch.no_grad()
def landmark_gap(teacher: torch.nn.Module, val_set) -> dict:
    """Clean-val PSNR (8-bit) of a teacher given the template landmarks, its own landmark step (dlib on the
    upsampled LR face, as at inference) and the HR faces' landmarks (exact: an upper bound inference cannot
    reach). The gap between the last two is what better landmarks could still buy."""
    from fsr_edge.metrics import psnr, quantize_8bit
    from fsr_edge.models.dfdnet import _landmarks_on

    scores: dict[str, list[float]] = {"template": [], "own landmark step": [], "HR landmarks": []}
    was = teacher.detect_landmarks
    try:
        for item in val_set:
            lr_face, hr_face = item["lr_face"][None], item["hr_face"][None]
            up_face = teacher.upsample_input(lr_face)
            teacher.detect_landmarks = False
            template = _landmarks_on(teacher, up_face)
            teacher.detect_landmarks = True
            given = {"template": template, "own landmark step": _landmarks_on(teacher, up_face),
                     "HR landmarks": item["landmarks68"][None]}
            for key, landmarks in given.items():
                sr_face = teacher.forward_features(lr_face, landmarks)[0]
                scores[key].append(float(psnr(quantize_8bit(sr_face), quantize_8bit(hr_face))))
    finally:
        teacher.detect_landmarks = was
    return {key: sum(v) / len(v) for key, v in scores.items()}


@torch.no_grad()
def fold_gap(teacher: torch.nn.Module, faces: str, *, held_out_fold: int, limit: int | None = None) -> dict:
    """Clean PSNR (8-bit, its own landmark step) of a cross-fitted teacher on the training faces it trained on and
    on those of the fold it was trained without (``limit``: the first N faces of each). Cross-fitting is worth
    its cost only where the first is clearly higher: the memorisation it removes from the students' targets."""
    from fsr_edge.data import FaceDataset, identity_folds
    from fsr_edge.metrics import evaluate_model

    train = FaceDataset(faces, split="train", hr_size=256, scale=8, degradation="clean", train=False, seed=0,
                        progress=False)
    folds = identity_folds(faces, split="train", n_folds=2)
    out = {}
    for key, held_out in (("trained on", False), ("held out", True)):
        index = [i for i, f in enumerate(folds) if (f == held_out_fold) == held_out][:limit]
        subset = torch.utils.data.Subset(train, index)
        subset.scale = 8
        res = evaluate_model(teacher, subset, metrics=["psnr"], batch_size=4, desc=f"fold gap ({key})")
        out[key] = res["means"]["psnr"]
        out[f"{key} faces"] = len(index)
    return out


def _costs(source: str, model: torch.nn.Module) -> dict:
    """Median latency (batch 1, 2 threads) and peak RSS of a fresh process that loads ``source`` and upscales one
    32x32 face: the bench harness's PyTorch worker, the same measurement ``fsr-edge bench`` makes."""
    import tempfile

    from fsr_edge.bench.harness import run_worker

    attrs = {"detect_landmarks": True} if hasattr(model, "detect_landmarks") else {}  # the teacher's own landmark step
    spec = {"runtime": "pytorch", "model": source, "threads": 2, "input_shape": [1, 3, 32, 32], "model_attrs": attrs}
    with tempfile.TemporaryDirectory() as tmp:
        res = run_worker(spec, workdir=Path(tmp), name="cost", threads=2)
    if res.get("status") != "ok":
        print(f"cost of {source} not measured: {res.get('reason')}", flush=True)
        return {"latency_ms": None, "peak_rss_mb": None}
    return {"latency_ms": res["latency"]["p50_ms"], "peak_rss_mb": res["peak_rss_mb"]}


def _sheet(rows, val_set, out: Path, n_faces: int = 3) -> None:
    """Crops of both eyes and the mouth (component boxes from the HR landmarks) for a few val faces."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from fsr_edge.dictionary import component_boxes

    labels = [l for l in rows if l in ("bicubic", "PISR x8 student", "teacher (DFDNet-style)", "edge student w/o KD",
                                       SHIP_STUDENT, "paper student MSKD")]
    cols = labels + ["HR"]
    fig, axes = plt.subplots(2 * n_faces, len(cols), figsize=(1.8 * len(cols), 1.05 * 2 * n_faces))
    with torch.no_grad():
        for f in range(n_faces):
            item = val_set[f * 7 % len(val_set)]
            lr, hr = item["lr_face"][None], item["hr_face"]
            boxes = component_boxes(item["landmarks68"][None], image_size=hr.shape[-1])
            outs = [rows[l][1](lr)[0].clamp(0, 1) for l in labels] + [hr]
            for r, (a, b) in enumerate((("left_eye", "right_eye"), ("mouth", None))):
                x0, y0 = boxes[a][0, :2].int().tolist()
                x1, y1 = (boxes[b] if b else boxes[a])[0, 2:].int().tolist()
                if b is None:   # the mouth box widened to the eyes' crop aspect
                    cx = (x0 + x1) // 2
                    x0, x1 = cx - 64, cx + 64
                for c, img in enumerate(outs):
                    ax = axes[2 * f + r, c]
                    ax.imshow(img[:, max(0, y0):y1, max(0, x0):x1].permute(1, 2, 0).numpy())
                    ax.set_xticks([])
                    ax.set_yticks([])
                    if f == 0 and r == 0:
                        ax.set_title(cols[c], fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=80)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", default=str(DEFAULT_FACES))
    parser.add_argument("--runs", default=str(REPO / "runs"))
    parser.add_argument("--out", default=str(REPO / "docs" / "results"))
    parser.add_argument("--limit", type=int, default=None, help="evaluate the first N val faces only")
    parser.add_argument("--metrics", nargs="+", default=list(METRICS))
    parser.add_argument("--no-costs", action="store_true", help="skip latency / peak memory")
    parser.add_argument("--fold-gap-faces", type=int, default=48,
                        help="training faces per side for the cross-fit teachers' seen/unseen table")
    parser.add_argument("--no-carry", action="store_true",
                        help="drop the earlier report's rows whose weights are not here (default: keep them, marked)")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    runs, out = Path(args.runs), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    from fsr_edge.data import FaceDataset
    from fsr_edge.metrics import evaluate_model
    from fsr_edge.profile import count_macs, count_params

    rows = _models(runs)
    results: dict = {"rows": {}, "settings": {"split": "val", "scale": 8, "lr": "32x32", "limit": args.limit,
                                              "metrics": args.metrics, "torch_threads": 2}}
    val_sets = {}
    for degradation in ("clean", "blind"):
        val = FaceDataset(args.faces, split="val", hr_size=256, scale=8, degradation=degradation, train=False,
                          seed=0, progress=False)
        if args.limit:
            val = torch.utils.data.Subset(val, range(min(args.limit, len(val))))
            val.scale = 8
        val_sets[degradation] = val
        for label, (source, model) in rows.items():
            if hasattr(model, "landmark_stats"):
                model.landmark_stats.update(detected=0, template=0)
            res = evaluate_model(model, val, metrics=args.metrics, batch_size=4, desc=f"{label} ({degradation})")
            entry = results["rows"].setdefault(label, {"source": _source(Path(source))})
            entry[degradation] = {"means": res["means"], "unavailable": res["unavailable"],
                                  "seconds_per_face": res["seconds"] / max(1, res["n_images"])}
            if hasattr(model, "landmark_stats"):
                entry[degradation]["landmarks"] = dict(model.landmark_stats)
            print(f"{label:28s} {degradation:5s} " + " ".join(f"{k}={v:.4f}" for k, v in res["means"].items()),
                  flush=True)
    for label, (source, model) in rows.items():
        entry = results["rows"][label]
        trainable = sum(p.numel() for n, p in model.named_parameters() if not n.startswith("encoder."))
        entry["params"] = count_params(model)
        entry["params_trained"] = trainable
        entry["macs"] = count_macs(model, (1, 3, 32, 32)) if not hasattr(model, "dft") else _teacher_macs(model)
        if not args.no_costs:
            entry.update(_costs(source, model))
    results["dictionary"] = _dictionary_info(runs)
    json_path = out / "mskd.json"
    if not args.no_carry and json_path.exists():
        carry_over(results, json.loads(json_path.read_text()))
    results["rows"] = in_table_order(results["rows"])
    val = FaceDataset(args.faces, split="val", hr_size=256, scale=8, degradation="clean", train=False, seed=0,
                      progress=False)
    for label, (_, model) in rows.items():
        if hasattr(model, "detect_landmarks"):
            results["rows"][label]["landmark_gap"] = landmark_gap(model, val_sets["clean"])
    for k, label in enumerate(CROSS_FIT_TEACHERS):
        if label in rows:   # teacher k was trained without fold k
            results["rows"][label]["fold_gap"] = fold_gap(rows[label][1], args.faces, held_out_fold=k,
                                                          limit=args.fold_gap_faces)
    sheet = out / "mskd_sheet.png"
    _sheet(rows, val, sheet)
    json_path.write_text(json.dumps(results, indent=1) + "\n")
    md_path = out / "mskd.md"
    md_path.write_text(keep_reading(_markdown(results, args.metrics), md_path.read_text() if md_path.exists() else ""))
    print(f"wrote {out / 'mskd.md'}, {out / 'mskd.json'}, {sheet}")
    return 0


CARRIED = "carried"


def carry_over(results: dict, earlier: dict) -> None:
    """Keep the rows (and the training dictionary's record) of an ``earlier`` mskd.json that this run could not
    evaluate because their weights are not on this machine (a fresh checkout has no runs/), marked as carried, so
    a regenerated report does not silently lose measured rows. Rows evaluated now replace their earlier values;
    rows from another setting (``--limit``, metrics) are not mixed in."""
    same = {k: earlier.get("settings", {}).get(k) for k in ("limit", "metrics")} == \
        {k: results["settings"][k] for k in ("limit", "metrics")}
    if not same:
        return
    for label, entry in earlier.get("rows", {}).items():
        if label not in results["rows"]:
            results["rows"][label] = {**entry, CARRIED: entry.get(CARRIED, True)}
    for key, info in earlier.get("dictionary", {}).items():
        results["dictionary"].setdefault(key, info)


def in_table_order(rows: dict) -> dict:
    """Rows as the tables list them: baselines, teachers, then STUDENT_RUNS' order (carried or not)."""
    order = ["bicubic", "PISR x8 student", "teacher (DFDNet-style)", *EARLIER_TEACHERS, *CROSS_FIT_TEACHERS,
             *STUDENT_RUNS]
    rank = {label: i for i, label in enumerate(order)}
    return dict(sorted(rows.items(), key=lambda item: rank.get(item[0], len(order))))


def _teacher_macs(model) -> int:
    """MACs of the teacher with template landmarks (dlib's own cost is not a MAC)."""
    from fsr_edge.profile import count_macs

    detect, model.detect_landmarks = model.detect_landmarks, False
    try:
        return count_macs(model, (1, 3, 32, 32))
    finally:
        model.detect_landmarks = detect


def _dictionary_info(runs: Path) -> dict:
    from fsr_edge.dictionary import load_dictionary
    from fsr_edge.models._registry import WEIGHTS_DIR

    info = {}
    src = runs / DICT_RUN
    if src.exists():
        dic = load_dictionary(src)
        info["training_fp32"] = {"path": _source(src), "bytes": src.stat().st_size, "atoms": dic.num_atoms,
                                 "build_seconds": dic.info.get("build_seconds"),
                                 "samples_per_component": dic.info.get("samples_per_component"),
                                 "faces": dic.info.get("faces")}
    shipped = sorted(WEIGHTS_DIR.glob(f"{SHIP_DICT_PREFIX}.*.safetensors"))
    if shipped:
        info["shipped_fp16"] = {"files": [p.name for p in shipped], "bytes": sum(p.stat().st_size for p in shipped)}
    return info


READING = "## Reading"


def keep_reading(new_md: str, old_md: str) -> str:
    """``new_md`` plus the hand-written "## Reading" section of ``old_md`` (what the numbers mean, what was run and
    how): regenerating the tables must not erase it."""
    if READING not in old_md:
        return new_md
    return new_md.rstrip("\n") + "\n\n" + old_md[old_md.index(READING):]


def _label(label: str, entry: dict) -> str:
    return f"{label} *" if entry.get(CARRIED) else label


def _fmt(v, key) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return "-"
    return f"{v:.2f}" if key in ("psnr", "fd_vgg19") else f"{v:.4f}"


def _markdown(results: dict, metrics) -> str:
    lines = ["# MSKD x8: dictionary teacher and adversarial multi-scale feature distillation", "",
             "Regenerate: `python -m research.report_mskd` (`python -m research.bundle mskd` first ships new runs). "
             f"Val split of the face set (identities disjoint from train; "
             f"{results['settings']['limit'] or 'all 24'} faces evaluated), 32x32 -> 256x256.",
             "Metrics: PSNR/SSIM/MS-SSIM on RGB, 8-bit quantised, no border crop; FD-VGG19 (Frechet distance "
             "on VGG19 features: NOT FID) and VGG perceptual distance (LPIPS recipe without learned weights: NOT "
             "LPIPS), lower is better; identity = cosine of dlib face embeddings.", ""]
    if any(e.get(CARRIED) for e in results["rows"].values()):
        lines += ["Rows marked * were evaluated in an earlier run with the same settings and carried over from "
                  "the earlier mskd.json: their runs are not on the machine that regenerated this report (their "
                  "`source` in mskd.json says which run each was).", ""]
    for degradation in ("clean", "blind"):
        lines += [f"## {degradation.capitalize()} LR (Tables 1/2)", "",
                  "| model | " + " | ".join(metrics) + " | landmarks (detected/template) |",
                  "|---|" + "---|" * (len(metrics) + 1)]
        for label, entry in results["rows"].items():
            d = entry.get(degradation)
            if not d:
                continue
            lm = d.get("landmarks")
            lm_txt = f"{lm['detected']}/{lm['template']}" if lm else "-"
            lines.append(f"| {_label(label, entry)} | " + " | ".join(_fmt(d["means"].get(m), m) for m in metrics)
                         + f" | {lm_txt} |")
        unavailable = {m: r for e in results["rows"].values() for m, r in e.get(degradation, {}).get("unavailable", {}).items()}
        for m, r in unavailable.items():
            lines.append(f"\n{m}: unavailable here ({r})")
        lines.append("")
    lines += ["## Cost (Table 3), this CPU (2 shared cores, torch threads 2: latencies are noisy)", "",
              "| model | params (trained) | params (all) | MACs 32->256 | latency ms | peak RSS MB |", "|---|---|---|---|---|---|"]
    for label, entry in results["rows"].items():
        lat, rss = entry.get("latency_ms"), entry.get("peak_rss_mb")
        lines.append(f"| {_label(label, entry)} | {entry['params_trained']:,} | {entry['params']:,} | {entry['macs'] / 1e9:.2f} G | "
                     f"{'-' if lat is None else f'{lat:.0f}'} | {'-' if rss is None else f'{rss:.0f}'} |")
    gaps = {label: e["landmark_gap"] for label, e in results["rows"].items() if "landmark_gap" in e}
    if gaps:
        keys = list(next(iter(gaps.values())))
        lines += ["", "## The teacher's landmarks (clean LR, PSNR dB)", "",
                  "The same teacher given the template, its own landmark step (what inference does) and the HR "
                  "faces' landmarks (exact: an upper bound inference cannot reach).", "",
                  "| model | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
        lines += [f"| {_label(label, results['rows'][label])} | " + " | ".join(f"{g[k]:.2f}" for k in keys) + " |"
                  for label, g in gaps.items()]
    folds = {label: e["fold_gap"] for label, e in results["rows"].items() if "fold_gap" in e}
    if folds:
        lines += ["", "## Cross-fit teachers on training faces (clean LR, PSNR dB)", "",
                  "Each cross-fitted teacher on training faces of the fold it trained on and of the fold it was "
                  "trained without (the faces whose features it gives the held-out students).", "",
                  "| model | trained on | held out | gap |", "|---|---|---|---|"]
        lines += [f"| {_label(label, results['rows'][label])} | {g['trained on']:.2f} ({g['trained on faces']} faces) | "
                  f"{g['held out']:.2f} ({g['held out faces']} faces) | {g['trained on'] - g['held out']:+.2f} |"
                  for label, g in folds.items()]
    dic = results.get("dictionary", {})
    lines += ["", "## Dictionary", ""]
    if "training_fp32" in dic:
        d = dic["training_fp32"]
        lines.append(f"- training dictionary: {d['atoms']} atoms per component and layer, {d['samples_per_component']} "
                     f"samples per component, {d['bytes'] / 2**20:.1f} MB fp32, built in {d['build_seconds']} s on this CPU "
                     "(paper: 1.8 GB).")
    if "shipped_fp16" in dic:
        d = dic["shipped_fp16"]
        lines.append(f"- shipped with mskd-teacher-x8: {d['bytes'] / 2**20:.1f} MB fp16 in {len(d['files'])} files.")
    lines += ["", "![eyes and mouth crops](mskd_sheet.png)", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
