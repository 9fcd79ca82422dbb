"""The release step: copy trained runs into place, separate from the reports (which write docs/results/ only).

    python -m research.bundle pisr --runs runs     # pisr-x4/x8, teachers -> the package; ablations -> research/weights/
    python -m research.bundle pisr --cards         # model cards beside the shipped students, from docs/results/pisr.json
    python -m research.bundle mskd --runs runs     # mskd-x8 (edge student) and mskd-teacher-x8 (+ fp16 dictionary)

Then regenerate the reports (``python -m research.report_pisr`` / ``research.report_mskd``), and ``--cards``
after the PISR report. The ablation-only weights (research/weights/: ``pisr_nokd_x*``, ``pisr_nokd_decinit_x*``)
are rebuilt by ``fsr-edge train recipes/pisr_x{4,8}_nokd.yaml`` / ``..._nokd_decinit.yaml`` (output_dir
runs/pisr_x{4,8}_nokd[_decinit]), then ``python -m research.bundle pisr --runs runs``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from research import REPO


def bundle_pisr(runs: Path) -> list[str]:
    """Copy each finished run's best weights (+ its training facts): the product's rows into the package's
    weights folder, the ablations (``report_pisr.ABLATIONS``) into research/weights/."""
    import shutil

    from fsr_edge.models import read_metadata
    from fsr_edge.models._registry import WEIGHTS_DIR as PACKAGE_WEIGHTS

    from research import WEIGHTS_DIR as RESEARCH_WEIGHTS
    from research.report_pisr import ABLATIONS, ROWS

    copied = []
    for s in (4, 8):
        for row, (_, stem, run) in ROWS.items():
            dest = RESEARCH_WEIGHTS if row in ABLATIONS else PACKAGE_WEIGHTS
            run_dir = runs / run.format(s=s)
            best = run_dir / "best.safetensors"
            if not best.exists():
                continue
            shutil.copyfile(best, dest / f"{stem.format(s=s)}.safetensors")
            summary = json.loads((run_dir / "summary.json").read_text()) if (run_dir / "summary.json").exists() else {}
            import yaml

            cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
            facts = {"run": run.format(s=s), "best_step": int(read_metadata(best).get("fsr_edge.step", -1)),
                     "steps": summary.get("steps"), "wall_s": summary.get("wall_s"),
                     "best_val_psnr_clean_rgb": summary.get("best_val_psnr"), "config": cfg}
            (dest / f"{stem.format(s=s)}.json").write_text(json.dumps(facts, indent=1))
            copied.append(stem.format(s=s))
    return copied


def bundle_mskd(runs: Path) -> list[Path]:
    """Ship runs/ weights: the MSKD edge student as mskd-x8, the teacher (fp16) with an fp16 dictionary split per
    layer (each file < 4 MB) as mskd-teacher-x8."""
    from fsr_edge.dictionary import ComponentDictionary, load_dictionary
    from fsr_edge.models import load_model, read_metadata, save_model
    from fsr_edge.models._registry import WEIGHTS_DIR

    from research.report_mskd import SHIP_DICT_PREFIX, SHIP_STUDENT, STUDENT_RUNS, TEACHER_RUN, _source, run_weights

    written = []
    student = run_weights(runs / STUDENT_RUNS[SHIP_STUDENT])
    if student.exists():
        meta = read_metadata(student)
        written.append(save_model(load_model(student), WEIGHTS_DIR / "mskd_x8.safetensors", arch="edge_sr_x8",
                                  kwargs=json.loads(meta.get("fsr_edge.kwargs", "{}")),
                                  metadata={"fsr_edge.source": _source(student), "fsr_edge.step": meta.get("fsr_edge.step", "")}))
    teacher = run_weights(runs / TEACHER_RUN)
    if teacher.exists():
        meta = read_metadata(teacher)
        kwargs = json.loads(meta.get("fsr_edge.kwargs", "{}"))
        dic = load_dictionary(kwargs["dictionary"])
        shards = []
        for layer in dic.layers:
            part = ComponentDictionary({k: v for k, v in dic.atoms.items() if k.endswith("." + layer)}, (layer,),
                                       dic.image_size, dic.info)
            name = f"{SHIP_DICT_PREFIX}.{layer}.safetensors"
            written.append(part.save(WEIGHTS_DIR / name, half=True))
            shards.append(name)
        model = load_model(teacher)
        ship_kwargs = {**kwargs, "dictionary": shards, "detect_landmarks": True}
        written.append(save_model(model, WEIGHTS_DIR / "mskd_teacher_x8.safetensors", arch="dfdnet_teacher_x8",
                                  kwargs=ship_kwargs, half=True,
                                  metadata={"fsr_edge.source": _source(teacher), "fsr_edge.step": meta.get("fsr_edge.step", "")}))
        (WEIGHTS_DIR / "mskd_teacher_x8.json").write_text(json.dumps(ship_kwargs, indent=1) + "\n")
    for p in written:
        if p.stat().st_size > 4 * 2**20:
            raise SystemExit(f"{p}: {p.stat().st_size / 2**20:.1f} MB is over the 4 MB limit for committed files")
    return written


def write_pisr_cards(results: dict) -> list[Path]:
    """A model card next to each bundled student: data and attribution, degradation, training, val metrics
    (``results``: the report's docs/results/pisr.json)."""
    from fsr_edge.models._registry import WEIGHTS_DIR
    from fsr_edge.models.pisr import STUDENT_SHAPES

    from research.report_pisr import HARDWARE, _dataset_arg, _fmt, _minutes

    cards = []
    for scale_key, per_deg in results.items():
        s = int(scale_key[1:])
        facts_path = WEIGHTS_DIR / f"pisr_x{s}.json"
        if not facts_path.exists() or "PISR student" not in per_deg.get("clean", {}):
            continue
        facts = json.loads(facts_path.read_text())
        teacher = WEIGHTS_DIR / f"pisr_teacher_x{s}.json"
        teacher_facts = json.loads(teacher.read_text()) if teacher.exists() else {}
        method = facts["config"]["method"]
        train_node = facts["config"]["data"]["train"]
        jitter = _dataset_arg(train_node, "crop")
        crops = (f"{train_node['hr_crop']}x{train_node['hr_crop']} HR random crops" if "hr_crop" in train_node
                 else f"random square windows of {100 * jitter[0]:g}-{100 * jitter[1]:g}% of the face side resized to "
                      "256x256" if jitter else "whole 256x256 faces")
        p_blind = 100 * float(_dataset_arg(train_node, "p_blind"))
        rows = []
        for deg, per_row in per_deg.items():
            for row in ("bicubic", "w/o KD (random init)", "PISR student"):
                if row in per_row:
                    r = per_row[row]
                    rows.append(f"| {deg} | {row} | {r['psnr']:.2f} | {r['ssim']:.4f} | {r['ms_ssim']:.4f} | "
                                f"{_fmt(r.get('fd_vgg19'), 1)} |")
        r = per_deg["clean"]["PISR student"]
        ablation = ""
        dec = per_deg["clean"].get("w/o KD (decoder init)")
        nokd = per_deg["clean"].get("w/o KD (random init)")
        if nokd is not None:
            ablation += (f"\nAgainst the w/o-KD baseline (same architecture, data, steps, seed, random init, L1 only): "
                         f"{r['psnr'] - nokd['psnr']:+.2f} dB PSNR on x{s} clean val.")
        if dec is not None:
            # 0.05 dB: about the seed-to-seed spread of these runs (the report's two-seed table); less is a tie
            margin = r["psnr"] - dec["psnr"]
            verdict = ("the distillation term added to the decoder initialisation" if margin > 0.05 else
                       f"{margin:+.2f} dB{', within seed noise' if margin >= -0.05 else ''}: on this budget the "
                       "distillation term did NOT add measurably to the decoder initialisation; what the student "
                       "gains over the baseline comes from starting at the teacher's decoder")
            ablation += (f" Ablation with the same decoder init and no distillation (`research/weights/pisr_nokd_decinit_x{s}`): "
                         f"{dec['psnr']:.2f} dB vs {r['psnr']:.2f} dB: {verdict}.")
        wall_t = _minutes(teacher_facts.get("wall_s"))
        shape = STUDENT_SHAPES[s]
        text = f"""# pisr-x{s}: PISR face super-resolution student, x{s} ({256 // s}x{256 // s} -> 256x256)

`fsr-edge upscale --model pisr-x{s} --aligned FACE.png` (aligned face crops) or `fsr_edge.models.load_model("pisr-x{s}")`.

- **Architecture**: `pisr_student_x{s}`, an FSRCNN (d={shape['d']}, s={shape['s']}, m={shape['m']}, pixel-shuffle output + bilinear skip),
  {r['params']:,} parameters, {r['macs'] / 1e6:.1f} M MACs per {256 // s}x{256 // s} face. Input/output RGB float32 in [0, 1].
- **Method**: PISR (Lee et al., ECCV 2020). Teacher `pisr_teacher_x{s}` (an autoencoder that sees the HR face;
  its decoder has this exact structure) trained {teacher_facts.get('steps', '?')} steps ({wall_t}); this student was initialised from
  the teacher's decoder and trained {facts['steps']} steps ({_minutes(facts.get('wall_s'))}) with
  L1 + {method.get('lambda_distill')} x Laplace VID distillation at decoder feature index {method.get('distill_layer')};
  best val step {facts['best_step']}. Recipes: `recipes/pisr_x{s}_teacher.yaml`, `recipes/pisr_x{s}_student.yaml`.
- **Training data**: the 180-image train split of the project's face set (aligned 512x512, resized to 256),
  {crops} with flips. Sources (CC BY 4.0): Face Research Lab London Set, Lisa DeBruine and
  Benedict Jones, 2017, figshare, doi:10.6084/m9.figshare.5047666.v5; Young Adult White Faces with Manipulated
  Versions (the "canada" set), Lisa DeBruine, figshare; both as distributed in the webmorphR.stim collection.
  Small and demographically narrow: expect weaker results on faces unlike these.
- **Degradation seen in training**: per {'crop' if 'hr_crop' in train_node else 'face'}, {100 - p_blind:g}% clean antialiased bicubic x{s}, {p_blind:g}% the eq. 8 blind
  degradation (Gaussian/anisotropic/motion blur sigma 0.2-3, Gaussian noise 0-15/255, JPEG q40-90).
- **Hardware**: {HARDWARE[s]}.

Val split (24 faces, 12 identities unseen in training; RGB, 8-bit, no border crop; FD-VGG19 is an FID
substitute on VGG19 features, not comparable with published FID):

| LR | model | PSNR (dB) | SSIM | MS-SSIM | FD-VGG19 |
|---|---|---:|---:|---:|---:|
{chr(10).join(rows)}

{ablation}

Full comparison (w/o-KD ablations, teacher, x4 and x8, two seeds): `docs/results/pisr.md`.
"""
        path = WEIGHTS_DIR / f"pisr_x{s}.md"
        path.write_text(text)
        cards.append(path)
    return cards


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m research.bundle", description=__doc__.splitlines()[0])
    p.add_argument("what", choices=("pisr", "mskd"))
    p.add_argument("--runs", type=Path, default=REPO / "runs", help="training runs folder (default runs/)")
    p.add_argument("--cards", action="store_true", help="pisr: write the model cards from docs/results/pisr.json "
                                                        "instead of copying weights")
    args = p.parse_args(argv)
    if args.what == "pisr" and args.cards:
        results = json.loads((REPO / "docs" / "results" / "pisr.json").read_text())
        for card in write_pisr_cards(results):
            print(f"wrote {card}")
    elif args.what == "pisr":
        print("bundled:", ", ".join(bundle_pisr(args.runs)) or "nothing (no finished runs)")
    else:
        for path in bundle_mskd(args.runs):
            print(f"bundled {path} ({path.stat().st_size / 2**20:.2f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
