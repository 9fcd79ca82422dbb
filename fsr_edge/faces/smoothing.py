"""One-Euro filter (Casiez, Roussel, Vogel, CHI 2012) for landmarks over video frames.

A low-pass filter whose cutoff rises with speed: a still face's landmark jitter (dlib's is ~1 px from frame
to frame) is smoothed hard, a moving face is followed with little lag. Works on any array shape (here (68, 2)
landmarks in frame pixels); time in seconds.
"""

from __future__ import annotations

import math

import numpy as np


def _alpha(cutoff_hz: float, dt: float) -> float:
    tau = 1.0 / (2.0 * math.pi * cutoff_hz)
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """``smoothed = f(t, x)``. ``min_cutoff`` (Hz): smoothing of a still signal (lower: smoother, more lag);
    ``beta``: how fast the cutoff rises with speed (per unit of ``x`` per second); ``d_cutoff``: of the speed."""

    def __init__(self, *, min_cutoff: float = 1.0, beta: float = 0.05, d_cutoff: float = 1.0):
        self.min_cutoff, self.beta, self.d_cutoff = float(min_cutoff), float(beta), float(d_cutoff)
        self._t: float | None = None
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None

    def reset(self) -> None:
        self._t = self._x = self._dx = None

    def __call__(self, t: float, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if self._t is None or self._x is None or t <= self._t:
            self._t, self._x, self._dx = t, x.copy(), np.zeros_like(x)
            return x.copy()
        dt = t - self._t
        dx = (x - self._x) / dt
        self._dx = self._dx + _alpha(self.d_cutoff, dt) * (dx - self._dx)
        # One cutoff for the whole shape, from its mean speed: the points of a face move together, and a
        # per-point cutoff would let the landmarks drift apart (the crop would wobble in scale).
        speed = float(np.sqrt((self._dx ** 2).sum(-1)).mean()) if x.ndim > 1 else float(np.abs(self._dx).mean())
        a = _alpha(self.min_cutoff + self.beta * speed, dt)
        self._x = self._x + a * (x - self._x)
        self._t = t
        return self._x.copy()
