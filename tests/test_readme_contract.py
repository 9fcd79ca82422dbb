"""The README's test command is what CI runs: keep the two identical."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _bash_blocks(text: str) -> list[str]:
    blocks, inside, cur = [], False, []
    for line in text.splitlines():
        if line.strip().startswith("```bash"):
            inside, cur = True, []
        elif line.strip() == "```" and inside:
            inside = False
            blocks.append("\n".join(cur).strip())
        elif inside:
            cur.append(line)
    return blocks


def test_ci_runs_the_readme_test_command():
    blocks = _bash_blocks((REPO / "README.md").read_text())
    test_cmd = next(b for b in blocks if "pytest" in b)
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    assert test_cmd in ci, f"README test command not found verbatim in .ci/run: {test_cmd}"


def test_readme_main_job_runs_the_pipeline():
    blocks = _bash_blocks((REPO / "README.md").read_text())
    assert any(b.rstrip().endswith("fsr-edge pipeline") for b in blocks)
