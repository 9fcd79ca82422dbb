"""``fsr-edge models``: bundled and registered models with scale, parameters and MACs at their input size."""

from __future__ import annotations

import argparse
import json


def add_parser(sub, name):
    p = sub.add_parser(name, help="list bundled models (scale, params, MACs at their input size)",
                       description=__doc__)
    p.add_argument("--json", action="store_true", help="print JSON instead of a Markdown table")
    return p


def run(args: argparse.Namespace) -> int:
    from ..models import list_models, load_model, pretrained_spec
    from ..profile import count_macs, count_params

    rows = []
    for name in list_models(pretrained=True):
        spec = pretrained_spec(name)
        model = load_model(name)
        rows.append({
            "name": name, "arch": spec.arch, "scale": model.scale,
            "input": f"{model.lr_size}x{model.lr_size}", "output": f"{model.lr_size * model.scale}x{model.lr_size * model.scale}",
            "params": count_params(model), "macs": count_macs(model, (1, 3, model.lr_size, model.lr_size)),
            "bundled_weights": spec.weights or "-", "description": spec.description,
        })
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print("| name | scale | input -> output | params | MACs | weights | description |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['name']} | x{r['scale']} | {r['input']} -> {r['output']} | {r['params']:,} | "
              f"{_human(r['macs'])} | {r['bundled_weights']} | {r['description']} |")
    return 0


def _human(n: int) -> str:
    for unit, div in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= div:
            return f"{n / div:.2f} {unit}"
    return str(n)
