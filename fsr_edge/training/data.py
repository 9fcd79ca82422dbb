"""Dataset wrappers for training: aligned random crops of (HR, LR) pairs, deterministic per (seed, epoch, index)."""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import Dataset


class RandomCrop(Dataset):
    """Train on aligned random crops: every image tensor of an item is cropped at one place, aligned across scales.

    ``hr_crop`` is the HR crop side; LR-sized tensors (side = HR side / scale) are cropped at the matching
    ``hr_crop // scale`` window. With ``degradation`` ("clean", "blind", "mix"), ``lr_face`` and ``lr_clean`` are
    instead remade from the HR crop with ``fsr_edge.data``'s degradation (seeded by (seed, epoch, index)): the
    blur then runs on the crop, not the whole face, which makes data preparation several times cheaper (wrap a
    ``FaceDataset(degradation="clean", crop=None)`` for that). Landmarks and other non-image entries are dropped.
    Everything depends only on (seed, epoch, index), so resume and DDP sharding see the same crops.
    """

    def __init__(self, dataset: Dataset, *, hr_crop: int, scale: int, seed: int = 0, degradation: str | None = None,
                 p_blind: float = 0.5):
        if hr_crop % scale:
            raise ValueError(f"hr_crop {hr_crop} must be a multiple of scale {scale}")
        self.dataset, self.hr_crop, self.scale, self.seed, self.epoch = dataset, hr_crop, scale, seed, 0
        self.degradation, self.p_blind = degradation, p_blind

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = self.dataset[index]
        hr_side = item["hr_face"].shape[-1]
        lr_crop, lr_side = self.hr_crop // self.scale, hr_side // self.scale
        item_seed = (self.seed, self.epoch, index)
        g = torch.Generator().manual_seed(hash(item_seed) & 0x7FFF_FFFF_FFFF)
        top, left = (int(v) for v in torch.randint(0, lr_side - lr_crop + 1, (2,), generator=g))
        out = {}
        for key, value in item.items():
            if not torch.is_tensor(value) or value.dim() != 3:
                continue
            if value.shape[-1] == hr_side:
                s = self.scale
                out[key] = value[:, top * s:(top + lr_crop) * s, left * s:(left + lr_crop) * s].contiguous()
            elif value.shape[-1] == lr_side:
                out[key] = value[:, top:top + lr_crop, left:left + lr_crop].contiguous()
        if self.degradation is not None:
            from ..data import apply_degradation, bicubic_downsample, sample_degradation

            params = sample_degradation(scale=self.scale, mode=self.degradation, seed=(*item_seed, 7),
                                        p_blind=self.p_blind)
            out["lr_clean"] = bicubic_downsample(out["hr_face"], self.scale)
            out["lr_face"] = out["lr_clean"] if params.mode == "clean" else apply_degradation(out["hr_face"], params)
        return out


class SyntheticPairs(Dataset):
    """Smooth random colour fields as (hr_face, lr_face, lr_clean) pairs: tiny, data-free configs for tests and
    smoke runs of the loop. Item ``i`` depends only on (seed, i); ``lr_face`` adds mild noise from (seed, epoch, i)."""

    def __init__(self, *, length: int = 16, hr_size: int = 32, scale: int = 4, seed: int = 0, noise: float = 0.02):
        self.length, self.hr_size, self.scale, self.seed, self.noise, self.epoch = length, hr_size, scale, seed, noise, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        import torch.nn.functional as F

        from ..data import bicubic_downsample

        g = torch.Generator().manual_seed(self.seed * 7919 + index)
        coarse = torch.rand(1, 3, 4, 4, generator=g)
        hr_face = F.interpolate(coarse, size=self.hr_size, mode="bicubic", align_corners=False).clamp(0, 1)[0]
        lr_clean = bicubic_downsample(hr_face, self.scale)
        g_noise = torch.Generator().manual_seed(hash((self.seed, self.epoch, index)) & 0x7FFF_FFFF_FFFF)
        lr_face = (lr_clean + self.noise * torch.randn(lr_clean.shape, generator=g_noise)).clamp(0, 1)
        return {"hr_face": hr_face, "lr_face": lr_face, "lr_clean": lr_clean}


class Repeat(Dataset):
    """``times`` passes over ``dataset`` per loop epoch, each pass a distinct inner epoch (fresh crops, flips,
    degradations): on a small face set (180 train faces) an epoch is a few steps, and the loop's per-epoch
    DataLoader (worker start-up) would otherwise dominate a fast GPU step. Deterministic per (epoch, index)."""

    def __init__(self, dataset: Dataset, *, times: int):
        self.dataset, self.times, self.epoch = dataset, int(times), 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.times * len(self.dataset)

    def __getitem__(self, index: int) -> dict[str, Any]:
        n = len(self.dataset)
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(self.epoch * self.times + index // n)
        return self.dataset[index % n]
