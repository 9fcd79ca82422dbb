"""Fuzzing load -> preprocess -> upscale (fsr_edge.hardening.fuzz_pipeline) for a bounded time in CI.

Allowed outcomes per input: a correct result or an ImageError; any other exception is a crash, an input over
the per-input limit a hang. ``FSR_EDGE_FUZZ_SECONDS`` (default 40) sets the budget; the seed changes per run
(printed in the header) and ``FSR_EDGE_FUZZ_SEED`` pins it; ``FSR_EDGE_FUZZ_REPORT=path.json`` keeps the counts.
The long documented run is tools/fuzz_long.sh.
"""

from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import fsr_edge.io
from fsr_edge.hardening import encode_image, fuzz_pipeline, mutate


def test_fuzz_bounded_run_finds_no_crash_or_hang(tmp_path, run_seed):
    seconds = float(os.environ.get("FSR_EDGE_FUZZ_SECONDS", "40"))
    seed = run_seed("fuzz")
    result = fuzz_pipeline(seconds=seconds, seed=seed, per_input_timeout=20.0, workdir=tmp_path)
    report = os.environ.get("FSR_EDGE_FUZZ_REPORT")
    if report:
        Path(report).write_text(json.dumps(result, indent=1))
    assert result["crashes"] == 0 and result["hangs"] == 0, result["problems"][:5]
    assert result["valid_refused"] == 0, result["problems"][:5]
    assert result["tried"] >= 50, result                               # the budget bought real coverage
    assert all(n > 0 for n in result["by_source"].values()), result["by_source"]
    assert result["decoded"] > 0 and result["refused"] > 0 and result["upscaled"] > 0
    assert result["ok"]


def test_harness_counts_crashes_and_hangs(tmp_path, monkeypatch):
    """The harness is not vacuous: an exception other than ImageError is a crash, a slow input a hang."""
    real = fsr_edge.io.read_image
    calls = {"n": 0}

    def flaky(path):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyError("boom")                    # the kind of bug Pillow plugins raise on odd files
        if calls["n"] == 3:
            time.sleep(5)                             # longer than the per-input limit below
        return real(path)

    monkeypatch.setattr(fsr_edge.io, "read_image", flaky)
    result = fuzz_pipeline(seconds=60, max_examples=6, seed=1, per_input_timeout=1.0, workdir=tmp_path)
    assert result["crashes"] == 1 and result["hangs"] == 1 and not result["ok"]
    assert any("KeyError" in p for p in result["problems"])
    kept = sorted(p.name for p in (tmp_path / "crashes").iterdir())
    assert len(kept) == 2 and kept[0].startswith("crash-") and kept[1].startswith("hang-")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP"])
def test_generator_makes_valid_files_and_mutations_change_them(fmt):
    data, written = encode_image(width=7, height=5, mode="RGBA", fmt=fmt, seed=3, orientation=0)
    assert written == fmt
    with Image.open(io.BytesIO(data)) as img:
        assert img.size == (7, 5)
    mutated = mutate(data, [(0, 10, 3), (3, 20, 7)])
    assert mutated != data and len(mutated) == len(data) + 8
    assert mutate(data, [(2, 5, 0)]) == data[:5]
    assert np.frombuffer(mutate(data, [(4, 0, 0)]), np.uint8).size == len(data) - 1
