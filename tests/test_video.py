"""``fsr-edge upscale clip.mp4 -o out.mp4``: a real clip round-trips (frames, size, timing, audio copied as it was),
every kind of bad input is one line and exit 1 with nothing left under the output name, and landmark smoothing
lowers the flicker of restored faces on a known pan/zoom."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("dlib", reason="fsr_edge[faces] (dlib-bin) not installed")
pytest.importorskip("cv2", reason="opencv-python-headless not installed")
av = pytest.importorskip("av", reason="PyAV not installed")

from fsr_edge.cli import main  # noqa: E402
from fsr_edge.faces.video import flicker_measure, make_pan_zoom_clip  # noqa: E402


@pytest.fixture(scope="module")
def still():
    import skimage.data

    return np.ascontiguousarray(skimage.data.astronaut()[0:280, 100:380])   # head and shoulders


@pytest.fixture(scope="module")
def clip(tmp_path_factory, still):
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    make_pan_zoom_clip(path, still, frames=12, frame_size=(240, 320))
    return path


def _run(capsys, *argv):
    code = main(["upscale", *map(str, argv), "--model", "bicubic-x8", "--no-progress"])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def _packets(path, kind):
    with av.open(str(path)) as c:
        stream = c.streams.audio[0] if kind == "audio" else c.streams.video[0]
        return [bytes(p) for p in c.demux(stream) if p.size]


def test_clip_round_trips_with_its_audio(tmp_path, clip, capsys):
    out = tmp_path / "out.mp4"
    code, stdout, _ = _run(capsys, clip, "-o", out, "--detect-every", "4")
    assert code == 0 and out.exists(), stdout
    assert "12 frames (12 with faces, detector on 3)" in stdout
    with av.open(str(clip)) as a, av.open(str(out)) as b:
        va, vb = a.streams.video[0], b.streams.video[0]
        assert (vb.width, vb.height) == (va.width, va.height)
        assert vb.average_rate == va.average_rate
        assert sum(1 for _ in b.decode(vb)) == 12
        assert b.streams.audio[0].codec_context.name == a.streams.audio[0].codec_context.name
    assert _packets(out, "audio") == _packets(clip, "audio")            # copied, not re-encoded
    assert not list(tmp_path.glob(".tmp-*"))


def test_existing_output_is_kept(tmp_path, clip, capsys):
    out = tmp_path / "out.mp4"
    out.write_bytes(b"keep me")
    code, _, err = _run(capsys, clip, "-o", out)
    assert code == 1 and "exists" in err and out.read_bytes() == b"keep me"


def _not_a_video(tmp_path, clip):
    p = tmp_path / "notes.mp4"
    p.write_text("not a video")
    return p


def _empty(tmp_path, clip):
    p = tmp_path / "empty.mp4"
    p.write_bytes(b"")
    return p


def _first_half(src, dst):
    data = src.read_bytes()
    dst.write_bytes(data[: len(data) // 2])
    return dst


def _truncated_mp4(tmp_path, clip):
    return _first_half(clip, tmp_path / "cut.mp4")    # the index (moov) is at the end: cut off


def _truncated_mkv(tmp_path, still):
    full = tmp_path / "full.mkv"
    make_pan_zoom_clip(full, still, frames=20, frame_size=(240, 320))
    return _first_half(full, tmp_path / "cut.mkv")    # headers intact, half the frames missing


def _no_face(tmp_path, clip):
    p = tmp_path / "grey.mp4"
    with av.open(str(p), "w") as o:
        s = o.add_stream("libx264" if "libx264" in av.codecs_available else "mpeg4", rate=30)
        s.width, s.height, s.pix_fmt = 160, 120, "yuv420p"
        for i in range(6):
            f = av.VideoFrame.from_ndarray(np.full((120, 160, 3), 40 * i, np.uint8), format="rgb24")
            f.pts = i
            o.mux(s.encode(f.reformat(format="yuv420p")))
        o.mux(s.encode(None))
    return p


def _unknown_codec(tmp_path, still):
    full = tmp_path / "ok.mkv"
    make_pan_zoom_clip(full, still, frames=4, frame_size=(120, 160), audio=False)
    data = full.read_bytes()
    assert data.count(b"V_MPEG4/ISO/AVC") == 1
    p = tmp_path / "odd.mkv"
    p.write_bytes(data.replace(b"V_MPEG4/ISO/AVC", b"V_QQQQ4/ISO/QQQ"))     # a codec id no decoder knows
    return p


@pytest.mark.parametrize("make, says", [
    (_not_a_video, "not a video file"),
    (_empty, "empty file"),
    (_truncated_mp4, "damaged or truncated"),
    (_truncated_mkv, "truncated video: decoded"),
    (_no_face, "no face found in any of its 6 frames"),
    (_unknown_codec, "unsupported video codec"),
])
def test_bad_input_is_one_line_and_leaves_nothing(tmp_path, clip, still, capsys, make, says):
    src = make(tmp_path, still if make in (_truncated_mkv, _unknown_codec) else clip)
    out = tmp_path / "result" / "out.mp4"
    code, stdout, err = _run(capsys, src, "-o", out)
    assert code == 1
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and says in lines[0], err
    assert not out.exists() and not list(out.parent.glob(".tmp-*")) if out.parent.exists() else True


def test_smoothing_lowers_flicker(still):
    from fsr_edge.models import load_model

    res = flicker_measure(load_model("bicubic-x8").eval(), still, frames=40, frame_size=(480, 640))
    raw, smooth = res["raw landmarks"], res["One-Euro"]
    assert raw["frames_with_face"] == smooth["frames_with_face"] == 40
    assert smooth["landmark_jitter_px"] < raw["landmark_jitter_px"]
    assert smooth["face_change"] < raw["face_change"]
    assert res["exact landmarks"]["face_change"] <= min(raw["face_change"], smooth["face_change"]) + 1e-6


@pytest.mark.faces
def test_clip_from_a_raw_photo_round_trips(tmp_path, raw_photos, capsys):
    from fsr_edge.io import read_image

    still = np.rint(read_image(raw_photos[0]).rgb * 255).astype(np.uint8)
    clip = tmp_path / "raw.mp4"
    make_pan_zoom_clip(clip, still, frames=8, frame_size=(360, 640))
    out = tmp_path / "raw_out.mp4"
    code, stdout, _ = _run(capsys, clip, "-o", out)
    assert code == 0 and "8 frames (8 with faces" in stdout
    assert _packets(out, "audio") == _packets(clip, "audio")
