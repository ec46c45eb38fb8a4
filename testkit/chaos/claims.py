"""Who claimed which touch: the schedulers' JSON log lines ("queued N due touches" with
touch_ids) against the database's own record of claims, kept by a trigger the test installs
(every change of a touch's status into `queued`). A scheduler may enqueue a touch only for a
claim the database made: more logged claims of a touch than claim transitions is a double claim.
Exact on SQLite and PostgreSQL, whatever the leases and however slow the ticks.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

from sqlalchemy import Engine, text

QUEUED_MESSAGE = "due touches"  # scheduler_loop: "queued %d due touches", extra touch_ids


class Claim(NamedTuple):
    at: float  # epoch seconds of the log line
    scheduler: str
    touch_id: int


def claims_in_log(path: Path, scheduler: str) -> list[Claim]:
    """The claims one scheduler logged (FOLLOWUP_LOG_FORMAT=json); other lines are skipped."""
    found = []
    for line in path.read_text(errors="replace").splitlines():
        if QUEUED_MESSAGE not in line or not line.startswith("{"):
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line torn by kill -9
        at = datetime.fromisoformat(entry["time"]).timestamp()
        found += [Claim(at, scheduler, int(touch_id)) for touch_id in entry.get("touch_ids", ())]
    return found


def double_claims(claims: Iterable[Claim], made: Counter[int]) -> dict[int, int]:
    """Touches enqueued more often than the database claimed them, with the excess; `made`:
    claim transitions per touch (claims_made). A killed scheduler's claims that it never
    logged only make the logged count smaller."""
    logged = Counter(claim.touch_id for claim in claims)
    return {touch: n - made[touch] for touch, n in logged.items() if n > made[touch]}


_SQLITE = [
    "CREATE TABLE chaos_claim (id INTEGER PRIMARY KEY AUTOINCREMENT, touch_id INTEGER, old TEXT)",
    "CREATE TRIGGER chaos_claim_note AFTER UPDATE OF status ON touch "
    "WHEN NEW.status = 'queued' AND OLD.status <> 'queued' "
    "BEGIN INSERT INTO chaos_claim (touch_id, old) VALUES (NEW.id, OLD.status); END",
]
_POSTGRES = [
    "CREATE TABLE chaos_claim (id bigserial PRIMARY KEY, touch_id bigint, old text)",
    "CREATE FUNCTION chaos_claim_note() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "INSERT INTO chaos_claim (touch_id, old) VALUES (NEW.id, OLD.status); RETURN NEW; END $$",
    "CREATE TRIGGER chaos_claim_note AFTER UPDATE ON touch FOR EACH ROW "
    "WHEN (NEW.status = 'queued' AND OLD.status <> 'queued') EXECUTE FUNCTION chaos_claim_note()",
]


def install_claim_audit(engine: Engine) -> None:
    """The trigger that notes every claim (a status change into `queued`); after the tables."""
    statements = _SQLITE if engine.dialect.name == "sqlite" else _POSTGRES
    with engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement))


def claims_made(engine: Engine) -> Counter[int]:
    """Claim transitions per touch id, as the trigger noted them."""
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT touch_id FROM chaos_claim")).scalars().all()
    return Counter(int(touch_id) for touch_id in rows)
