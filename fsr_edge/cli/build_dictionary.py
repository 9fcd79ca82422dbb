"""``fsr-edge build-dictionary``: DFDNet component dictionaries (left/right eye, nose, mouth) from HR faces.

VGG19 features of the aligned HR faces at each layer, components RoIAligned from the landmarks (NAME.json
beside each image), K-means per component and layer; written as one safetensors file (``--shard`` writes one
file per layer, e.g. to keep each bundled file small). Prints size and build time.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub, name):
    p = sub.add_parser(name, help="build the MSKD teacher's facial component dictionary (K-means atoms)",
                       description=__doc__)
    p.add_argument("--data", required=True, help="faces folder or manifest.csv (aligned faces with NAME.json landmarks)")
    p.add_argument("--split", default="train", help="manifest split to read (default: train)")
    p.add_argument("-o", "--output", required=True, help="output .safetensors file (or prefix with --shard)")
    p.add_argument("--atoms", type=int, default=8, help="K-means clusters per component and layer (default 8)")
    p.add_argument("--layers", "--scales", dest="layers", nargs="+", default=None,
                   help="VGG19 layers (default relu2_2 relu3_4 relu4_4: 128, 64, 32 px for a 256 face)")
    p.add_argument("--size", type=int, default=256, help="face side the features are taken at (default 256)")
    p.add_argument("--no-flip", action="store_true", help="do not add mirrored faces")
    p.add_argument("--half", action="store_true", help="store fp16 atoms (half the size)")
    p.add_argument("--shard", action="store_true", help="one file per layer: OUTPUT.<layer>.safetensors")
    p.add_argument("--limit", type=int, default=None,
                   help="use N faces spread evenly over the split (a cheaper CPU build)")
    p.add_argument("--batch-size", type=int, default=8, help="faces per VGG19 forward pass (default 8)")
    p.add_argument("--device", default="cpu", help="torch device for the VGG19 features, e.g. cuda (default cpu)")
    p.add_argument("--seed", type=int, default=0, help="K-means initialisation seed (default 0)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    return p


def run(args: argparse.Namespace) -> int:
    import torch
    from torch.utils.data import DataLoader

    from ..data import DegradationMode, FaceDataset
    from ..dictionary import DEFAULT_LAYERS, ComponentDictionary, build_dictionary
    from ..errors import ConfigError

    out = Path(args.output)
    layers = tuple(args.layers or DEFAULT_LAYERS)
    targets = [out.with_suffix(f".{l}.safetensors") for l in layers] if args.shard else [out]
    for t in targets:
        if t.exists() and not args.overwrite:
            raise ConfigError(f"{t}: exists; pass --overwrite to replace it")
    dataset = FaceDataset(args.data, split=args.split, hr_size=args.size, scale=8, train=False,
                          degradation=DegradationMode.CLEAN)
    if args.limit and args.limit < len(dataset):
        step = len(dataset) / args.limit
        dataset = torch.utils.data.Subset(dataset, [int(i * step) for i in range(args.limit)])
    if torch.isnan(torch.stack([dataset[i]["landmarks68"] for i in range(len(dataset))])).any():
        raise ConfigError(f"{args.data}: some faces have no NAME.json landmarks; the dictionary needs them all")
    loader = DataLoader(dataset, batch_size=args.batch_size, shuffle=False)
    batches = ((b["hr_face"], b["landmarks68"]) for b in loader)
    dic = build_dictionary(batches, atoms=args.atoms, layers=layers, flip=not args.no_flip, seed=args.seed,
                           device=args.device)
    dic.info.update({"faces": len(dataset), "data": str(args.data), "split": args.split})
    if args.shard:
        for layer, t in zip(layers, targets):
            part = ComponentDictionary({k: v for k, v in dic.atoms.items() if k.endswith("." + layer)},
                                       (layer,), dic.image_size, dic.info)
            part.save(t, half=args.half)
    else:
        dic.save(out, half=args.half)
    size_mb = sum(t.stat().st_size for t in targets) / 2**20
    print(f"dictionary: {len(dataset)} faces x {2 if not args.no_flip else 1} ({dic.info['samples_per_component']} "
          f"samples per component), {args.atoms} atoms x {len(dic.atoms)} component/layer sets, layers "
          f"{', '.join(layers)}")
    print(f"size: {size_mb:.2f} MB ({'fp16' if args.half else 'fp32'}) in {len(targets)} file(s); build time "
          f"{dic.info['build_seconds']} s (features {dic.info['feature_seconds']} s) on {args.device}")
    for t in targets:
        print(f"wrote {t}")
    return 0
