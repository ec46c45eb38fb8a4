"""Finding 11: YAML anchors and aliases are refused in sequence and team files, as a file:line
error, before anything is built from them: no billion laughs, no self-referencing crash, in
`sequences check`, at start-up and on hot reload."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from testkit.harness import Harness, template, write_files
from tests.security.conftest import SEQUENCE
from worker.cli.app import run_cli
from worker.specs.yaml_source import SourceError, load_yaml


def laughs(levels: int, width: int = 9) -> str:
    """A billion-laughs document: each level an anchored list of `width` aliases of the last."""
    lines = ['l0: &l0 "lol"']
    for level in range(1, levels + 1):
        aliases = ", ".join([f"*l{level - 1}"] * width)
        lines.append(f"l{level}: &l{level} [{aliases}]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (laughs(6), 1),  # 9**6 = 531,441 strings once expanded; refused at the first anchor
        ("name: loop\nsteps: &s [*s]\n", 2),  # refers to itself: a RecursionError before
        ("name: a\ndescription: &d hello\ntrigger: *d\n", 2),
        ("name: a\ndescription: x\ntrigger: [lead.mql, *undefined]\n", 3),
        ("base: &base {wait: 1d}\nsteps:\n  - <<: *base\n    id: a\n", 1),
    ],
    ids=["billion laughs", "self reference", "harmless anchor", "undefined alias", "merge key"],
)
def test_anchors_and_aliases_are_a_file_line_error(tmp_path: Path, text: str, line: int) -> None:
    """Finding 11: the first anchor or alias is reported at its line; nothing is expanded."""
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(SourceError) as raised:
        load_yaml(path)
    assert str(raised.value).startswith(f"{path}:{line}: ")
    assert "anchors and aliases" in str(raised.value)


def test_sequences_check_reports_an_alias_in_team_yaml_by_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Finding 11: team.yaml too; `sequences check` exits 1 with file:line, no traceback."""
    monkeypatch.chdir(tmp_path)
    team = "owners:\n  - &ana {email: ana@acme.test}\n  - *ana\n"
    write_files(tmp_path / "sequences", {"team.yaml": team, "mql.yaml": SEQUENCE})
    write_files(tmp_path / "templates", {"t/intro.j2": template("Intro")})
    monkeypatch.setenv("FOLLOWUP_SEQUENCES_DIR", str(tmp_path / "sequences"))
    monkeypatch.setenv("FOLLOWUP_TEMPLATES_DIR", str(tmp_path / "templates"))
    assert run_cli(["sequences", "check"]) == 1
    err = capsys.readouterr().err
    assert "team.yaml:2: " in err and "anchors and aliases" in err
    assert "Traceback" not in err


def test_hot_reload_refuses_an_alias_and_keeps_the_running_sequences(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """Finding 11: a billion-laughs edit dropped into a live process is logged and ignored."""
    write_files(h.settings.sequences_dir, {"evil.yaml": laughs(6)})
    with caplog.at_level(logging.ERROR, logger="followup"):
        assert h.rt.refresh_catalog(min_interval=0) is False
    assert list(h.rt.catalog.sequences) == ["mql"]
    assert "evil.yaml:1: " in caplog.text and "anchors and aliases" in caplog.text
