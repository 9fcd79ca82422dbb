"""Product text describes the product, not its development history (history lives in git), and the README
stays short enough to read."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README_MAX_LINES = 200
# a numbered work round: the word, then an optional space or hyphen, then a digit (any case)
HISTORY_NOTE = re.compile(r"session[ -]?[0-9]", re.IGNORECASE)
_WORD = "sess" + "ion"     # spelled in two parts so that this file does not trip its own check


def history_notes(text: str) -> list[tuple[int, str]]:
    """(line number, line) of every line of ``text`` that names a numbered work round."""
    return [(i, line.strip()) for i, line in enumerate(text.splitlines(), 1) if HISTORY_NOTE.search(line)]


def _tracked_text_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    files = []
    for name in out.decode().split("\0"):
        path = REPO / name
        if not name or not path.is_file() or path.is_symlink():
            continue
        head = path.read_bytes()[:8192]
        if b"\0" in head:          # binary (weights, images, archives)
            continue
        files.append(path)
    return files


def test_checker_finds_a_planted_history_note():
    planted = (f"The default student.\nIts crop jitter has been met since {_WORD.title()} 6.\n{_WORD}-12 rows\n"
               f"{_WORD}s of users\n{_WORD}3\n")
    assert [n for n, _ in history_notes(planted)] == [2, 3, 5]
    assert history_notes("an ONNX Runtime InferenceSession; session_options; a pytest fixture scope") == []


@pytest.mark.skipif(shutil.which("git") is None or not (REPO / ".git").exists(),
                    reason="not a git checkout: no tracked-file list")
def test_no_development_history_in_tracked_text():
    found = []
    for path in _tracked_text_files():
        text = path.read_bytes().decode("utf-8", errors="replace")
        found += [f"{path.relative_to(REPO)}:{n}: {line[:120]}" for n, line in history_notes(text)]
    assert not found, "development-history notes in tracked text (history belongs in git):\n" + "\n".join(found)


def test_readme_is_at_most_200_lines():
    n = len((REPO / "README.md").read_text().splitlines())
    assert n <= README_MAX_LINES, f"README.md has {n} lines (at most {README_MAX_LINES}: move detail to docs/)"
