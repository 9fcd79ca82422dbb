"""``fsr-edge calibrate``: choose a calibration set for INT8 quantization and write its JSON manifest.

Rule (fsr_edge.calibration): faces of one split, round robin over (source, expression) groups, one image per
identity before any identity repeats, each degraded like training (seeded per item), path + sha256 recorded.
Without FACES (or with --builtin): the built-in astronaut face crops.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub, name):
    p = sub.add_parser(name, help="choose a calibration set for INT8 and write its manifest",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("faces", nargs="?", type=Path, help="aligned face folder or manifest.csv")
    p.add_argument("-o", "--output", required=True, type=Path, help="calibration manifest (.json) to write")
    p.add_argument("--size", type=int, default=32, help="number of faces (default 32)")
    p.add_argument("--split", default="train", help="manifest split to draw from (default train)")
    p.add_argument("--scale", type=int, default=8, help="SR factor the LR faces are made for (default 8)")
    p.add_argument("--hr-size", type=int, default=256, help="HR face side before downsampling (default 256)")
    p.add_argument("--mode", default="mix", choices=["clean", "blind", "mix"], help="degradation (as in training)")
    p.add_argument("--seed", type=int, default=0, help="seed of the face picks and degradations (default 0)")
    p.add_argument("--builtin", action="store_true", help="use the built-in astronaut face (no face data)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing calibration manifest")
    return p


def run(args: argparse.Namespace) -> int:
    from ..calibration import builtin_calibration_set, select_calibration_set
    from ..errors import ConfigError

    if args.builtin or args.faces is None:
        calib = builtin_calibration_set(size=args.size, seed=args.seed, scale=args.scale, hr_size=args.hr_size,
                                        mode=args.mode)
    else:
        if not args.faces.exists():
            raise ConfigError(f"{args.faces}: no such face folder or manifest")
        calib = select_calibration_set(args.faces, size=args.size, seed=args.seed, split=args.split,
                                       scale=args.scale, hr_size=args.hr_size, mode=args.mode)
    calib.save(args.output, overwrite=args.overwrite)
    idents = len({it.identity for it in calib.items})
    sources = sorted({it.source for it in calib.items})
    print(f"wrote {args.output}: {len(calib)} faces, {idents} identities, sources {', '.join(sources)}, "
          f"degradation {calib.mode}, seed {calib.seed}")
    return 0
