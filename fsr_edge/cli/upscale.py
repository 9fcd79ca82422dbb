"""``fsr-edge upscale``: super-resolve the faces in photos (or aligned face crops) with a face SR model.

Photos: every face is found (dlib), aligned FFHQ-style at the model's HR size and downsampled to its LR size
exactly as the training pairs were made (antialiased bicubic), restored by the model, and pasted back with a
feathered mask into the whole photo upscaled bicubically by the model's scale. ``--aligned``: each input is
already an aligned LR face crop of the model's ``lr_size``; the output is the model's output.

Outputs are OUT_DIR/STEM.png, alpha carried through (upscaled), 16-bit inputs stay 16-bit. A photo without
a detected face gets the plain bicubic upscale and a warning (``--no-face fail`` makes it a failure
instead). A bad file never stops the batch: failures are listed at the end and the exit code is 1.

Video (``fsr-edge upscale clip.mp4 -o out.mp4``; .mp4 .mov .mkv .avi .webm .m4v): the frames keep their size and
every face is restored in place (fsr_edge.faces.FacePipeline: detection every ``--detect-every`` frames, tracking
in between, One-Euro-smoothed landmarks), re-encoded with H.264; audio is copied as it was. ``-o`` is the output
file (or a folder: OUT_DIR/STEM.mp4). A clip with no face in any frame is a failure; nothing half-written is
left under the output name.
"""

from __future__ import annotations

import argparse


