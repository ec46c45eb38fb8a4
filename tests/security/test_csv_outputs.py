"""Finding 10: every CSV the tool writes neutralises cells a spreadsheet would run as formulas
(`=`, `+`, `-`, `@`, tab, CR): the --rejects file as well as the log and the report."""

from __future__ import annotations

import ast
import csv
from pathlib import Path

import pytest

from testkit.harness import Harness
from tests.security.conftest import cli_env
from worker.cli.app import run_cli

FORMULAS = ['=HYPERLINK("https://evil.example","x")', "@SUM(1)", "-1+2", "+1", "\t=1", "\r=1"]
REPOSITORY = Path(__file__).resolve().parents[2]
WRITERS = ("writer", "DictWriter")


def test_the_rejects_file_neutralises_formula_cells(
    h: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding 10: rejected rows (their email, reason, values and even the header) are written
    with a leading quote before any formula start."""
    cli_env(h, tmp_path, monkeypatch)
    source = tmp_path / "leads.csv"
    with source.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "=cmd|' /C calc'!A0"])
        for formula in FORMULAS:
            writer.writerow([formula, formula])
    rejects = tmp_path / "rejects.csv"
    assert run_cli(["leads", "import", str(source), "--rejects", str(rejects)]) == 0
    with rejects.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    cells = [cell for row in rows for cell in row]
    assert len(rows) == 1 + len(FORMULAS)
    assert all(not cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in cells)
    assert "'=cmd|' /C calc'!A0" in rows[0]
    assert rows[1][1].startswith("'=HYPERLINK")


def test_no_csv_writer_bypasses_the_neutralising_one() -> None:
    """Finding 10: worker/ makes csv writers in one module only, the one that neutralises."""
    writers = []
    for path in sorted((REPOSITORY / "worker").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            called = node.func if isinstance(node, ast.Call) else None
            if not (isinstance(called, ast.Attribute) and called.attr in WRITERS):
                continue
            if isinstance(called.value, ast.Name) and called.value.id == "csv":
                writers.append(path.relative_to(REPOSITORY).as_posix())
    assert writers == ["worker/engine/csv_out.py"]
