"""Finding 1: nobody sends as someone else. Only team.yaml owners, or addresses in its
`sending_domains:`, may be the From; anyone else falls back to FOLLOWUP_DEFAULT_FROM."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.touch import TouchStatus
from testkit.harness import Harness, write_files
from tests.security.conftest import Client, cli_env, make_harness
from worker.cli.app import run_cli


def test_an_owner_missing_from_team_yaml_never_becomes_the_from_address(
    h: Harness, api: Client
) -> None:
    """Finding 1: an API key holder posts owner ceo@bigbank.example; the email goes from the
    default sender, with a Message-ID in its domain, never from the bank's CEO."""
    lead = {"email": "lead@example.org", "owner": "ceo@bigbank.example"}
    assert api.post("/events", json={"type": "lead.mql", "lead": lead}).status_code == 202
    h.drain()  # the worker applies the event and plans the touch
    h.tick()
    [sent] = h.sent
    assert sent.sender == "Sales <sales@acme.test>"
    assert sent.message_id.endswith("@acme.test>")
    assert "bigbank" not in sent.sender + sent.message_id


def test_without_a_default_sender_the_touch_fails_with_the_reason(tmp_path: Path) -> None:
    """Finding 1: no FOLLOWUP_DEFAULT_FROM to fall back to: the touch fails, naming the owner."""
    h = make_harness(tmp_path, default_from=None)
    try:
        h.event("lead.mql", "lead@example.org", lead={"owner": "ceo@bigbank.example"})
        h.tick()
        assert h.sent == []
        [touch] = h.touches(step="intro")
        assert touch.status == TouchStatus.FAILED
        assert "ceo@bigbank.example" in (touch.detail or "")
        assert "sending_domains" in (touch.detail or "")
    finally:
        h.close()


def test_listed_owners_and_the_default_sender_still_send(h: Harness) -> None:
    """Finding 1: an owner in team.yaml sends as themself; a lead without owner as the default."""
    h.event("lead.mql", "one@example.org", lead={"owner": "ana.rep@acme.test"})
    h.event("lead.mql", "two@example.org")
    h.tick()
    senders = {email.to: email.sender for email in h.sent}
    assert senders == {
        "one@example.org": "Ana Rep <ana.rep@acme.test>",
        "two@example.org": "Sales <sales@acme.test>",
    }


def test_an_owner_in_a_sending_domain_may_send(tmp_path: Path) -> None:
    """Finding 1: `sending_domains:` in team.yaml allows every address of those domains."""
    h = make_harness(tmp_path, team="sending_domains: [Acme.test]\n")
    try:
        h.event("lead.mql", "lead@example.org", lead={"owner": "zoe@acme.test"})
        h.event("lead.mql", "other@example.org", lead={"owner": "zoe@sub.acme.test"})
        h.tick()
        senders = {email.to: email.sender for email in h.sent}
        assert senders == {
            "lead@example.org": "zoe@acme.test",
            "other@example.org": "Sales <sales@acme.test>",  # a subdomain is not the domain
        }
    finally:
        h.close()


def test_an_explicit_from_in_a_sequence_is_still_allowed(tmp_path: Path) -> None:
    """Finding 1: a sequence author's `from: "Events <events@acme.test>"` is used as written."""
    h = make_harness(tmp_path)
    try:
        mql = (h.settings.sequences_dir / "mql.yaml").read_text()
        write_files(
            h.settings.sequences_dir,
            {"mql.yaml": mql.replace("from: owner", 'from: "Events <events@other.test>"')},
        )
        h.rt.refresh_catalog(min_interval=0)
        h.event("lead.mql", "lead@example.org", lead={"owner": "ceo@bigbank.example"})
        h.tick()
        assert [email.sender for email in h.sent] == ["Events <events@other.test>"]
    finally:
        h.close()


def test_a_bad_sending_domain_is_a_file_line_error(tmp_path: Path) -> None:
    """Finding 1: `sending_domains` holds domain names; an address there is refused by line."""
    from worker.specs.catalog import CatalogError

    with pytest.raises(CatalogError, match=r"team\.yaml:2: sending_domains.0: .*not a domain"):
        make_harness(tmp_path, team="owners: []\nsending_domains: [ceo@bigbank.example]\n")


def test_leads_import_warns_about_owners_that_may_not_send(
    h: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Finding 1: `leads import` says which owners are not allowed senders (a warning, exit 0)."""
    cli_env(h, tmp_path, monkeypatch)
    csv = tmp_path / "leads.csv"
    csv.write_text(
        "email,owner\na@example.org,ana.rep@acme.test\nb@example.org,ceo@bigbank.example\n"
    )
    assert run_cli(["leads", "import", str(csv)]) == 0
    err = capsys.readouterr().err
    assert "ceo@bigbank.example" in err and "ana.rep@acme.test" not in err
    assert "FOLLOWUP_DEFAULT_FROM" in err


def test_sequences_check_warns_about_stored_owners_that_may_not_send(
    h: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Finding 1: `sequences check` names the leads' owners that will not be the From (exit 0)."""
    h.event("lead.mql", "a@example.org", lead={"owner": "ceo@bigbank.example"})
    h.event("lead.mql", "b@example.org", lead={"owner": "ana.rep@acme.test"})
    cli_env(h, tmp_path, monkeypatch)
    assert run_cli(["sequences", "check"]) == 0
    captured = capsys.readouterr()
    assert "ceo@bigbank.example" in captured.err
    assert "ana.rep@acme.test" not in captured.err
