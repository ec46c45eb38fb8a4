"""Log lines: text by default, one JSON object per line with the touch's ids, secrets masked."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from worker.cli.app import run_cli
from worker.cli.process_signals import verbose
from worker.engine.logs import REDACTOR, Redactor, bind, configure_logging, log_context
from worker.engine.settings import Settings

log = logging.getLogger("followup.test")


@pytest.fixture
def logs(capsys: pytest.CaptureFixture[str]) -> Iterator[pytest.CaptureFixture[str]]:
    """Our handler on the root logger for the test, then the default text one again."""
    log.setLevel(logging.INFO)
    yield capsys
    log.setLevel(logging.NOTSET)
    configure_logging("text")


def test_json_lines_carry_the_ids_bound_while_a_touch_is_handled(
    logs: pytest.CaptureFixture[str],
) -> None:
    """Given json, each line is one object with time, level, logger, message and the ids of
    the enclosing context; ids bound inside it vanish when it ends."""
    configure_logging("json")
    with log_context(touch_id=12):
        bind(enrollment_id=3, lead_id=5, sequence="mql", step="intro", message_id="<m@x>")
        log.info("touch %s: %s", 12, "sent", extra={"outcome": "sent"})
    log.info("after")
    first, second = (json.loads(line) for line in logs.readouterr().err.splitlines())
    assert first["message"] == "touch 12: sent" and first["level"] == "info"
    assert first["logger"] == "followup.test" and first["time"].endswith("+00:00")
    assert {k: first[k] for k in ("touch_id", "enrollment_id", "lead_id", "outcome")} == {
        "touch_id": 12,
        "enrollment_id": 3,
        "lead_id": 5,
        "outcome": "sent",
    }
    assert (first["sequence"], first["step"], first["message_id"]) == ("mql", "intro", "<m@x>")
    assert "touch_id" not in second and second["message"] == "after"


def test_text_lines_stay_readable_with_the_ids_at_the_end(
    logs: pytest.CaptureFixture[str],
) -> None:
    """The default: `time LEVEL logger: message [touch_id=.. sequence=..]`."""
    configure_logging("text")
    with log_context(touch_id=7, sequence="mql"):
        log.warning("deferred")
    line = logs.readouterr().err.strip()
    assert line.endswith("WARNING followup.test: deferred [touch_id=7 sequence=mql]")


def test_a_traceback_is_one_json_field_and_masked(logs: pytest.CaptureFixture[str]) -> None:
    """An exception logged in json mode stays one line; its text has no password either."""
    configure_logging("json", secrets=["hunter2-secret"])
    try:
        raise RuntimeError("cannot reach smtp://ana:hunter2-secret@mail.example.com:587")
    except RuntimeError:
        log.exception("send failed")
    [line] = logs.readouterr().err.splitlines()
    entry = json.loads(line)
    assert "RuntimeError" in entry["exception"] and "hunter2" not in line
    assert "smtp://ana:***@mail.example.com:587" in entry["exception"]


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("postgresql+psycopg://app:s3cr%40t@db:5432/x", "postgresql+psycopg://app:***@db:5432/x"),
        ("redis://:r3dis-pass@cache:6379/0", "redis://:***@cache:6379/0"),
        ("Authorization: Bearer fu_abcdefghijklmnop", "Authorization: Bearer ***"),
        ("key fu_AbCdEfGh12345678_-x leaked", "key fu_*** leaked"),
        ('"GET /compliance?token=eyJhbGciOi.x HTTP/1.1"', '"GET /compliance?token=*** HTTP/1.1"'),
        ("host=db password=pgpass user=app", "host=db password=*** user=app"),
        ("the key is k3y-from-settings!", "the key is ***"),
        ("nothing secret here: 127.0.0.1:8000", "nothing secret here: 127.0.0.1:8000"),
    ],
)  # fmt: skip
def test_the_redactor_masks_known_secrets_and_secret_shaped_text(text: str, masked: str) -> None:
    """URL passwords, bearer tokens, API keys, query tokens, DSN passwords, settings values."""
    redactor = Redactor()
    redactor.protect(["k3y-from-settings!", "abc", None])  # too short to mask: "abc"
    assert redactor.redact(text) == masked


def test_an_unknown_log_format_is_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """FOLLOWUP_LOG_FORMAT=xml stops any command before it does anything."""
    monkeypatch.setenv("FOLLOWUP_LOG_FORMAT", "xml")
    assert run_cli(["db", "current"]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line == "error: FOLLOWUP_LOG_FORMAT must be text or json, got 'xml'"


def test_configuring_twice_keeps_one_handler_and_the_secrets() -> None:
    """Each command configures logging again (tests run many in one process): no duplicates."""
    configure_logging("json", secrets=["first-secret-value"])
    configure_logging("text")
    ours = [h for h in logging.getLogger().handlers if getattr(h, "followup", False)]
    assert len(ours) == 1
    assert REDACTOR.redact("first-secret-value") == "***"


def test_an_unknown_log_level_is_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """FOLLOWUP_LOG_LEVEL=loud stops any command before it does anything, naming the choices."""
    monkeypatch.setenv("FOLLOWUP_LOG_LEVEL", "loud")
    assert run_cli(["db", "current"]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line == (
        "error: FOLLOWUP_LOG_LEVEL must be one of debug, info, warning, error; got 'loud'"
    )


def test_a_process_logs_at_the_level_its_settings_name(logs: pytest.CaptureFixture[str]) -> None:
    """Given FOLLOWUP_LOG_LEVEL=WARNING (any case), a process's info lines are left out and its
    warnings kept; unset, it is info."""
    assert Settings.from_mapping({}).log_level == "info"
    level = Settings.from_mapping({"FOLLOWUP_LOG_LEVEL": "WARNING"}).log_level
    configure_logging("text")
    log.setLevel(logging.NOTSET)  # the process's level decides, as in a shipped process
    try:
        verbose(level)
        log.info("a touch was sent")
        log.warning("the SMTP server is slow")
        verbose("info")
        log.info("another touch was sent")
    finally:
        logging.getLogger("followup").setLevel(logging.NOTSET)
    err = logs.readouterr().err
    assert "a touch was sent" not in err
    assert "the SMTP server is slow" in err and "another touch was sent" in err
