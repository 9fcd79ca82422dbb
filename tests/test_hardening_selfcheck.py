"""``fsr-edge selfcheck``: runs the checks it is asked for and prints their counts; a failing check is exit 1."""

from __future__ import annotations

import json

from fsr_edge.cli import main
from fsr_edge.hardening import render_table


def test_selfcheck_runs_a_bounded_fuzz_and_writes_counts(tmp_path, capsys):
    out = tmp_path / "selfcheck.json"
    rc = main(["selfcheck", "--only", "fuzz", "--fuzz-seconds", "3", "-o", str(out)])
    table = capsys.readouterr().out
    assert rc == 0, table
    doc = json.loads(out.read_text())
    fuzz = doc["checks"]["fuzz"]
    assert fuzz["tried"] > 0 and fuzz["crashes"] == 0 and fuzz["hangs"] == 0 and fuzz["ok"]
    row = next(line for line in table.splitlines() if line.startswith("| fuzz |"))
    assert f"| fuzz | {fuzz['tried']} | {fuzz['refused']} | 0 | 0 |" in row   # crashes 0, hangs 0


def test_table_shows_failures_and_unknown_checks_are_one_line(capsys):
    table = render_table({"faults": {"faults_injected": 5, "data_lost": 1, "ok": False,
                                     "problems": ["resumed weights differ"]}})
    assert "**NO**" in table and "resumed weights differ" in table and "| 5 |" in table
    rc = main(["selfcheck", "--only", "inputs,bogus"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "bogus" in err
