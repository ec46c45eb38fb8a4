"""CSV import: parsing, row validation, bulk upserts, enrollment, idempotence, dry run, CLI."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlmodel import Session, col, func, select

from models.enrollment import Enrollment, EnrollmentStatus
from models.event import Event
from models.lead import Lead
from testkit.harness import Harness, Harnesses, template
from tests.support.cli import Cli
from worker.engine.db import transaction
from worker.engine.runtime import Runtime
from worker.flow.enrollment import suppress_lead
from worker.imports.csv_import import (
    CsvImportError,
    CsvSource,
    ImportOptions,
    ImportSummary,
    RejectedRow,
    import_rows,
)

SEQUENCE = """
name: welcome
trigger: lead.mql
exit_on: [lead.retry]
steps:
  - id: hello
    email: welcome/hello
"""
AGAIN_SEQUENCE = """
name: again
trigger: lead.retry
reenroll: after_exit
steps:
  - id: hello
    email: welcome/hello
"""
START = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)


@pytest.fixture
def h(make_harness: Harnesses) -> Harness:
    return make_harness(
        sequences={"welcome.yaml": SEQUENCE, "again.yaml": AGAIN_SEQUENCE},
        templates={"welcome/hello.j2": template("Hello")},
        start=START,
    )


@pytest.fixture
def rt(h: Harness) -> Runtime:
    """The harness's runtime: imports write leads, events and enrollments, and send nothing."""
    return h.rt


def run_import(
    rt: Runtime, data: bytes | str, **options: Any
) -> tuple[ImportSummary, list[RejectedRow]]:
    raw = data.encode() if isinstance(data, str) else data
    rejects: list[RejectedRow] = []
    summary = import_rows(
        rt,
        CsvSource(io.BytesIO(raw)),
        ImportOptions(**options),
        on_reject=rejects.append,
    )
    assert summary.rows == (
        summary.created + summary.updated + summary.unchanged + summary.merged + summary.rejected
    )
    return summary, rejects


def leads(rt: Runtime) -> dict[str, Lead]:
    with Session(rt.engine) as session:
        return {lead.email: lead for lead in session.exec(select(Lead))}


def count(rt: Runtime, model: type) -> int:
    with Session(rt.engine) as session:
        return int(session.exec(select(func.count()).select_from(model)).one())


def test_rows_become_leads_and_other_columns_become_custom_fields(rt: Runtime) -> None:
    """Standard columns fill the lead; any other column is a template field."""
    summary, rejects = run_import(
        rt,
        "email,First Name,company,Lead Source,timezone\n"
        "Ana@Example.com,Ana,Acme,webinar,Europe/Madrid\n"
        "ben@example.com,Ben,,,\n",
    )
    assert (summary.rows, summary.created, rejects) == (2, 2, [])
    ana = leads(rt)["ana@example.com"]
    assert (ana.first_name, ana.company, ana.timezone) == ("Ana", "Acme", "Europe/Madrid")
    assert ana.template_context()["lead_source"] == "webinar"
    assert leads(rt)["ben@example.com"].fields == {}


