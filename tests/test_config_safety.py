"""A training config is data: ``_component_`` outside the allowlist is refused (file or override) and runs nothing,
unknown keys are refused naming the closest valid one, impossible values are refused before anything trains; the
CLI says so in one line, without a traceback. ``--trust-config`` / ``trust=True`` lets outside code through."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fsr_edge.cli import main as cli_main
from fsr_edge.errors import ConfigError
from fsr_edge.recipes.train import DATA_KEYS, KEYS, check_config, main as train
from fsr_edge.training import apply_overrides, instantiate, load_config

REPO = Path(__file__).resolve().parents[1]
USER_ERROR = 2  # fsr_edge.cli's exit status for a refused input (FsrEdgeError)


def tiny_config(out: Path, **extra) -> dict:
    """A data-free config that trains in about a second (8x8 -> 32x32 colour fields)."""
    cfg = {
        "output_dir": str(out), "max_steps": 2, "val_every": 2, "checkpoint_every": 2, "log_every": 1,
        "threads": 1, "progress": False, "min_free_disk_mb": 0,
        "model": {"_component_": "fsr_edge.models.pisr_student_x4", "d": 8, "s": 4, "m": 1, "lr_size": 8},
        "method": {"_component_": "fsr_edge.training.L1SR"},
        "data": {"batch_size": 2,
                 "train": {"_component_": "fsr_edge.training.SyntheticPairs", "length": 4, "hr_size": 32, "scale": 4},
                 "val": {"_component_": "fsr_edge.training.SyntheticPairs", "length": 2, "hr_size": 32, "scale": 4}},
        "optimizer": {"_component_": "torch.optim.Adam", "lr": 1e-3},
    }
    cfg.update(extra)
    return cfg


def write_config(path: Path, cfg: dict) -> Path:
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


@pytest.fixture
def outside_module(tmp_path, monkeypatch) -> Path:
    """An importable module outside the allowlist whose import leaves a marker file: proof of (no) import."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "outside_method.py").write_text(
        "from pathlib import Path\n"
        "from fsr_edge.training import L1SR\n"
        "Path(__file__).with_name('imported.marker').touch()\n"
        "class OutsideL1(L1SR):\n"
        "    pass\n")
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.delitem(sys.modules, "outside_method", raising=False)
    return folder


def run_cli(capsys, *argv: str) -> tuple[int, list[str]]:
    rc = cli_main(["train", *argv])
    err = capsys.readouterr().err
    return rc, err.strip().splitlines()


# ---------------------------------------------------------------------------------------------- the allowlist

def test_os_system_in_a_yaml_file_is_refused_and_runs_nothing(tmp_path, capsys):
    marker = tmp_path / "marker"
    cfg = tiny_config(tmp_path / "run", method={"_component_": "os.system", "command": f"touch {marker}"})
    path = write_config(tmp_path / "c.yaml", cfg)
    with pytest.raises(ConfigError, match=r"method\._component_: 'os.system' is outside .*--trust-config"):
        train(load_config(path))
    rc, lines = run_cli(capsys, str(path))
    assert rc == USER_ERROR and len(lines) == 1 and "os.system" in lines[0] and "--trust-config" in lines[0]
    assert not marker.exists() and not (tmp_path / "run").exists()


