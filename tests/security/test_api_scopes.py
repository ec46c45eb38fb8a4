"""Also (issue 13): API keys carry scopes, chosen at `apikey create` (events:write by default)
and shown by `apikey list`; each route asks for one, and a key without it gets a 403."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from testkit.harness import Harness
from tests.security.conftest import Client, cli_env
from worker.auth.apikeys import SCOPES
from worker.cli.app import run_cli
from worker.engine.schema import upgrade

EVENT = {"type": "lead.mql", "lead": {"email": "a@example.org"}}
ROUTES: list[tuple[str, str, dict[str, Any], str]] = [
    ("post", "/events", {"json": EVENT}, "events:write"),
    ("post", "/leads", {"json": {"email": "a@example.org"}}, "leads:write"),
    (
        "post",
        "/enrollments",
        {"json": {"email": "a@example.org", "sequence": "mql"}},
        "leads:write",
    ),
    (
        "post",
        "/leads/import",
        {"files": {"file": ("l.csv", b"email\na@example.org\n")}},
        "leads:write",
    ),
    ("get", "/leads/a@example.org", {}, "leads:read"),
    ("get", "/sequences", {}, "leads:read"),
    ("get", "/tasks", {}, "leads:read"),
    ("get", "/compliance/report", {}, "compliance:read"),
    ("get", "/compliance/log", {}, "compliance:read"),
    ("get", "/compliance", {}, "compliance:read"),
]


@pytest.mark.parametrize(("method", "path", "body", "scope"), ROUTES)
def test_each_route_needs_its_scope(
    api: Client, method: str, path: str, body: dict[str, object], scope: str
) -> None:
    """Also: a key with every other scope but admin gets 403 naming the scope; with it, not."""
    others = [s for s in SCOPES if s not in (scope, "admin")]
    without = api.new_key("without", scopes=others)
    refused = getattr(api, method)(path, key=without, **body)
    assert refused.status_code == 403
    assert scope in refused.json()["detail"]
    assert f'scope="{scope}"' in refused.headers["www-authenticate"]
    allowed = getattr(api, method)(path, key=api.new_key("with", scopes=[scope]), **body)
    assert allowed.status_code not in (401, 403)


def test_admin_may_use_every_route(api: Client) -> None:
    """Also: admin implies every scope."""
    admin = api.new_key("ops", scopes=["admin"])
    for method, path, body, _ in ROUTES:
        assert getattr(api, method)(path, key=admin, **body).status_code not in (401, 403)


def test_apikey_create_defaults_to_events_write_and_list_shows_scopes(
    h: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Also: `apikey create crm` gets only events:write (what a CRM integration needs);
    --scope chooses others; `apikey list` shows them; an unknown scope is one clear error."""
    cli_env(h, tmp_path, monkeypatch)
    capsys.readouterr()
    assert run_cli(["apikey", "create", "crm"]) == 0
    key = capsys.readouterr().out.strip()
    api = Client(h)
    assert api.post("/events", key=key, json=EVENT).status_code == 202
    assert api.get("/leads/a@example.org", key=key).status_code == 403
    assert run_cli(["apikey", "create", "bi", "--scope", "compliance:read,leads:read"]) == 0
    assert run_cli(["apikey", "create", "x", "--scope", "everything"]) == 2
    assert "unknown scope 'everything'" in capsys.readouterr().err
    assert run_cli(["apikey", "list"]) == 0
    listing = capsys.readouterr().out
    crm = next(line for line in listing.splitlines() if " crm " in line)
    bi = next(line for line in listing.splitlines() if " bi " in line)
    assert "events:write" in crm and "leads" not in crm
    assert "leads:read" in bi and "compliance:read" in bi


def test_keys_made_before_scopes_keep_full_access(tmp_path: Path) -> None:
    """Also: the migration gives existing keys `admin`, what they could do before it."""
    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.begin() as connection:
        upgrade(connection, None, target="0001")
        connection.execute(
            text(
                "INSERT INTO api_key (name, key_hash, created_at) "
                "VALUES ('old', :hash, '2026-01-01 00:00:00')"
            ),
            {"hash": "0" * 64},
        )
    with engine.begin() as connection:
        upgrade(connection, "0001")
        scopes = connection.execute(text("SELECT scopes FROM api_key")).scalar_one()
    engine.dispose()
    assert scopes == "admin"
