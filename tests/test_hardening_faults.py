"""Training faults on a real ``fsr-edge train`` process: SIGKILL at a random step and inside both checkpoint write
windows, then resume to the same weights as an uninterrupted run; a disk that fills up mid-run and a read-only
output folder give one clear line and keep the last good checkpoint. (tests/test_training.py holds the loop's
own resume tests; this file injects the faults.)"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from fsr_edge.hardening import tiny_train_config, training_faults
from fsr_edge.errors import ConfigError
from fsr_edge.recipes.train import main as train
from fsr_edge.training import CheckpointManager

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_sigkill_at_random_steps_and_inside_checkpoint_writes(tmp_path, run_seed):
    seed = run_seed("fault")   # the random kill's step; FSR_EDGE_FAULT_SEED pins it
    result = training_faults(tmp_path, kills=1, seed=seed)
    assert result["faults_injected"] == 3, result["problems"]       # 1 random step + 2 write windows
    assert result["data_lost"] == 0, result["problems"]
    assert result["final_weights_identical"]
    # the state-file kill came after this run's first checkpoint (step 10): that one survived it
    assert result["history"][0]["latest_checkpoint_step"] == 10, result["history"]
    assert result["ok"], result["problems"]


def _mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True).returncode == 0


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "disk"
    if not _mount_tmpfs(mount, "4M"):
        pytest.skip("needs root to mount a 4 MB tmpfs (a real small disk)")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def test_small_disk_refused_before_training(small_disk):
    with pytest.raises(ConfigError, match="MB free"):
        train(tiny_train_config(small_disk / "run", min_free_disk_mb=200))
    assert not (small_disk / "run" / "checkpoints").exists()


def test_read_only_output_refused_before_training(small_disk):
    (small_disk / "existing").mkdir()
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    with pytest.raises(ConfigError, match="not writable"):   # root cannot write here either: a real refusal
        train(tiny_train_config(small_disk / "existing" / "run"))


def test_disk_full_mid_run_keeps_the_last_checkpoint_then_resumes(small_disk, tmp_path):
    run = small_disk / "run"
    cfg = tiny_train_config(run, max_steps=60, val_every=1000)
    cfg_path = tmp_path / "c.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    env = dict(os.environ, OMP_NUM_THREADS="1", FSR_EDGE_FAULT_STEP_SLEEP="0.05")
    env.pop("FSR_EDGE_DEBUG", None)
    cmd = [sys.executable, "-m", "fsr_edge.hardening", "fault-driver", str(cfg_path)]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    latest = run / "checkpoints" / "latest.json"
    deadline = time.monotonic() + 120
    while not latest.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    filler = small_disk / "filler"
    with pytest.raises(OSError):                 # fill the disk to the last byte while the run goes on
        with open(filler, "wb") as f:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, err[-2000:]
    assert "Traceback" not in err and err.strip().count("\n") == 0, err[-2000:]
    assert "No space left" in err and "resume" in err
    kept = CheckpointManager(run / "checkpoints")
    tensors, meta = kept.load()                   # the last good checkpoint still loads
    assert 10 <= meta["step"] < 60
    filler.unlink()
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    train(tiny_train_config(tmp_path / "whole", max_steps=60, val_every=1000))
    a, b = load_file(str(run / "final.safetensors")), load_file(str(tmp_path / "whole" / "final.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert not list((run / "checkpoints").glob(".tmp-*"))