def test_os_system_as_an_override_is_refused_and_runs_nothing(tmp_path):
    # the real command line, in its own process: exit status, one line on stderr, no traceback, no command run
    marker = tmp_path / "marker"
    path = write_config(tmp_path / "c.yaml", tiny_config(tmp_path / "run"))
    for overrides in (["optimizer._component_=os.system", f"optimizer.command=touch {marker}"],
                      [f"method={{_component_: os.system, command: touch {marker}}}"]):
        done = subprocess.run([sys.executable, "-m", "fsr_edge.cli", "train", str(path), *overrides], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == USER_ERROR, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
        assert "'os.system' is outside" in done.stderr
    assert not marker.exists() and not (tmp_path / "run").exists()


def test_shutil_rmtree_is_refused_and_the_folder_survives(tmp_path, capsys):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("still here")
    path = write_config(tmp_path / "c.yaml",
                        tiny_config(tmp_path / "run", method={"_component_": "shutil.rmtree", "path": str(victim)}))
    rc, lines = run_cli(capsys, str(path))
    assert rc == USER_ERROR and len(lines) == 1 and "'shutil.rmtree' is outside" in lines[0]
    rc, lines = run_cli(capsys, write_config(tmp_path / "ok.yaml", tiny_config(tmp_path / "run")).as_posix(),
                        "data.train._component_=shutil.rmtree", f"data.train.path={victim}")
    assert rc == USER_ERROR and len(lines) == 1 and "data.train._component_" in lines[0]
    with pytest.raises(ConfigError, match="outside"):
        instantiate({"_component_": "shutil.rmtree", "path": str(victim)})
    assert (victim / "keep.txt").read_text() == "still here"


def test_a_refused_module_is_never_imported(tmp_path, outside_module, capsys):
    path = write_config(tmp_path / "c.yaml",
                        tiny_config(tmp_path / "run", method={"_component_": "outside_method.OutsideL1"}))
    rc, lines = run_cli(capsys, str(path))
    assert rc == USER_ERROR and len(lines) == 1 and "'outside_method.OutsideL1' is outside" in lines[0]
    assert "outside_method" not in sys.modules and not (outside_module / "imported.marker").exists()


def test_trust_config_lets_an_outside_component_through(tmp_path, outside_module, capsys):
    cfg = tiny_config(tmp_path / "api", method={"_component_": "outside_method.OutsideL1"})
    assert train(cfg, trust=True)["steps"] == 2
    assert (outside_module / "imported.marker").exists()
    path = write_config(tmp_path / "c.yaml",
                        tiny_config(tmp_path / "cli", method={"_component_": "outside_method.OutsideL1"}))
    assert cli_main(["train", str(path), "--trust-config"]) == 0
    assert (tmp_path / "cli" / "final.safetensors").exists()
    assert type(instantiate({"_component_": "collections.OrderedDict"}, trust=True)).__name__ == "OrderedDict"


@pytest.mark.parametrize("dotted, why", [
    ("fsr_edge.io.atomic_write_text", "outside"),              # fsr_edge, but a writer of any file: not allowed
    ("fsr_edge.training.checkpoint.atomic_write_text", "is fsr_edge.io.atomic_write_text"),  # re-exported there
    ("fsr_edge_evil.build", "outside"),                         # a prefix of a name is not its package
    ("fsr_edge.cli.main", "outside"),
    ("fsr_edge.models._registry.create_model", "private"),
    ("fsr_edge.training.checkpoint.json", "not a callable"),   # a module an allowed module imported
    ("builtins.eval", "outside"),
    ("os", "not a dotted callable name"),
])
def test_names_inside_allowed_packages_that_are_not_components(dotted, why):
    with pytest.raises(ConfigError, match=why):
        instantiate({"_component_": dotted})


def test_yaml_tags_that_build_python_objects_are_not_read(tmp_path, capsys):
    marker = tmp_path / "marker"
    path = tmp_path / "c.yaml"
    path.write_text(f"method: !!python/object/apply:os.system ['touch {marker}']\n")
    rc, lines = run_cli(capsys, str(path))
    assert rc == USER_ERROR and len(lines) == 1 and "not valid YAML" in lines[0]
    rc, lines = run_cli(capsys, write_config(tmp_path / "ok.yaml", tiny_config(tmp_path / "run")).as_posix(),
                        f"method=!!python/object/apply:os.system ['touch {marker}']")
    assert rc == USER_ERROR and len(lines) == 1 and "not valid YAML" in lines[0]
    assert not marker.exists()


# ------------------------------------------------------------------------------------------------ unknown keys

@pytest.mark.parametrize("override, key, suggestion", [
    ("checkpoint_evry=5", "checkpoint_evry", "checkpoint_every"),
    ("optimzer.lr=1", "optimzer", "optimizer"),
    ("data.batch_sise=4", "batch_sise", "batch_size"),
    ("optimizer.lrr=0.1", "lrr", "lr"),
    ("method.init_frm=x.safetensors", "init_frm", "init_from"),
    ("model.lr_sise=8", "lr_sise", "lr_size"),                  # a registered builder: the class it returns
    ("data.train.hr_sise=32", "hr_sise", "hr_size"),
    ("scheduler={_component_: fsr_edge.training.warmup_cosine, warmup_step: 1}", "warmup_step", "warmup_steps"),
])
def test_a_misspelt_key_is_refused_naming_it_and_the_closest(tmp_path, override, key, suggestion):
    cfg = apply_overrides(tiny_config(tmp_path / "run"), [override])
    with pytest.raises(ConfigError, match=rf"unknown key '{key}'.*did you mean '{suggestion}'"):
        train(cfg)
    assert not (tmp_path / "run").exists()


def test_a_misspelt_key_in_a_file_fails_the_cli_in_one_line(tmp_path, capsys):
    path = write_config(tmp_path / "c.yaml", tiny_config(tmp_path / "run", checkpoint_evry=5))
    rc, lines = run_cli(capsys, str(path))
    assert rc == USER_ERROR and lines == [
        "fsr-edge train: error: checkpoint_evry: unknown key 'checkpoint_evry', recipes/train.py does not read it "
        "(did you mean 'checkpoint_every'?); fix or remove it"]


def test_keys_the_loop_fills_in_itself_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="unknown key 'params'"):
        check_config(apply_overrides(tiny_config(tmp_path), ["optimizer.params=[1]"]))
    with pytest.raises(ConfigError, match="unknown key 'total_steps'"):
        check_config(tiny_config(tmp_path, scheduler={"_component_": "fsr_edge.training.warmup_cosine",
                                                      "total_steps": 5}))


