"""`followup ...` run in-process, away from the developer's environment and `.env`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from testkit.harness import Harness
from worker.cli.app import run_cli
from worker.cli.context import CliContext
from worker.engine.clock import Clock
from worker.engine.settings import Settings


class Cli:
    """Runs commands from an empty folder with no FOLLOWUP_* variables; `on(h)` aims it at a
    harness through the CLI's context object: its settings (database, folders, secret) and its
    virtual clock."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, workdir: Path) -> None:
        self.workdir = workdir
        self.settings: Settings | None = None  # None: commands read the (emptied) environment
        self.clock: Clock | None = None
        workdir.mkdir(parents=True, exist_ok=True)
        monkeypatch.chdir(workdir)
        for name in [n for n in os.environ if n.startswith("FOLLOWUP_")]:
            monkeypatch.delenv(name)

    def on(self, h: Harness, **changes: Any) -> Cli:
        """Commands see h's settings (with `changes`, e.g. another sequences_dir) and clock."""
        self.settings = h.settings.with_(**changes)
        self.clock = h.clock
        return self

    def __call__(self, *argv: str) -> int:
        """The exit code; what the command printed is in pytest's capsys."""
        if self.settings is None or self.clock is None:
            return run_cli(list(argv))
        return run_cli(list(argv), CliContext(settings=self.settings, clock=self.clock))