def test_every_kind_of_bad_row_is_rejected_with_its_line_and_good_rows_go_in(rt: Runtime) -> None:
    """Bad rows name their line (counting quoted newlines) and reason; the rest is imported."""
    rows = [
        "email,first_name,timezone,notes",
        'good1@example.com,"Multi\nLine",,"a ""quoted"" note"',  # lines 2-3
        ",NoEmail,,",  # 4
        "not-an-email,X,,",  # 5
        "tz@example.com,X,Mars/Olympus,",  # 6
        f"long@example.com,{'x' * 201},,",  # 7
        f"huge@example.com,X,,{'n' * 10_001}",  # 8
        "short@example.com,X",  # 9
        "extra@example.com,X,,,surplus",  # 10
        "nul@example.com,A\x00B,,",  # 11
        "good2@example.com,Zoe,,",  # 12
    ]
    data = "\n".join(rows).encode() + b"\nbytes@example.com,\xff\xfe,,\ngood3@example.com,,,\n"
    summary, rejects = run_import(rt, data)
    reasons = {r.line: r.reason for r in rejects}
    assert sorted(reasons) == [4, 5, 6, 7, 8, 9, 10, 11, 13]
    assert reasons[4] == "email: missing"
    assert "'not-an-email' is not a valid email address" in reasons[5]
    assert "unknown time zone 'Mars/Olympus'" in reasons[6]
    assert reasons[7].startswith("first_name: ") and "200 characters" in reasons[7]
    assert "longer than 10000 characters" in reasons[8]
    assert reasons[9] == "has 2 columns, the header has 4"
    assert reasons[10] == "has 5 columns, the header has 4"
    assert reasons[11] == "first_name: contains a NUL character"
    assert reasons[13] == "first_name: is not valid UTF-8"
    assert [r.email for r in rejects][:2] == ["", "not-an-email"]
    assert (summary.rows, summary.created, summary.rejected) == (12, 3, 9)
    assert set(leads(rt)) == {"good1@example.com", "good2@example.com", "good3@example.com"}
    assert leads(rt)["good1@example.com"].first_name == "Multi\nLine"


def test_a_bom_semicolons_and_crlf_line_ends_are_read(rt: Runtime) -> None:
    """Excel's "CSV UTF-8" with a European list separator imports as is."""
    data = (
        "\ufeffEmail;First_Name;City\r\n"
        "ana@example.com;Ana;Sevilla, ES\r\n\r\nben@example.com;Ben;\r\n"
    )
    summary, rejects = run_import(rt, data.encode("utf-8"))
    assert (summary.rows, summary.created, rejects) == (2, 2, [])
    assert leads(rt)["ana@example.com"].fields == {"city": "Sevilla, ES"}


def test_duplicate_emails_merge_and_the_last_row_wins_within_and_across_chunks(rt: Runtime) -> None:
    """Case-insensitive duplicates: one lead, the later values win, each repeat is counted."""
    data = (
        "email,first_name,company\n"
        "ana@example.com,Ana,Acme\n"
        "ANA@example.com,Anna,\n"  # same chunk: the company stays Acme
        "ben@example.com,Ben,\n"
        "carl@example.com,Carl,\n"
        "ana@example.com,,Globex\n"
    )  # a later chunk
    summary, _ = run_import(rt, data, chunk_rows=2)
    assert (summary.created, summary.merged, summary.rows) == (3, 2, 5)
    ana = leads(rt)["ana@example.com"]
    assert (ana.first_name, ana.company) == ("Anna", "Globex")


def test_importing_the_same_file_twice_creates_nothing_and_enrolls_no_one(rt: Runtime) -> None:
    """Re-import: every lead unchanged, no new enrollment, no new event."""
    data = "email,first_name\nana@example.com,Ana\nben@example.com,Ben\n"
    first, _ = run_import(rt, data, event="lead.mql")
    events = count(rt, Event)
    second, _ = run_import(rt, data, event="lead.mql")
    assert (first.created, first.enrolled) == (2, 2)
    assert (second.created, second.updated, second.unchanged, second.enrolled) == (0, 0, 2, 0)
    assert count(rt, Event) == events == 2
    assert count(rt, Enrollment) == 2


def test_a_sequence_import_enrolls_directly_and_once_even_when_reenrollment_is_allowed(
    rt: Runtime,
) -> None:
    """--sequence enrolls each lead; the same file again enrolls nobody, though `after_exit`."""
    data = "email\nana@example.com\n"
    first, _ = run_import(rt, data, sequence="again")
    with transaction(rt.engine) as session:
        for enrollment in session.exec(select(Enrollment)):
            enrollment.status = EnrollmentStatus.COMPLETED
            session.add(enrollment)
    second, _ = run_import(rt, data, sequence="again")
    assert (first.enrolled, second.enrolled) == (1, 0)
    with Session(rt.engine) as session:
        [enrollment] = session.exec(select(Enrollment)).all()
        trigger = session.get(Event, enrollment.trigger_event_id)
    assert trigger is not None and trigger.type == "lead.imported"


