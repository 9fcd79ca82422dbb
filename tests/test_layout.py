"""One home per concept, checked from the source tree: the wheel carries no research code or research-only
weights, and the hardening checks are a library that tests import, not a CLI module."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _packaged_dirs() -> list[Path]:
    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    package_dir = setuptools["package-dir"]
    assert not any(name.startswith("research") or "research" in folder for name, folder in package_dir.items())
    assert not any(p.startswith("research") for p in setuptools["packages"])
    return [REPO / folder for folder in package_dir.values()]


def test_the_wheel_carries_no_research_code_or_research_only_weights():
    shipped = [p for folder in _packaged_dirs() for p in folder.rglob("*") if ".egg-info" not in str(p)]
    research = re.compile(r"(report_\w+|study|mskd_experiments)\.py|mskd_x8_\w+\.sh")
    research_code = [p for p in shipped if research.fullmatch(p.name)]
    assert not research_code, research_code
    weights = [p.name for p in (REPO / "fsr_edge" / "models" / "weights").iterdir()]
    assert not [w for w in weights if "nokd" in w], "ablation-only weights belong in research/weights/"


def test_selfcheck_is_a_thin_cli_over_the_hardening_library():
    """The checks and their fixtures (corpus, fuzzer, tiny training config...) live in fsr_edge.hardening, which the
    tests and tools/fuzz_long.sh import; the CLI module only parses arguments and prints the table."""
    import inspect

    import fsr_edge.cli.selfcheck as cli

    own = {name for name, obj in vars(cli).items()
           if inspect.isfunction(obj) and obj.__module__ == cli.__name__}
    assert own == {"add_parser", "run"}, own
    sources = [p for folder in ("tests", "research/tests", "tools") for p in (REPO / folder).glob("*.*")
               if p.suffix in (".py", ".sh") and p.name != Path(__file__).name]
    users = [p for p in sources if "fsr_edge.cli.selfcheck" in p.read_text()]
    assert not users, users


def test_bundled_faces_are_package_data_found_from_the_installed_package():
    """The bundled quality set ships inside fsr_edge.data and is located from that package, so an installed wheel
    (where exporters/ lives at fsr_edge/exporters) finds it as the checkout does."""
    import fnmatch

    from fsr_edge.data import BUNDLED_FACES

    import fsr_edge.data

    assert BUNDLED_FACES.parent == Path(fsr_edge.data.__file__).parent
    files = sorted(p.name for p in BUNDLED_FACES.iterdir())
    patterns = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["fsr_edge.data"]
    shipped = [f for f in files if any(fnmatch.fnmatch(f"bundled_faces/{f}", pat) for pat in patterns)]
    assert shipped == files and "manifest.csv" in files and len([f for f in files if f.endswith(".jpg")]) == 24
    sources = [p for p in (REPO / "exporters").glob("*.py") if "bundled_faces\"" in p.read_text()]
    assert not sources, f"locate the bundled faces through fsr_edge.data.BUNDLED_FACES, not a path: {sources}"
