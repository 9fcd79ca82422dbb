"""Model cards: one per bundled model, describing the weights that ship beside it (fsr_edge.cards)."""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest

from fsr_edge.cards import SECTIONS, check_card, model_card
from fsr_edge.errors import ConfigError
from fsr_edge.zoo import zoo

MODELS = zoo()["models"]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_bundled_model_has_a_card_that_matches_its_weights(name):
    card = model_card(name)
    assert list(card)[: len(SECTIONS)] == list(SECTIONS)
    assert check_card(card, MODELS[name]) == []


def test_students_report_val_and_wild_clean_and_blind_with_the_worst_face():
    students = [n for n in MODELS if model_card(n)["role"] == "student"]
    assert students
    for name in students:
        q = model_card(name)["quality"]
        for split in ("val", "wild"):
            for mode in ("clean", "blind"):
                row = q[split][mode]
                assert row["worst_psnr_db"] <= row["psnr_db"], (name, split, mode)
        assert any(k.endswith("-int8-32x32") or k.endswith("-int8-64x64") for k in model_card(name)["int8"]), name


def test_check_card_finds_a_card_that_describes_other_weights():
    name = zoo()["default"]
    card = copy.deepcopy(model_card(name))
    card["weights"]["sha256"] = "0" * 64
    card["architecture"]["params"] += 1
    del card["quality"]["wild"]
    problems = " | ".join(check_card(card, MODELS[name]))
    assert "sha256" in problems and "params" in problems and "quality.wild.clean" in problems


def test_unknown_card_is_refused_naming_the_known_ones():
    with pytest.raises(ConfigError, match="no model card for 'nope'.*mskd-x8"):
        model_card("nope")


def test_models_card_cli_prints_the_card_and_refuses_an_unknown_name():
    default = zoo()["default"]
    ok = subprocess.run([sys.executable, "-m", "fsr_edge.cli", "models", "--card", default], capture_output=True, text=True)
    assert ok.returncode == 0 and f"name: {default}" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "fsr_edge.cli", "models", "--card", "nope"], capture_output=True, text=True)
    assert bad.returncode != 0 and "no model card for 'nope'" in bad.stderr and "Traceback" not in bad.stderr
