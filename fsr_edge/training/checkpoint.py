"""Atomic, pickle-free training checkpoints: tensors in safetensors, everything else in JSON.

A checkpoint is a folder ``step_000250/`` with ``state.safetensors`` + ``state.json``. It is written under a
temporary name and renamed when complete; ``latest.json`` (replaced atomically) names the newest complete one,
so a kill at any moment leaves either the previous checkpoint or the new one, never a half-written file.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..errors import ConfigError, WeightsError
from ..io import atomic_write_text

_LATEST = "latest.json"


def check_output_dir(path: str | Path, *, min_free_mb: float) -> Path:
    """Create ``path`` if needed and prove it is writable with enough free space, before any training starts."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-probe-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise ConfigError(f"{path}: output_dir is not writable ({err.strerror or err}); choose another output_dir") from None
    free_mb = shutil.disk_usage(path).free / 2**20
    if free_mb < min_free_mb:
        raise ConfigError(f"{path}: only {free_mb:.0f} MB free on this disk, the run needs at least {min_free_mb:.0f} MB "
                          "(min_free_disk_mb); free space or choose another output_dir")
    return path


class CheckpointManager:
    """Save / find / load training checkpoints under ``directory`` (keeps the newest ``keep``)."""

    def __init__(self, directory: str | Path, *, keep: int = 2):
        self.directory = Path(directory)
        self.keep = max(1, keep)

    def latest(self) -> Path | None:
        pointer = self.directory / _LATEST
        if not pointer.exists():
            return None
        name = json.loads(pointer.read_text())["checkpoint"]
        path = self.directory / name
        if not (path / "state.safetensors").exists() or not (path / "state.json").exists():
            raise WeightsError(f"{pointer}: points at {name}, which is missing or incomplete; delete {pointer} to "
                               "start over or restore the folder")
        return path

    def save(self, step: int, tensors: dict[str, Tensor], meta: dict[str, Any]) -> Path:
        from safetensors import SafetensorError
        from safetensors.torch import save_file

        self.directory.mkdir(parents=True, exist_ok=True)
        final = self.directory / f"step_{step:06d}"
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-step_{step:06d}-", dir=self.directory))
        try:
            save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(tmp / "state.safetensors"))
            (tmp / "state.json").write_text(json.dumps(meta, indent=1))
            _fsync_dir(tmp)
            if final.exists():  # re-saving the same step (e.g. the end of a resumed run): replace as a whole
                shutil.rmtree(final)
            os.replace(tmp, final)
            atomic_write_text(self.directory / _LATEST, json.dumps({"checkpoint": final.name, "step": step}), fsync=True)
        except (OSError, SafetensorError) as err:  # e.g. the disk filled up during the run
            raise ConfigError(f"{self.directory}: cannot write the step {step} checkpoint "
                              f"({str(err).splitlines()[0][:160]}); the previous checkpoint is kept. Free disk "
                              "space and re-run the same command to resume") from None
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        self._prune(keep_name=final.name)
        return final

    def load(self, path: str | Path | None = None) -> tuple[dict[str, Tensor], dict[str, Any]]:
        from safetensors.torch import load_file

        path = Path(path) if path is not None else self.latest()
        if path is None:
            raise WeightsError(f"{self.directory}: no checkpoint to resume from")
        try:
            tensors = load_file(str(path / "state.safetensors"))
            meta = json.loads((path / "state.json").read_text())
        except Exception as err:  # safetensors/json raise several types for damaged files
            raise WeightsError(f"{path}: cannot read the checkpoint ({str(err).splitlines()[0][:160]})") from None
        return tensors, meta

    def _prune(self, keep_name: str) -> None:
        done = sorted(p for p in self.directory.glob("step_*") if p.is_dir())
        for old in done[:-self.keep]:
            if old.name != keep_name:
                shutil.rmtree(old, ignore_errors=True)
        for stale in self.directory.glob(".tmp-step_*"):  # left by a kill during a previous save
            shutil.rmtree(stale, ignore_errors=True)
        for stale in self.directory.glob(".tmp-*"):  # a kill while latest.json was being replaced
            if stale.is_file():
                stale.unlink(missing_ok=True)


# --- optimizer / scheduler / RNG state without pickle -------------------------------------------------------

