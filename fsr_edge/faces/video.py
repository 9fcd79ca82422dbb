"""Video in and out (PyAV): every frame through FacePipeline, audio copied packet for packet.

The frames keep their size (faces are restored in place); the video is re-encoded with H.264 (libx264, CRF 18,
or MPEG-4 Part 2 where the FFmpeg build has no libx264) at the input's frame timing; each audio stream is copied
as it was (no re-encode). The output is written to a temporary file beside the target and renamed when it is
complete, so a failure never leaves a half-written file under the output name.

Bad input is one ``VideoError`` line each: not a video, damaged or truncated, no video stream, a codec this FFmpeg
build cannot decode, no face in any frame.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import FsrEdgeError

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v")
_CONTAINER_MAGIC = (b"ftyp", b"\x1aE\xdf\xa3", b"RIFF", b"moov", b"mdat", b"free", b"wide")


class VideoError(FsrEdgeError):
    """A clip that cannot be upscaled; the message is one line naming the file."""


@dataclass
class VideoStats:
    frames: int
    frames_with_faces: int
    detections: int          # frames on which the detector ran
    seconds: float
    codec: str
    audio_streams: int

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def is_video(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def require_av():
    try:
        import av
    except ImportError as err:
        raise FsrEdgeError(f"video needs PyAV ({err}); pip install av") from None
    return av


def _looks_like_container(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError:
        return False
    return any(m in head for m in _CONTAINER_MAGIC)


def _open_input(av, src: Path):
    if not src.is_file():
        raise VideoError(f"{src}: no such file")
    try:
        return av.open(str(src), mode="r")
    except av.FFmpegError as err:
        if src.stat().st_size == 0:
            raise VideoError(f"{src}: empty file") from None
        if _looks_like_container(src):
            raise VideoError(f"{src}: damaged or truncated video ({_reason(err)})") from None
        raise VideoError(f"{src}: not a video file ({_reason(err)})") from None


def _reason(err: Exception) -> str:
    return (getattr(err, "strerror", None) or str(err)).strip().splitlines()[0][:120]


def upscale_video(src: str | os.PathLike, dst: str | os.PathLike, pipeline, *, progress: bool = True,
                  overwrite: bool = False, crf: int = 18, preset: str = "veryfast") -> VideoStats:
    """Restore the faces of every frame of ``src`` with ``pipeline`` (a ``FacePipeline``) into ``dst``.

    ``crf`` / ``preset``: libx264's quality and speed (``ultrafast`` encodes ~3x faster into ~5x larger files).
    """
    import time

    from tqdm import tqdm

    from ..io import atomic_output

    av = require_av()
    src, dst = Path(src), Path(dst)
    if dst.exists() and not overwrite:
        raise VideoError(f"{src}: output {dst} exists; pass --overwrite to replace it")
    if dst.resolve() == src.resolve():
        raise VideoError(f"{src}: output {dst} is the input; choose another -o")
    if dst.suffix.lower() not in VIDEO_SUFFIXES:
        raise VideoError(f"{src}: output {dst} needs a video suffix ({', '.join(VIDEO_SUFFIXES)})")
    container = _open_input(av, src)
    try:
        if not container.streams.video:
            raise VideoError(f"{src}: no video stream")
        vin = container.streams.video[0]
        codec = vin.codec_context.name if vin.codec_context is not None else None
        if not codec or codec == "none":
            tag = getattr(vin.codec_context, "codec_tag", "") if vin.codec_context is not None else ""
            raise VideoError(f"{src}: unsupported video codec{f' ({tag})' if tag else ''}: this FFmpeg build "
                             "cannot decode it")
        vin.thread_type = "AUTO"   # frame-threaded decoding: the decoder works while the pipeline runs
        audio_in = list(container.streams.audio)
        expected = int(vin.frames or 0)
        if not expected and vin.average_rate:
            # Matroska carries no frame count: the header's duration (written when the clip was complete) gives it.
            seconds = float(vin.duration * vin.time_base) if vin.duration and vin.time_base else (
                container.duration / 1e6 if container.duration else 0.0)
            expected = int(round(seconds * float(vin.average_rate)))
        pipeline.reset()
        stats = VideoStats(0, 0, 0, 0.0, "", len(audio_in))
        t_start = time.perf_counter()
        with atomic_output(dst) as tmp:
            try:
                out = av.open(str(tmp), mode="w", format=_format_for(dst))
            except av.FFmpegError as err:
                raise VideoError(f"{src}: cannot write {dst.suffix} ({_reason(err)})") from None
            try:
                vout = None
                audio_out = {}
                for a in audio_in:
                    try:
                        audio_out[a.index] = out.add_stream_from_template(a)
                    except (av.FFmpegError, ValueError) as err:
                        raise VideoError(f"{src}: audio codec {a.codec_context.name} cannot be copied into "
                                         f"{dst.suffix} ({_reason(err)})") from None
                bar = tqdm(total=expected or None, unit="frame", desc=f"upscale {src.name}", disable=not progress,
                           dynamic_ncols=True)
                pending_audio = []   # audio packets that arrive before the video stream exists in the output
                try:
                    for packet in container.demux(vin, *audio_in):
                        if packet.stream.type == "audio":
                            if packet.dts is None:
                                continue
                            packet.stream = audio_out[packet.stream.index]
                            if vout is None:
                                pending_audio.append(packet)
                            else:
                                out.mux(packet)
                            continue
                        try:
                            frames = packet.decode()
                        except av.FFmpegError as err:
                            raise VideoError(f"{src}: damaged or truncated video at frame {stats.frames} "
                                             f"({_reason(err)})") from None
                        for frame in frames:
                            rgb = frame.to_ndarray(format="rgb24")
                            if vout is None:
                                vout = _video_stream(out, vin, rgb.shape, crf, preset)
                                stats.codec = vout.codec_context.name
                                for p in pending_audio:
                                    out.mux(p)
                                pending_audio = []
                            t = float(frame.time) if frame.time is not None else stats.frames / 30.0
                            res = pipeline(rgb, t, inplace=True)
                            stats.frames += 1
                            stats.frames_with_faces += bool(res.faces)
                            stats.detections += res.detected
                            vf = av.VideoFrame.from_ndarray(res.frame, format="rgb24")
                            if frame.pts is not None:
                                vf.pts, vf.time_base = frame.pts, frame.time_base
                            else:   # some AVI streams carry no timestamps: number the frames at the stream's rate
                                vf.pts, vf.time_base = stats.frames - 1, 1 / Fraction(vin.average_rate or 30)
                            out.mux(vout.encode(vf.reformat(format=vout.codec_context.pix_fmt)))
                            bar.update(1)
                    if vout is not None:
                        out.mux(vout.encode(None))
                finally:
                    bar.close()
            finally:
                out.close()
            stats.seconds = time.perf_counter() - t_start
            if stats.frames == 0:
                raise VideoError(f"{src}: damaged or truncated video: no frame could be decoded")
            if expected and stats.frames < 0.9 * expected - 1:
                raise VideoError(f"{src}: truncated video: decoded {stats.frames} of {expected} frames")
            if stats.frames_with_faces == 0:
                raise VideoError(f"{src}: no face found in any of its {stats.frames} frames")
    except av.FFmpegError as err:
        raise VideoError(f"{src}: video error ({_reason(err)})") from None
    finally:
        container.close()
    return stats


def _format_for(dst: Path) -> str:
    return {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".avi": "avi", ".webm": "webm"}[dst.suffix.lower()]


def _video_stream(out, vin, shape, crf: int, preset: str):
    import av

    h, w = shape[:2]
    rate = vin.average_rate or vin.guessed_rate or 30
    # H.264 in 4:2:0 needs even sides; an odd-sized clip keeps its size in 4:4:4.
    pix_fmt = "yuv420p" if h % 2 == 0 and w % 2 == 0 else "yuv444p"
    webm = out.format.name == "webm"
    for name in (("libvpx-vp9",) if webm else ("libx264", "mpeg4")):
        if name in av.codecs_available:
            break
    else:
        raise VideoError(f"no video encoder for {out.format.name} in this FFmpeg build")
    stream = out.add_stream(name, rate=rate)
    stream.width, stream.height = w, h
    if name == "mpeg4":
        pix_fmt = "yuv420p"
        stream.width, stream.height = w - w % 2, h - h % 2
        stream.bit_rate = max(2_000_000, int(w * h * float(rate) * 0.15))
    stream.pix_fmt = pix_fmt
    if name == "libx264":
        stream.options = {"crf": str(crf), "preset": preset}
    stream.codec_context.time_base = vin.time_base
    return stream


# ---------------------------------------------------------------- flicker on a synthetic pan/zoom clip


def pan_zoom_matrices(frames: int, *, fps: float = 30.0, base_scale: float, centre: tuple[float, float],
                      frame_size: tuple[int, int], pan_px: float = 60.0, zoom: float = 0.12) -> list[np.ndarray]:
    """Known still -> frame affine matrices (2x3): the still's ``centre`` drifts ``pan_px`` left-right and the
    scale breathes by +-``zoom`` around ``base_scale``, one slow cycle over the clip."""
    h, w = frame_size
    mats = []
    for i in range(frames):
        phase = 2 * math.pi * i / max(frames - 1, 1)
        s = base_scale * (1.0 + zoom * math.sin(phase))
        cx = w / 2 + pan_px * math.sin(phase / 2 + 0.3)
        cy = h / 2 + 0.3 * pan_px * math.cos(phase)
        mats.append(np.array([[s, 0.0, cx - s * centre[0]], [0.0, s, cy - s * centre[1]]]))
    return mats


def flicker_measure(model, still: np.ndarray, *, frames: int = 60, frame_size: tuple[int, int] = (720, 1280),
                    fps: float = 30.0, detect_every: int = 5) -> dict:
    """Temporal stability of restored faces, with and without One-Euro landmark smoothing.

    ``still`` (H, W, 3) uint8 with one face. Each frame is the still warped by a known pan/zoom. Every output
    frame is warped back into the still's coordinates (the known inverse), so a perfectly stable restoration
    would give the same face every frame. Reported: the mean absolute change of that stabilised face region from
    frame to frame (8-bit levels), for the input frames themselves (the ground truth: only resampling changes it),
    for the restored frames without smoothing and with it; and the landmarks' jitter (frame-to-frame motion of the
    stabilised landmarks) and lag (distance from the known true landmarks), in still pixels.
    """
    import cv2

    from .frames import FacePipeline

    h, w = frame_size
    still_pipe = FacePipeline(model, detect_side=max(still.shape[:2]))
    found = still_pipe.detect(still)
    if not found:
        raise FsrEdgeError("flicker: no face in the still")
    true68 = still_pipe.landmarks(still, found[:1])[0]
    x0, y0, x1, y1 = found[0]
    centre = ((x0 + x1) / 2, (y0 + y1) / 2)
    base = 0.45 * h / (y1 - y0)        # face ~ 45 % of the frame height
    mats = pan_zoom_matrices(frames, fps=fps, base_scale=base, centre=centre, frame_size=frame_size)
    pad = 0.1 * (x1 - x0)
    region = (int(x0 - pad), int(y0 - pad), int(x1 + pad), int(y1 + pad))
    clip = [cv2.warpAffine(still, m, (w, h), flags=cv2.INTER_AREA if m[0, 0] < 1 else cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REFLECT_101) for m in mats]

    def stabilised(img, m):
        rx0, ry0, rx1, ry1 = region
        back = np.linalg.inv(np.vstack([m, [0, 0, 1]]))[:2]
        back = np.array([[1.0, 0, -rx0], [0, 1.0, -ry0]]) @ np.vstack([back, [0, 0, 1]])
        return cv2.warpAffine(img, back, (rx1 - rx0, ry1 - ry0), flags=cv2.INTER_LINEAR).astype(np.float32)

    def change(faces):
        return float(np.mean([np.abs(b - a).mean() for a, b in zip(faces, faces[1:])]))

    result = {"frames": frames, "fps": fps, "frame_size": [h, w], "detect_every": detect_every,
              "truth": {"face_change": change([stabilised(f, m) for f, m in zip(clip, mats)])}}
    # The floor: the same restoration aligned with the exact landmarks (the still's, moved by the known motion).
    from . import _cv

    oracle = FacePipeline(model)
    exact = []
    for frame, m in zip(clip, mats):
        lm = true68 @ m[:, :2].T + m[:, 2]
        matrix, lr = _cv.align_lr(frame, lm, lr_size=oracle.lr_size, scale=oracle.scale)
        out = frame.copy()
        _cv.paste_roi(out, oracle.upscale(lr[None])[0], matrix)
        exact.append(stabilised(out, m))
    result["exact landmarks"] = {"face_change": change(exact), "landmark_jitter_px": 0.0, "landmark_error_px": 0.0,
                                 "frames_with_face": frames}
    for label, smooth in (("raw landmarks", False), ("One-Euro", True)):
        pipe = FacePipeline(model, detect_every=detect_every, smooth=smooth)
        faces, lm_still, lag = [], [], []
        for i, (frame, m) in enumerate(zip(clip, mats)):
            res = pipe(frame, i / fps)
            faces.append(stabilised(res.frame, m))
            if res.faces:
                lm = res.faces[0].landmarks68
                inv = np.linalg.inv(np.vstack([m, [0, 0, 1]]))
                lm_still.append(lm @ inv[:2, :2].T + inv[:2, 2])
                lag.append(float(np.linalg.norm(lm_still[-1] - true68, axis=1).mean()))
        jitter = [float(np.linalg.norm(b - a, axis=1).mean()) for a, b in zip(lm_still, lm_still[1:])]
        result[label] = {"face_change": change(faces), "landmark_jitter_px": float(np.mean(jitter)) if jitter else None,
                         "landmark_error_px": float(np.mean(lag)) if lag else None,
                         "frames_with_face": len(lm_still)}
    return result


def flicker_report(model, *, raw_dir: str | os.PathLike | None, out_dir: str | os.PathLike) -> Path:
    """Run ``flicker_measure`` on a raw photo (or skimage's astronaut) and write flicker.json / flicker.md."""
    from ..io import atomic_write_json, atomic_write_text, read_image

    if raw_dir is not None and sorted(Path(raw_dir).glob("*.jpg")):
        src = sorted(Path(raw_dir).glob("*.jpg"))[0]
        still = np.rint(read_image(src).rgb * 255).astype(np.uint8)
        name = src.name
    else:
        import skimage.data

        still, name = skimage.data.astronaut(), "skimage astronaut"
    res = flicker_measure(model, still)
    res["still"] = name
    out_dir = Path(out_dir)
    atomic_write_json(out_dir / "flicker.json", res)
    lines = ["# Flicker of restored faces on a synthetic pan/zoom clip", "",
             f"Still: {name}; {res['frames']} frames of {res['frame_size'][1]}x{res['frame_size'][0]} at {res['fps']:.0f} fps, "
             "known pan (+-60 px) and zoom (+-12 %); detection every "
             f"{res['detect_every']} frames, tracking in between. Each output frame is warped back into the still's "
             "coordinates with the known inverse: a stable restoration changes only by resampling.", "",
             "| landmarks | face change / frame (8-bit levels) | vs truth | landmark jitter (px / frame) | landmark error (px) |",
             "|---|---:|---:|---:|---:|",
             f"| input frames (truth) | {res['truth']['face_change']:.2f} | 1.00x | - | - |"]
    for label in ("exact landmarks", "raw landmarks", "One-Euro"):
        r = res[label]
        lines.append(f"| restored, {label} | {r['face_change']:.2f} | {r['face_change'] / res['truth']['face_change']:.2f}x | "
                     f"{r['landmark_jitter_px']:.2f} | {r['landmark_error_px']:.2f} |")
    lines += ["", "Landmark jitter: mean frame-to-frame motion of the 68 landmarks after undoing the known pan/zoom "
              "(0 for a perfectly stable track). Landmark error: mean distance from the still's own landmarks "
              "mapped through the known motion (smoothing trades jitter for lag). `exact landmarks`: the same "
              "restoration aligned with those true landmarks, the floor any tracker can reach. Restored faces hold "
              "less fine detail than the input, so their change can sit below the input's.", ""]
    atomic_write_text(out_dir / "flicker.md", "\n".join(lines))
    return out_dir / "flicker.md"


def make_pan_zoom_clip(path: str | os.PathLike, still: np.ndarray, *, frames: int = 30, frame_size=(360, 640),
                       fps: int = 30, audio: bool = True, face_height: float = 0.45) -> list[np.ndarray]:
    """Write an H.264 clip of ``still`` (uint8 RGB, one face) under a known slow pan/zoom, with a 440 Hz AAC tone
    when ``audio``; returns the still -> frame matrices. For tests and the docs' round trip."""
    import cv2

    av = require_av()
    h, w = frame_size
    sh, sw = still.shape[:2]
    mats = pan_zoom_matrices(frames, fps=fps, base_scale=face_height * h / (0.5 * sh), centre=(sw / 2, sh / 2),
                             frame_size=frame_size, pan_px=0.05 * w, zoom=0.08)
    with av.open(str(path), mode="w") as out:
        vs = out.add_stream("libx264" if "libx264" in av.codecs_available else "mpeg4", rate=fps)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        if audio:
            aus = out.add_stream("aac", rate=44100)
            aus.layout = "mono"
        n_audio = 0
        for i, m in enumerate(mats):
            img = cv2.warpAffine(still, m, (w, h), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT_101)
            vf = av.VideoFrame.from_ndarray(img, format="rgb24")
            vf.pts = i
            out.mux(vs.encode(vf.reformat(format="yuv420p")))
            while audio and n_audio < (i + 1) * 44100 // fps:
                t = (n_audio + np.arange(1024)) / 44100
                af = av.AudioFrame.from_ndarray((0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None], format="fltp",
                                                layout="mono")
                af.sample_rate, af.pts = 44100, n_audio
                out.mux(aus.encode(af))
                n_audio += 1024
        out.mux(vs.encode(None))
        if audio:
            out.mux(aus.encode(None))
    return mats