def test_an_imported_event_ends_what_it_exits_and_enrolls_everyone_it_triggers(
    rt: Runtime,
) -> None:
    """In one chunk: a lead whose enrollment the event exits is exited, then both enroll."""
    run_import(rt, "email\nana@example.com\n", event="lead.mql")
    summary, _ = run_import(rt, "email\nana@example.com\nben@example.com\n", event="lead.retry")
    assert summary.enrolled == 2
    with Session(rt.engine) as session:
        rows = session.exec(
            select(Lead.email, Enrollment.sequence, Enrollment.status).join(
                Enrollment, col(Enrollment.lead_id) == Lead.id
            )
        )
        assert sorted(rows) == [
            ("ana@example.com", "again", "active"),
            ("ana@example.com", "welcome", "exited"),
            ("ben@example.com", "again", "active"),
        ]
        processed = session.exec(select(Event.processed_at).where(Event.type == "lead.retry"))
        assert all(at is not None for at in processed)


def test_a_changed_row_updates_the_lead_but_enrolls_it_no_second_time(rt: Runtime) -> None:
    """A new file with new values updates the lead; its enrollment stays the one it had."""
    run_import(rt, "email,company\nana@example.com,Acme\n", event="lead.mql")
    summary, _ = run_import(rt, "email,company\nana@example.com,Globex\n", event="lead.mql")
    assert (summary.updated, summary.enrolled) == (1, 0)
    assert leads(rt)["ana@example.com"].company == "Globex"
    assert count(rt, Enrollment) == 1


def test_a_dry_run_reports_the_same_counts_and_writes_nothing(rt: Runtime) -> None:
    """--dry-run: identical summary to the real import, and an untouched database."""
    data = (
        "email,first_name\nana@example.com,Ana\nbad,X\nana@example.com,Anna\nben@example.com,Ben\n"
    )
    dry, dry_rejects = run_import(rt, data, event="lead.mql", dry_run=True, chunk_rows=1)
    assert (count(rt, Lead), count(rt, Event), count(rt, Enrollment)) == (0, 0, 0)
    real, real_rejects = run_import(rt, data, event="lead.mql", chunk_rows=1)
    assert dry.as_dict() == {**real.as_dict(), "dry_run": True}
    assert (real.created, real.merged, real.rejected, real.enrolled) == (2, 1, 1, 2)
    assert dry_rejects == real_rejects


def test_suppressed_addresses_are_never_enrolled_and_are_counted(rt: Runtime) -> None:
    """An unsubscribed lead in the file is updated but not enrolled, and the summary says so."""
    run_import(rt, "email\ngone@example.com\n")
    with transaction(rt.engine) as session:
        lead = session.exec(select(Lead).where(Lead.email == "gone@example.com")).one()
        suppress_lead(session, lead, reason="lead.unsubscribed", at=START, now=START)
    summary, _ = run_import(
        rt, "email,first_name\ngone@example.com,G\nnew@example.com,N\n", event="lead.mql"
    )
    assert (summary.enrolled, summary.suppressed) == (1, 1)
    with Session(rt.engine) as session:
        joined = select(Lead.email).join(Enrollment, col(Enrollment.lead_id) == Lead.id)
        assert list(session.exec(joined)) == ["new@example.com"]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"name,company\nAna,Acme\n", "no 'email' column"),
        (b"email,Email\na@example.com,b@example.com\n", "appears twice"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "not UTF-8 CSV"),
        ("email,name\n".encode("utf-16"), "not UTF-8 CSV"),
    ],
)
def test_a_file_that_cannot_be_read_at_all_is_refused_with_one_line(
    rt: Runtime, data: bytes, reason: str
) -> None:
    """Not CSV, or no email column: nothing is imported and the error says why."""
    with pytest.raises(CsvImportError, match=reason):
        run_import(rt, data)
    assert count(rt, Lead) == 0


