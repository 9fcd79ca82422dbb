"""The training recipe: one loop for every method (PISR teacher/student, w/o-KD baselines, MSKD), in view.

    fsr-edge train recipes/pisr_x8_student.yaml [key=value ...]
    torchrun --nproc_per_node=2 -m fsr_edge.cli train recipes/pisr_x8_student.yaml

What the config means and the Method API: ``fsr_edge.training`` (its module docstring). Copy this file to
change the loop; the parts it composes live in ``fsr_edge.training``.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

from fsr_edge.errors import ConfigError
from fsr_edge.training.checkpoint import (CheckpointManager, check_output_dir, load_training_state,
                                          save_training_state)
from fsr_edge.training.config import (COMPONENT, FLAG, NON_NEGATIVE_INT, NON_NEGATIVE_NUMBER, POSITIVE_INT,
                                      POSITIVE_NUMBER, SECTION, TEXT, Rule, check_component_names, check_keys,
                                      check_node, check_value, instantiate)
from fsr_edge.training.distributed import any_rank, assert_in_sync, barrier, init_distributed, shutdown
from fsr_edge.training.logs import MetricsLog

REQUIRED = object()  # a key with no default

# Every top-level key this loop reads: its default and what its value must be. A key not here is a typo.
KEYS: dict[str, tuple[Any, Rule]] = {
    "name": (None, TEXT.or_none()),                        # names the run in the weights' metadata
    "output_dir": (REQUIRED, TEXT),
    "max_steps": (REQUIRED, POSITIVE_INT),
    "model": (REQUIRED, COMPONENT),
    "method": (REQUIRED, COMPONENT),
    "data": (REQUIRED, SECTION),
    "optimizer": (REQUIRED, COMPONENT),
    "scheduler": (None, COMPONENT.or_none()),
    "aux_optimizer": (None, COMPONENT.or_none()),
    "seed": (0, NON_NEGATIVE_INT),
    "max_minutes": (None, NON_NEGATIVE_NUMBER.or_none()),  # 0: stop (and validate) after the first step
    "stop_at_step": (None, POSITIVE_INT.or_none()),
    "val_every": (500, POSITIVE_INT),
    "checkpoint_every": (250, POSITIVE_INT),
    "keep_checkpoints": (2, POSITIVE_INT),
    "log_every": (10, POSITIVE_INT),
    "threads": (None, POSITIVE_INT.or_none()),
    "clip_grad_norm": (None, POSITIVE_NUMBER.or_none()),
    "min_free_disk_mb": (200, NON_NEGATIVE_NUMBER),
    "resume": (True, FLAG),
    "device": ("cpu", TEXT),
    "progress": (True, FLAG),
}
DATA_KEYS: dict[str, tuple[Any, Rule]] = {
    "train": (REQUIRED, COMPONENT),
    "val": (None, COMPONENT.or_none()),
    "batch_size": (16, POSITIVE_INT),
    "num_workers": (0, NON_NEGATIVE_INT),
    "val_batch_size": (8, POSITIVE_INT),
    "val_max_items": (None, POSITIVE_INT.or_none()),
}
DEFAULTS: dict[str, Any] = {key: default for key, (default, _) in KEYS.items() if default is not REQUIRED}
DATA_DEFAULTS: dict[str, Any] = {key: default for key, (default, _) in DATA_KEYS.items() if default is not REQUIRED}

# How step 1 and 2 of ``main`` call each component: how many positional arguments they pass (params, an
# optimizer) and which keywords they fill in themselves, so a config key must not set them.
CALLS: dict[str, tuple[int, tuple[str, ...]]] = {
    "model": (0, ()), "method": (0, ()), "optimizer": (1, ()), "aux_optimizer": (1, ()),
    "scheduler": (1, ("total_steps",)), "data.train": (0, ()), "data.val": (0, ()),
}


class _Objective(nn.Module):
    """(model, method) as one module whose forward is the method's loss: what DDP wraps, so the method's own
    trainable params (distillation heads, discriminators) are gradient-synchronised like the model's."""

    def __init__(self, model: nn.Module, method: nn.Module):
        super().__init__()
        self.model, self.method = model, method

    def forward(self, batch: dict[str, Any], aux: bool = False) -> dict[str, torch.Tensor]:
        return self.method(self.model, batch, aux)


