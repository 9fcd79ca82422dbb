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


def make_photos(raw_dir: str | Path | None, canvas: tuple[int, int] = CANVAS) -> dict[str, np.ndarray]:
    """{"1 face": (h, w, 3), "6 faces": ...} float32 RGB [0, 1] of ``canvas`` = (h, w), from real photos."""
    if raw_dir is not None and sorted(Path(raw_dir).glob("*.jpg")):
        from ..io import read_image

        sources = [read_image(p).rgb for p in sorted(Path(raw_dir).glob("*.jpg"))[:6]]
    else:
        import skimage.data

        # head and shoulders: the full photo's mission patch reads as a small face to the HOG detector
        sources = [skimage.data.astronaut()[0:280, 100:380].astype(np.float32) / 255]
    h, w = canvas
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


class _InferModel:
    """A runtime's ``infer`` (numpy NCHW float32 -> numpy) as the torch callable FacePipeline takes."""

    def __init__(self, infer, lr_size: int, scale: int):
        self.infer, self.lr_size, self.scale = infer, lr_size, scale

    def __call__(self, lr_faces):
        import torch

        # one face per call: exported artifacts may have a fixed batch of 1
        x = np.ascontiguousarray(lr_faces.numpy(), dtype=np.float32)
        return torch.from_numpy(np.concatenate([np.asarray(self.infer(x[i:i + 1])) for i in range(len(x))]))


def _restore_photo(photo: np.ndarray, infer, lr_size: int, scale: int) -> tuple[np.ndarray, dict, int]:
    """The app's loop on one frame, stage by stage: fsr_edge.faces.FacePipeline (the path ``fsr-edge upscale``
    takes for video), detecting on every call. ``detect`` here is detection + landmarks."""
    from ..faces.frames import FacePipeline

    pipe = FacePipeline(_InferModel(infer, lr_size, scale))
    res = pipe(photo)
    st = res.stages_s
    stages = {"detect": st["detect"] + st["landmarks"], "align": st["align"], "upscale": st["upscale"], "paste": st["paste"]}
    return res.frame, stages, len(res.faces)


def _run(spec: dict) -> dict:
    """One photo in this (fresh) process: cold first pass incl. model loads, then warm repeats."""
    t_start = time.perf_counter()
    import torch

    torch.set_num_threads(spec["threads"])
    from . import _worker

    # uint8, as an app's camera or decoder gives frames
    photo = np.rint(make_photos(spec.get("raw_dir"))[spec["case"]] * 255).astype(np.uint8)
    t_imports = time.perf_counter() - t_start
    t0 = time.perf_counter()
    infer, info = _worker._load(spec)  # dlib's models load inside the first detect
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
                    + "), uint8 frames through fsr_edge.faces.FacePipeline: MediaPipe's BlazeFace full-range (LiteRT) on the "
                    f"frame letterboxed to 192 px + dlib's 68 landmarks at full size (together: detect), one cv2.warpAffine "
                    f"to the {lr_size * scale} px FFHQ crop then bicubic /{scale} "
                    f"to {lr_size}x{lr_size}, {runtime} upscale of all faces in one call, feathered paste-back into each "
                    "face's ROI of the 1080p frame (it keeps its size). Cold = first photo in a fresh process incl. detector, landmark and SR model loads "
                    f"(Python imports not included); warm = median of {iterations} repeats in that process.")}