def optimizer_state_to_flat(state_dict: dict[str, Any], prefix: str) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Split ``optimizer.state_dict()`` into ``{prefix.<idx>.<key>: tensor}`` and a JSON-able rest."""
    tensors: dict[str, Tensor] = {}
    rest: dict[str, dict[str, Any]] = {}
    for idx, per_param in state_dict["state"].items():
        for key, value in per_param.items():
            if isinstance(value, Tensor):
                tensors[f"{prefix}.{idx}.{key}"] = value
            else:
                rest.setdefault(str(idx), {})[key] = value
    return tensors, {"param_groups": _jsonable(state_dict["param_groups"]), "state": _jsonable(rest)}


def optimizer_state_from_flat(tensors: dict[str, Tensor], meta: dict[str, Any], prefix: str) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for idx, values in meta["state"].items():
        state.setdefault(int(idx), {}).update(values)
    head = prefix + "."
    for name, value in tensors.items():
        if name.startswith(head):
            idx, key = name[len(head):].split(".", 1)
            state.setdefault(int(idx), {})[key] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def capture_rng() -> tuple[dict[str, Tensor], dict[str, Any]]:
    tensors = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        tensors["rng.cuda"] = torch.cuda.get_rng_state()
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    version, internal, gauss_py = random.getstate()
    meta = {"numpy": [kind, keys.tolist(), int(pos), int(has_gauss), float(gauss)],
            "python": [version, list(internal), gauss_py]}
    return tensors, meta


def restore_rng(tensors: dict[str, Tensor], meta: dict[str, Any]) -> None:
    torch.set_rng_state(tensors["rng.torch"])
    if "rng.cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(tensors["rng.cuda"])
    kind, keys, pos, has_gauss, gauss = meta["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_py = meta["python"]
    random.setstate((version, tuple(internal), gauss_py))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Tensor):
        raise TypeError("tensors belong in safetensors, not JSON")
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return value


def _fsync_dir(path: Path) -> None:
    for file in path.iterdir():
        with open(file, "rb") as f:
            os.fsync(f.fileno())


# --- the whole training state in one call (what the loop saves and restores) --------------------------------

def trainable_state(method: torch.nn.Module) -> dict[str, Tensor]:
    """The method's state without its frozen modules (a teacher is rebuilt from its own weights, not checkpointed)."""
    frozen = tuple(f"{name}." for name in getattr(method, "frozen_modules", ()))
    return {k: v for k, v in method.state_dict().items() if not k.startswith(frozen)}


def save_training_state(manager: CheckpointManager, step: int, *, model: torch.nn.Module, method: torch.nn.Module,
                        optimizers: dict[str, torch.optim.Optimizer], schedulers: dict[str, Any],
                        meta: dict[str, Any]) -> Path:
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    tensors.update({f"method.{k}": v for k, v in trainable_state(method).items()})
    meta = dict(meta, step=step, optimizers={}, schedulers={})
    for name, optimizer in optimizers.items():
        opt_tensors, meta["optimizers"][name] = optimizer_state_to_flat(optimizer.state_dict(), f"optim.{name}")
        tensors.update(opt_tensors)
    for name, scheduler in schedulers.items():
        meta["schedulers"][name] = _jsonable(scheduler.state_dict())
    rng_tensors, meta["rng"] = capture_rng()
    tensors.update(rng_tensors)
    return manager.save(step, tensors, meta)


def load_training_state(manager: CheckpointManager, *, model: torch.nn.Module, method: torch.nn.Module,
                        optimizers: dict[str, torch.optim.Optimizer], schedulers: dict[str, Any],
                        path: str | Path | None = None) -> dict[str, Any]:
    """Restore everything saved by ``save_training_state``; returns its JSON part (step, epoch, ...)."""
    tensors, meta = manager.load(path)
    model.load_state_dict(_strip(tensors, "model."))
    method.load_state_dict(_strip(tensors, "method."), strict=False)
    for name, optimizer in optimizers.items():
        optimizer.load_state_dict(optimizer_state_from_flat(tensors, meta["optimizers"][name], f"optim.{name}"))
    for name, scheduler in schedulers.items():
        scheduler.load_state_dict(meta["schedulers"][name])
    restore_rng(tensors, meta["rng"])
    return meta


def _strip(tensors: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