def check_config(cfg: dict[str, Any], *, trust: bool = False) -> None:
    """Refuse, with one line, a config this loop would misread, before anything is imported or built.

    First every ``_component_`` against the allowlist (``trust=True`` lifts it), then unknown keys (with the
    closest known one), missing and impossible values (``KEYS``, ``DATA_KEYS``), then each component's keys
    against its signature as ``CALLS`` says it is called.
    """
    if not isinstance(cfg, dict):
        raise ConfigError(f"a recipe config must be a mapping of keys, got {type(cfg).__name__}")
    check_component_names(cfg, trust=trust)
    check_keys(cfg, KEYS, where="", owner="recipes/train.py does not read it")
    _check_section(cfg, KEYS, where="")
    check_keys(cfg["data"], DATA_KEYS, where="data", owner="recipes/train.py does not read it")
    _check_section(cfg["data"], DATA_KEYS, where="data.")
    for where, (n_args, supplied) in CALLS.items():
        parent, _, key = where.rpartition(".")
        node = (cfg[parent] if parent else cfg).get(key)
        if node is not None:
            check_node(node, where=where, n_args=n_args, supplied=supplied, trust=trust)


def _check_section(section: dict[str, Any], keys: dict[str, tuple[Any, Rule]], *, where: str) -> None:
    for key, (default, rule) in keys.items():
        if key not in section:
            if default is REQUIRED:
                raise ConfigError(f"config has no {where}{key!r}; add it (docs/configs.md lists the keys a "
                                  "recipe needs)")
            continue
        check_value(section[key], rule, where=f"{where}{key}")