def add_parser(sub, name: str) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help="super-resolve faces in photos or aligned face crops",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders of images")
    p.add_argument("-o", "--out", required=True, metavar="OUT_DIR", help="output folder (OUT_DIR/STEM.png)")
    p.add_argument("--model", default=None, metavar="NAME_OR_PATH",
                   help="bundled model name (see `fsr-edge models`) or a .safetensors file saved by fsr_edge "
                        "(default: the bundled default student, marked in `fsr-edge models`; models marked "
                        "training only are refused)")
    p.add_argument("--aligned", action="store_true",
                   help="inputs are aligned LR face crops of the model's input size (no detection)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs (never an input)")
    p.add_argument("--no-face", choices=("bicubic", "fail"), default="bicubic",
                   help="photo without a detected face: write the bicubic upscale and warn (default), or fail")
    p.add_argument("--upsample", type=int, default=1, metavar="N",
                   help="detector pyramid upsampling; each step finds faces half as small, slower (default 1)")
    p.add_argument("--detector", choices=("blazeface", "hog", "cnn"), default=None,
                   help="face detector: blazeface (MediaPipe's, bundled; video only, the video default), hog "
                        "(dlib, frontal; the photo default, finds faces down to ~40 px) or cnn (dlib MMOD: also "
                        "turned faces, seconds per photo)")
    p.add_argument("--detect-every", type=int, default=5, metavar="N",
                   help="video: run the face detector every N frames, track faces in between (default 5)")
    p.add_argument("--detect-side", type=int, default=640, metavar="PX",
                   help="video with --detector hog or cnn: long side of the detector's working copy; faces down to "
                        "~80 px in it are found (640: ~240 px in a 1080p frame; default 640)")
    p.add_argument("--no-smooth", action="store_true", help="video: no One-Euro smoothing of the landmarks")
    p.add_argument("--preset", default="veryfast",
                   choices=("ultrafast", "superfast", "veryfast", "faster", "fast", "medium"),
                   help="video: H.264 encoder speed (ultrafast: ~3x faster encode, ~5x larger file; default veryfast)")
    p.add_argument("--threads", type=int, default=1, metavar="N",
                   help="video: torch threads for the model (default 1: on shared or busy cores a multi-threaded "
                        "call for one small face waits on descheduled threads; decode and encode use the others)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def run(args: argparse.Namespace) -> int:
    import os
    import sys
    from pathlib import Path

    from tqdm import tqdm

    from ..errors import ConfigError, FsrEdgeError
    from ..io import list_images, output_folder
    from ..models import load_model

    if args.upsample < 0 or args.upsample > 3:
        raise ConfigError(f"--upsample {args.upsample}: must be 0..3")
    args.model = _inference_model(args.model)
    if not args.aligned:
        from ..faces._dlib import require_dlib

        require_dlib()  # photos need face detection: say so once, not once per file
    from ..faces.video import is_video

    if any(is_video(p) for p in args.inputs) or is_video(args.out):
        return _run_videos(args)
    if args.detector == "blazeface":
        raise ConfigError("--detector blazeface is the video detector (its 192 px input misses the ~30 px faces "
                          "of a photo); photos use hog (default) or cnn")
    files = list_images(args.inputs)
    if not files:
        raise ConfigError(f"no image files in {' '.join(args.inputs)}")
    out_dir = output_folder(args.out)
    model = load_model(args.model)
    inputs = {Path(os.path.realpath(p)) for p in files}  # realpath: a link loop is reported when read, not here
    written: dict[Path, Path] = {}
    failures: list[str] = []
    for path in tqdm(files, desc=f"upscale x{model.scale}", unit="img", disable=args.no_progress):
        target = out_dir / f"{path.stem}.png"
        try:
            key = Path(os.path.realpath(target))
            if key in inputs:
                raise FsrEdgeError(f"{path}: output {target} is an input file; choose another -o OUT_DIR")
            if key in written:
                raise FsrEdgeError(f"{path}: output {target} was already written from {written[key]} in this run "
                                   "(same file stem); rename one of them")
            note = _upscale_file(path, target, model, args)
            written[key] = path
            if note:
                tqdm.write(f"fsr-edge upscale: warning: {note}", file=sys.stderr)
        except FsrEdgeError as err:
            failures.append(str(err))
            tqdm.write(f"fsr-edge upscale: error: {err}", file=sys.stderr)
    print(f"upscaled {len(written)} of {len(files)} file(s) x{model.scale} to {out_dir}"
          + (f"; {len(failures)} failed:" if failures else ""))
    for line in failures:
        print(f"  {line}", file=sys.stderr)
    return 1 if failures else 0


def _upscale_file(path, target, model, args: argparse.Namespace) -> str | None:
    """Read, upscale and write one file; returns a warning line or None. Raises FsrEdgeError for this file."""
    from ..errors import ImageError
    from ..faces import bicubic_upscale, upscale_aligned, upscale_photo
    from ..io import read_image, write_png

    if target.exists() and not args.overwrite:  # before any work: the batch may be long
        raise ImageError(f"{path}: output {target} exists; pass --overwrite to replace it")
    image = read_image(path)
    note = None
    if args.aligned:  # the crop must be lr_size square, so its output is always small
        sr = upscale_aligned(image.rgb, model, name=str(path))
        alpha = None if image.alpha is None else bicubic_upscale(image.alpha[..., None], model.scale)[..., 0]
    else:
        result = upscale_photo(image.rgb, model, alpha=image.alpha, upsample=args.upsample,
                              detector=args.detector or "hog", name=str(path))
        sr, alpha = result.rgb, result.alpha
        # A face much larger than the model's input loses detail on the way through it; say so once per file.
        big = [a.photo_size for a in result.aligned if a.photo_size > 2 * model.lr_size]
        if big:
            note = (f"{path}: {len(big)} face(s) up to {max(big):.0f} px across, seen by the model at "
                    f"{model.lr_size} px: the restored face can hold less detail than the photo; downscale "
                    "the photo first for this model")
        if not result.faces:
            if args.no_face == "fail":
                raise ImageError(f"{path}: no face found (try --upsample 2 for small faces, or --no-face bicubic)")
            note = f"{path}: no face found; wrote the plain bicubic x{model.scale} upscale"
    write_png(target, sr, alpha=alpha, bit_depth=image.bit_depth, overwrite=args.overwrite)
    return note


def _run_videos(args: argparse.Namespace) -> int:
    """Each input clip -> its output clip; one line per failure, exit 1 if any failed."""
    import sys
    from pathlib import Path

    from ..errors import ConfigError, FsrEdgeError
    from ..faces.video import VIDEO_SUFFIXES, is_video, require_av, upscale_video

    if args.aligned:
        raise ConfigError("--aligned takes aligned face crops, not video")
    if args.detect_every < 1:
        raise ConfigError(f"--detect-every {args.detect_every}: must be >= 1")
    if args.detect_side < 64:
        raise ConfigError(f"--detect-side {args.detect_side}: must be >= 64")
    others = [p for p in args.inputs if not is_video(p)]
    if others:
        raise ConfigError(f"video and images cannot be mixed in one run ({others[0]} is not a "
                          f"{'/'.join(VIDEO_SUFFIXES)} file)")
    out = Path(args.out)
    if is_video(out) and len(args.inputs) > 1:
        raise ConfigError(f"-o {out} is one file but {len(args.inputs)} clips were given; pass a folder")
    require_av()
    from ..faces._cv import require_cv2
    from ..faces.frames import FacePipeline
    from ..models import load_model

    require_cv2()
    import torch

    torch.set_num_threads(max(1, args.threads))
    model = load_model(args.model).eval()
    pipe = FacePipeline(model, detector=args.detector or "blazeface", detect_side=args.detect_side, upsample=0,
                        detect_every=args.detect_every, smooth=not args.no_smooth)
    failures = 0
    for src in args.inputs:
        target = out if is_video(out) else out / f"{Path(src).stem}.mp4"
        try:
            stats = upscale_video(src, target, pipe, progress=not args.no_progress, overwrite=args.overwrite,
                                  preset=args.preset)
        except FsrEdgeError as err:
            failures += 1
            print(f"fsr-edge upscale: error: {err}", file=sys.stderr)
            continue
        print(f"{src} -> {target}: {stats.frames} frames ({stats.frames_with_faces} with faces, detector on "
              f"{stats.detections}), {stats.fps:.1f} frames/s, {stats.codec}, {stats.audio_streams} audio stream(s) copied")
    return 1 if failures else 0


def _inference_model(name: str | None) -> str:
    """--model, or the bundled default student; a model meant only for training is refused in one line."""
    from ..errors import ConfigError
    from ..exporters.pipeline import default_student
    from ..models import training_only

    name = name or default_student()
    if training_only(name):
        raise ConfigError(f"--model {name}: meant only for training (its input is not a low-resolution face); "
                          f"use an upscaling model such as {default_student()} (see fsr-edge models)")
    return name
