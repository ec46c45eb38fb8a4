"""Bad alerts/webhooks input in team.yaml: `sequences check` names file:line, nothing starts."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from testkit.harness import TEST_SECRET, template, write_files
from tests.unit.test_alert_specs import ENVIRON, SEQUENCE, TEAM
from worker.cli.app import run_cli


def test_sequences_check_names_the_file_and_line_and_starts_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`followup sequences check` exits 1 with file:line; `followup run` refuses to start."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("FOLLOWUP_"):
            monkeypatch.delenv(name)
    write_files(tmp_path / "sequences", {"quick.yaml": SEQUENCE, "team.yaml": TEAM})
    write_files(tmp_path / "templates", {"t/hello.j2": template("Hello")})
    monkeypatch.setenv("FOLLOWUP_SEQUENCES_DIR", str(tmp_path / "sequences"))
    monkeypatch.setenv("FOLLOWUP_TEMPLATES_DIR", str(tmp_path / "templates"))
    monkeypatch.setenv("FOLLOWUP_DATABASE_URL", f"sqlite:///{tmp_path / 'followup.db'}")
    monkeypatch.setenv("FOLLOWUP_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("SLACK_URL", ENVIRON["SLACK_URL"])
    assert run_cli(["sequences", "check"]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'sequences' / 'team.yaml'}:18: webhooks.0.secret_env" in err
    assert run_cli(["run", "--no-api"]) == 1
    assert "nothing was started" in capsys.readouterr().err
    assert not (tmp_path / "followup.db").exists()
