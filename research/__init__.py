"""Research code, kept out of the wheel: report generators (``report_pisr``, ``report_mskd``), experiment drivers
and their table (``mskd_x8_cpu.sh``/``mskd_x8_gpu.sh``, ``mskd_experiments``), the export study, the release
step that copies trained runs into place (``bundle``), and the weights only reports use (``weights/``). Run from
the repository root: ``python -m research.report_pisr``. Reports write to docs/results/ only.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# weights only the reports use (ablations): rebuilt by training their recipe, then `python -m research.bundle pisr`
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


def model_source(name: str, stem: str) -> str | Path | None:
    """What ``fsr_edge.models.load_model`` takes for a report row: the bundled ``name`` when the product ships
    it, else the research copy ``weights/<stem>.safetensors``, else None (not trained here)."""
    from fsr_edge.models import list_models

    if name in list_models(pretrained=True):
        return name
    path = WEIGHTS_DIR / f"{stem}.safetensors"
    return path if path.exists() else None


def facts_file(stem: str) -> Path:
    """The training facts (``<stem>.json``) beside a row's weights, wherever they live."""
    from fsr_edge.models._registry import WEIGHTS_DIR as PACKAGE_WEIGHTS

    research = WEIGHTS_DIR / f"{stem}.json"
    return research if research.exists() else PACKAGE_WEIGHTS / f"{stem}.json"