def main(cfg: dict[str, Any], *, trust: bool = False) -> dict[str, Any]:
    """Train as ``cfg`` says; returns a summary (steps, best val PSNR, paths). Resumes from the last checkpoint.

    The config is checked first (``check_config``); ``trust=True`` lets ``_component_`` name code outside
    ``fsr_edge.training.config.ALLOWED_MODULES``.
    """
    check_config(cfg, trust=trust)
    cfg = {**DEFAULTS, **cfg}
    device = torch.device(cfg["device"])
    dist_info = init_distributed(device)
    if cfg["threads"]:
        torch.set_num_threads(int(cfg["threads"]))
    out = Path(cfg["output_dir"])
    if dist_info.is_main:
        check_output_dir(out, min_free_mb=cfg["min_free_disk_mb"])
    barrier(dist_info)

    # 1. build: model (what ships), method (losses; may hold a frozen teacher and trainable heads)
    torch.manual_seed(cfg["seed"])
    model = instantiate(cfg["model"], trust=trust).to(device)
    method = instantiate(cfg["method"], trust=trust).to(device)
    method.prepare(model)
    optimizers = {"main": instantiate(cfg["optimizer"], list(model.parameters()) + method.main_parameters(),
                                      trust=trust)}
    aux_params = [p for m in method.aux_modules().values() for p in m.parameters() if p.requires_grad]
    if aux_params:
        if cfg["aux_optimizer"] is None:
            raise ConfigError(f"{cfg['method']['_component_']} trains aux modules: the config needs aux_optimizer")
        optimizers["aux"] = instantiate(cfg["aux_optimizer"], aux_params, trust=trust)
    schedulers = {}
    if cfg["scheduler"] is not None:
        schedulers["main"] = instantiate(cfg["scheduler"], optimizers["main"], total_steps=cfg["max_steps"],
                                         trust=trust)

    # 2. data: every rank sees its own shard of one seeded permutation per epoch
    data_cfg = {**DATA_DEFAULTS, **cfg["data"]}
    train_set = instantiate(data_cfg["train"], trust=trust)
    sampler = DistributedSampler(train_set, num_replicas=dist_info.world_size, rank=dist_info.rank, shuffle=True,
                                 seed=cfg["seed"], drop_last=True)
    batch_size = data_cfg["batch_size"]
    steps_per_epoch = len(sampler) // batch_size
    if steps_per_epoch == 0:
        raise ConfigError(f"data.batch_size {batch_size} is larger than a rank's share of the train set "
                          f"({len(sampler)} items)")
    val_set = instantiate(data_cfg["val"], trust=trust) if dist_info.is_main else None

    # 3. resume: weights, optimizers, schedule, RNG, and where in the data order we were
    ckpts = CheckpointManager(out / "checkpoints", keep=cfg["keep_checkpoints"])
    step, best_psnr = 0, -math.inf
    if cfg["resume"] and ckpts.latest() is not None:
        meta = load_training_state(ckpts, model=model, method=method, optimizers=optimizers, schedulers=schedulers)
        if meta["world_size"] != dist_info.world_size:
            raise ConfigError(f"{ckpts.latest()}: saved with {meta['world_size']} processes, resumed with "
                              f"{dist_info.world_size}; the data order would differ. Resume with the same count")
        step, best_psnr = meta["step"], meta["best_val_psnr"]
    else:
        torch.manual_seed(cfg["seed"] * 1000 + dist_info.rank)  # per-rank training randomness (e.g. noise)
    if dist_info.is_main:
        _snapshot_config(cfg, out, step)
    log = MetricsLog(out / "metrics.csv", resume_step=step) if dist_info.is_main else None

    objective: nn.Module = _Objective(model, method)
    if dist_info.enabled:
        objective = nn.parallel.DistributedDataParallel(objective, find_unused_parameters=bool(aux_params))
    model.train()
    method.train()

    # 4. the loop
    from tqdm import tqdm

    bar = tqdm(total=cfg["max_steps"], initial=step, disable=not (dist_info.is_main and cfg["progress"]),
               desc=out.name, dynamic_ncols=True, mininterval=2.0)
    started = time.monotonic()
    window_t, window_imgs = time.monotonic(), 0
    stop_early = False
    while step < cfg["max_steps"] and not stop_early:
        epoch, skip = divmod(step, steps_per_epoch)
        sampler.set_epoch(epoch)
        if hasattr(train_set, "set_epoch"):
            train_set.set_epoch(epoch)
        order = list(sampler)[skip * batch_size:]  # mid-epoch resume: skip the batches already seen
        loader = DataLoader(train_set, batch_size=batch_size, sampler=order, drop_last=True,
                            num_workers=data_cfg["num_workers"],
                            generator=torch.Generator().manual_seed(cfg["seed"] * 100_003 + epoch))
        for batch in loader:
            batch = {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}
            method.on_step(step, cfg["max_steps"])
            losses = objective(batch)
            optimizers["main"].zero_grad(set_to_none=True)
            losses["loss"].backward()
            if cfg["clip_grad_norm"]:
                nn.utils.clip_grad_norm_(optimizers["main"].param_groups[0]["params"], cfg["clip_grad_norm"])
            optimizers["main"].step()
            if "main" in schedulers:
                schedulers["main"].step()
            if "aux" in optimizers:  # e.g. MSKD's discriminators, after the generator step
                aux_losses = objective(batch, aux=True)
                optimizers["aux"].zero_grad(set_to_none=True)
                aux_losses["loss"].backward()
                optimizers["aux"].step()
                losses.update({f"aux_{k}": v for k, v in aux_losses.items()})
            step += 1
            window_imgs += batch_size * dist_info.world_size
            bar.update(1)

            if dist_info.is_main and (step % cfg["log_every"] == 0 or step == cfg["max_steps"]):
                now = time.monotonic()
                img_per_s = window_imgs / max(now - window_t, 1e-9)
                window_t, window_imgs = now, 0
                row = {"step": step, "epoch": epoch, "lr": optimizers["main"].param_groups[0]["lr"],
                       **{k: float(v.detach()) for k, v in losses.items()}, "img_per_s": img_per_s,
                       "elapsed_s": now - started}
                log.log(row)
                bar.set_postfix(loss=f"{row['loss']:.4f}", img_s=f"{img_per_s:.1f}", refresh=False)

            # A budget stop (max_minutes) validates too, so a run cut short still leaves its best.safetensors.
            timed_out = any_rank(cfg["max_minutes"] is not None
                                 and time.monotonic() - started > 60 * cfg["max_minutes"], dist_info)
            validate_now = step % cfg["val_every"] == 0 or step == cfg["max_steps"] or timed_out
            if val_set is not None and validate_now:
                psnr = validate(model, method, val_set, cfg, device)
                model.train()
                method.train()
                improved = psnr > best_psnr
                if improved:
                    best_psnr = psnr
                    _save_model(model, cfg, out / "best.safetensors", step=step, val_psnr=psnr)
                log.log({"step": step, "epoch": epoch, "val_psnr": psnr, "best_val_psnr": best_psnr})
                log.plot(out / "loss_curve.png", title=out.name)
                bar.write(f"step {step}: val PSNR {psnr:.3f} dB (best {best_psnr:.3f})")
                window_t, window_imgs = time.monotonic(), 0  # throughput counts training only
            if validate_now:
                barrier(dist_info)  # other ranks wait for rank 0's validation

            stop_early = timed_out or step == cfg["stop_at_step"]
            if step % cfg["checkpoint_every"] == 0 or step == cfg["max_steps"] or stop_early:
                if dist_info.is_main:
                    save_training_state(ckpts, step, model=model, method=method, optimizers=optimizers,
                                        schedulers=schedulers,
                                        meta={"epoch": epoch, "best_val_psnr": best_psnr,
                                              "world_size": dist_info.world_size})
                barrier(dist_info)
            if step >= cfg["max_steps"] or stop_early:
                break
    bar.close()
    assert_in_sync(model, dist_info)

    summary = {"steps": step, "best_val_psnr": best_psnr, "output_dir": str(out), "stopped_early": stop_early,
               "wall_s": time.monotonic() - started, "rank": dist_info.rank}
    if dist_info.is_main:
        _save_model(model, cfg, out / "final.safetensors", step=step, val_psnr=None)
        log.plot(out / "loss_curve.png", title=out.name)
        (out / "summary.json").write_text(json.dumps(summary, indent=1))
    shutdown(dist_info)
    return summary