def _run_fresh(spec: dict, *, threads: int, timeout_s: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="fsr-photo-") as tmp:
        spec_path, result_path = Path(tmp) / "spec.json", Path(tmp) / "result.json"
        spec_path.write_text(json.dumps(spec))
        from .harness import worker_env

        env = worker_env(threads, spin=spec.get("spin", False))
        try:
            # -P: the working directory stays off sys.path, so a checkout's source tree (where fsr_edge.exporters
            # is not a subfolder) cannot shadow the installed package
            proc = subprocess.run([sys.executable, "-P", "-m", "fsr_edge.bench.photo", str(spec_path), str(result_path)],
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


# ---------------------------------------------------------------- per-stage profile (fsr-edge bench-photo)

FRAME_SIZES = {"1080p": (1080, 1920), "720p": (720, 1280)}


def _stage_table(calls: list) -> dict:
    """Medians over warm calls: each stage's own median, and the whole frame's median and p90."""
    from ..faces.frames import STAGES

    totals = np.array([sum(r.stages_s.values()) for r in calls])
    return {"stages_ms": {k: 1e3 * float(np.median([r.stages_s[k] for r in calls])) for k in STAGES},
            "total_p50_ms": 1e3 * float(np.median(totals)), "total_p90_ms": 1e3 * float(np.percentile(totals, 90)),
            "frames": len(calls)}


def _buffers(frame: np.ndarray, n: int) -> list[np.ndarray]:
    return [frame.copy() for _ in range(n)]


def profile_pipeline(model, *, raw_dir: str | Path | None, detector: str = "blazeface", detect_side: int = 640,
                     detect_every: int = 5, iterations: int = 15, sizes=("1080p", "720p"),
                     photo_path_iterations: int = 5) -> dict:
    """Warm per-stage timings of FacePipeline on 1- and 6-face frames (uint8) at each size, in this process.

    Each call restores its own copy of the frame in place, as an app restores the buffer its camera or decoder
    filled. Two modes per frame: ``photo`` (detect on every frame: a still, or the frames of a clip where detection
    runs) and ``tracked`` (a clip's frames between detections: boxes from the previous landmarks, One-Euro on).
    ``video_avg_ms`` = tracked + detect / ``detect_every``: the mean per frame of a clip detected every N frames.
    At 1080p the photo path (``upscale_photo``'s steps on a float frame) runs too, ``photo_path_iterations`` times,
    as the reference under the same load.
    """
    from ..faces.frames import FacePipeline

    cases = []
    for size in sizes:
        photos = make_photos(raw_dir, FRAME_SIZES[size])
        for case, photo in photos.items():
            frame = np.rint(photo * 255).astype(np.uint8)
            row = {"size": size, "case": case, "detector": detector, "detect_side": detect_side}
            pipe = FacePipeline(model, detector=detector, detect_side=detect_side)
            t0 = time.perf_counter()
            first = pipe(frame)
            row["first_call_ms"] = 1e3 * (time.perf_counter() - t0)   # after model loads: lazy dlib loads only
            row["faces"] = len(first.faces)
            # In place, on a buffer of its own per call: a camera or decoder hands the app a fresh frame, which is
            # restored where it lies (the buffers are made outside the timed calls, as the decoder's are).
            row["photo"] = _stage_table([pipe(buf, inplace=True) for buf in _buffers(frame, iterations)])
            track = FacePipeline(model, detector=detector, detect_side=detect_side, detect_every=10 ** 9, smooth=True)
            track(frame, 0.0)
            calls = [track(buf, (i + 1) / 30, inplace=True) for i, buf in enumerate(_buffers(frame, iterations))]
            row["tracked"] = _stage_table(calls)
            row["tracked"]["faces_kept"] = min(len(c.faces) for c in calls)
            for mode in ("photo", "tracked"):
                st = row[mode]
                st["whole_over_upscale"] = st["total_p50_ms"] / st["stages_ms"]["upscale"] if st["stages_ms"]["upscale"] else None
            row["video_avg_ms"] = row["tracked"]["total_p50_ms"] + row["photo"]["stages_ms"]["detect"] / detect_every
            if size == "1080p" and photo_path_iterations:
                _photo_path_frame(photo, model)    # warm: dlib's models are loaded by now anyway
                runs = [_photo_path_frame(photo, model) for _ in range(photo_path_iterations)]
                totals = [sum(r.values()) for r in runs]
                row["photo_path"] = {"stages_ms": {k: 1e3 * float(np.median([r[k] for r in runs])) for k in runs[0]},
                                     "total_p50_ms": 1e3 * float(np.median(totals)), "frames": len(runs)}
            cases.append(row)
    return {"cases": cases, "detect_every": detect_every, "iterations": iterations}


def _photo_path_frame(photo: np.ndarray, model) -> dict:
    """The photo path on the same frame (float photo, detect_faces: RGB 800 px copy + upsample 1, Lanczos warps,
    float paste-back), stage by stage in seconds: the reference the frame path is measured against."""
    import torch

    from ..faces import detect_faces, lr_face_from_photo, paste_face

    st = {}
    t0 = time.perf_counter()
    faces = detect_faces(photo)
    st["detect+landmarks"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    pairs = [lr_face_from_photo(photo, f.landmarks68, lr_size=int(model.lr_size), scale=int(model.scale)) for f in faces]
    st["align"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    with torch.inference_mode():
        sr = model(torch.stack([lr for _, lr in pairs])).clamp(0, 1).permute(0, 2, 3, 1).numpy() if pairs else []
    st["upscale"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = photo.copy()
    for (aligned, _), face in zip(pairs, sr):
        paste_face(out, face, aligned.matrix, scale=1, crop_size=aligned.size, inplace=True)
    st["paste"] = time.perf_counter() - t0
    return st


def _box_iou(a, b) -> float:
    from ..faces.frames import iou

    return iou(a, b)


def detector_recall(faces_dir: str | Path, configs: list[dict]) -> list[dict]:
    """Recall of each detector config on the raw photos (a face found) and on every aligned face of the set
    (a box overlapping the aligned face's known box, IoU >= 0.4), per split, with the median time per image."""
    import csv

    from ..faces.detect import ALIGNED_FACE_BOX
    from ..io import read_image

    faces_dir = Path(faces_dir)
    raw = sorted((faces_dir / "raw").glob("*.jpg"))
    with open(faces_dir / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    images = [("raw", p, None) for p in raw] + [(r["split"], faces_dir / r["file"], True) for r in rows]
    loaded = [(split, np.rint(read_image(p).rgb * 255).astype(np.uint8), aligned) for split, p, aligned in images]
    results = []
    for cfg in configs:
        find = _finder(cfg)
        found: dict[str, list[int]] = {}
        extra: dict[str, int] = {}
        times = []
        for split, img, aligned in loaded:
            t0 = time.perf_counter()
            boxes = find(img)
            times.append(time.perf_counter() - t0)
            if aligned:
                h, w = img.shape[:2]
                want = tuple(np.array(ALIGNED_FACE_BOX) * [w, h, w, h])
                hit = any(_box_iou(b, want) >= 0.4 for b in boxes)
            else:
                hit = bool(boxes)
            found.setdefault(split, []).append(int(hit))
            extra[split] = extra.get(split, 0) + max(0, len(boxes) - 1)
        results.append({**{k: v for k, v in cfg.items() if k != "label"}, "label": cfg["label"],
                        "recall": {s: {"found": sum(v), "of": len(v)} for s, v in found.items()},
                        "extra_boxes": extra, "median_ms": 1e3 * float(np.median(times))})
    return results


def _finder(cfg: dict):
    if cfg["kind"] == "detect_faces":   # the photo path: fsr_edge.faces.detect_faces (800 px copy, 68 landmarks)
        from ..faces import detect_faces

        return lambda img: [f.box for f in detect_faces(img, upsample=cfg.get("upsample", 1))]
    from ..faces.frames import FacePipeline

    pipe = FacePipeline(_InferModel(lambda x: x, 1, 1), detector=cfg.get("detector", "hog"),
                        detect_side=cfg.get("detect_side", 640), upsample=cfg.get("upsample", 0))
    return pipe.detect


def write_profile_report(report: dict, out_dir: str | Path) -> Path:
    """profile.json + profile.md in ``out_dir``."""
    from ..io import atomic_write_json, atomic_write_text

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out_dir / "profile.json", report, default=float)
    atomic_write_text(out_dir / "profile.md", _profile_markdown(report))
    return out_dir / "profile.md"


def _profile_markdown(rep: dict) -> str:
    from ..faces.frames import STAGES

    m = rep["machine"]
    lines = ["# Face pipeline per frame: per-stage profile", "",
             f"Model `{rep['model']}` (PyTorch eager, {rep['threads']} threads), {m['cpus']} CPU cores, "
             f"load average {m['load_before'][0]:.2f} before / {m['load_after'][0]:.2f} after (the cores are shared: "
             "compare ratios within this run). Frames: uint8 canvases composed from the face set's raw photos "
             "(1 face centred; 6 faces in a 3x2 grid), each call restoring its own copy in place (an app restores the "
             "buffer its camera or decoder filled). Warm medians over "
             f"{rep['profile']['iterations']} calls per row; each stage's own median (the stages need not add up "
             "to the whole frame's median exactly).", "",
             f"`photo`: detection on every frame. `tracked`: a clip's frame between detections (boxes from the "
             f"previous landmarks, One-Euro smoothing on). `video avg`: tracked + detect / {rep['profile']['detect_every']} "
             f"(detect every {rep['profile']['detect_every']} frames).", "",
             "| frame | faces | mode | " + " | ".join(STAGES) + " | whole p50 | whole p90 | whole / upscale | video avg |",
             "|---|---|---|" + "---:|" * (len(STAGES) + 4)]
    for row in rep["profile"]["cases"]:
        for mode in ("photo", "tracked"):
            st = row[mode]
            ratio = f"{st['whole_over_upscale']:.1f}x" if st["whole_over_upscale"] else "-"
            lines.append(f"| {row['size']} | {row['faces']} | {mode} | "
                         + " | ".join(f"{st['stages_ms'][k]:.1f}" for k in STAGES)
                         + f" | **{st['total_p50_ms']:.1f}** | {st['total_p90_ms']:.1f} | {ratio} | "
                         + (f"{row['video_avg_ms']:.1f}" if mode == "tracked" else "") + " |")
    lines += ["", "Times in ms. " + rep.get("how", ""), ""]
    ref = [r for r in rep["profile"]["cases"] if r.get("photo_path")]
    if ref:
        lines += ["## Against the photo path, same run", "",
                  "The photo path's own steps (`detect_faces`: RGB 800 px copy with one pyramid upsample; "
                  "`lr_face_from_photo`: Lanczos-antialiased float warp; `paste_face`: float blend) on the same 1080p "
                  "frames, as float images, median of "
                  f"{ref[0]['photo_path']['frames']} calls.", "",
                  "| frame | faces | detect + landmarks | align | upscale | paste | whole p50 | frame path (photo mode) | speed-up |",
                  "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
        for r in ref:
            pp = r["photo_path"]
            st = pp["stages_ms"]
            lines.append(f"| {r['size']} | {r['faces']} | {st['detect+landmarks']:.1f} | {st['align']:.1f} | "
                         f"{st['upscale']:.1f} | {st['paste']:.1f} | {pp['total_p50_ms']:.1f} | "
                         f"{r['photo']['total_p50_ms']:.1f} | {pp['total_p50_ms'] / r['photo']['total_p50_ms']:.1f}x |")
        lines.append("")
    if rep.get("recall"):
        lines += ["## Detector recall", "",
                  "Raw photos: a face found in each 1350x1350 photo. Aligned faces: a box with IoU >= 0.4 against "
                  "the aligned face's known box (`ALIGNED_FACE_BOX`), for every face of each split.", "",
                  "| detector | raw | train | val | wild | extra boxes (all) | median ms / image |", "|---|---|---|---|---|---:|---:|"]
        for r in rep["recall"]:
            rc = r["recall"]
            cell = lambda s: f"{rc[s]['found']}/{rc[s]['of']}" if s in rc else "-"  # noqa: E731
            lines.append(f"| {r['label']} | {cell('raw')} | {cell('train')} | {cell('val')} | {cell('wild')} | "
                         f"{sum(r['extra_boxes'].values())} | {r['median_ms']:.1f} |")
        lines.append("")
    if rep.get("align_psnr"):
        a = rep["align_psnr"]
        lines += ["## Aligned LR face vs the photo path", "",
                  f"PSNR of the frame path's LR face (uint8 frame, one cv2.warpAffine to {a['hr_size']} px, bicubic /"
                  f"{a['scale']}) against `lr_face_from_photo` (float photo, Lanczos-antialiased warp, same bicubic), "
                  f"same landmarks, {a['faces']} faces of the raw photos: median **{a['median_db']:.1f} dB** "
                  f"(min {a['min_db']:.1f} dB). Time per face: frame path {a['frame_ms']:.2f} ms, photo path "
                  f"{a['photo_ms']:.2f} ms.", ""]
    return "\n".join(lines)


def align_psnr(raw_dir: str | Path, *, lr_size: int = 32, scale: int = 8) -> dict:
    """The frame path's LR faces against the photo path's (what the model was trained on) on the raw photos."""
    from ..faces import detect_faces, lr_face_from_photo
    from ..faces._cv import align_lr
    from ..io import read_image

    dbs, t_frame, t_photo = [], [], []
    for p in sorted(Path(raw_dir).glob("*.jpg")):
        rgb = read_image(p).rgb
        frame = np.rint(rgb * 255).astype(np.uint8)
        for face in detect_faces(rgb):
            t0 = time.perf_counter()
            _, ref = lr_face_from_photo(rgb, face.landmarks68, lr_size=lr_size, scale=scale)
            t_photo.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            _, lr = align_lr(frame, face.landmarks68, lr_size=lr_size, scale=scale)
            t_frame.append(time.perf_counter() - t0)
            mse = float(((lr - ref) ** 2).mean())
            dbs.append(10 * np.log10(1.0 / max(mse, 1e-12)))
    return {"faces": len(dbs), "median_db": float(np.median(dbs)), "min_db": float(np.min(dbs)), "db": dbs,
            "frame_ms": 1e3 * float(np.median(t_frame)), "photo_ms": 1e3 * float(np.median(t_photo)),
            "hr_size": lr_size * scale, "scale": scale}
