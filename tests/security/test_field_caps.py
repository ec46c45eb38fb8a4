"""Finding 7: a lead's custom fields are capped however they nest and however often they
merge: 64 KB as JSON and 200 keys, counted after the merge with the stored fields."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlmodel import Session, select

from models.lead import Lead
from testkit.harness import Harness
from tests.security.conftest import Client, cli_env
from worker.cli.app import run_cli

MAX_FIELD_KEYS, MAX_FIELDS_BYTES = 200, 64 * 1024  # models/validation.py


def stored_fields(h: Harness, email: str) -> dict[str, object]:
    with Session(h.rt.engine) as session:
        return dict(session.exec(select(Lead.fields).where(Lead.email == email)).one())


def test_nested_text_is_capped_like_top_level_text(api: Client) -> None:
    """Finding 7: a 20,000-character string two levels down is refused, naming its path."""
    fields = {"notes": {"call": ["ok", "x" * 20_000]}}
    response = api.post("/leads", json={"email": "a@example.org", "fields": fields})
    assert response.status_code == 422
    assert "notes.call[1]" in response.json()["message"]


def test_nested_keys_count_toward_the_key_cap(api: Client) -> None:
    """Finding 7: 201 keys inside one field are 201 keys."""
    fields = {"bag": {f"k{i}": i for i in range(MAX_FIELD_KEYS + 1)}}
    response = api.post("/leads", json={"email": "a@example.org", "fields": fields})
    assert response.status_code == 422
    assert "keys" in response.json()["message"]


def test_repeated_upserts_cannot_grow_a_lead_past_the_cap(h: Harness, api: Client) -> None:
    """Finding 7: twelve 9 KB upserts with new names: refused once the merge passes 64 KB,
    as a 422 on /leads and on /events, and the stored fields stay under the cap."""
    statuses = []
    for call in range(12):
        fields = {f"f{call}_{i}": "y" * 900 for i in range(10)}
        lead = {"email": "grow@example.org", "fields": fields}
        statuses.append(api.post("/leads", json=lead).status_code)
        event = api.post("/events", json={"type": "lead.mql", "lead": lead})
        statuses.append(event.status_code)
    assert 422 in statuses and statuses[0] in (200, 201)
    h.drain()
    size = len(json.dumps(stored_fields(h, "grow@example.org")).encode())
    assert size <= MAX_FIELDS_BYTES


def test_an_event_applied_later_drops_fields_that_no_longer_fit(h: Harness) -> None:
    """Finding 7: an accepted event whose fields stopped fitting is still carried out (never
    retried forever): the lead enrolls, its fields stay as they were."""
    big = {f"a{i}": "z" * 600 for i in range(100)}  # ~61 KB
    h.event("lead.created", "lead@example.org", lead={"fields": big})
    more = {f"b{i}": "z" * 600 for i in range(10)}
    outcome = h.event("lead.mql", "lead@example.org", lead={"fields": more})
    assert outcome.enrolled == ["mql"]
    assert set(stored_fields(h, "lead@example.org")) == set(big)


def test_a_csv_import_cannot_grow_a_lead_past_the_cap(
    h: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Finding 7: rows whose fields would pass the cap once merged (in the file, or with the
    stored lead) are rejected by line; the lead keeps fields under the cap."""
    cli_env(h, tmp_path, monkeypatch)
    for run in range(3):
        columns = [f"c{run}_{i}" for i in range(60)]
        path = tmp_path / f"wide{run}.csv"
        path.write_text(
            "email,"
            + ",".join(columns)
            + "\n"
            + "wide@example.org,"
            + ",".join("w" * 500 for _ in columns)
            + "\n"
            + "wide@example.org,"
            + ",".join("v" * 500 for _ in columns)
            + "\n"
        )
        assert run_cli(["leads", "import", str(path)]) == 0
    err = capsys.readouterr().err
    assert "rejected: custom fields are" in err
    size = len(json.dumps(stored_fields(h, "wide@example.org")).encode())
    assert size <= MAX_FIELDS_BYTES
