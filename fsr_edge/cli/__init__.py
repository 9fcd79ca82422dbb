"""``fsr-edge`` command line. Each subcommand lives in its own module with ``add_parser`` and ``run``.

User-facing errors (FsrEdgeError) print one line and exit 2; nothing prints a traceback unless
``FSR_EDGE_DEBUG=1``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

# subcommand -> module; order is the order of ``fsr-edge --help``
COMMANDS = {
    "pipeline": "fsr_edge.cli.pipeline",
    "upscale": "fsr_edge.cli.upscale",
    "eval": "fsr_edge.cli.eval",
    "degrade": "fsr_edge.cli.degrade",
    "models": "fsr_edge.cli.models",
    "train": "fsr_edge.cli.train",
    "build-dictionary": "fsr_edge.cli.build_dictionary",
    "export": "fsr_edge.cli.export",
    "verify": "fsr_edge.cli.verify",
    "calibrate": "fsr_edge.cli.calibrate",
    "bench": "fsr_edge.cli.bench",
    "bench-photo": "fsr_edge.cli.bench_photo",
    "report": "fsr_edge.cli.report",
    "selfcheck": "fsr_edge.cli.selfcheck",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fsr-edge", description="Face super-resolution for edge devices.")
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"fsr_edge {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", help="fsr-edge COMMAND --help shows its options")
    for name, module_name in COMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            if err.name == module_name:  # command not part of this build
                continue
            raise
        p = module.add_parser(sub, name)
        p.set_defaults(_run=module.run)
    from ._text import plain_help

    plain_help(parser)  # module docstrings are the descriptions: no reStructuredText markup in a terminal
    return parser


def main(argv: list[str] | None = None) -> int:
    from ..errors import FsrEdgeError

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except FsrEdgeError as err:
        if os.environ.get("FSR_EDGE_DEBUG"):
            raise
        print(f"fsr-edge {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"fsr-edge {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
