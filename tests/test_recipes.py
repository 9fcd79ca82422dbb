"""Every shipped recipe names callables that exist and keyword arguments they accept: a typo in a YAML key fails
here, not an hour into a training run. (Building them needs trained teachers and the face set: the training
tests cover that on tiny configs.)"""

import inspect
from pathlib import Path

import pytest

from fsr_edge.training.config import load_config, resolve_component

RECIPES = sorted((Path(__file__).resolve().parents[1] / "recipes").glob("*.yaml"))


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
