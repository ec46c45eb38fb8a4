"""The installed `followup` executable, run as a user runs it: usage errors are one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

FOLLOWUP = Path(sys.executable).with_name("followup")


def run_installed(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`followup ARGS` in a subprocess, in an empty folder, with no FOLLOWUP_ settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOLLOWUP_")}
    return subprocess.run(
        [str(FOLLOWUP), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["frobnicate"], "error: No such command 'frobnicate'."),
        (["leads", "import"], "error: Missing argument 'FILE'."),
        (["api", "--port", "abc"], "error: Invalid value for '--port': "),
        (["compliance", "report", "--by"], "error: Option '--by' requires an argument."),
    ],
    ids=["unknown command", "missing argument", "bad option value", "option without value"],
)
def test_a_usage_error_is_one_line_and_exit_2(tmp_path: Path, args: list[str], line: str) -> None:
    """SPEC section 9: bad usage prints one line (no traceback) and exits 2."""
    result = run_installed(*args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    [printed] = result.stderr.splitlines()
    assert printed.startswith(line)


def test_help_lists_the_commands_and_exits_0(tmp_path: Path) -> None:
    """`followup --help` lists everything, on stdout, exit 0."""
    result = run_installed("--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    for command in ("demo", "run", "sequences", "leads", "compliance", "status", "apikey", "db"):
        assert command in result.stdout