def test_a_missing_required_argument_is_refused(tmp_path):
    cfg = tiny_config(tmp_path, data={"train": {"_component_": "fsr_edge.data.FaceDataset", "split": "train"}})
    with pytest.raises(ConfigError, match=r"data.train: fsr_edge.data.FaceDataset needs 'root'"):
        check_config(cfg)
    with pytest.raises(ConfigError, match="config has no 'max_steps'"):
        check_config({k: v for k, v in tiny_config(tmp_path).items() if k != "max_steps"})


def test_the_valid_top_level_keys_are_what_the_recipe_reads():
    # KEYS / DATA_KEYS are the one list of keys recipes/train.py reads: a key read without being listed there
    # would be refused in every config; a key listed but never read would be silently ignored.
    source = (REPO / "recipes" / "train.py").read_text()
    read = set(re.findall(r"\bcfg\[\"(\w+)\"\]", source)) | set(re.findall(r"\bcfg\.get\(\"(\w+)\"", source))
    data_read = set(re.findall(r"data_cfg\[\"(\w+)\"\]", source))
    assert read == set(KEYS)
    assert data_read == set(DATA_KEYS)


# ---------------------------------------------------------------------------------------------- bad values

@pytest.mark.parametrize("override, message", [
    ("max_steps=0", "max_steps: must be a positive integer, got 0"),
    ("max_steps=-5", "max_steps: must be a positive integer"),
    ("max_steps=1.5", "max_steps: must be a positive integer, got 1.5"),
    ("max_steps=many", "max_steps: must be a positive integer, got 'many'"),
    ("max_steps=true", "max_steps: must be a positive integer, got True"),
    ("optimizer.lr=0", "optimizer.lr: must be a positive number, got 0"),
    ("optimizer.lr=-1e-3", "optimizer.lr: must be a positive number"),
    ("optimizer.lr=fast", "optimizer.lr: must be a positive number, got 'fast'"),
    ("optimizer.lr=.nan", "optimizer.lr: must be a positive number"),
    ("data.batch_size=0", "data.batch_size: must be a positive integer, got 0"),
    ("data.batch_size=-4", "data.batch_size: must be a positive integer"),
    ("data.num_workers=-1", "data.num_workers: must be an integer >= 0"),
    ("val_every=0", "val_every: must be a positive integer"),
    ("resume=maybe", "resume: must be true or false"),
    ("seed=-1", "seed: must be an integer >= 0"),
    ("model.d=wide", "model.d: expected int, got 'wide'"),
    ("optimizer.betas=[0.9]", "optimizer.betas: expected tuple"),
    ("data.train.length=0.5", "data.train.length: expected int"),
    ("method=L1SR", "method: must be a section with a '_component_' key"),
])
def test_impossible_values_are_refused_before_anything_trains(tmp_path, override, message):
    cfg = apply_overrides(tiny_config(tmp_path / "run"), [override])
    with pytest.raises(ConfigError, match=re.escape(message)):
        train(cfg)
    assert not (tmp_path / "run").exists()


def test_a_bad_value_fails_the_cli_in_one_line(tmp_path, capsys):
    path = write_config(tmp_path / "c.yaml", tiny_config(tmp_path / "run"))
    for override in ("max_steps=0", "optimizer.lr=-1", "data.batch_size=0", "data.train.crop=[0.9"):
        rc, lines = run_cli(capsys, str(path), override)
        assert rc == USER_ERROR and len(lines) == 1 and lines[0].startswith("fsr-edge train: error: "), lines
    assert not (tmp_path / "run").exists()


def test_exponent_floats_read_as_numbers(tmp_path):
    # "5e-4" without a dot is a string to YAML 1.1; a learning rate written that way must still be a number
    cfg = apply_overrides(tiny_config(tmp_path), ["optimizer.lr=5e-4"])
    assert cfg["optimizer"]["lr"] == 5e-4
    check_config(cfg)
    path = tmp_path / "c.yaml"
    path.write_text("optimizer: {_component_: torch.optim.Adam, lr: 2e-4}\n")
    assert load_config(path)["optimizer"]["lr"] == 2e-4


def test_a_valid_config_still_trains_through_the_cli(tmp_path):
    path = write_config(tmp_path / "c.yaml", tiny_config(tmp_path / "run"))
    done = subprocess.run([sys.executable, "-m", "fsr_edge.cli", "train", str(path), "optimizer.lr=5e-4"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "run" / "final.safetensors").exists()
