"""`followup inbox check` and `mailboxes:` in team.yaml, through the command line in-process."""

from __future__ import annotations

from pathlib import Path

import pytest

from testkit.harness import template, write_files
from tests.support.cli import Cli

SEQUENCE = """
name: quick
trigger: lead.mql
steps:
  - id: hello
    email: t/hello
"""


@pytest.fixture
def env(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The CLI's empty folder with its own database, outbox, sequences and templates."""
    folder = cli.workdir
    write_files(folder / "sequences", {"quick.yaml": SEQUENCE})
    write_files(folder / "templates", {"t/hello.j2": template("Hello")})
    for name, value in {
        "DATABASE_URL": f"sqlite:///{folder / 'followup.db'}",
        "SEQUENCES_DIR": str(folder / "sequences"),
        "TEMPLATES_DIR": str(folder / "templates"),
        "OUTBOX_DIR": str(folder / "outbox"),
    }.items():
        monkeypatch.setenv(f"FOLLOWUP_{name}", value)
    return folder


NEWSLETTER = (
    b"From: news@vendor.example\nSubject: Offers\nMessage-ID: <n1@vendor.example>\n\nBuy.\n"
)


def test_inbox_check_prints_outcomes_and_changes_nothing_until_apply(
    env: Path,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A dry run prints each message's outcome and rule and leaves it in new/; --apply acts once."""
    monkeypatch.setenv("FOLLOWUP_INBOX_DIR", str(env / "inbox"))
    (env / "inbox" / "new").mkdir(parents=True)
    (env / "inbox" / "new" / "n1").write_bytes(NEWSLETTER)
    assert cli("inbox", "check", "--format", "json") == 0
    out = capsys.readouterr().out
    assert '"outcome": "unmatched"' in out and "news@vendor.example is not a lead" in out
    assert (env / "inbox" / "new" / "n1").exists()
    assert cli("inbox", "check", "--apply") == 0
    assert not (env / "inbox" / "new" / "n1").exists()
    assert list((env / "inbox" / "cur").iterdir())


@pytest.mark.parametrize(
    ("mailbox", "problem"),
    [
        ("url: imaps://rep:hunter2@mail.acme.test/INBOX", "must not hold a password"),
        ("url: https://mail.acme.test/INBOX", "must start with imaps://"),
        ("url: imaps://mail.acme.test/INBOX", "needs a user and a host"),
    ],
)
def test_a_bad_mailbox_in_team_yaml_is_one_line_with_file_and_line(
    env: Path,
    cli: Cli,
    capsys: pytest.CaptureFixture[str],
    mailbox: str,
    problem: str,
) -> None:
    """The sequences check names team.yaml, the line, and what to do; nothing starts."""
    write_files(
        env / "sequences",
        {"team.yaml": f"mailboxes:\n  - password_env: REP_IMAP_PASSWORD\n    {mailbox}\n"},
    )
    assert cli("sequences", "check") == 1
    err = capsys.readouterr().err
    assert "team.yaml:3" in err and problem in err


def test_password_env_must_name_a_variable(
    env: Path, cli: Cli, capsys: pytest.CaptureFixture[str]
) -> None:
    """A password pasted where the variable's name belongs is refused, with the line."""
    team = "mailboxes:\n  - url: imaps://rep@mail.acme.test/INBOX\n    password_env: 'pa ss'\n"
    write_files(env / "sequences", {"team.yaml": team})
    assert cli("sequences", "check") == 1
    assert "team.yaml:3" in capsys.readouterr().err
