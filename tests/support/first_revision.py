"""A database at the FIRST revision (0001) filled the way first-wave code filled it, through that
revision's own tables (reflected, never today's models), and the check that nothing was lost.

Revision 0001 never changes, so neither does this data: a later revision that loses or breaks
any of it fails the upgrade tests without anyone touching this file.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, DateTime, Engine, MetaData, Table, select

from worker.engine.schema import FIRST_REVISION, FIRST_REVISION_TABLES, upgrade

ENROLLED = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
VERSION = "ac97e2323dc7ddaa05435945a685b8cdb7a1bc4d2ba824795088dbafabbe7fce"
# `onboarding` as the first wave pinned it: two emails a day apart, SLA 2 touches in 7 days.
DEFINITION = {
    "name": "onboarding",
    "description": "",
    "trigger": ["lead.mql"],
    "exit_on": ["email.replied"],
    "from": "owner",
    "send_window": None,
    "default_timezone": "UTC",
    "holidays": None,
    "days_off": [],
    "reenroll": "never",
    "exclusive": False,
    "sla": {"first_touch_within": "4h", "min_touches": 2, "within": "7d"},
    "steps": [
        {"id": "hello", "email": "hello", "task": None, "wait": "0s", "thread": False,
         "due_within": None},
        {"id": "again", "email": "again", "task": None, "wait": "1d", "thread": False,
         "due_within": None},
    ],
}  # fmt: skip
TEMPLATES = {
    "hello.j2": "{% block subject %}Hello{% endblock %}\n{% block text %}Hi "
    '{{ lead.first_name | default("there") }}, Hello.\n{{ unsubscribe_url }}{% endblock %}\n',
    "again.j2": "{% block subject %}Again{% endblock %}\n{% block text %}Hi "
    '{{ lead.first_name | default("there") }}, Again.\n{{ unsubscribe_url }}{% endblock %}\n',
}
OWNER = "rep@acme.test"


def first_revision_tables(connection: Connection) -> dict[str, Table]:
    """The tables as they are in this database, datetimes read and written as aware UTC."""
    from models.types import UTCDateTime

    metadata = MetaData()
    metadata.reflect(connection, only=sorted(FIRST_REVISION_TABLES))
    for table in metadata.tables.values():
        for column in table.columns:
            if isinstance(column.type, DateTime):
                column.type = UTCDateTime()
    return dict(metadata.tables)


def database_at_first_revision(engine: Engine, *, stamped: bool = True) -> dict[str, list[dict]]:
    """Migrate an empty database to 0001 only, fill it, and return the rows written per table.

    Unstamped: the tables without alembic_version, as a first-wave `create_all` left them.
    """
    with engine.begin() as connection:
        upgrade(connection, None, target=FIRST_REVISION)
        if not stamped:
            connection.exec_driver_sql("DROP TABLE alembic_version")
        return fill(connection)


def _insert(connection: Connection, table: Table, row: dict[str, Any]) -> dict[str, Any]:
    """Insert with the database choosing ids (sequences stay right on PostgreSQL)."""
    result = connection.execute(table.insert().values(**row))
    keys = result.inserted_primary_key or ()
    for column, value in zip(table.primary_key.columns, keys, strict=False):
        row = {**row, column.name: value}
    return row


def fill(connection: Connection) -> dict[str, list[dict]]:
    """Two leads (one suppressed), an API key, a pinned version, the events, an enrollment half
    way (first email sent, second scheduled), a manual touch and the compliance log lines."""
    t = first_revision_tables(connection)
    at = ENROLLED
    written: dict[str, list[dict]] = {name: [] for name in t}

    def add(table: str, /, **row: Any) -> dict[str, Any]:
        stored = _insert(connection, t[table], row)
        written[table].append(stored)
        return stored

    add("api_key", name="crm", key_hash="ab" * 32, created_at=at - timedelta(days=30))
    add("sequence_version", hash=VERSION, name="onboarding", definition=DEFINITION,
        templates=TEMPLATES, created_at=at)  # fmt: skip
    ana = add("lead", email="ana@example.com", first_name="Ana", last_name="Ruiz",
              company="Acme", owner=OWNER, timezone="Europe/Madrid",
              fields={"source": "webinar", "score": 42}, created_at=at, updated_at=at)  # fmt: skip
    bob = add("lead", email="bob@example.com", first_name="Bob", owner=OWNER, fields={},
              suppressed_at=at + timedelta(hours=2), suppressed_reason="lead.unsubscribed",
              created_at=at, updated_at=at + timedelta(hours=2))  # fmt: skip
    mql = add("event", key="crm-1", type="lead.mql", lead_email=ana["email"],
              payload={"type": "lead.mql", "lead": {"email": ana["email"]}, "id": "crm-1"},
              occurred_at=at, received_at=at, processed_at=at)  # fmt: skip
    add("event", key=None, type="lead.unsubscribed", lead_email=bob["email"],
        payload={"type": "lead.unsubscribed", "lead": {"email": bob["email"]}},
        occurred_at=at + timedelta(hours=2), received_at=at + timedelta(hours=2),
        processed_at=at + timedelta(hours=2))  # fmt: skip
    sent_at = at + timedelta(seconds=5)
    enrollment = add("enrollment", lead_id=ana["id"], sequence="onboarding", version=VERSION,
                     owner=OWNER, status="active", enrolled_at=at, trigger_event_id=mql["id"],
                     touches_completed=1, touches_manual=0, first_touch_at=sent_at,
                     first_touch_seconds=5, sla_first_due_at=at + timedelta(hours=4),
                     sla_window_due_at=at + timedelta(days=7), sla_min_touches=2,
                     sla_status="pending", sla_next_check_at=at + timedelta(days=7))  # fmt: skip
    hello = add("touch", enrollment_id=enrollment["id"], lead_id=ana["id"], step="hello",
                kind="email", status="sent", due_at=at, attempts=1, subject="Hello",
                message_id="<first.1@acme.test>", sender=OWNER, completed_at=sent_at)  # fmt: skip
    add("touch", enrollment_id=enrollment["id"], lead_id=ana["id"], step="again", kind="email",
        status="scheduled", due_at=at + timedelta(days=1), attempts=0)  # fmt: skip
    add("touch", enrollment_id=None, lead_id=bob["id"], step="manual", kind="logged",
        status="done", due_at=at + timedelta(hours=1), attempts=0, detail="called",
        completed_at=at + timedelta(hours=1))  # fmt: skip
    for kind, when, touch, detail in (
        ("enrollment.started", at, None, f"version {VERSION[:12]}"),
        ("touch.sent", sent_at, hello["id"], "Hello"),
    ):
        add("compliance_entry", at=when, kind=kind, lead=ana["email"], owner=OWNER,
            sequence="onboarding", step="hello" if touch else None,
            enrollment_id=enrollment["id"], touch_id=touch, detail=detail)  # fmt: skip
    add("compliance_entry", at=at + timedelta(hours=1), kind="touch.logged", lead=bob["email"],
        owner=OWNER, detail="called")  # fmt: skip
    add("mailbox_day", address=OWNER, day="2026-11-29", used=1, last_sent_at=sent_at)
    return written


def missing_rows(engine: Engine, written: dict[str, list[dict]]) -> list[str]:
    """Every row written at 0001, looked up again by primary key in the upgraded database: what
    is gone or changed (columns a later revision dropped or renamed are not compared)."""
    problems: list[str] = []
    with engine.connect() as connection:
        tables = first_revision_tables(connection)
        for name, rows in written.items():
            if name not in tables:
                problems.append(f"table {name} is gone")
                continue
            table = tables[name]
            for row in rows:
                key = [table.c[c.name] == row[c.name] for c in table.primary_key.columns]
                found = connection.execute(select(table).where(*key)).mappings().first()
                if found is None:
                    problems.append(f"{name} row {key} is gone")
                    continue
                problems += [
                    f"{name}.{column}: {value!r} became {found[column]!r}"
                    for column, value in row.items()
                    if column in found and found[column] != value
                ]
            count = len(connection.execute(select(table)).all())
            if count != len(rows):
                problems.append(f"{name} has {count} rows, {len(rows)} were written")
    return problems
