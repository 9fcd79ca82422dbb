"""Whole-pipeline timing on 1080p photos: detect + landmarks, align, upscale, paste-back: what an app pays.

The photos are 1920x1080 canvases built from real photos (``raw_dir``: the face set's unaligned photos;
without it ``skimage.data.astronaut()``): one with a single face, one with six (a 3x2 grid). Each face is
FFHQ-aligned and brought to the model's LR input (e.g. 32x32) exactly as ``fsr-edge upscale`` does, upscaled by
the model, and blended back into the 1080p photo through the inverse alignment: the photo keeps its size
(in-place face restoration, the app's use; x8 of a whole 1080p photo would be 132 MP).

Cold = a fresh process: load the face detector + landmark models and the SR model, then the first photo.
Warm = the same photo again in that process (median of ``iterations``). Runs in its own process so "cold" is
really cold and the benchmark process's memory does not mix in.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CANVAS = (1080, 1920)


def _fit(rgb: np.ndarray, side: int) -> np.ndarray:
    from PIL import Image

    img = Image.fromarray((np.clip(rgb, 0, 1) * 255).round().astype(np.uint8))
    return np.asarray(img.resize((side, side), Image.LANCZOS), dtype=np.float32) / 255


def make_photos(raw_dir: str | Path | None) -> dict[str, np.ndarray]:
    """{"1 face": (1080, 1920, 3), "6 faces": ...} float32 RGB [0, 1], from real photos."""
    if raw_dir is not None and sorted(Path(raw_dir).glob("*.jpg")):
        from ..io import read_image

        sources = [read_image(p).rgb for p in sorted(Path(raw_dir).glob("*.jpg"))[:6]]
    else:
        import skimage.data

        # head and shoulders: the full photo's mission patch reads as a small face to the HOG detector
        sources = [skimage.data.astronaut()[0:280, 100:380].astype(np.float32) / 255]
    h, w = CANVAS
    one = np.full((h, w, 3), 0.5, np.float32)
    one[:, (w - h) // 2:(w - h) // 2 + h] = _fit(sources[0], h)
    many = np.full((h, w, 3), 0.5, np.float32)
    cell = h // 2                                   # 540 px cells, 3 x 2
    x_off = (w - 3 * cell) // 2
    for k in range(6):
        r, c = divmod(k, 3)
        src = sources[k % len(sources)]
        if k >= len(sources):
            src = src[:, ::-1]                          # a mirrored copy reads as another face to the detector
        many[r * cell:(r + 1) * cell, x_off + c * cell:x_off + (c + 1) * cell] = _fit(src, cell)
    return {"1 face": one, "6 faces": many}


def _restore_photo(photo: np.ndarray, infer, lr_size: int, scale: int) -> tuple[np.ndarray, dict, int]:
    """The app's loop, stage by stage, with fsr_edge.faces' own steps (the ones ``fsr-edge upscale`` uses)."""
    from ..faces import detect_faces, lr_face_from_photo, paste_face

    stages = {}
    t0 = time.perf_counter()
    faces = detect_faces(photo)
    stages["detect"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    pairs = [lr_face_from_photo(photo, f.landmarks68, lr_size=lr_size, scale=scale) for f in faces]
    stages["align"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    sr_faces = [infer(np.ascontiguousarray(lr_face.numpy()[None], dtype=np.float32))[0] for _, lr_face in pairs]
    stages["upscale"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = photo.copy()
    for (aligned, _), sr_face in zip(pairs, sr_faces):
        # the HR-size aligned crop and the SR face have the same size: paste at the photo's own scale
        paste_face(out, np.clip(sr_face.transpose(1, 2, 0), 0, 1), aligned.matrix, scale=1, crop_size=aligned.size,
                   inplace=True)
    stages["paste"] = time.perf_counter() - t0
    return out, stages, len(faces)


def _run(spec: dict) -> dict:
    """One photo in this (fresh) process: cold first pass incl. model loads, then warm repeats."""
    t_start = time.perf_counter()
    import torch

    torch.set_num_threads(spec["threads"])
    from . import _worker

    photo = make_photos(spec.get("raw_dir"))[spec["case"]]
    t_imports = time.perf_counter() - t_start
    t0 = time.perf_counter()
    infer, info = _worker._LOADERS[spec["runtime"]](spec)  # dlib's models load inside the first detect
    _, cold_stages, n_faces = _restore_photo(photo, infer, spec["lr_size"], spec["scale"])
    cold = time.perf_counter() - t0
    warm, warm_stages = [], []
    for _ in range(spec["iterations"]):
        t0 = time.perf_counter()
        _, st, _ = _restore_photo(photo, infer, spec["lr_size"], spec["scale"])
        warm.append(time.perf_counter() - t0)
        warm_stages.append(st)
    med = int(np.argsort(warm)[len(warm) // 2])
    return {"name": spec["case"], "faces": n_faces, "cold_s": cold, "cold_stages_s": cold_stages,
            "warm_median_s": float(np.median(warm)), "warm_s": warm, "warm_stages_s": warm_stages[med],
            "imports_s": t_imports, "runtime_info": info}


def time_photo_pipeline(model: str | None, *, threads: int, raw_dir: str | Path | None, iterations: int = 5,
                        runtime: str = "pytorch", path: str | None = None, precision: str = "fp32",
                        lr_size: int = 32, scale: int = 8, ov_hint: str | None = None, spin: bool = False,
                        timeout_s: float = 600) -> dict:
    """Run the photo pipeline in a fresh process; returns its timings or {"status": "not measured", "reason"}."""
    import importlib.util

    if importlib.util.find_spec("dlib") is None:
        return {"status": "not measured", "reason": "face detection needs dlib: pip install fsr_edge[faces]"}
    if not model and not path:
        return {"status": "not measured", "reason": "no model to upscale with"}
    spec = {"model": model, "path": path, "runtime": runtime, "threads": threads, "iterations": iterations,
            "raw_dir": str(raw_dir) if raw_dir else None, "lr_size": lr_size, "scale": scale, "precision": precision, "device": "cpu",
            "ov_hint": ov_hint, "spin": spin}
    cases = []
    for case in ("1 face", "6 faces"):  # each in a fresh process, so each "cold" is really cold
        res = _run_fresh({**spec, "case": case}, threads=threads, timeout_s=timeout_s)
        if res.get("status") != "measured":
            return {"status": "failed", "reason": f"{case}: {res.get('reason')}"}
        cases.append(res)
    return {"status": "measured", "model": model or path, "runtime": runtime, "precision": precision, "threads": threads,
            "cases": cases,
            "how": ("1920x1080 canvases of real photos (" + ("the face set's raw photos" if raw_dir else "skimage astronaut")
                    + "); dlib HOG detection on an 800 px copy + 68 landmarks at full size, FFHQ alignment at "
                    f"{lr_size * scale} px then bicubic /{scale} to {lr_size}x{lr_size} (fsr_edge.faces.lr_face_from_photo), "
                    f"{runtime} upscale per face, soft-mask paste-back into the 1080p photo (it keeps "
                    "its size). Cold = first photo in a fresh process incl. detector, landmark and SR model loads "
                    f"(Python imports not included); warm = median of {iterations} repeats in that process.")}


def _run_fresh(spec: dict, *, threads: int, timeout_s: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="fsr-photo-") as tmp:
        spec_path, result_path = Path(tmp) / "spec.json", Path(tmp) / "result.json"
        spec_path.write_text(json.dumps(spec))
        from .harness import worker_env

        env = worker_env(threads, spin=spec.get("spin", False))
        try:
            proc = subprocess.run([sys.executable, "-m", "fsr_edge.bench.photo", str(spec_path), str(result_path)],
                                  capture_output=True, text=True, env=env, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return {"status": "failed", "reason": f"timed out after {timeout_s:.0f} s"}
        if not result_path.exists():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            return {"status": "failed", "reason": f"exit {proc.returncode}: {tail[0][:300]}"}
        return json.loads(result_path.read_text())


def _main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[1]).read_text())
    try:
        res = {"status": "measured", **_run(spec)}
    except Exception as err:  # noqa: BLE001  (reported as a failed section, with the reason)
        res = {"status": "failed", "reason": f"{type(err).__name__}: {str(err)[:300]}"}
    Path(argv[2]).write_text(json.dumps(res, indent=1, default=float))
    return 0 if res["status"] == "measured" else 1


if __name__ == "__main__":
    sys.exit(_main(sys.argv))
