"""Shared fixtures and the suite's skip policy.

Real faces come from ../shared/data/faces (never copied into the repository). Locally, a test that needs
something absent (the face set, an optional extra, the Kotlin toolchain) skips with the reason. Under CI
(``CI=true``), which installs every extra (``pip install -e ".[all,dev]"``), the JDK and kotlinc (.ci/run) and
has the face set beside the checkout, such a skip is a failure: ``require(condition, reason)`` says so for one
test, and the hooks below turn any other skip in CI into a failure unless it is one CI cannot remove (a GPU,
TensorRT, root, macOS: ``CI_SKIPS_ALLOWED``).

Seeds of randomised tests (the fuzzer, the kill times) change per run: the ``run_seed`` fixture gives one per
name and session, shown in the header and in a failing test's output; ``FSR_EDGE_<NAME>_SEED=N`` pins it to
replay a failure.
"""

from __future__ import annotations

import os
import random
import re
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
FACES_DIR = Path(os.environ.get("FSR_EDGE_FACES", REPO.parent / "shared" / "data" / "faces"))
IN_CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")
# what a CPU-only Linux CI cannot provide, so a skip naming it is not a missing install
CI_SKIPS_ALLOWED = re.compile(r"\b(GPU|CUDA|TensorRT|root|macOS)\b")
_SEEDS: dict[str, int] = {}
_SEEDED = ("fuzz", "fault")   # the names the suite's randomised tests ask run_seed for


def require(condition: object, reason: str) -> None:
    """Skip the calling test with ``reason`` when ``condition`` is false; under CI=true, fail instead (CI installs
    the tools, extras and data the suite needs, so their absence there is a broken CI, not a skip)."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"missing in CI: {reason}", pytrace=False)
    pytest.skip(reason)


def _session_seed(name: str) -> int:
    """This session's seed for ``name`` (e.g. "fuzz"): ``FSR_EDGE_<NAME>_SEED`` when set, else drawn once per run,
    so every run tries new inputs and any failure can be replayed."""
    if name not in _SEEDS:
        pinned = os.environ.get(f"FSR_EDGE_{name.upper()}_SEED")
        _SEEDS[name] = int(pinned) if pinned else random.SystemRandom().randrange(2**31)
    return _SEEDS[name]


def pytest_configure(config):
    # Two cores shared by everything: keep each test process from oversubscribing them.
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


def pytest_report_header(config):
    seeds = ", ".join(f"{name} {_session_seed(name)} (FSR_EDGE_{name.upper()}_SEED={_session_seed(name)} replays it)"
                      for name in _SEEDED)
    return [f"seeds: {seeds}", f"CI={'true: skips for missing tools, extras or data fail' if IN_CI else 'no'}"]


_FACE_FIXTURES = {"faces_dir", "raw_photos"}


def pytest_collection_modifyitems(config, items):
    for item in items:   # the faces marker follows the fixtures: `-m "not faces"` runs without the face set
        if _FACE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.faces)


def _fail_in_ci(report, where: str) -> None:
    """A skip in CI that is not in ``CI_SKIPS_ALLOWED`` becomes a failure naming the skip's reason."""
    if not (IN_CI and report.skipped) or hasattr(report, "wasxfail"):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    if CI_SKIPS_ALLOWED.search(reason) or "gpu" in getattr(report, "keywords", {}):
        return
    report.outcome = "failed"
    report.longrepr = f"skipped {where} in CI, where it must run: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _fail_in_ci(outcome.get_result(), "a test")


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    _fail_in_ci(outcome.get_result(), "a whole module")


@pytest.fixture(scope="session")
def faces_dir() -> Path:
    require((FACES_DIR / "manifest.csv").exists(),
            f"real face set not found at {FACES_DIR} (set FSR_EDGE_FACES to its folder)")
    return FACES_DIR


@pytest.fixture(scope="session")
def raw_photos(faces_dir) -> list[Path]:
    photos = sorted((faces_dir / "raw").glob("*.jpg"))
    require(photos, f"no raw photos in {faces_dir / 'raw'}")
    return photos


@pytest.fixture
def run_seed():
    """``run_seed(name) -> int``: this session's seed for ``name``, printed (pytest shows it with a failure)."""
    def get(name: str) -> int:
        seed = _session_seed(name)
        print(f"{name} seed {seed}: FSR_EDGE_{name.upper()}_SEED={seed} replays this run")
        return seed
    return get


@pytest.fixture
def tiny_dictionary():
    """``make(path) -> path``: a random component dictionary (2 atoms per component and layer) with a mean-face
    template, for DFDNet teachers small enough to test."""
    from fsr_edge.dictionary import COMPONENTS, DEFAULT_LAYERS, ComponentDictionary, patch_size

    def make(path, atoms: int = 2, seed: int = 0) -> Path:
        g = torch.Generator().manual_seed(seed)
        ch = {"relu2_2": 128, "relu3_4": 256, "relu4_4": 512}
        dic = ComponentDictionary(
            {f"{c}.{l}": torch.rand(atoms, ch[l], patch_size(c, l), patch_size(c, l), generator=g)
             for c in COMPONENTS for l in DEFAULT_LAYERS},
            info={"mean_landmarks256": str([[60.0 + i, 100.0 + (i % 10) * 5] for i in range(68)])})
        return dic.save(path)

    return make
