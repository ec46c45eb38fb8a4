"""Finding 13: owner names in From. A non-ASCII name is encoded once; a name with CR/LF is a
`sequences check` error instead of a failure at every send of that owner."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

import pytest

from testkit.harness import template, write_files
from tests.security.conftest import make_harness
from worker.cli.app import run_cli
from worker.mail import to_bytes


def test_a_non_ascii_owner_name_reaches_the_recipient_decoded_once(tmp_path: Path) -> None:
    """Finding 13: "José Rep" is what the recipient's client shows, not `=?utf-8?b?...?=`."""
    team = "owners:\n  - email: jose@acme.test\n    name: José Rep\n"
    h = make_harness(tmp_path, team=team)
    try:
        h.event("lead.mql", "lead@example.org", lead={"owner": "jose@acme.test"})
        h.tick()
        [sent] = h.sent
        raw = to_bytes(sent, date=h.clock.now())
        message = email.message_from_bytes(raw, policy=email.policy.default)
        [address] = message["From"].addresses
        assert (address.display_name, address.addr_spec) == ("José Rep", "jose@acme.test")
    finally:
        h.close()


@pytest.mark.parametrize("name", ["Ana\r\nBcc: victim@example.org", "Ana\nRep", "Ana\x1b[2J"])
def test_an_owner_name_with_a_line_break_fails_sequences_check_by_line(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Finding 13: CR, LF or a control character in an owner's name is a team.yaml:line error."""
    monkeypatch.chdir(tmp_path)
    quoted = name.encode("unicode_escape").decode().replace('"', '\\"')
    team = f'owners:\n  - email: ana@acme.test\n    name: "{quoted}"\n'
    write_files(tmp_path / "sequences", {"team.yaml": team, "s.yaml": _SEQUENCE})
    write_files(tmp_path / "templates", {"t/intro.j2": template("Intro")})
    monkeypatch.setenv("FOLLOWUP_SEQUENCES_DIR", str(tmp_path / "sequences"))
    monkeypatch.setenv("FOLLOWUP_TEMPLATES_DIR", str(tmp_path / "templates"))
    assert run_cli(["sequences", "check"]) == 1
    err = capsys.readouterr().err
    assert "team.yaml:3:" in err and "one line" in err


_SEQUENCE = """
name: s
trigger: lead.mql
steps:
  - id: intro
    email: t/intro
"""
