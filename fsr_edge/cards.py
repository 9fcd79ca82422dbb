"""Model cards: one machine-readable YAML per bundled model in ``models/cards/`` (read without torch).

A card says what the model is (architecture, scale, input and output, params, MACs, weights file and its
SHA-256), what it was trained on and under which licence, which recipe made it, how it scores on the face set's
``val`` and ``wild`` splits with clean and blind LR (mean PSNR/SSIM and the worst face), what INT8 costs it on
each runtime, and its latency per target on the machine that measured it. Every figure names the results file it
comes from. ``fsr-edge models --card NAME`` prints one; ``python -m research.model_cards`` rewrites them from the
results under ``docs/results/`` after a model or a measurement changes.

``check_card`` compares a card with the install it ships in (the zoo snapshot and the weights on disk): a card
that no longer describes its weights is an error, not a stale page.
"""

from __future__ import annotations

from pathlib import Path

from .errors import ConfigError
from .safety import sha256_file
from .zoo import WEIGHTS_DIR

CARDS_DIR = Path(__file__).parent / "models" / "cards"
# The sections every card carries, in order (what ``research.model_cards`` writes and ``check_card`` expects).
SECTIONS = ("name", "summary", "role", "architecture", "weights", "training", "quality", "int8", "latency", "sources")
SPLITS = ("val", "wild")
MODES = ("clean", "blind")


def card_path(name: str) -> Path:
    return CARDS_DIR / f"{name}.yaml"


def model_card(name: str) -> dict:
    """The card of a bundled model, as a dict; ConfigError naming the known cards when there is none."""
    import yaml

    path = card_path(name)
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in CARDS_DIR.glob("*.yaml"))) or "none"
        raise ConfigError(f"no model card for {name!r} (cards: {known})")
    with path.open(encoding="utf-8") as f:
        card = yaml.safe_load(f)
    if not isinstance(card, dict):
        raise ConfigError(f"{path}: a model card must be a YAML mapping")
    return card


def check_card(card: dict, zoo_entry: dict, *, weights_dir: Path = WEIGHTS_DIR) -> list[str]:
    """What is wrong with ``card`` against its ``zoo_entry`` (``zoo()["models"][name]``) and the weights on disk."""
    problems = []
    missing = [s for s in SECTIONS if s not in card]
    if missing:
        problems.append(f"missing sections: {', '.join(missing)}")
    arch = card.get("architecture") or {}
    for key in ("arch", "scale", "params", "macs"):
        if arch.get(key) != zoo_entry.get(key):
            problems.append(f"architecture.{key} is {arch.get(key)!r}, the model says {zoo_entry.get(key)!r}")
    weights = card.get("weights") or {}
    if weights.get("file") != zoo_entry.get("weights"):
        problems.append(f"weights.file is {weights.get('file')!r}, the model loads {zoo_entry.get('weights')!r}")
    elif weights.get("file"):
        path = weights_dir / weights["file"]
        if not path.is_file():
            problems.append(f"weights file {weights['file']} is not in {weights_dir}")
        elif weights.get("sha256") != sha256_file(path):
            problems.append(f"weights.sha256 does not match {weights['file']}: the card describes other weights")
    quality = card.get("quality") or {}
    if not zoo_entry.get("training_only") and "not_measured" not in quality:
        for split in SPLITS:
            for mode in MODES:
                row = (quality.get(split) or {}).get(mode) or {}
                if not all(isinstance(row.get(k), (int, float)) for k in ("psnr_db", "ssim", "worst_psnr_db")):
                    problems.append(f"quality.{split}.{mode} lacks psnr_db, ssim or worst_psnr_db")
    return problems
