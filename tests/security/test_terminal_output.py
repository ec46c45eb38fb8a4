"""Finding 5: untrusted values reach the operator's terminal as plain text. Never as Rich markup
(`[/]` crashed `compliance log` for good), never with control characters (ESC sequences)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from testkit.harness import Harness
from tests.security.conftest import cli_env
from worker.cli.app import run_cli

ESCAPES = "\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\ \x1b[2J\x9b31m\u202eevil"
MARKUP = "[/] [link=https://evil.example/]x[/link] [bold red]"


def _no_controls(text: str) -> bool:
    return not any((ord(c) < 32 and c not in "\n") or 0x7F <= ord(c) <= 0x9F for c in text) and (
        "\u202e" not in text
    )


def test_a_logged_detail_with_markup_and_escapes_prints_as_plain_text(
    h: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Finding 5: a touch.logged detail of `[/]`, `[link=...]` and ESC sequences: the log prints."""
    h.event("touch.logged", "lead@example.org", detail=f"{MARKUP} {ESCAPES}")
    cli_env(h, tmp_path, monkeypatch)
    assert run_cli(["compliance", "log"]) == 0
    out = capsys.readouterr().out
    assert "[/]" in out and "[link=https://evil.example/]" in out
    assert _no_controls(out)


def test_a_first_name_with_markup_does_not_break_the_task_list(
    h: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Finding 5: `tasks list` shows a task for a lead named `[/]` with its name as typed."""
    h.event("lead.mql", "lead@example.org", lead={"first_name": f"{MARKUP}\x1b[2J"})
    h.tick()
    h.advance(timedelta(days=1, hours=1))
    cli_env(h, tmp_path, monkeypatch)
    assert run_cli(["tasks", "list"]) == 0
    out = capsys.readouterr().out
    assert "[/]" in out and "1 open task(s)" in out
    assert _no_controls(out)


def test_a_csv_header_cannot_style_or_link_the_error_line(
    h: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Finding 5: the header echoed in `no 'email' column` is printed without markup."""
    cli_env(h, tmp_path, monkeypatch)
    bad = tmp_path / "bad.csv"
    bad.write_text("[link=https://evil.example/]name[/link],[/]\x1b[31m\nx,y\n")
    assert run_cli(["leads", "import", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert "[link=https://evil.example/]name[/link]" in err and "[/]" in err
    assert _no_controls(err)


def test_data_formats_keep_their_bytes_when_redirected(
    h: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Finding 5: JSON lines still carry the detail exactly (escaped by JSON, not stripped)."""
    h.event("touch.logged", "lead@example.org", detail=ESCAPES)
    cli_env(h, tmp_path, monkeypatch)
    assert run_cli(["compliance", "log", "--format", "jsonl"]) == 0
    [line] = capsys.readouterr().out.splitlines()
    assert json.loads(line)["detail"] == ESCAPES


def test_safe_text_strips_every_control_character() -> None:
    """Finding 5: C0, DEL, C1 and bidi overrides go; breaks become spaces; the rest stays."""
    from worker.cli.safe_text import clean, clean_lines

    every = "".join(chr(c) for c in range(0x00, 0xA0)) + "\u202a\u202e\u2066\u2069"
    kept = clean(every)
    assert all(0x20 <= ord(c) < 0x7F for c in kept)
    assert kept.strip() == "".join(chr(c) for c in range(0x21, 0x7F))
    assert clean_lines("a,b\r\nc\x1b[2J,d\n") == "a,b\nc[2J,d\n"
