"""No secret (API key, SMTP password, database/Redis password, secret key) in any log line or
error message: real failure paths are driven and everything they print and store is scanned."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlmodel import Session, select

from models.compliance import ComplianceEntry
from testkit.harness import Harness, template
from testkit.smtp_sink import SmtpSink
from tests.support.services import free_port
from worker.auth.apikeys import create_key
from worker.cli.app import run_cli
from worker.engine.db import make_engine, transaction
from worker.engine.logs import configure_logging
from worker.engine.runtime import build_runtime
from worker.engine.scheduler_loop import run_scheduler
from worker.engine.settings import Settings
from worker.mail import SmtpMailer

SECRET_KEY = "Secret-Key-For-Signing-0123456789"
SMTP_PASSWORD = "Sm7p/Pass@42"  # characters that need percent-encoding in a URL
DB_PASSWORD = "Db-Pass-77"
REDIS_PASSWORD = "Redis-Pass-99"
SECRETS = (SECRET_KEY, SMTP_PASSWORD, DB_PASSWORD, REDIS_PASSWORD)
SEQUENCE = """
name: mql
trigger: lead.mql
steps:
  - id: intro
    email: t/intro
"""


def leaks(text: str, *extra: str) -> list[str]:
    """The secrets found in `text`, raw or percent-encoded as they sit in a URL."""
    found = []
    for secret in (*SECRETS, *extra):
        if secret in text or quote(secret, safe="") in text:
            found.append(secret)
    return found


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name, text in {
        "sequences/mql.yaml": SEQUENCE,
        "templates/t/intro.j2": template("Hi"),
    }.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FOLLOWUP_SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("FOLLOWUP_LOG_FORMAT", "json")
    monkeypatch.setenv("FOLLOWUP_DATABASE_URL", f"sqlite:///{tmp_path / 'followup.db'}")
    return tmp_path


@pytest.fixture(autouse=True)
def verbose_logs() -> Iterator[None]:
    logging.getLogger("followup").setLevel(logging.INFO)
    yield
    logging.getLogger("followup").setLevel(logging.NOTSET)
    configure_logging("text")


def closed_port() -> int:
    return free_port()  # bound and released: nothing listens there


SMTP_LOGIN = f"ana:{quote(SMTP_PASSWORD, safe='')}@127.0.0.1"
DB_LOGIN = f"postgresql+psycopg://app:{DB_PASSWORD}@127.0.0.1"
REDIS_LOGIN = f"redis://:{REDIS_PASSWORD}@127.0.0.1"
BAD_URLS = {
    "smtp bad port": ("FOLLOWUP_SMTP_URL", f"smtp://{SMTP_LOGIN}:nope", ["status"]),
    "smtp bad scheme": ("FOLLOWUP_SMTP_URL", f"ftp://{SMTP_LOGIN}:25", ["run", "--no-api"]),
    "db refused": ("FOLLOWUP_DATABASE_URL", f"{DB_LOGIN}:{closed_port()}/x", ["status"]),
    "db refused report": (
        "FOLLOWUP_DATABASE_URL",
        f"{DB_LOGIN}:{closed_port()}/x",
        ["compliance", "report"],
    ),
    "db bad port": ("FOLLOWUP_DATABASE_URL", f"{DB_LOGIN}:port/x", ["db", "current"]),
    "redis refused": ("FOLLOWUP_REDIS_URL", f"{REDIS_LOGIN}:{closed_port()}/0", ["status"]),
    "redis bad port": ("FOLLOWUP_REDIS_URL", f"{REDIS_LOGIN}:nope/0", ["worker"]),
    "bad setting": ("FOLLOWUP_TICK_SECONDS", "soon", ["scheduler"]),
}


@pytest.mark.parametrize(("variable", "value", "command"), BAD_URLS.values(), ids=BAD_URLS.keys())
def test_a_command_that_fails_on_a_bad_url_names_no_secret(
    folder: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variable: str,
    value: str,
    command: list[str],
) -> None:
    """Given a URL carrying a password (or a bad setting beside the secret key), when a command
    fails on it, then neither its error line, its output nor its log lines show a secret."""
    monkeypatch.setenv(variable, value)
    code = run_cli(command)
    out, err = capsys.readouterr()
    assert code in (0, 2), (code, out, err)
    assert code == 2 or command == ["status"], err
    assert leaks(out + err) == [], out + err


def test_a_refused_smtp_login_is_logged_and_stored_without_the_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Given an SMTP server that refuses the configured password, when a touch is delivered,
    then the log lines (json), the touch row, the compliance log and `status` name the server
    and the user but never the password."""
    configure_logging("json", secrets=[SMTP_PASSWORD])
    with SmtpSink(auth=("ana", "the-right-one")) as sink:
        url = sink.url_for("ana", SMTP_PASSWORD)
        harness = Harness(
            tmp_path,
            sequences={"mql.yaml": SEQUENCE},
            templates={"t/intro.j2": template("Hi")},
            mailer=SmtpMailer(url, timeout=5),
            smtp_url=url,
        )
        try:
            harness.event("lead.mql", "ana@example.com")
            harness.tick()
            [touch] = harness.touches()
            with Session(harness.rt.engine) as session:
                details = [e.detail or "" for e in session.exec(select(ComplianceEntry))]
            status = harness.rt.mailer.check() or ""
        finally:
            harness.close()
    logged = capsys.readouterr().err
    lines = [json.loads(line) for line in logged.splitlines()]
    refused = [e for e in lines if "refused the login of 'ana'" in e["message"]]
    assert refused and refused[0]["touch_id"] == touch.id and refused[0]["sequence"] == "mql"
    assert "refused the login of 'ana'" in (touch.last_error or "")
    assert "refused the login" in status
    assert leaks(logged + (touch.last_error or "") + "".join(details) + status) == []


