"""Run logs: ``metrics.csv`` (one row per logged step, train and validation columns) and ``loss_curve.png``."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any


class MetricsLog:
    """Append-only CSV that survives resume: rows after the resumed step (logged after the last checkpoint,
    before a kill) are dropped so the log matches the weights."""

    def __init__(self, path: str | Path, *, resume_step: int = 0):
        self.path = Path(path)
        self.rows: list[dict[str, Any]] = []
        self._header: list[str] = []
        if self.path.exists():
            with open(self.path, newline="") as f:
                self.rows = [r for r in csv.DictReader(f) if int(r["step"]) <= resume_step]
            self._rewrite()

    def log(self, row: dict[str, Any]) -> None:
        row = {k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()}
        self.rows.append(row)
        if any(k not in self._header for k in row):  # first row, or a new column: rewrite with the full header
            self._rewrite()
            return
        with open(self.path, "a", newline="") as f:
            csv.DictWriter(f, fieldnames=self._header, restval="").writerow(row)

    def _rewrite(self) -> None:
        self._header = []
        for row in self.rows:
            self._header += [k for k in row if k not in self._header]
        tmp = self.path.with_suffix(".csv.tmp")
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self._header, restval="")
            writer.writeheader()
            writer.writerows(self.rows)
        tmp.replace(self.path)

    def plot(self, path: str | Path, *, title: str = "") -> None:
        """Training loss (log scale) and validation PSNR against step."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        steps = [int(r["step"]) for r in self.rows if r.get("loss") not in (None, "")]
        loss = [float(r["loss"]) for r in self.rows if r.get("loss") not in (None, "")]
        val = [(int(r["step"]), float(r["val_psnr"])) for r in self.rows if r.get("val_psnr") not in (None, "")]
        fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
        if steps:
            ax.plot(steps, loss, lw=0.8, color="tab:blue", label="train loss")
            if all(v > 0 and math.isfinite(v) for v in loss):
                ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_ylabel("train loss", color="tab:blue")
        if val:
            ax2 = ax.twinx()
            ax2.plot(*zip(*val), "o-", color="tab:red", ms=3, label="val PSNR")
            ax2.set_ylabel("val PSNR (dB)", color="tab:red")
        ax.set_title(title)
        fig.tight_layout()
        tmp = Path(path).with_suffix(".tmp.png")
        fig.savefig(tmp)
        plt.close(fig)
        tmp.replace(path)