@pytest.mark.parametrize(
    ("options", "field", "reason"),
    [
        ({"sequence": "nope"}, "sequence", "no sequence named 'nope' (known: again, welcome)"),
        ({"event": "Not An Event"}, "event", "is not an event type"),
        ({"event": "lead.mql", "sequence": "welcome"}, "sequence", "not both"),
    ],
)
def test_bad_options_are_refused_before_any_row_is_written(
    rt: Runtime, options: dict[str, str], field: str, reason: str
) -> None:
    """An unknown sequence or a malformed event type stops the import up front."""
    with pytest.raises(CsvImportError, match=re.escape(reason)) as caught:
        run_import(rt, "email\nana@example.com\n", **options)
    assert caught.value.field == field
    assert count(rt, Lead) == 0


@pytest.fixture
def followup(cli: Cli, h: Harness) -> Cli:
    """The CLI pointed at the same database and folders as `rt`."""
    return cli.on(h)


def test_the_cli_reports_the_summary_and_writes_rejected_rows_to_a_file(
    followup: Cli, capsys: pytest.CaptureFixture[str]
) -> None:
    """`leads import --rejects`: exit 0, the counts, and line,email,reason plus the original row."""
    (followup.workdir / "leads.csv").write_bytes(
        b"email,first_name\nana@example.com,Ana\nnope,X\nben@example.com,\xff\n"
    )
    code = followup("leads", "import", "leads.csv", "--sequence", "welcome", "--rejects", "bad.csv")
    out, err = capsys.readouterr()
    assert code == 0
    assert (
        "3 rows read; 1 created, 0 updated, 0 unchanged, 0 duplicates merged, 2 rejected; "
        "enrolled 1" in out
    )
    assert "leads.csv:3: rejected: email: 'nope' is not a valid email address" in err
    with open(
        followup.workdir / "bad.csv", encoding="utf-8", errors="surrogateescape", newline=""
    ) as f:
        written = list(csv.reader(f))
    assert written[0] == ["line", "email", "reason", "email", "first_name"]
    assert written[1][:2] == ["3", "nope"] and written[1][3:] == ["nope", "X"]
    assert written[2][0] == "4" and written[2][2] == "first_name: is not valid UTF-8"
    assert written[2][4].encode("utf-8", "surrogateescape") == b"\xff"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.csv"], "missing.csv: no such file"),
        (["noemail.csv"], "no 'email' column"),
        (["leads.csv", "--sequence", "nope"], "--sequence: no sequence named 'nope'"),
    ],
)
def test_the_cli_exits_2_with_one_line_when_the_file_cannot_be_imported(
    followup: Cli, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    """Missing file, no email column, unknown sequence: exit 2 and one line, no traceback."""
    (followup.workdir / "noemail.csv").write_text("name\nAna\n")
    (followup.workdir / "leads.csv").write_text("email\nana@example.com\n")
    code = followup("leads", "import", *args)
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_the_cli_dry_run_says_so_and_writes_nothing(
    rt: Runtime, followup: Cli, capsys: pytest.CaptureFixture[str]
) -> None:
    """--dry-run prints the would-be counts and leaves the database as it was."""
    (followup.workdir / "leads.csv").write_text("email\nana@example.com\n")
    assert followup("leads", "import", "leads.csv", "--event", "lead.mql", "--dry-run") == 0
    out = capsys.readouterr().out
    assert "dry run, nothing written: 1 rows read; 1 created" in out and "would enroll 1" in out
    assert count(rt, Lead) == 0
