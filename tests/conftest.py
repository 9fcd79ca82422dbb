"""Shared fixtures. Real faces come from ../shared/data/faces (never copied into the repository); tests that
need them skip with the reason when that folder is absent (a fresh machine outside this workplace)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
FACES_DIR = Path(os.environ.get("FSR_EDGE_FACES", REPO.parent / "shared" / "data" / "faces"))


def pytest_configure(config):
    # Two cores shared by everything: keep each test process from oversubscribing them.
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(scope="session")
def faces_dir() -> Path:
    if not (FACES_DIR / "manifest.csv").exists():
        pytest.skip(f"real face set not found at {FACES_DIR} (set FSR_EDGE_FACES to its folder)")
    return FACES_DIR


@pytest.fixture(scope="session")
def raw_photos(faces_dir) -> list[Path]:
    photos = sorted((faces_dir / "raw").glob("*.jpg"))
    if not photos:
        pytest.skip(f"no raw photos in {faces_dir / 'raw'}")
    return photos