@torch.no_grad()
def validate(model: nn.Module, method: nn.Module, val_set, cfg: dict[str, Any], device: torch.device) -> float:
    """Mean per-image PSNR (RGB, [0, 1]) of ``method.predict`` against ``hr_face`` over the val set."""
    from torchmetrics.functional.image import peak_signal_noise_ratio

    model.eval()
    method.eval()
    data_cfg = {**DATA_DEFAULTS, **cfg["data"]}
    loader = DataLoader(val_set, batch_size=data_cfg["val_batch_size"], shuffle=False)
    limit = data_cfg["val_max_items"]
    scores: list[torch.Tensor] = []
    for batch in loader:
        batch = {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}
        sr_face = method.predict(model, batch).clamp(0, 1)
        scores.append(peak_signal_noise_ratio(sr_face, batch["hr_face"], data_range=1.0, dim=(1, 2, 3),
                                              reduction="none"))
        if limit and sum(len(s) for s in scores) >= limit:
            break
    values = torch.cat(scores)[:limit] if limit else torch.cat(scores)
    return float(values.mean())


def _save_model(model: nn.Module, cfg: dict[str, Any], path: Path, *, step: int, val_psnr: float | None) -> None:
    """Ship-ready weights with the builder's name in the metadata, so ``fsr_edge.models.load_model`` rebuilds it."""
    from fsr_edge.models import list_models, save_model

    node = cfg["model"]
    arch = node["_component_"].rpartition(".")[2]
    if arch not in list_models():
        return  # not a registered builder: only the training checkpoint holds it
    kwargs = {k: v for k, v in node.items() if k != "_component_" and not isinstance(v, dict)}
    meta = {"fsr_edge.step": str(step), "fsr_edge.recipe": cfg["name"] or Path(cfg["output_dir"]).name}
    if val_psnr is not None:
        meta["fsr_edge.val_psnr"] = f"{val_psnr:.4f}"
    save_model(model, path, arch=arch, kwargs=kwargs, metadata=meta)


def _snapshot_config(cfg: dict[str, Any], out: Path, step: int) -> None:
    """``config.yaml`` next to the run; a resume with a different config keeps both, named by step."""
    text = yaml.safe_dump(cfg, sort_keys=False)
    path = out / "config.yaml"
    if path.exists() and path.read_text() != text:
        path = out / f"config.resumed-at-{step:06d}.yaml"
    tmp = path.with_suffix(".yaml.tmp")
    tmp.write_text(text)
    tmp.replace(path)
