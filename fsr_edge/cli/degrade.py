"""``fsr-edge degrade``: write a reproducible HR/LR pair set from aligned faces.

OUT_DIR/hr/NAME.png, OUT_DIR/lr/NAME.png and OUT_DIR/degradation.json (config, seed and the exact
parameters drawn for every image). The same inputs and seed give identical files.
"""

from __future__ import annotations

import argparse


def add_parser(sub, name: str) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help="make HR/LR face pairs (clean bicubic or blind MSKD degradation)",
                       description="Resize aligned faces to --hr-size, degrade each to LR (clean: antialiased "
                                   "bicubic; blind: random blur, downsample, noise, JPEG as in MSKD eq. 8) and "
                                   "write OUT_DIR/hr/NAME.png, OUT_DIR/lr/NAME.png and OUT_DIR/degradation.json.")
    p.add_argument("input", metavar="INPUT_DIR_OR_MANIFEST",
                   help="folder of aligned square faces, a folder holding manifest.csv, or a manifest.csv")
    p.add_argument("-o", "--out", required=True, metavar="OUT_DIR", help="output folder")
    p.add_argument("--scale", type=int, default=8, choices=(2, 4, 8, 16), help="downsampling factor (default 8)")
    p.add_argument("--mode", choices=("clean", "blind"), default="blind", help="degradation (default blind)")
    p.add_argument("--hr-size", type=int, default=256, help="HR side in pixels (default 256)")
    p.add_argument("--split", default=None, help="manifest split to use (e.g. val); default: every row")
    p.add_argument("--seed", type=int, default=0, help="image i is degraded with seed (SEED, i) (default 0)")
    p.add_argument("--config", metavar="YAML", default=None,
                   help="blind ranges as a YAML/JSON mapping of BlindDegradation fields, e.g. "
                        "'jpeg_quality: [60, 90]' (default: the built-in ranges)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs in OUT_DIR")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def run(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from tqdm import tqdm

    from ..errors import ConfigError, ImageError
    from ..io import atomic_write_json, write_png
    from ..data import FaceDataset

    if args.seed < 0:
        raise ConfigError(f"--seed {args.seed}: must be >= 0")
    out = Path(args.out)
    report = out / "degradation.json"
    if not args.overwrite:
        existing = [p for p in (report, out / "hr", out / "lr") if p.exists() and (p.is_file() or any(p.iterdir()))]
        if existing:
            raise ConfigError(f"{existing[0]}: output exists; pass --overwrite to replace it")
    blind_config = None
    if args.config is not None:
        import yaml

        try:
            blind_config = yaml.safe_load(Path(args.config).read_text())
        except (OSError, yaml.YAMLError) as err:
            raise ConfigError(f"{args.config}: cannot read the degradation config ({err})") from None
        if not isinstance(blind_config, dict):
            raise ConfigError(f"{args.config}: expected a mapping of BlindDegradation fields")
        if args.mode != "blind":
            raise ConfigError("--config sets the blind ranges; it has no effect with --mode clean")
    ds = FaceDataset(args.input, split=args.split, hr_size=args.hr_size, scale=args.scale, degradation=args.mode,
                     blind_config=blind_config, train=False, seed=args.seed, preload=False)

    images: dict[str, dict] = {}
    failed: list[str] = []
    for i in tqdm(range(len(ds)), desc=f"degrade x{args.scale} {args.mode}", unit="img",
                  disable=args.no_progress):
        try:
            item = ds[i]
        except ImageError as err:
            tqdm.write(f"fsr-edge degrade: skipped: {err}", file=sys.stderr)
            failed.append(str(ds.records[i].path))
            continue
        name = item["name"]
        write_png(out / "hr" / f"{name}.png", item["hr_face"].permute(1, 2, 0).numpy(), overwrite=args.overwrite)
        write_png(out / "lr" / f"{name}.png", item["lr_face"].permute(1, 2, 0).numpy(), overwrite=args.overwrite)
        images[name] = {"index": i, "source": str(ds.records[i].path), "seed": list(ds.item_seed(i)),
                        **ds.degradation_params(i).to_dict()}

    doc = {
        "mode": args.mode, "scale": args.scale, "hr_size": args.hr_size, "seed": args.seed, "split": args.split,
        "input": str(args.input),
        "resize": "antialiased bicubic to hr_size, HR stored as 8-bit",
        "config": ds.blind_config.to_dict() if args.mode == "blind" else None,
        "images": images, "failed": failed,
    }
    atomic_write_json(report, doc, indent=1)
    print(f"wrote {len(images)} HR/LR pairs ({args.hr_size}->{args.hr_size // args.scale}, {args.mode}) to {out}"
          + (f"; {len(failed)} failed" if failed else ""))
    return 1 if failed else 0
