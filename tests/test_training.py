"""The training loop (recipes/train.py): configs, bit-identical resume (also after SIGKILL), DDP with 2 processes."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file
from torch import nn

from fsr_edge.hardening import tiny_train_config
from fsr_edge.errors import ConfigError
from fsr_edge.models import create_model, save_model
from fsr_edge.recipes.train import main as train
from fsr_edge.training import Method, apply_overrides, instantiate, load_config

REPO = Path(__file__).resolve().parents[1]


def tiny_config(out: Path, **extra) -> dict:
    """The hardening checks' data-free config (8x8 -> 32x32 colour fields), shortened to train in about a second."""
    cfg = tiny_train_config(out, max_steps=12, val_every=6, checkpoint_every=3, log_every=2)
    return apply_overrides(cfg, [f"{k}={json.dumps(v)}" for k, v in extra.items()])


class ToyAdversarial(Method):
    """An MSKD-shaped method: L1 + an LSGAN term from a discriminator trained by the aux optimizer, its weight
    decaying linearly over the run (``on_step``, like MSKD's ``kd_schedule``)."""

    def __init__(self):
        super().__init__()
        self.disc = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.LeakyReLU(0.2), nn.Conv2d(4, 1, 1))
        self.adv_weight = 0.01

    def aux_modules(self):
        return {"disc": self.disc}

    def on_step(self, step, max_steps):
        self.adv_weight = 0.01 * (1 - step / max_steps)

    def losses(self, model, batch):
        sr_face = model(batch["lr_face"])
        l1 = (sr_face - batch["hr_face"]).abs().mean()
        adv = ((self.disc(sr_face) - 1) ** 2).mean()
        return {"loss": l1 + self.adv_weight * adv, "l1": l1, "adv": adv, "adv_weight": torch.tensor(self.adv_weight)}

    def aux_losses(self, model, batch):
        with torch.no_grad():
            sr_face = model(batch["lr_face"])
        d = (self.disc(batch["hr_face"]) - 1).pow(2).mean() + self.disc(sr_face).pow(2).mean()
        return {"loss": d}


@pytest.fixture
def tiny_teacher(tmp_path) -> Path:
    kw = {"d": 8, "s": 4, "m": 1, "hr_size": 32, "hr_channels": 4, "lr_channels": 8}
    teacher = create_model("pisr_teacher_x4", **kw)
    return save_model(teacher, tmp_path / "teacher.safetensors", arch="pisr_teacher_x4", kwargs=kw)


def _method_node(kind: str, teacher: Path | None) -> dict:
    if kind == "l1":
        return {"_component_": "fsr_edge.training.L1SR"}
    if kind == "pisr":
        return {"_component_": "fsr_edge.training.pisr.PISRStudent", "teacher": str(teacher), "lambda_distill": 0.5}
    return {"_component_": "test_training.ToyAdversarial"}


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run / "final.safetensors"))


def _assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), f"{k} differs after resume"


@pytest.mark.parametrize("kind", ["l1", "pisr", "adversarial"])
def test_resume_gives_bit_identical_weights(tmp_path, tiny_teacher, kind):
    method = _method_node(kind, tiny_teacher)
    extra = {"aux_optimizer": {"_component_": "torch.optim.Adam", "lr": 1e-3}} if kind == "adversarial" else {}
    whole = tiny_config(tmp_path / "whole", method=method, **extra)
    trust = kind == "adversarial"  # ToyAdversarial lives in this test module, outside the config allowlist
    summary = train(whole, trust=trust)
    assert summary["steps"] == 12 and not summary["stopped_early"]

    halves = tiny_config(tmp_path / "halves", method=method, stop_at_step=5, **extra)  # 5: mid-epoch, off-checkpoint
    first = train(halves, trust=trust)
    assert first["steps"] == 5 and first["stopped_early"]
    second = train(tiny_config(tmp_path / "halves", method=method, **extra), trust=trust)
    assert second["steps"] == 12
    _assert_same_weights(tmp_path / "whole", tmp_path / "halves")
    # the optimizer state and the method's own trainable params (distillation head / discriminator) resume too
    ta = load_file(str(tmp_path / "whole" / "checkpoints" / "step_000012" / "state.safetensors"))
    tb = load_file(str(tmp_path / "halves" / "checkpoints" / "step_000012" / "state.safetensors"))
    assert ta.keys() == tb.keys()
    assert all(torch.equal(ta[k], tb[k]) for k in ta)
    if kind != "l1":
        assert any(k.startswith("method.") for k in ta)
        assert not any(k.startswith("method.teacher.") for k in ta), "a frozen teacher must not be checkpointed"
    # metrics.csv of the resumed run matches the uninterrupted one row for row (loss columns)
    rows_a = (tmp_path / "whole" / "metrics.csv").read_text().splitlines()
    rows_b = (tmp_path / "halves" / "metrics.csv").read_text().splitlines()
    assert [r.split(",")[:4] for r in rows_a] == [r.split(",")[:4] for r in rows_b]


def test_loop_calls_on_step_with_the_steps_done_and_resume_repeats_it(tmp_path):
    import csv

    extra = {"method": _method_node("adversarial", None), "log_every": 1,
             "aux_optimizer": {"_component_": "torch.optim.Adam", "lr": 1e-3}}
    train(tiny_config(tmp_path / "halves", stop_at_step=5, **extra), trust=True)
    train(tiny_config(tmp_path / "halves", **extra), trust=True)
    rows = [r for r in csv.DictReader(open(tmp_path / "halves" / "metrics.csv")) if r["adv_weight"]]
    # the row logged after step s used on_step(s - 1, 12), before and after the resume at step 5
    assert [int(r["step"]) for r in rows] == list(range(1, 13))
    for r in rows:
        assert float(r["adv_weight"]) == pytest.approx(0.01 * (1 - (int(r["step"]) - 1) / 12), rel=1e-5)


