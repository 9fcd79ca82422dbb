"""``fsr-edge train CONFIG.yaml [key=value ...]``: run the training recipe (recipes/train.py) on a config."""

from __future__ import annotations

import argparse


def add_parser(sub, name: str) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help="train a model from a recipe config (PISR, MSKD, baselines); resumes automatically",
                       description="Train from a YAML recipe config. Overrides: dotted key=value, values parsed as "
                                   "YAML (e.g. max_steps=200 optimizer.lr=5e-4). Re-running the same command "
                                   "resumes from the run's last checkpoint. The config is checked before "
                                   "anything runs: _component_ names only fsr_edge's builders and torch's "
                                   "optimizers, schedulers and layers (docs/configs.md), every key is checked "
                                   "against what it configures. Multi-process: torchrun "
                                   "--nproc_per_node=N -m fsr_edge.cli train CONFIG.yaml")
    p.add_argument("config", help="recipe YAML, e.g. recipes/pisr_x8_student.yaml")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides")
    p.add_argument("--no-resume", action="store_true",
                   help="refuse to continue an existing run instead of resuming it")
    p.add_argument("--trust-config", action="store_true",
                   help="let _component_ name any importable callable, not only fsr_edge's builders and torch's "
                        "optimizers/schedulers/layers: the config then runs code. Only for configs you wrote or "
                        "checked")
    return p


def run(args: argparse.Namespace) -> int:
    import json

    from ..errors import ConfigError, FsrEdgeError
    from ..recipes.train import check_config, main
    from ..training import load_config
    from ..training.checkpoint import CheckpointManager

    cfg = load_config(args.config, args.overrides)
    check_config(cfg, trust=args.trust_config)  # before --no-resume looks at output_dir: a refused config reads nothing
    if args.no_resume and "output_dir" in cfg:
        from pathlib import Path

        if CheckpointManager(Path(cfg["output_dir"]) / "checkpoints").latest() is not None:
            raise ConfigError(f"{cfg['output_dir']}: already holds a run; drop --no-resume to continue it or "
                              "choose another output_dir")
    try:
        summary = main(cfg, trust=args.trust_config)
    except FsrEdgeError:
        raise
    except Exception as err:  # a disk that fills up mid-run (metrics, plots, weights): one line, not a traceback
        if not _disk_full(err):
            raise
        raise ConfigError(f"{cfg.get('output_dir')}: disk full or read-only while training "
                          f"({str(err).splitlines()[0][:160]}); the last checkpoint is kept. Free disk space "
                          "and re-run the same command to resume") from None
    if summary.get("rank", 0) == 0:
        print(json.dumps(summary))
    return 0


def _disk_full(err: BaseException) -> bool:
    import errno

    if isinstance(err, OSError):
        return err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS)
    return "No space left on device" in str(err)  # safetensors' SafetensorError wraps the OS error as text