def test_a_failing_scheduler_tick_logs_its_traceback_without_the_database_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Given the database goes away under a running scheduler, when a tick fails, then the
    logged traceback (json, one line) names the failure but not the password."""
    configure_logging("json", secrets=[DB_PASSWORD])
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'followup.db'}",
        sequences_dir=_write_sequences(tmp_path),
        templates_dir=tmp_path / "templates",
        secret_key=SECRET_KEY,
        tick_seconds=0.05,
    )
    rt = build_runtime(settings)
    rt.engine.dispose()
    dead = f"postgresql+psycopg://app:{DB_PASSWORD}@127.0.0.1:{closed_port()}/x"
    rt.engine = make_engine(dead)
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    run_scheduler(rt, stop)
    rt.close()
    logged = capsys.readouterr().err
    failures = [json.loads(line) for line in logged.splitlines() if "tick failed" in line]
    assert failures and "exception" in failures[0]
    assert leaks(logged) == []


def test_an_api_key_never_reaches_the_log_or_the_readiness_answer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Given a live key and a wrong one, when both call the API, then what the API answers and
    logs holds neither key."""
    from fastapi.testclient import TestClient

    from worker.api.app import create_app

    configure_logging("json")
    harness = Harness(
        tmp_path, sequences={"mql.yaml": SEQUENCE}, templates={"t/intro.j2": template("Hi")}
    )
    try:
        with transaction(harness.rt.engine) as session:
            key = create_key(session, "crm", now=harness.clock.now())
        client = TestClient(create_app(harness.rt, process_inline=True))
        answers = [
            client.get("/readyz", headers={"Authorization": f"Bearer {key}"}).text,
            client.get("/metrics", headers={"Authorization": "Bearer fu_wrongwrongwrong1"}).text,
            client.get("/metrics", headers={"Authorization": f"Bearer {key}"}).text,
        ]
        logging.getLogger("followup.test").warning("header was Authorization: Bearer %s", key)
    finally:
        harness.close()
    logged = capsys.readouterr().err
    assert '"checks"' in answers[0]
    assert leaks("".join(answers) + logged, key, "fu_wrongwrongwrong1") == []


def _write_sequences(folder: Path) -> Path:
    (folder / "sequences").mkdir(exist_ok=True)
    (folder / "sequences" / "mql.yaml").write_text(SEQUENCE, encoding="utf-8")
    (folder / "templates" / "t").mkdir(parents=True, exist_ok=True)
    (folder / "templates" / "t" / "intro.j2").write_text(template("Hi"), encoding="utf-8")
    return folder / "sequences"
