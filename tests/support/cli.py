"""`followup ...` run in-process, away from the developer's environment and `.env`."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from testkit.harness import Harness
from worker.cli.app import run_cli
from worker.engine.runtime import build_runtime
from worker.engine.settings import Settings


def settings_env(settings: Settings) -> dict[str, str]:
    """The FOLLOWUP_* variables that load back as `settings` (unset fields are left out)."""
    values = {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)}
    return {f"FOLLOWUP_{k.upper()}": str(v) for k, v in values.items() if v is not None}


class Cli:
    """Runs commands from an empty folder with no FOLLOWUP_* variables; `on(h)` aims it at a
    harness: its database, folders and settings, and its virtual clock."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, workdir: Path) -> None:
        self.monkeypatch, self.workdir = monkeypatch, workdir
        workdir.mkdir(parents=True, exist_ok=True)
        monkeypatch.chdir(workdir)
        for name in [n for n in os.environ if n.startswith("FOLLOWUP_")]:
            monkeypatch.delenv(name)

    def on(self, h: Harness) -> Cli:
        for name, value in settings_env(h.settings).items():
            self.monkeypatch.setenv(name, value)
        self.monkeypatch.setattr(
            "worker.cli.common.build_runtime",
            lambda config: build_runtime(config, clock=h.clock),
        )
        return self

    def __call__(self, *argv: str) -> int:
        """The exit code; what the command printed is in pytest's capsys."""
        return run_cli(list(argv))
