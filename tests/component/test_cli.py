"""The command line run in-process: exit codes, one-line errors, and the report's JSON shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from testkit.harness import Harness, Harnesses, template, write_files
from tests.support.cli import Cli

REPOSITORY = Path(__file__).resolve().parents[2]
ROW_FIELDS = {
    "key",
    "enrolled",
    "met",
    "breached",
    "pending",
    "excluded",
    "touches",
    "unworked",
    "compliance_rate",
    "median_first_touch_seconds",
    "strikes",
}
SEQUENCE = """
name: quick
trigger: lead.mql
exit_on: [email.replied]
sla:
  first_touch_within: 1h
steps:
  - id: hello
    email: t/hello
"""


@pytest.fixture
def h(make_harness: Harnesses) -> Harness:
    """A folder with its own database, outbox, sequences and templates."""
    return make_harness(
        sequences={"quick.yaml": SEQUENCE}, templates={"t/hello.j2": template("Hello")}
    )


@pytest.fixture
def followup(cli: Cli, h: Harness) -> Cli:
    """The CLI aimed at the harness, with nothing from the developer's environment or `.env`."""
    return cli.on(h)


def error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def test_sequences_check_passes_on_the_repository_sequences(
    cli: Cli, h: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    """The shipped sequences, team.yaml and templates are valid, and work for a lead with only
    an email even without FOLLOWUP_DEFAULT_FROM: exit 0 under --strict, and a summary."""
    shipped = {"sequences_dir": REPOSITORY / "sequences", "templates_dir": REPOSITORY / "templates"}
    assert cli.on(h, default_from=None, **shipped)("sequences", "check", "--strict") == 0
    out = capsys.readouterr().out
    assert out.startswith("ok: ") and "sequence(s)" in out


def test_sequences_check_exits_1_and_names_each_problem(
    followup: Cli, h: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    """A broken folder gives exit 1 and one `file:line: problem` line per error, no traceback."""
    slow = SEQUENCE.replace("name: quick", "name: slow").replace(
        "email: t/hello", "email: t/hello\n    wait: 2 bizness days"
    )
    extra = SEQUENCE.replace("name: quick", "name: extra\ncolour: red")
    write_files(h.settings.sequences_dir, {"slow.yaml": slow, "extra.yaml": extra})
    assert followup("sequences", "check") == 1
    err = capsys.readouterr().err
    path = h.settings.sequences_dir
    assert f"{path / 'extra.yaml'}:2: unknown key 'colour'" in err
    assert f"{path / 'slow.yaml'}:9: steps.0.wait: bad duration '2 bizness days'" in err
    assert "Traceback" not in err
    assert error_lines(err)[-1] == f"error: 2 problem(s) in {path}"


def test_sequences_check_warns_of_an_ignored_thread_subject_and_exits_0(
    followup: Cli, h: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    """A warning names file:line, and the check still passes."""
    threaded = SEQUENCE.replace("name: quick", "name: threaded") + (
        "  - id: bump\n    email: t/hello\n    wait: 1d\n    thread: true\n"
    )
    write_files(h.settings.sequences_dir, {"threaded.yaml": threaded})
    assert followup("sequences", "check") == 0
    captured = capsys.readouterr()
    [line] = error_lines(captured.err)
    assert line.startswith(
        f"warning {h.settings.sequences_dir / 'threaded.yaml'}:12: step 'bump': "
    )
    assert line.endswith("the subject block of t/hello.j2 is ignored")
    assert captured.out.startswith("ok: 2 sequence(s)")


def test_events_send_with_a_malformed_email_exits_2_with_one_line(
    followup: Cli, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bad input is exit 2 and one line naming the field; nothing is recorded."""
    assert followup("events", "send", "lead.mql", "--email", "not-an-email") == 2
    captured = capsys.readouterr()
    assert error_lines(captured.err) == [
        "error: lead.email: 'not-an-email' is not a valid email address"
    ]
    assert captured.out == ""


def test_events_send_with_a_field_without_equals_exits_2_with_one_line(
    followup: Cli, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--field source` (no `=value`) is a usage error explained in one line."""
    assert (
        followup("events", "send", "lead.mql", "--email", "ana@example.com", "--field", "source")
        == 2
    )
    assert error_lines(capsys.readouterr().err) == ["error: --field 'source': use key=value"]


def test_events_send_with_a_bad_custom_field_name_exits_2_with_one_line(
    followup: Cli, capsys: pytest.CaptureFixture[str]
) -> None:
    """Custom field names must be identifiers, so templates can use them."""
    assert (
        followup(
            "events", "send", "lead.mql", "--email", "ana@example.com", "--field", "lead source=web"
        )
        == 2
    )
    [line] = error_lines(capsys.readouterr().err)
    assert line.startswith("error: lead.fields: ") and "'lead source'" in line


def test_events_send_with_a_bad_event_type_exits_2_with_one_line(
    followup: Cli, capsys: pytest.CaptureFixture[str]
) -> None:
    """Event types look like `lead.mql`."""
    assert followup("events", "send", "MQL!", "--email", "ana@example.com") == 2
    [line] = error_lines(capsys.readouterr().err)
    assert line.startswith("error: type: ")


def test_events_send_enrolls_and_says_so(followup: Cli, capsys: pytest.CaptureFixture[str]) -> None:
    """The happy path: exit 0 and a one-line summary; the same id again does nothing."""
    argv = [
        "events",
        "send",
        "lead.mql",
        "--email",
        "Ana@Example.com",
        "--id",
        "crm-1",
        "--field",
        "first_name=Ana",
        "--field",
        "source=webinar",
    ]
    assert followup(*argv) == 0
    assert "enrolled in quick" in capsys.readouterr().out
    assert followup(*argv) == 0
    assert "duplicate" in capsys.readouterr().out


def test_compliance_report_json_has_the_spec_shape(
    followup: Cli, capsys: pytest.CaptureFixture[str]
) -> None:
    """SPEC section 11: by, since, until, rows, total and revenue_at_risk, with the row fields."""
    for email, owner in (("ana@example.com", "rep@acme.test"), ("ben@example.com", None)):
        argv = ["events", "send", "lead.mql", "--email", email]
        assert followup(*argv, *(["--field", f"owner={owner}"] if owner else [])) == 0
    capsys.readouterr()
    assert followup("compliance", "report", "--format", "json", "--since", "2000-01-01") == 0
    report = json.loads(capsys.readouterr().out)
    assert {"by", "since", "until", "rows", "total", "revenue_at_risk"} <= set(report)
    assert report["by"] == "owner"
    assert report["since"].startswith("2000-01-01T00:00:00")
    assert report["until"] is None
    assert report["revenue_at_risk"] is None  # no team.yaml with an sla_plan
    assert [row["key"] for row in report["rows"]] == ["(no owner)", "rep@acme.test"]
    for row in [*report["rows"], report["total"]]:
        assert set(row) >= ROW_FIELDS
        assert row["pending"] == row["enrolled"] == 1 or row["key"] == "total"
        assert row["met"] == row["breached"] == 0
        assert row["compliance_rate"] is None  # met + breached == 0
    assert report["total"]["enrolled"] == 2


def test_compliance_report_rejects_an_unknown_grouping(
    followup: Cli, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--by year` is a usage error naming the allowed values."""
    assert followup("compliance", "report", "--by", "year") == 2
    [line] = error_lines(capsys.readouterr().err)
    assert line.startswith("error: --by must be one of owner, sequence, day")


def test_a_bad_date_option_is_one_line(followup: Cli, capsys: pytest.CaptureFixture[str]) -> None:
    """`--since yesterday` is explained, not a traceback."""
    assert followup("compliance", "report", "--since", "yesterday") == 2
    assert error_lines(capsys.readouterr().err) == [
        "error: --since: 'yesterday' is not a date (use YYYY-MM-DD or an ISO timestamp)"
    ]


def test_sequences_check_warns_at_the_template_line_and_strict_fails(
    cli: Cli, h: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    """A name a lead with only an email lacks is a warning naming the template file:line, the
    field and the step's file:line; exit 0, and 1 under --strict."""
    templates, sequences = h.settings.templates_dir, h.settings.sequences_dir
    write_files(
        templates,
        {"t/hello.j2": template("Hello", "Hi {{ lead.first_name }}, from {{ owner.name }}")},
    )
    followup = cli.on(h, default_from=None)
    assert followup("sequences", "check") == 0
    out, err = capsys.readouterr()
    hello, quick = templates / "t" / "hello.j2", sequences / "quick.yaml"
    assert error_lines(err) == [
        f"warning {hello}:2: lead.first_name has no default: a lead without first_name fails "
        f"to render; used by {quick}:8 step 'hello'",
        f"warning {hello}:2: owner.name has no default, and a lead without an owner has no "
        "sender to take it from (set FOLLOWUP_DEFAULT_FROM, or a `from:` in the sequence); "
        f"used by {quick}:8 step 'hello'",
    ]
    assert out.startswith("ok: 1 sequence(s)") and out.rstrip().endswith("; 2 warning(s)")
    assert followup("sequences", "check", "--strict") == 1
    out, err = capsys.readouterr()
    assert error_lines(err)[-1] == "error: 2 warning(s), which --strict makes errors"
    assert out == "" and "Traceback" not in err
