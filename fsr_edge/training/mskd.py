"""MSKD (adversarial multi-scale feature distillation from a dictionary teacher): the training methods for the
teacher and the students, their discriminators and the feature cache. The architectures live in
``fsr_edge.models`` (``dfdnet_teacher_x8``, ``mskd_paper_student_x8``, ``edge_sr_x8``).

Losses (the MSKD paper's eqs. 3-7), for a student S distilled from the frozen teacher T:

    L_S  = 100 * MSE(I_SR, I_GT) + 20 * L_vgg + L_kd
    L_kd = sum_i  E[(D_i(A_i(F_S_i)) - 1)^2] + E[(A_i(F_S_i) - F_T_i)^2]       (i over the distilled scales)
    L_D  = sum_i  E[(D_i(F_T_i) - 1)^2] + E[D_i(A_i(F_S_i))^2]                 (teacher real, student fake)

``F_*_i`` are the feature maps right after each SFT (teacher) / at the same stride (student), coarse to fine at
1/8, 1/4, 1/2 of the output; ``A_i`` are 1x1 adapters from the student's channels to the teacher's (identity
for the paper student, whose SFT maps are the teacher's own kind; see ``ADAPTERS``), used in training only and
never shipped. The ablations are the same method with ``kd_scales``: ``[]`` (w/o KD), one scale (SSKD),
``[0, 1, 2]`` (MSKD).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import Dataset

from ..losses import feature_l2_loss, lsgan_discriminator_loss, lsgan_generator_loss
from ..models.dfdnet import SFTUNet
from ..models.mskd import MSKDPaperStudent
from .methods import Method, load_initial_weights

__all__ = ["FeatureCache", "FeatureDiscriminator", "ImageDiscriminator", "MSKDStudent", "TeacherTraining"]


def _sn_conv(cin: int, cout: int, k: int, stride: int = 1) -> nn.Module:
    return nn.utils.parametrizations.spectral_norm(nn.Conv2d(cin, cout, k, stride, padding=k // 2))


class FeatureDiscriminator(nn.Module):
    """D_i on one scale's feature map: a small spectrally normalised PatchGAN (LSGAN outputs, one per patch).

    Both convs before the output are strided: on whole faces the finest map is 128x128, and a D at full
    resolution there cost ~9x the edge student's own step on this CPU (measured: 7.7 s vs 0.9 s per batch of 16).
    """

    def __init__(self, channels: int, hidden: int = 32):
        super().__init__()
        self.net = nn.Sequential(_sn_conv(channels, hidden, 4, 2), nn.LeakyReLU(0.2),
                                 _sn_conv(hidden, hidden, 4, 2), nn.LeakyReLU(0.2),
                                 _sn_conv(hidden, 1, 3))

    def forward(self, feat: Tensor) -> Tensor:
        return self.net(feat)


class ImageDiscriminator(nn.Module):
    """Multi-scale PatchGAN on the SR image (the teacher's adversarial term): one D per image scale."""

    def __init__(self, scales: int = 2, hidden: int = 32):
        super().__init__()
        self.nets = nn.ModuleList(
            nn.Sequential(_sn_conv(3, hidden, 4, 2), nn.LeakyReLU(0.2), _sn_conv(hidden, 2 * hidden, 4, 2),
                          nn.LeakyReLU(0.2), _sn_conv(2 * hidden, 4 * hidden, 4, 2), nn.LeakyReLU(0.2),
                          _sn_conv(4 * hidden, 1, 3))
            for _ in range(scales))

    def forward(self, face: Tensor) -> list[Tensor]:
        outs = []
        for i, net in enumerate(self.nets):
            outs.append(net(face if i == 0 else F.avg_pool2d(face, 2 ** i)))
        return outs


def _perceptual() -> nn.Module:
    from ..losses import VGGPerceptualLoss

    return VGGPerceptualLoss()


class _ReconstructionMixin:
    """100 * MSE + 20 * L_vgg, the common part of eq. 3 (and of the teacher's objective)."""

    lambda_mse: float
    lambda_vgg: float
    vgg_loss: nn.Module

    def _recon(self, sr_face: Tensor, hr_face: Tensor) -> dict[str, Tensor]:
        hr_face = hr_face.to(sr_face.dtype)   # the feature cache stores HR faces in fp16
        mse = F.mse_loss(sr_face, hr_face)
        vgg = self.vgg_loss(sr_face, hr_face) if self.lambda_vgg else sr_face.new_zeros(())
        return {"mse": mse, "vgg": vgg, "recon": self.lambda_mse * mse + self.lambda_vgg * vgg}


class TeacherTraining(_ReconstructionMixin, Method):
    """Train the DFDNet teacher: ``100 * MSE + 20 * L_vgg + lambda_adv * LSGAN_G`` on a multi-scale image D.

    Training uses the batch's landmarks (``batch["landmarks68"]``: the HR ones, privileged and exact, or those
    detected on the LR faces: ``FeatureCache(landmarks="detected")``). Validation uses the teacher's template
    landmarks (``val_landmarks="template"``: no dlib in the loop, close to inference on aligned inputs) or its
    own landmark step (``"detected"``: what inference does, ~0.3 s per face of dlib here).
    ``init_from``: a teacher's saved weights to continue from (a second stage with other windows or losses).
    """

    frozen_modules = ("vgg_loss",)

    def __init__(self, *, lambda_mse: float = 100.0, lambda_vgg: float = 20.0, lambda_adv: float = 1.0,
                 image_scales: int = 2, hr_crop: int | None = None, init_from: str | None = None,
                 val_landmarks: str = "template"):
        super().__init__()
        if val_landmarks not in ("template", "detected"):
            raise ValueError(f"val_landmarks={val_landmarks!r}: use 'template' or 'detected'")
        self.hr_crop, self.init_from, self.val_landmarks = hr_crop, init_from, val_landmarks
        self.lambda_mse, self.lambda_vgg, self.lambda_adv = lambda_mse, lambda_vgg, lambda_adv
        self.vgg_loss = _perceptual().requires_grad_(False).eval() if lambda_vgg else nn.Identity()
        self.disc = ImageDiscriminator(image_scales) if lambda_adv else None
        self._fake: Tensor | None = None

    def prepare(self, model: nn.Module) -> None:
        load_initial_weights(model, self.init_from)
        model.detect_landmarks = self.val_landmarks == "detected"

    def losses(self, model: nn.Module, batch: dict[str, Any]) -> dict[str, Tensor]:
        crop = _random_window(batch["hr_face"].shape[-1], self.hr_crop)
        sr_face, _ = model.forward_features(batch["lr_face"], _landmarks(batch), enc_feats=batch.get("enc_feats"),
                                            crop=crop)
        hr_face = _crop(batch["hr_face"], crop, 1)
        out = self._recon(sr_face, hr_face)
        loss = out["recon"]
        if self.disc is not None:
            adv = sum(lsgan_generator_loss(p) for p in self.disc(sr_face))
            out["adv"] = adv
            loss = loss + self.lambda_adv * adv
            self._fake, self._real = sr_face.detach(), hr_face
        out["loss"] = loss
        return out

    def aux_modules(self) -> dict[str, nn.Module]:
        return {"disc": self.disc} if self.disc is not None else {}

    def aux_losses(self, model: nn.Module, batch: dict[str, Any]) -> dict[str, Tensor]:
        loss_d = sum(lsgan_discriminator_loss(real, fake)
                     for real, fake in zip(self.disc(self._real), self.disc(self._fake)))
        return {"loss": loss_d}


def _random_window(side: int, crop: int | None) -> tuple[int, int, int] | None:
    """(top, left, size) of a random ``crop``-sized window on an 8-pixel grid (one per batch), from the global
    torch RNG (the loop restores it on resume); None for whole faces."""
    if not crop or crop >= side:
        return None
    if crop % 8:
        raise ValueError(f"hr_crop {crop} must be a multiple of 8 (the x8 LR grid)")
    top, left = (int(v) * 8 for v in torch.randint(0, (side - crop) // 8 + 1, (2,)))
    return top, left, crop


def _crop(t: Tensor, window: tuple[int, int, int] | None, stride: int) -> Tensor:
    """The ``window`` (output pixels) of a map at ``stride`` output pixels per pixel."""
    if window is None:
        return t
    top, left, size = window
    return t[..., top // stride:(top + size) // stride, left // stride:(left + size) // stride]


def _landmarks(batch: dict[str, Any]) -> Tensor | None:
    lm = batch.get("landmarks68")
    if lm is None or torch.isnan(lm).any():
        return None
    return lm


# A_i, from the student's features to the teacher's: "auto" = identity for the paper student (the teacher's own
# SFT decoder: same tensors), a 1x1 conv for any other student; "conv1x1" = always the conv; "match" = identity
# wherever the channel counts agree (what mskd-x8 was trained with: it compares EdgeSR's non-negative post-ReLU
# maps at 1/4 and 1/2 directly with the teacher's signed SFT outputs)
ADAPTERS = ("auto", "conv1x1", "match")


class MSKDStudent(_ReconstructionMixin, Method):
    """Distil a frozen DFDNet teacher into a student (eqs. 3-7). ``kd_scales``: indices into the feature lists
    (0 = 1/8, 1 = 1/4, 2 = 1/2 of the output); ``[]`` trains the w/o-KD baseline with the same data and seed.

    ``teacher``: a bundled name or a ``.safetensors`` saved by the teacher's training; ``teacher_dictionary``
    the dictionary file(s) it was trained with (the weights file does not hold the atoms). The teacher gets the
    HR landmarks in training (its best features: training-time privileged information; at inference it detects its own).
    """

    frozen_modules = ("teacher", "vgg_loss")

    def __init__(self, *, teacher: str, teacher_dictionary: str | Sequence[str] | None = None,
                 kd_scales: Sequence[int] = (0, 1, 2), lambda_mse: float = 100.0, lambda_vgg: float = 20.0,
                 lambda_kd: float = 1.0, lambda_adv: float = 1.0, lambda_feat: float = 1.0,
                 kd_schedule: str = "constant", adapter: str = "auto", normalize_features: bool = False,
                 student_features: str = "output", hr_crop: int | None = None):
        super().__init__()
        if kd_schedule not in ("constant", "cosine"):
            raise ValueError(f"kd_schedule={kd_schedule!r}: use 'constant' or 'cosine'")
        if adapter not in ADAPTERS:
            raise ValueError(f"adapter={adapter!r}: use one of {', '.join(map(repr, ADAPTERS))}")
        self.hr_crop, self.kd_schedule, self.adapter = hr_crop, kd_schedule, adapter
        if student_features not in ("output", "pre_activation"):
            raise ValueError(f"student_features={student_features!r}: use 'output' or 'pre_activation'")
        self.normalize_features, self.student_features = normalize_features, student_features
        self.kd_weight = lambda_kd   # lambda_kd now: the schedule's value at this step
        self.lambda_mse, self.lambda_vgg = lambda_mse, lambda_vgg
        self.lambda_kd, self.lambda_adv, self.lambda_feat = lambda_kd, lambda_adv, lambda_feat
        self.kd_scales = tuple(kd_scales)
        self.teacher = _load_teacher(teacher, teacher_dictionary)
        self.teacher.requires_grad_(False).eval()   # offline KD: the teacher must not drift
        self.teacher.detect_landmarks = False       # batches without landmarks use its template, no dlib here
        self.vgg_loss = _perceptual().requires_grad_(False).eval() if lambda_vgg else nn.Identity()
        self.teacher_channels = tuple(self.teacher.feature_channels)
        # adapters/discriminators are built in prepare() once the student's channels are known
        self.student_channels: tuple[int, ...] | None = None
        self.adapters = nn.ModuleDict()
        self.discs = nn.ModuleDict()
        self._stash: dict[int, tuple[Tensor, Tensor]] = {}

    def _build_heads(self, student_channels: Sequence[int], *, same_architecture: bool) -> None:
        for i in self.kd_scales:
            cs, ct = student_channels[i], self.teacher_channels[i]
            identity = {"auto": same_architecture and cs == ct, "match": cs == ct, "conv1x1": False}[self.adapter]
            self.adapters[str(i)] = nn.Identity() if identity else nn.Conv2d(cs, ct, 1)
            self.discs[str(i)] = FeatureDiscriminator(ct)

    def prepare(self, model: nn.Module) -> None:
        if self.student_channels is None:
            self.student_channels = tuple(model.feature_channels)
            # the paper student's SFT maps are the teacher's own kind of tensor; any other student's features
            # (e.g. EdgeSR's post-ReLU maps, never negative) need a learned map into the teacher's space
            self._build_heads(self.student_channels, same_architecture=isinstance(model, SFTUNet))
            self.to(next(model.parameters()).device)
        if tuple(model.feature_strides) != tuple(self.teacher.feature_strides):
            raise ValueError(f"student feature strides {model.feature_strides} do not match the teacher's "
                             f"{self.teacher.feature_strides}")

    def on_step(self, step: int, max_steps: int) -> None:
        # "cosine": lambda_kd falls to 0 over the run, so the teacher guides the early steps and the student's
        # own objective has the last word (hint, then train, in one run)
        if self.kd_schedule == "cosine":
            self.kd_weight = self.lambda_kd * 0.5 * (1 + math.cos(math.pi * min(step / max(max_steps, 1), 1.0)))

    def train(self, mode: bool = True):
        super().train(mode)
        self.teacher.eval()      # stays in eval whatever the loop does
        self.vgg_loss.eval()
        return self

    def losses(self, model: nn.Module, batch: dict[str, Any]) -> dict[str, Tensor]:
        crop = _random_window(batch["hr_face"].shape[-1], self.hr_crop)
        if isinstance(model, SFTUNet):   # the paper student: frozen encoder on the whole face, decoder on the crop
            sr_face, student_feats = model.forward_features(batch["lr_face"], enc_feats=batch.get("enc_feats"),
                                                            crop=crop)
        else:                            # a plain CNN: its crop of the LR face (border effects only)
            opts = {"pre_activation": True} if self.student_features == "pre_activation" else {}
            sr_face, student_feats = model.forward_features(_crop(batch["lr_face"], crop, 8), **opts)
        out = self._recon(sr_face, _crop(batch["hr_face"], crop, 1))
        loss = out["recon"]
        if self.kd_scales:
            teacher_feats = batch.get("teacher_feats")
            if teacher_feats is None:
                with torch.no_grad():
                    _, teacher_feats = self.teacher.forward_features(batch["lr_face"], _landmarks(batch),
                                                                     enc_feats=batch.get("enc_feats"), crop=crop)
            elif crop is not None:
                teacher_feats = [_crop(f, crop, s) for f, s in zip(teacher_feats, self.teacher.feature_strides)]
            adv = feat = sr_face.new_zeros(())
            for i in self.kd_scales:
                fs = self.adapters[str(i)](student_feats[i])
                ft = teacher_feats[i].to(fs.dtype)
                if self.normalize_features:
                    fs, ft = _standardize_like(fs, ft)
                adv_i, feat_i = lsgan_generator_loss(self.discs[str(i)](fs)), feature_l2_loss(fs, ft)
                adv, feat = adv + adv_i, feat + feat_i
                out.update({f"kd_adv_{i}": adv_i.detach(), f"kd_feat_{i}": feat_i.detach()})   # which scale costs
                self._stash[i] = (fs.detach(), ft)
            kd = self.lambda_adv * adv + self.lambda_feat * feat
            out.update({"kd": kd, "kd_adv": adv, "kd_feat": feat, "kd_weight": sr_face.new_tensor(self.kd_weight)})
            loss = loss + self.kd_weight * kd
        out["loss"] = loss
        return out

    def aux_modules(self) -> dict[str, nn.Module]:
        return {"discs": self.discs} if self.kd_scales else {}

    def aux_losses(self, model: nn.Module, batch: dict[str, Any]) -> dict[str, Tensor]:
        per_scale = {f"d_{i}": lsgan_discriminator_loss(self.discs[str(i)](ft), self.discs[str(i)](fs))
                     for i, (fs, ft) in self._stash.items()}
        return {"loss": sum(per_scale.values()), **{k: v.detach() for k, v in per_scale.items()}}


def _standardize_like(student_feat: Tensor, teacher_feat: Tensor) -> tuple[Tensor, Tensor]:
    """Both maps shifted and scaled by the teacher map's per-channel batch mean and std. The teacher's SFT maps
    differ ~30x in variance between 1/8 and 1/2 scale (0.49 vs 0.018 on the 4-view cache), so raw L2 terms are
    dominated by the coarsest scale; standardized, each term is the share of the teacher's variance the student
    leaves unexplained, alike at every scale. The adapter in front absorbs the affine map, so nothing else moves."""
    mean = teacher_feat.mean(dim=(0, 2, 3), keepdim=True)
    std = teacher_feat.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)
    return (student_feat - mean) / std, (teacher_feat - mean) / std


def _load_teacher(teacher: str, dictionary: str | Sequence[str] | None) -> nn.Module:
    from ..models._registry import _load_into, create_model, pretrained_spec, read_metadata, WEIGHTS_DIR
    import json
    from pathlib import Path

    from ..errors import WeightsError

    if dictionary is None:
        from ..models import load_model

        return load_model(teacher)   # a bundled name carries its dictionary in its spec
    path = Path(teacher)
    if not path.exists():
        spec = pretrained_spec(teacher)
        path = WEIGHTS_DIR / spec.weights
    meta = read_metadata(path)
    if meta.get("fsr_edge.arch") != "dfdnet_teacher_x8":
        raise WeightsError(f"{path}: not a DFDNet teacher (arch {meta.get('fsr_edge.arch')!r})")
    kwargs = {**json.loads(meta.get("fsr_edge.kwargs", "{}")), "dictionary": dictionary}
    model = create_model("dfdnet_teacher_x8", **kwargs)
    _load_into(model, path, strict=True)
    return model.eval()


class FeatureCache(Dataset):
    """Fixed (LR, HR) face pairs with the frozen encoder's and, optionally, the frozen teacher's features
    precomputed once and kept on disk (fp16 ``.npy`` memmaps in ``cache_dir``).

    Why: on a CPU the VGG19 encoder at 256 px costs more than everything else in a step, and the encoder (and,
    for the students, the whole teacher) is frozen, so for a *fixed* LR input its output never changes. The
    price is fixed degradations: each face appears once per entry of ``variants`` (``clean``, ``blind`` or
    ``mix``: blind with probability ``p_blind``, seeded by (seed, index)) instead of a fresh random draw per
    epoch, and no crop/flip jitter; ``jitter_views=N`` stores N training views per face instead (FaceDataset's
    crop window, flip and degradation of epochs 0..N-1): N times the data and the disk. With a
    GPU, train on ``FaceDataset`` directly instead (the ``*_gpu.yaml`` recipes).

    The encoder part is built once per (data, variants, seed); the teacher part once per teacher file (kept
    beside it), so every student ablation reuses both. Items: ``lr_face``, ``hr_face``, ``landmarks68``,
    ``enc_feats`` (list, fine to coarse) and, with ``teacher``, ``teacher_feats`` (list, coarse to fine, as
    ``forward_features`` returns them).

    ``landmarks="detected"``: items carry the teacher's own landmark step on each upsampled LR face (dlib, as at
    inference; the training faces' mean landmarks where none is found) instead of the HR landmarks, so a teacher
    fine-tuned on them sees the landmark errors it meets at inference. Detected once, kept beside the cache.
    The teacher features for the students are always computed with the HR landmarks.

    Cross-fitting (``folds``, identities dealt into folds by ``fsr_edge.data.identity_folds``):
    ``exclude_fold=k`` keeps only the items of the other folds' faces (train a teacher without fold k), and
    ``teacher=[t_0, t_1, ...]`` (one per fold) takes fold k's teacher features from ``t_k``: pass the teacher
    trained without fold k, and no face is distilled by a teacher that has seen it (held out); pass them in
    another order and every face is distilled by a teacher that trained on it (in sample), the same teachers'
    control. Why: a teacher fits its training faces better than new ones (+0.7 / +1.1 dB on the same faces for
    the two cross-fit teachers of recipes/mskd_teacher_x8_xfit.yaml), so on those faces its features may add
    little beyond the ground truth. Measured for the edge student (docs/results/mskd.md): held out and in
    sample tie, so that was not what kept MSKD from helping there.
    """

    def __init__(self, *, root: str, split: str = "train", cache_dir: str, variants: Sequence[str] = ("mix",),
                 p_blind: float = 0.5, jitter_views: int = 0, hr_size: int = 256, scale: int = 8, seed: int = 0,
                 limit: int | None = None,
                 teacher: str | Sequence[str] | None = None,
                 teacher_dictionary: str | Sequence[str] | None = None,
                 landmarks: str = "hr", folds: int = 2, exclude_fold: int | None = None, batch_size: int = 4):
        import json
        from pathlib import Path

        from ..data import identity_folds

        if landmarks not in ("hr", "detected"):   # before any (slow) cache build
            raise ValueError(f"landmarks={landmarks!r}: use 'hr' (the HR faces' landmarks) or 'detected'")
        per_fold_teachers = teacher is not None and not isinstance(teacher, str)
        if per_fold_teachers and len(teacher) != folds:
            raise ValueError(f"teacher: {len(teacher)} teachers for folds={folds}: give one teacher per fold "
                             "(teacher k gives the features of fold k's faces)")
        if exclude_fold is not None and not 0 <= exclude_fold < folds:
            raise ValueError(f"exclude_fold={exclude_fold}: use a fold in 0..{folds - 1} (folds={folds})")
        self.dir = Path(cache_dir)
        spec = {"root": str(Path(root).resolve()), "split": split, "variants": list(variants), "p_blind": p_blind,
                "hr_size": hr_size, "scale": scale, "seed": seed, "limit": limit, "features": "v1"}
        if jitter_views:
            spec["jitter_views"] = jitter_views
        spec_path = self.dir / "spec.json"
        if not (spec_path.exists() and json.loads(spec_path.read_text()) == spec):
            self._build_inputs(root, split, variants, p_blind, jitter_views, hr_size, scale, seed, limit, batch_size)
            spec_path.write_text(json.dumps(spec))
        self.arrays = {k: np.load(self.dir / f"{k}.npy", mmap_mode="r")
                       for k in ("lr_face", "hr_face", "landmarks68", "enc_0", "enc_1", "enc_2")}
        self.item_landmarks = self.arrays["landmarks68"]
        n_items = len(self.arrays["lr_face"])
        self.item_fold = None       # fold of each cached item (items are blocks of views of the same faces)
        if per_fold_teachers or exclude_fold is not None:
            n_faces = n_items // (len(variants) * max(1, jitter_views))
            self.item_fold = np.tile(identity_folds(root, split=split, n_folds=folds)[:n_faces], n_items // n_faces)
        self.index = np.arange(n_items) if exclude_fold is None else np.flatnonzero(self.item_fold != exclude_fold)
        if landmarks == "detected":
            d_path = self.dir / "landmarks68_detected.json"   # tied to the inputs it was detected on
            if not (d_path.exists() and json.loads(d_path.read_text()) == spec):
                self._detect_landmarks(batch_size)
                d_path.write_text(json.dumps(spec))
            self.item_landmarks = np.load(self.dir / "landmarks68_detected.npy", mmap_mode="r")
        if teacher:
            t_spec = {"teacher": _file_id(teacher), "dictionary": _file_id(teacher_dictionary)}
            if per_fold_teachers:
                t_spec["folds"] = folds
            t_path = self.dir / "teacher_spec.json"
            if not (t_path.exists() and json.loads(t_path.read_text()) == t_spec):
                self._build_teacher(teacher, teacher_dictionary, batch_size)
                t_path.write_text(json.dumps(t_spec))
            self.arrays.update({f"teacher_{i}": np.load(self.dir / f"teacher_{i}.npy", mmap_mode="r")
                                for i in range(3)})

    def _writer(self, n: int):
        from numpy.lib.format import open_memmap

        arrays: dict[str, np.ndarray] = {}

        def put(key: str, start: int | np.ndarray, value: Tensor) -> None:
            if key not in arrays:
                dtype = np.float32 if key == "lr_face" or key.startswith("landmarks68") else np.float16
                arrays[key] = open_memmap(self.dir / f".{key}.tmp.npy", mode="w+", dtype=dtype,
                                          shape=(n, *value.shape[1:]))
            rows = slice(start, start + len(value)) if isinstance(start, int) else start   # a block or index array
            arrays[key][rows] = value.cpu().numpy()

        def commit() -> None:   # complete arrays only: a killed build leaves no half-written cache behind
            for key, a in arrays.items():
                a.flush()
                del a
                (self.dir / f".{key}.tmp.npy").replace(self.dir / f"{key}.npy")
        return put, commit

    def _build_inputs(self, root, split, variants, p_blind, jitter_views, hr_size, scale, seed, limit,
                      batch_size) -> None:
        from tqdm import tqdm

        from ..data import FaceDataset

        self.dir.mkdir(parents=True, exist_ok=True)
        # (dataset, epoch) per block of items: one fixed evaluation view per face, or jitter_views training
        # views (FaceDataset's epochs 0..n-1: crop window, flip and degradation drawn afresh for each)
        blocks = []
        for v in variants:
            ds = FaceDataset(root, split=split, hr_size=hr_size, scale=scale, degradation=v, p_blind=p_blind,
                             train=bool(jitter_views), seed=seed, progress=False)
            blocks += [(ds, epoch) for epoch in range(max(1, jitter_views))]
        n_faces = min(len(blocks[0][0]), limit if limit is not None else len(blocks[0][0]))
        n = n_faces * len(blocks)
        encoder = MSKDPaperStudent(scale=scale).eval()        # only its frozen encoder is used
        put, commit = self._writer(n)
        start = 0
        with tqdm(total=n, desc=f"encoder cache {self.dir.name}", unit="face") as bar:
            for ds, epoch in blocks:
                ds.set_epoch(epoch)
                for lo in range(0, n_faces, batch_size):
                    items = [ds[i] for i in range(lo, min(lo + batch_size, n_faces))]
                    batch = {k: torch.stack([it[k] for it in items]) for k in ("lr_face", "hr_face", "landmarks68")}
                    for k, v in batch.items():
                        put(k, start, v)
                    for i, f in enumerate(encoder.encode(batch["lr_face"])):
                        put(f"enc_{i}", start, f)
                    start += len(items)
                    bar.update(len(items))
        commit()

    @torch.no_grad()
    def _detect_landmarks(self, batch_size) -> None:
        from tqdm import tqdm

        from ..models.dfdnet import _detect

        lr_faces, hr_landmarks = self.arrays["lr_face"], self.arrays["landmarks68"]
        fallback = torch.from_numpy(np.nanmean(hr_landmarks, axis=0)).float()   # as the dictionary's template
        scale = self.arrays["hr_face"].shape[-1] // lr_faces.shape[-1]
        put, commit = self._writer(len(lr_faces))
        missed = 0
        for lo in tqdm(range(0, len(lr_faces), batch_size), desc="landmarks on the LR faces", unit="batch"):
            lr_face = torch.from_numpy(np.array(lr_faces[lo:lo + batch_size])).float()
            # the face the teacher's landmark step sees (SFTUNet.upsample_input)
            up_face = F.interpolate(lr_face, scale_factor=scale, mode="bicubic", align_corners=False)
            found = _detect(up_face)
            missed += sum(pts is None for pts in found)
            put("landmarks68_detected", lo, torch.stack([fallback if pts is None else pts for pts in found]))
        commit()
        if missed:
            print(f"landmarks: none found on {missed} of {len(lr_faces)} LR faces (mean landmarks used)")

    @torch.no_grad()
    def _build_teacher(self, teacher, dictionary, batch_size) -> None:
        from tqdm import tqdm

        n = len(self.arrays["lr_face"])
        put, commit = self._writer(n)
        # one teacher for every item, or teacher k for the items of fold k's faces
        jobs = ([(teacher, np.arange(n))] if isinstance(teacher, str)
                else [(t, np.flatnonzero(self.item_fold == k)) for k, t in enumerate(teacher)])
        for t, items_of_t in jobs:
            t_model = _load_teacher(t, dictionary)
            t_model.detect_landmarks = False
            for lo in tqdm(range(0, len(items_of_t), batch_size), desc=f"teacher feature cache ({t})",
                           unit="batch"):
                idx = items_of_t[lo:lo + batch_size]
                items = [self._item(int(i)) for i in idx]
                lr = torch.stack([it["lr_face"] for it in items])
                lm = torch.from_numpy(np.array(self.arrays["landmarks68"][idx])).float()   # HR: privileged
                enc = [torch.stack([it["enc_feats"][i] for it in items]) for i in range(3)]
                _, t_feats = t_model.forward_features(lr, None if torch.isnan(lm).any() else lm, enc_feats=enc)
                for i, f in enumerate(t_feats):
                    put(f"teacher_{i}", idx, f)
        commit()

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self._item(int(self.index[index]))

    def _item(self, index: int) -> dict[str, Any]:
        """Item ``index`` of the whole cache (``exclude_fold`` aside)."""
        a = self.arrays
        item = {k: torch.from_numpy(np.array(a[k][index])).float() for k in ("lr_face", "hr_face")}
        item["landmarks68"] = torch.from_numpy(np.array(self.item_landmarks[index])).float()
        item["enc_feats"] = [torch.from_numpy(np.array(a[f"enc_{i}"][index])).float() for i in range(3)]
        if "teacher_0" in a:
            item["teacher_feats"] = [torch.from_numpy(np.array(a[f"teacher_{i}"][index])).float() for i in range(3)]
        return item


def _file_id(path) -> Any:
    """Path + size + mtime of a file (or list of files; a bundled model name stands for its weights file): a cache
    built from other weights is rebuilt."""
    import os

    from ..models._registry import weights_path

    if path is None:
        return None
    if not isinstance(path, (str, os.PathLike)):
        return [_file_id(p) for p in path]
    file = weights_path(path)
    st = os.stat(file) if file is not None and file.exists() else None
    return [str(path), st.st_size if st else None, st.st_mtime if st else None]
