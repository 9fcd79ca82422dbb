"""The one training loop for every fsr_edge recipe (PISR, MSKD, plain SR), torchtune-style.

Run it
------
    fsr-edge train recipes/pisr_x8_student.yaml [key=value ...]      # e.g. max_steps=200 output_dir=runs/x
    torchrun --nproc_per_node=2 -m fsr_edge.cli train CONFIG.yaml ...  # DDP (gloo on CPU, nccl on CUDA)

The loop itself is a plain script with everything in view: ``recipes/train.py`` (installed as
``fsr_edge.recipes.train``; ``fsr_edge.recipes.train.main(cfg)``). This package holds the parts it composes:
``instantiate``/config loading, atomic checkpoints, the metrics log and loss plot, DDP helpers, and the
``Method`` base class with the generic methods (``L1SR``) and PISR's (``fsr_edge.training.pisr``).

Config (YAML, read top to bottom; ``_component_`` names the callable that builds a node)
-----------------------------------------------------------------------------------------
    output_dir: runs/pisr_x8_student      # checkpoints, metrics.csv, loss_curve.png, config.yaml, best.safetensors
    seed: 0
    max_steps: 6000                       # optimizer steps (the LR schedule's length)
    max_minutes: null                     # optional wall-clock cap: stops cleanly (checkpoint) at a step boundary
    stop_at_step: null                    # optional: stop (with a checkpoint) at this step; re-run to continue
    device: cpu                           # or cuda
    val_every: 500                        # validation PSNR every N steps; the best one is kept
    checkpoint_every: 250                 # atomic checkpoint every N steps (and at the end); resume is automatic
    keep_checkpoints: 2
    log_every: 10                         # metrics.csv row every N steps
    threads: null                         # torch.set_num_threads per process (null: leave as is)
    clip_grad_norm: null
    min_free_disk_mb: 200                 # refused before training starts if the output disk has less
    resume: true                          # continue from output_dir/checkpoints/latest.json when it exists
    progress: true                        # tqdm bar (rank 0): loss and img/s
    model:                                # THE network being trained, saved and shipped
      _component_: fsr_edge.models.pisr_student_x8
    method:                               # builds the losses; gets no positional args
      _component_: fsr_edge.training.pisr.PISRStudent
      teacher: runs/pisr_x8_teacher/best.safetensors
      lambda_distill: 1.0
    data:
      batch_size: 16
      num_workers: 0
      train: {_component_: fsr_edge.data.FaceDataset, root: ../shared/data/faces, split: train, ...}
      val:   {_component_: fsr_edge.data.FaceDataset, root: ../shared/data/faces, split: val, train: false, ...}
      val_batch_size: 8
      val_max_items: null
    optimizer:                            # called as optimizer(params, **node)
      _component_: torch.optim.Adam
      lr: 1.0e-3
    scheduler:                            # optional; called as scheduler(optimizer, total_steps=max_steps, **node)
      _component_: fsr_edge.training.warmup_cosine
      warmup_steps: 100
    aux_optimizer:                        # only for methods with aux_modules() (discriminators)
      _component_: torch.optim.Adam
      lr: 2.0e-4
      betas: [0.5, 0.999]

Overrides on the command line use dotted keys, values parsed as YAML: ``optimizer.lr=5e-4 data.batch_size=8``.
``instantiate(node, *args, **kwargs)`` builds a node; nested nodes with ``_component_`` are built first.

Datasets
--------
A train item is a dict of tensors; the loop only needs what the method reads (PISR: ``lr_face``, ``hr_face``,
``lr_clean``; validation: ``lr_face`` and ``hr_face``), ``(3, H, W)`` RGB float32 in [0, 1]. Data order is
``DistributedSampler(shuffle=True, seed=seed, drop_last=True)`` with ``set_epoch(epoch)``; the dataset's own
``set_epoch(epoch)`` is called too when it has one. For bit-identical resume a dataset must draw its random
augmentation per item from (seed, epoch, index), or use the global torch RNG with ``num_workers: 0`` (the loop
restores the RNG states). ``fsr_edge.training.RandomCrop`` wraps a dataset to train on aligned HR/LR crops.

Method API (subclass ``fsr_edge.training.Method``, an ``nn.Module``; keep it stable)
------------------------------------------------------------------------------------
    class MyMethod(Method):
        frozen_modules = ("teacher",)      # attribute names: never checkpointed, never trained (offline KD)

        def prepare(self, model) -> None:  # once, before DDP and before a checkpoint restore (e.g. init from teacher)
        def on_step(self, step, max_steps) -> None:  # before each step (steps done so far): e.g. a loss weight
            # schedule; derive it from ``step`` alone, so a resumed run needs no extra state (default: nothing)
        def losses(self, model, batch) -> dict[str, Tensor]:
            # "loss": the scalar backpropagated into model + the method's own trainable params (main optimizer);
            # every other entry is logged (detached). May stash detached tensors on self for aux_losses.
        def aux_modules(self) -> dict[str, nn.Module]:   # modules trained by ``aux_optimizer`` (default: none)
        def aux_losses(self, model, batch) -> dict[str, Tensor]:
            # called after each main step when aux_modules() is non-empty; "loss" is backpropagated into the
            # aux modules' params only and stepped by the aux optimizer; other entries are logged.
        def predict(self, model, batch) -> Tensor:      # validation output compared with batch["hr_face"]
            # default: model(batch["lr_face"])

The method's params that require grad and are not in aux_modules() or frozen_modules (e.g. PISR's mu/b head)
are trained by the main optimizer with the model and checkpointed, but never shipped. Under DDP the loop
wraps ``(model, method)`` in one ``DistributedDataParallel`` whose forward is ``method.losses`` (or
``method.aux_losses``), so every trainable parameter, aux ones included, is gradient-synchronised.

Checkpoints (``output_dir/checkpoints/step_000250/``, written to a temp folder then renamed; ``latest.json``
points at the newest complete one and is replaced atomically):
    state.safetensors   model.*, method.* (trainable parts), optim.<name>.<param_idx>.<key> tensors, rng.torch
    state.json          step, epoch, optimizer param_groups + non-tensor state, scheduler state_dict,
                        python/numpy RNG states, best val PSNR, world size
No pickle anywhere: optimizer and scheduler state are split into tensors (safetensors) and JSON.
``output_dir/best.safetensors`` is the model at the best validation PSNR, saved with ``save_model`` (arch
metadata), loadable with ``fsr_edge.models.load_model``; ``final.safetensors`` the model at the last step.
"""

from .checkpoint import CheckpointManager
from .config import apply_overrides, instantiate, load_config, resolve_component
from .data import RandomCrop, SyntheticPairs
from .methods import L1SR, Method, OutputKD
from .schedule import warmup_cosine

__all__ = ["CheckpointManager", "L1SR", "Method", "OutputKD", "RandomCrop", "SyntheticPairs", "apply_overrides", "instantiate",
           "load_config", "resolve_component", "warmup_cosine"]
