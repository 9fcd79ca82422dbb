"""fsr_edge.cli._quiet.Quiet: other libraries' output (C-level writes to fd 2, child processes, Python warnings,
print) is held back; the command's own lines and warnings from fsr_edge's code still reach the user; what was held
back is shown when the block fails, and nothing is held back with verbose=True."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import pytest

from fsr_edge.cli._quiet import Quiet


def _noise() -> None:
    os.write(2, b"[cpuinfo_utils.cpp:48] cannot read /sys/devices/system/cpu\n")   # C-level, fd 2
    os.write(1, b"W1206 12:00:00.000000 1 torch/utils/_pytree.py:630] deprecated\n")  # C-level, fd 1
    subprocess.run([sys.executable, "-c", "import sys; print('child stdout'); print('child stderr', file=sys.stderr)"],
                   check=True)
    with warnings.catch_warnings():
        warnings.simplefilter("always")  # pytest's own config ignores FutureWarning
        warnings.warn_explicit("FutureWarning from a library", FutureWarning, "/site-packages/lib/copyreg.py", 1)
    print("Failed to load torchao/_C_mxfp8.so")
    print("progress 50%|#####     |", file=sys.stderr)


def test_other_libraries_output_is_held_back(capfd):
    with Quiet() as quiet:
        _noise()
        quiet.say("[pipeline] own line")
    out, err = capfd.readouterr()
    assert out == "[pipeline] own line\n" and err == ""
    for text in ("cpuinfo_utils.cpp", "W1206", "child stdout", "child stderr", "FutureWarning", "_C_mxfp8", "progress"):
        assert text in quiet.held
    assert quiet.held_lines == 7


def test_own_warnings_still_reach_the_user(capfd):
    import fsr_edge.cli._quiet as module

    with Quiet(), warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn_explicit("own warning", UserWarning, module.__file__, 1)
    assert "own warning" in capfd.readouterr().err


def test_held_back_output_is_shown_when_the_block_fails(capfd):
    with pytest.raises(RuntimeError):
        with Quiet():
            os.write(2, b"[cpuinfo_utils.cpp:48] the clue\n")
            raise RuntimeError("boom")
    err = capfd.readouterr().err
    assert "the clue" in err and "before the error" in err


def test_verbose_holds_nothing_back(capfd):
    with Quiet(verbose=True) as quiet:
        os.write(2, b"[cpuinfo_utils.cpp:48] shown\n")
        quiet.say("own")
    out, err = capfd.readouterr()
    assert "shown" in err and "own" in out and quiet.held == ""


def test_streams_and_fds_are_restored(capfd):
    before = (sys.stdout, sys.stderr, os.fstat(1).st_ino, os.fstat(2).st_ino)
    with Quiet():
        print("held")
    assert (sys.stdout, sys.stderr, os.fstat(1).st_ino, os.fstat(2).st_ino) == before
    print("after")
    assert capfd.readouterr().out == "after\n"
