"""Build the bundled quality set: the London val faces (CC BY 4.0) at 256 px, with their landmarks and attribution.

    python tools/make_bundled_faces.py ../shared/data/faces

Writes ``fsr_edge/data/bundled_faces/``: ``NAME.jpg`` (256x256, JPEG quality 95), ``NAME.json`` (``landmarks68``
in the 256 px crop's coordinates), ``manifest.csv`` (split ``val``) and ``README.md`` (source and licence).
Only faces whose manifest row says source_set ``london``, licence ``CC-BY-4.0`` and split ``val`` are taken.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

from PIL import Image

SIZE = 256
OUT = Path(__file__).resolve().parents[1] / "fsr_edge" / "data" / "bundled_faces"

ATTRIBUTION = """# Bundled quality set

24 aligned faces (12 identities, neutral and smiling) of the Face Research Lab London Set, resized to 256x256.
`fsr-edge pipeline` and `fsr-edge export` verify and score on them when no face folder is given.

Licence: CC BY 4.0. Source: Face Research Lab London Set, Lisa DeBruine and Benedict Jones, 2017, figshare,
doi:10.6084/m9.figshare.5047666.v5 (as distributed in the webmorphR.stim collection). Changes: aligned
FFHQ-style from dlib's 68 landmarks, resized from 512 to 256 px, landmarks scaled to match.

These faces are the val split of the project's face set: no bundled weights were trained or calibrated on them.
Rebuild with `python tools/make_bundled_faces.py FACES`.
"""


def main(root: str) -> int:
    root = Path(root)
    with open(root / "manifest.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f)
                if r["split"] == "val" and r["source_set"] == "london" and r["license"] == "CC-BY-4.0"]
    OUT.mkdir(parents=True, exist_ok=True)
    out_rows = []
    for r in rows:
        src = root / r["file"]
        name = src.stem
        img = Image.open(src).convert("RGB")
        factor = SIZE / img.width
        img.resize((SIZE, SIZE), Image.Resampling.LANCZOS).save(OUT / f"{name}.jpg", quality=95)
        lm = json.loads(src.with_suffix(".json").read_text())["landmarks68"]
        (OUT / f"{name}.json").write_text(json.dumps({"landmarks68": [[round(x * factor, 2), round(y * factor, 2)]
                                                                     for x, y in lm]}))
        out_rows.append({**r, "file": f"{name}.jpg"})
    with open(OUT / "manifest.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(out_rows[0]))
        w.writeheader()
        w.writerows(out_rows)
    (OUT / "README.md").write_text(ATTRIBUTION)
    print(f"wrote {len(out_rows)} faces to {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/faces"))
