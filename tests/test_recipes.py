"""Every shipped recipe names callables that exist and keyword arguments they accept, and passes the checks
``fsr-edge train`` makes before anything runs; so does every documented ``fsr-edge train`` command line: a typo in
a YAML key or an example fails here, not an hour into a training run. (Building them needs trained teachers and
the face set: the training tests cover that on tiny configs.)"""

import inspect
import re
from pathlib import Path

import pytest

from fsr_edge.recipes.train import check_config
from fsr_edge.training.config import load_config, resolve_component

REPO = Path(__file__).resolve().parents[1]
RECIPES = sorted((REPO / "recipes").glob("*.yaml"))


def _component_nodes(node, where="cfg"):
    if isinstance(node, dict):
        if "_component_" in node:
            yield where, node
        for key, value in node.items():
            yield from _component_nodes(value, f"{where}.{key}")


def test_there_are_recipes():
    assert len(RECIPES) >= 10


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.name)
def test_recipe_components_accept_their_arguments(recipe):
    cfg = load_config(recipe)
    nodes = list(_component_nodes(cfg))
    assert {"cfg.model", "cfg.method", "cfg.optimizer", "cfg.data.train"} <= {where for where, _ in nodes}
    for where, node in nodes:
        fn = resolve_component(node["_component_"])
        kwargs = {k: v for k, v in node.items() if k != "_component_"}
        try:
            inspect.signature(fn).bind_partial(**kwargs)
        except TypeError as err:
            pytest.fail(f"{recipe.name}: {where} ({node['_component_']}) does not take {sorted(kwargs)}: {err}")


def test_a_misspelt_key_is_caught():
    fn = resolve_component("fsr_edge.training.pisr.PISRStudent")
    with pytest.raises(TypeError):
        inspect.signature(fn).bind_partial(teacher="t", lamda_distill=0.01)


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.name)
def test_recipe_passes_the_config_checks(recipe):
    check_config(load_config(recipe))  # allowlist, every key against its component's signature, values


def _documented_commands() -> list[tuple[str, str, list[str]]]:
    """``(where, recipe, overrides)`` for each ``fsr-edge train recipes/X.yaml key=value ...`` in the docs."""
    sources = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), *RECIPES]
    found = []
    for source in sources:
        for match in re.finditer(r"fsr-edge train (recipes/\w+\.yaml)((?: +[\w.]+=[^ `\n]+)*)", source.read_text()):
            overrides = [item.rstrip(",") for item in match.group(2).split()]
            # placeholders in sweep examples (model.m=M) stand for integers
            overrides = [re.sub(r"=[A-Z]$", "=2", item) for item in overrides]
            found.append((source.name, match.group(1), overrides))
    return found


@pytest.mark.parametrize("where, recipe, overrides", _documented_commands(),
                         ids=lambda v: v if isinstance(v, str) else " ".join(v) or "-")
def test_documented_command_lines_pass_the_config_checks(where, recipe, overrides):
    check_config(load_config(REPO / recipe, overrides))
