"""``fsr-edge bench-photo -o DIR``: what an app pays per frame, stage by stage (detect, landmarks, align, upscale,
paste-back) for 1 and 6 faces at 1080p and 720p, plus each detector's recall on the face set and the flicker of
restored faces on a synthetic pan/zoom clip with and without landmark smoothing. Writes DIR/profile.json and
DIR/profile.md (and DIR/flicker.json, DIR/flicker.md).

Frames are composed from the face set's raw photos (``--faces``, default ../shared/data/faces; without it
skimage's astronaut, and no recall). Timings are warm medians in this process; the machine may be shared, so
the report carries the load average and the ratio whole / upscale from the same run.
"""

from __future__ import annotations

import argparse


def add_parser(sub, name: str) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help="per-stage timing of the face pipeline on 1080p/720p frames (JSON + Markdown)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-o", "--out", required=True, metavar="DIR", help="report folder")
    p.add_argument("--model", default=None, metavar="NAME_OR_PATH",
                   help="SR model (default: the bundled default student, the one an app ships)")
    p.add_argument("--faces", default=None, metavar="DIR",
                   help="face set folder (raw/ photos, manifest.csv); default ../shared/data/faces when present")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads for the model (default 1, as `fsr-edge upscale` uses for video)")
    p.add_argument("--iterations", type=int, default=15, help="warm calls per row (default 15)")
    p.add_argument("--detector", choices=("blazeface", "hog", "cnn"), default="blazeface",
                   help="frame detector: blazeface (MediaPipe's, bundled; default) or dlib's hog / cnn")
    p.add_argument("--detect-side", type=int, default=640, metavar="PX",
                   help="hog / cnn: the detector working copy's long side (default 640)")
    p.add_argument("--detect-every", type=int, default=5, metavar="N", help="clip mode: detect every N frames")
    p.add_argument("--sizes", default="1080p,720p", help="frame sizes (default 1080p,720p)")
    p.add_argument("--no-recall", action="store_true", help="skip detector recall on the face set")
    p.add_argument("--no-flicker", action="store_true", help="skip the flicker measure on a synthetic clip")
    return p


def run(args: argparse.Namespace) -> int:
    import os
    from pathlib import Path

    import torch

    from ..bench import photo
    from ..errors import ConfigError
    from ..models import load_model

    if args.iterations < 3:
        raise ConfigError("--iterations must be >= 3 (medians)")
    torch.set_num_threads(args.threads)
    faces = Path(args.faces) if args.faces else Path(__file__).resolve().parents[2].parent / "shared" / "data" / "faces"
    if args.faces and not (faces / "raw").is_dir():
        raise ConfigError(f"--faces {faces}: no raw/ folder of photos")
    raw = faces / "raw" if (faces / "raw").is_dir() else None
    if args.model is None:
        from ..exporters.pipeline import default_student

        args.model = default_student()
    model = load_model(args.model).eval()
    sizes = tuple(s.strip() for s in args.sizes.split(",") if s.strip())
    bad = [s for s in sizes if s not in photo.FRAME_SIZES]
    if bad:
        raise ConfigError(f"--sizes: unknown {bad}; choose from {sorted(photo.FRAME_SIZES)}")
    load_before = os.getloadavg()
    print(f"[bench-photo] profile: {args.model}, sizes {','.join(sizes)}, {args.iterations} warm calls per row", flush=True)
    prof = photo.profile_pipeline(model, raw_dir=raw, detector=args.detector, detect_side=args.detect_side,
                                  detect_every=args.detect_every, iterations=args.iterations, sizes=sizes)
    detect_how = ("MediaPipe's BlazeFace full-range (LiteRT) on the frame letterboxed to 192 px"
                  if args.detector == "blazeface" else f"dlib {args.detector.upper()} on a grey {args.detect_side} px "
                                                       "copy (upsample 0)")
    report = {"model": args.model, "threads": args.threads, "profile": prof, "detector": args.detector,
              "how": (f"detect: {detect_how}; landmarks: dlib 68 points "
                      "at full resolution; align: one cv2.warpAffine to the HR-size FFHQ crop + antialiased bicubic to "
                      "the model input; upscale: all faces in one model call; paste: feathered blend in each "
                      "face's ROI (uint8, premultiplied).")}
    if raw is not None:
        print("[bench-photo] aligned LR face: frame path vs photo path", flush=True)
        report["align_psnr"] = photo.align_psnr(raw, lr_size=int(model.lr_size), scale=int(model.scale))
    if raw is not None and not args.no_recall and (faces / "manifest.csv").exists():
        print("[bench-photo] detector recall on the face set", flush=True)
        report["recall"] = photo.detector_recall(faces, [
            {"label": "BlazeFace full-range, frame letterboxed to 192 px (frame path default)", "kind": "frames",
             "detector": "blazeface"},
            {"label": f"dlib HOG, grey {args.detect_side} px copy, upsample 0 (frame path, --detector hog)",
             "kind": "frames", "detector": "hog", "detect_side": args.detect_side, "upsample": 0},
            {"label": "dlib HOG, grey 480 px copy, upsample 0", "kind": "frames", "detector": "hog",
             "detect_side": 480, "upsample": 0},
            {"label": "dlib HOG, 800 px copy, upsample 1 (photo path, detect_faces)", "kind": "detect_faces",
             "upsample": 1},
        ])
    report["machine"] = {"cpus": os.cpu_count(), "load_before": load_before, "load_after": os.getloadavg(),
                         "torch": torch.__version__}
    out = photo.write_profile_report(report, args.out)
    print(f"[bench-photo] wrote {out}")
    if not args.no_flicker:
        from ..faces.video import flicker_report

        print("[bench-photo] flicker on a synthetic pan/zoom clip", flush=True)
        path = flicker_report(model, raw_dir=raw, out_dir=Path(args.out))
        print(f"[bench-photo] wrote {path}")
    return 0
