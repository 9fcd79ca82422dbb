"""``fsr-edge verify DIST``: re-verify every artifact of an export on faces of your choice.

Checks each artifact's files against the manifest (paths inside DIST, sha256 of every file), then runs each
saved file in its own runtime against the fp32 PyTorch student on the verification suite of ``--faces`` (val,
wild and stress subsets, clean and blind) or, without it, of the bundled faces, with the same gates as
``fsr-edge export``. Prints one row per artifact and subset; exit 1 when any artifact fails.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub, name):
    p = sub.add_parser(name, help="re-verify an export's artifacts on a face folder (val, wild, stress subsets)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dist", type=Path, help="folder written by `fsr-edge export -o DIST`")
    p.add_argument("--faces", type=Path, default=None,
                   help="aligned face folder with manifest.csv (default: the bundled London val faces)")
    p.add_argument("-o", "--output", type=Path, default=None,
                   help="also write the records as JSON to this file (refused if it exists, unless --overwrite)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --output file")
    p.add_argument("--seed", type=int, default=0, help="seed of the degradations (default 0, as export uses)")
    return p


def run(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ..exporters.reverify import reverify, suite_table
    from ..io import atomic_write_json
    from .export import exit_status

    if args.faces is not None and not (args.faces / "manifest.csv").is_file():
        raise ConfigError(f"--faces {args.faces}: no manifest.csv there; pass an aligned face folder with splits, "
                          "or leave --faces out to use the bundled faces")
    if args.output is not None and args.output.exists() and not args.overwrite:
        raise ConfigError(f"{args.output} exists; choose another -o or pass --overwrite")
    result = reverify(args.dist, faces_dir=args.faces, seed=args.seed, log=print)
    print(suite_table(result["artifacts"]))
    if args.output is not None:
        atomic_write_json(args.output, result, allow_nan=False)
        print(f"wrote {args.output}")
    return exit_status(result["artifacts"])
