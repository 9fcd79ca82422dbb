"""Keep other libraries' chatter out of a command's output.

Exporting and benchmarking import coremltools, torchao, NNCF, OpenVINO, ExecuTorch and torch.export, which print
warnings, log lines and progress bars of their own; some of it comes from C++ straight to file descriptor 2
(cpuinfo's ``[cpuinfo_utils.cpp...]`` lines), where no Python filter can reach it. So ``Quiet`` points fds 1 and
2 at a temporary file for the duration of the noisy work, and the command writes its own lines through
``Quiet.say``, which goes to the terminal the command started with. Child processes inherit the redirection.

What was held back is replayed on stderr when the block fails, and never held back with ``verbose=True``
(``--verbose``). Warnings raised from fsr_edge's own code still reach the user.
"""

from __future__ import annotations

import io
import logging
import os
import sys
import tempfile
import warnings
from pathlib import Path

_PACKAGE_DIR = str(Path(__file__).resolve().parents[1])  # fsr_edge/: its own warnings are never held back
_THIRD_PARTY_LOGGERS = ("nncf", "openvino", "torch", "torchao", "coremltools", "executorch", "onnxscript", "onnx",
                        "onnxruntime", "matplotlib", "PIL")


def _own_dirs() -> list[str]:
    """fsr_edge's folders: exporters/, calibration/ and recipes/ may sit outside fsr_edge/ in a source checkout."""
    dirs = [_PACKAGE_DIR]
    for name in ("fsr_edge.exporters", "fsr_edge.calibration", "fsr_edge.recipes"):
        module = sys.modules.get(name)
        if getattr(module, "__file__", None):
            dirs.append(str(Path(module.__file__).resolve().parent))
    return dirs


class Quiet:
    """``with Quiet(verbose=args.verbose) as q: ... q.say("own line")``; ``q.held_lines`` after the block."""

    def __init__(self, *, verbose: bool = False):
        self.verbose = verbose
        self.held = ""
        self._out: io.TextIOBase | None = None
        self._err: io.TextIOBase | None = None

    @property
    def held_lines(self) -> int:
        return len([ln for ln in self.held.splitlines() if ln.strip()])

    def say(self, message: str) -> None:
        print(message, file=self._out or sys.stdout, flush=True)

    def warn(self, message: str) -> None:
        print(message, file=self._err or sys.stderr, flush=True)

    def __enter__(self) -> "Quiet":
        if self.verbose:
            return self
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        self._sys = (sys.stdout, sys.stderr)
        # the command's own lines go where they would have gone: the terminal (a dup of fd 1/2), or a Python-level
        # stream that is not an fd at all (pytest's capsys)
        self._out, self._err = self._own_stream(sys.stdout, 1), self._own_stream(sys.stderr, 2)
        self._file = tempfile.TemporaryFile()
        self._saved = {fd: os.dup(fd) for fd in (1, 2)}
        for fd in (1, 2):
            os.dup2(self._file.fileno(), fd)
        held = open(os.dup(self._file.fileno()), "w", buffering=1, encoding="utf-8", errors="replace")
        sys.stdout = sys.stderr = held
        self._showwarning = warnings.showwarning
        warnings.showwarning = self._show_warning
        self._levels = {}
        for name in _THIRD_PARTY_LOGGERS:
            logger = logging.getLogger(name)
            self._levels[name] = logger.level
            logger.setLevel(logging.ERROR)
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if self.verbose:
            return False
        held = sys.stdout
        held.flush()
        sys.stdout, sys.stderr = self._sys
        for fd, saved in self._saved.items():
            os.dup2(saved, fd)
            os.close(saved)
        held.close()
        warnings.showwarning = self._showwarning
        for name, level in self._levels.items():
            logging.getLogger(name).setLevel(level)
        self._file.seek(0)
        self.held = self._file.read().decode("utf-8", errors="replace")
        self._file.close()
        for stream in (self._out, self._err):
            if stream not in self._sys:
                stream.close()
        self._out = self._err = None
        if exc_type is not None and exc_type is not KeyboardInterrupt and self.held.strip():
            # the held-back lines may explain the failure: show them, after the fact
            sys.stderr.write("--- other libraries' output before the error ---\n" + self.held.rstrip("\n") + "\n---\n")
            sys.stderr.flush()
        return False

    @staticmethod
    def _own_stream(stream, fd: int):
        try:
            if stream.fileno() != fd:
                return stream
        except (AttributeError, OSError, io.UnsupportedOperation):
            return stream
        return open(os.dup(fd), "w", buffering=1, encoding=getattr(stream, "encoding", None) or "utf-8",
                    errors="replace")

    def _show_warning(self, message, category, filename, lineno, file=None, line=None):
        own = any(str(filename).startswith(d) for d in _own_dirs())
        target = self._err if own else sys.stderr  # sys.stderr is the held-back file here
        target.write(warnings.formatwarning(message, category, filename, lineno, line))
        target.flush()
