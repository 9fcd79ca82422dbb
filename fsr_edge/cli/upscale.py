"""``fsr-edge upscale``: super-resolve the faces in photos (or aligned face crops) with a face SR model.

Photos: every face is found (dlib), aligned FFHQ-style at the model's HR size and downsampled to its LR size
exactly as the training pairs were made (antialiased bicubic), restored by the model, and pasted back with a
feathered mask into the whole photo upscaled bicubically by the model's scale. ``--aligned``: each input is
already an aligned LR face crop of the model's ``lr_size``; the output is the model's output.

Outputs are OUT_DIR/STEM.png, alpha carried through (upscaled), 16-bit inputs stay 16-bit. A photo without
a detected face gets the plain bicubic upscale and a warning (``--no-face fail`` makes it a failure
instead). A bad file never stops the batch: failures are listed at the end and the exit code is 1.
"""

from __future__ import annotations

import argparse


def add_parser(sub, name: str) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help="super-resolve faces in photos or aligned face crops",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders of images")
    p.add_argument("-o", "--out", required=True, metavar="OUT_DIR", help="output folder (OUT_DIR/STEM.png)")
    p.add_argument("--model", required=True, metavar="NAME_OR_PATH",
                   help="bundled model name (see `fsr-edge models`) or a .safetensors file saved by fsr_edge")
    p.add_argument("--aligned", action="store_true",
                   help="inputs are aligned LR face crops of the model's input size (no detection)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs (never an input)")
    p.add_argument("--no-face", choices=("bicubic", "fail"), default="bicubic",
                   help="photo without a detected face: write the bicubic upscale and warn (default), or fail")
    p.add_argument("--upsample", type=int, default=1, metavar="N",
                   help="detector pyramid upsampling; each step finds faces half as small, slower (default 1)")
    p.add_argument("--detector", choices=("hog", "cnn"), default="hog",
                   help="dlib face detector: hog (fast, frontal) or cnn (MMOD: also turned faces, seconds per photo)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def run(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from tqdm import tqdm

    from ..errors import ConfigError, FsrEdgeError
    from ..io import list_images
    from ..models import load_model

    if args.upsample < 0 or args.upsample > 3:
        raise ConfigError(f"--upsample {args.upsample}: must be 0..3")
    if not args.aligned:
        from ..faces._dlib import require_dlib

        require_dlib()  # photos need face detection: say so once, not once per file
    files = list_images(args.inputs)
    if not files:
        raise ConfigError(f"no image files in {' '.join(args.inputs)}")
    model = load_model(args.model)
    out_dir = Path(args.out)
    inputs = {p.resolve() for p in files}
    written: dict[Path, Path] = {}
    failures: list[str] = []
    for path in tqdm(files, desc=f"upscale x{model.scale}", unit="img", disable=args.no_progress):
        target = out_dir / f"{path.stem}.png"
        try:
            key = target.resolve()
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
                              detector=args.detector, name=str(path))
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
