"""fsr-edge models: the bundled models with scale, input and output size, parameters, MACs at their input size and
role. The default student (what upscale, export and pipeline use without --model) is marked "default"; models
meant only for training (their input is not an LR face) are marked "training only" and refused by upscale.
--card NAME prints a model's card: what it was trained on, its quality on val and wild faces, its INT8 drop and
latency per target."""

from __future__ import annotations

import argparse
import json


def add_parser(sub, name):
    p = sub.add_parser(name, help="list bundled models (scale, params, MACs, role; the default is marked)",
                       description=__doc__)
    p.add_argument("--json", action="store_true", help="print JSON instead of a Markdown table")
    p.add_argument("--card", metavar="NAME", help="print one model's card (YAML: data and licence, recipe, params/MACs, "
                   "val and wild quality, INT8 drop per runtime, latency per target)")
    return p


def run(args: argparse.Namespace) -> int:
    from ..zoo import zoo

    if args.card:
        from ..cards import card_path, model_card

        model_card(args.card)   # ConfigError naming the known cards when there is none
        print(card_path(args.card).read_text(encoding="utf-8"), end="")
        return 0
    snapshot = zoo()  # no torch import while the bundled snapshot describes this install
    default = snapshot["default"]
    rows = []
    for name, e in sorted(snapshot["models"].items()):
        out_side = e["lr_size"] * e["scale"]
        rows.append({
            "name": name, "arch": e["arch"], "scale": e["scale"], "input": f"{e['lr_size']}x{e['lr_size']}",
            "output": f"{out_side}x{out_side}", "params": e["params"], "macs": e["macs"],
            "bundled_weights": e["weights"] or "-",
            "role": "default" if name == default else "training only" if e["training_only"] else "",
            "default": name == default, "training_only": e["training_only"], "description": e["description"],
        })
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print("| name | role | scale | input -> output | params | MACs | weights | description |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        name = f"**{r['name']}**" if r["default"] else r["name"]
        print(f"| {name} | {r['role'] or '-'} | x{r['scale']} | {r['input']} -> {r['output']} | {r['params']:,} | "
              f"{_human(r['macs'])} | {r['bundled_weights']} | {r['description']} |")
    if default:
        print(f"\ndefault: {default} (upscale, export and pipeline use it when --model is left out)")
    return 0


def _human(n: int) -> str:
    for unit, div in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= div:
            return f"{n / div:.2f} {unit}"
    return str(n)
