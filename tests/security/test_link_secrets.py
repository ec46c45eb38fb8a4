"""Finding 9: dashboard links leak less and last less. Query strings and unsubscribe tokens
stay out of the access log; links default to 7 days (30 at most); each can be revoked alone."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session, select

from testkit.harness import Harness, template, write_files
from testkit.ports import free_port
from tests.security.conftest import Client, cli_env
from tests.support.processes import followup_env, running, wait_until
from worker.cli.app import run_cli

ACCESS_LOGGER = "uvicorn.access"


def _link(h: Harness, **options: Any) -> tuple[int, str]:
    from worker.compliance.dashboard_link import create_link
    from worker.engine.db import transaction

    with transaction(h.rt.engine) as session:
        row, url = create_link(
            session, keys=h.rt.key_ring, base_url="https://f.test", now=h.clock.now(), **options
        )
    assert row.id is not None
    return row.id, url.partition("?token=")[2]


def test_one_link_is_revoked_without_touching_the_others(
    h: Harness, api: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding 9: `followup compliance link --revoke ID` stops that link at once; the rest work."""
    first, first_token = _link(h, note="board deck")
    _, second_token = _link(h, note="vp sales")
    for token in (first_token, second_token):
        assert api.client.get("/compliance", params={"token": token}).status_code == 200
    cli_env(h, tmp_path, monkeypatch)
    assert run_cli(["compliance", "link", "--revoke", str(first)]) == 0
    assert api.client.get("/compliance", params={"token": first_token}).status_code == 401
    assert api.client.get("/compliance", params={"token": second_token}).status_code == 200
    assert run_cli(["compliance", "link", "--revoke", "999"]) == 2


def test_links_default_to_days_and_are_listed_with_their_state(
    h: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Finding 9: a new link lasts 7 days, --days stops at 30, and --list shows each link."""
    from models.dashboard_link import DashboardLink

    cli_env(h, tmp_path, monkeypatch)
    assert run_cli(["compliance", "link", "--note", "[/] for Ana"]) == 0
    assert "works until" in capsys.readouterr().err
    with Session(h.rt.engine) as session:
        [row] = session.exec(select(DashboardLink)).all()
    assert row.expires_at - row.created_at == timedelta(days=7)
    assert run_cli(["compliance", "link", "--days", "31"]) == 2
    assert run_cli(["compliance", "link", "--days", "366"]) == 2
    assert run_cli(["compliance", "link", "--list"]) == 0
    listing = capsys.readouterr().out
    assert "[/] for Ana" in listing and "works" in listing


def test_the_access_log_never_holds_a_link_or_unsubscribe_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Finding 9: uvicorn's access line keeps the path, drops the query, hides the token."""
    from worker.api.access_log import install_redaction

    install_redaction()
    logger = logging.getLogger(ACCESS_LOGGER)
    with caplog.at_level(logging.INFO, logger=ACCESS_LOGGER):
        for path in ("/compliance?token=SECRET.TOKEN", "/unsubscribe/SECRET.TOKEN", "/leads/a"):
            logger.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "GET", path, "1.1", 200)
    lines = [record.getMessage() for record in caplog.records]
    assert lines == [
        '127.0.0.1:5 - "GET /compliance HTTP/1.1" 200',
        '127.0.0.1:5 - "GET /unsubscribe/... HTTP/1.1" 200',
        '127.0.0.1:5 - "GET /leads/a HTTP/1.1" 200',
    ]


@pytest.mark.integration
def test_a_real_server_logs_no_token(tmp_path: Path) -> None:
    """Finding 9: `followup api` on 127.0.0.1, asked for a link and an unsubscribe page: its
    output (uvicorn's access log included) holds neither token."""
    write_files(
        tmp_path / "sequences", {"s.yaml": "trigger: lead.mql\nsteps:\n  - {id: a, email: t}\n"}
    )
    write_files(tmp_path / "templates", {"t.j2": template("T")})
    env = followup_env(
        database_url=f"sqlite:///{tmp_path / 'f.db'}", redis_url="", smtp_url="", folder=tmp_path
    )
    port = free_port()
    with running(env, tmp_path) as processes:
        api = processes.start("api", "api", "--port", str(port))
        base = f"http://127.0.0.1:{port}"

        def answers() -> bool:
            try:
                return httpx.get(f"{base}/healthz").status_code == 200
            except httpx.TransportError:
                return False

        wait_until(answers, timeout=60, what="the API to answer", processes=processes)
        httpx.get(f"{base}/compliance", params={"token": "LINKTOKEN123.SIG456"})
        httpx.get(f"{base}/unsubscribe/UNSUBTOKEN789.SIG012")
        wait_until(lambda: "/unsubscribe/" in api.output(), timeout=30, what="the access log")
        output = api.output(tail=200)
    assert '"GET /compliance HTTP/1.1" 401' in output
    for secret in ("LINKTOKEN123", "SIG456", "UNSUBTOKEN789", "SIG012"):
        assert secret not in output