def test_run_folder_has_logs_plot_best_and_config(tmp_path):
    out = tmp_path / "run"
    summary = train(tiny_config(out))
    for name in ("metrics.csv", "loss_curve.png", "config.yaml", "best.safetensors", "final.safetensors",
                 "summary.json", "checkpoints/latest.json"):
        assert (out / name).exists(), name
    assert yaml.safe_load((out / "config.yaml").read_text())["max_steps"] == 12
    from fsr_edge.models import load_model, read_metadata

    meta = read_metadata(out / "best.safetensors")
    assert float(meta["fsr_edge.val_psnr"]) == pytest.approx(summary["best_val_psnr"], abs=1e-3)
    model = load_model(out / "best.safetensors")  # ship-ready: rebuilt from its own metadata
    assert model(torch.rand(1, 3, 8, 8)).shape == (1, 3, 32, 32)
    kept = sorted(p.name for p in (out / "checkpoints").glob("step_*"))
    assert kept == ["step_000009", "step_000012"]  # keep_checkpoints=2


def test_budget_stop_validates_and_keeps_best(tmp_path):
    # max_minutes=0 stops after the first step, before any scheduled validation (val_every=6): the stop itself
    # must validate, so a run cut short by its budget still ships a best.safetensors.
    out = tmp_path / "run"
    summary = train(tiny_config(out, max_minutes=0))
    assert summary["stopped_early"] and summary["steps"] == 1
    assert (out / "best.safetensors").exists()
    assert math.isfinite(summary["best_val_psnr"])


def test_config_overrides_and_instantiate(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("optimizer: {_component_: torch.optim.SGD, lr: 0.1}\nmodel: {_component_: fsr_edge.models.fsrcnn_x4}\n")
    cfg = load_config(path, ["optimizer.lr=0.5", "optimizer.momentum=0.9", "data.batch_size=3"])
    assert cfg["optimizer"]["lr"] == 0.5 and cfg["data"] == {"batch_size": 3}
    opt = instantiate(cfg["optimizer"], [nn.Parameter(torch.zeros(1))])
    assert isinstance(opt, torch.optim.SGD) and opt.param_groups[0]["momentum"] == 0.9
    assert instantiate(cfg["model"], d=8).scale == 4  # registered builders resolve by name
    with pytest.raises(ConfigError, match="no attribute"):
        instantiate({"_component_": "torch.optim.Adamm"})
    with pytest.raises(ConfigError, match="unknown key 'bogus'"):
        instantiate({"_component_": "torch.optim.SGD", "lr": 0.1, "bogus": 1}, [nn.Parameter(torch.zeros(1))])
    with pytest.raises(ConfigError, match="key=value"):
        load_config(path, ["no_equals_sign"])


def test_unwritable_output_dir_and_low_disk_fail_before_training(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match="not writable"):
        train(tiny_config(blocker / "run"))
    with pytest.raises(ConfigError, match="MB free"):
        train(tiny_config(tmp_path / "run", min_free_disk_mb=10**12))
    assert not (tmp_path / "run" / "checkpoints").exists()


@pytest.mark.slow
def test_sigkill_mid_run_then_resume_matches_uninterrupted(tmp_path):
    """A real kill -9 of the CLI process while it trains; re-running the command resumes to the same weights."""
    cfg = tiny_config(tmp_path / "killed", max_steps=150, checkpoint_every=10, val_every=1000, log_every=50)
    cfg_path = tmp_path / "killed.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    cmd = [sys.executable, "-m", "fsr_edge.cli", "train", str(cfg_path)]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    latest = tmp_path / "killed" / "checkpoints" / "latest.json"
    deadline = time.monotonic() + 60
    while not latest.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
    killed_at = json.loads(latest.read_text())["step"]
    assert killed_at < 150 and not (tmp_path / "killed" / "final.safetensors").exists()

    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1])["steps"] == 150
    train(tiny_config(tmp_path / "whole", max_steps=150, checkpoint_every=10, val_every=1000, log_every=50))
    _assert_same_weights(tmp_path / "whole", tmp_path / "killed")


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("torchrun") is None and not (Path(sys.executable).parent / "torchrun").exists(),
                    reason="torchrun not installed")
def test_ddp_two_processes_on_cpu(tmp_path):
    cfg = tiny_config(tmp_path / "ddp", max_steps=8, checkpoint_every=4, val_every=4,
                      method={"_component_": "test_training.ToyAdversarial"},
                      aux_optimizer={"_component_": "torch.optim.Adam", "lr": 1e-3})
    cfg_path = tmp_path / "ddp.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    torchrun = shutil.which("torchrun") or str(Path(sys.executable).parent / "torchrun")
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=f"{REPO / 'tests'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    done = subprocess.run([torchrun, "--standalone", "--nproc_per_node=2", "-m", "fsr_edge.cli", "train", str(cfg_path),
                           "--trust-config"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    summaries = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert len(summaries) == 1 and summaries[0]["steps"] == 8  # only rank 0 reports and writes
    state = json.loads((tmp_path / "ddp" / "checkpoints" / "step_000008" / "state.json").read_text())
    assert state["world_size"] == 2
    # each rank saw 12 / 2 = 6 items per epoch: 1 step of 4 -> epoch index advances every step
    assert state["epoch"] == 7
    assert (tmp_path / "ddp" / "final.safetensors").exists() and (tmp_path / "ddp" / "metrics.csv").exists()
