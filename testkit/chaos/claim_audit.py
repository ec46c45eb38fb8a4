"""What PostgreSQL itself saw of claims and exits, for checks no log can make exact.

Triggers (in their own schema, beside the app's tables) note every claim of a touch (`queued`
-> `sending`: when its transaction began, the lease it took, the connection's
application_name), every end of one (`sending` -> anything, by which connection), every
enrollment exit (`exited`: unsubscribes and replies alike) and every lead suppression (a lead
whose enrollment had just completed is suppressed with no exit). With the server's
track_commit_timestamp on, each note's transaction commit time is exact too. Install after the
tables exist; read after the run. Times are epoch seconds on the server's clock.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import Engine, text

SCHEMA = "chaos_audit"
SETTINGS = {"track_commit_timestamp": "on"}  # PostgresInstance(settings=...) for commit times

_INSTALL = f"""
CREATE SCHEMA IF NOT EXISTS {SCHEMA};
CREATE TABLE {SCHEMA}.claim (touch_id bigint, enrollment_id bigint, began timestamptz,
    lease_until timestamptz, app text);
CREATE TABLE {SCHEMA}.exit (enrollment_id bigint, reason text, noted timestamptz);
CREATE TABLE {SCHEMA}.release (touch_id bigint, status text, at timestamptz, app text);
CREATE TABLE {SCHEMA}.suppression (lead_id bigint, reason text, noted timestamptz);
CREATE FUNCTION {SCHEMA}.note_claim() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO {SCHEMA}.claim VALUES (NEW.id, NEW.enrollment_id, transaction_timestamp(),
      NEW.lease_until, current_setting('application_name'));
  RETURN NEW;
END $$;
CREATE FUNCTION {SCHEMA}.note_release() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO {SCHEMA}.release VALUES (NEW.id, NEW.status, clock_timestamp(),
      current_setting('application_name'));
  RETURN NEW;
END $$;
CREATE FUNCTION {SCHEMA}.note_exit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO {SCHEMA}.exit VALUES (NEW.id, NEW.exit_reason, clock_timestamp());
  RETURN NEW;
END $$;
CREATE FUNCTION {SCHEMA}.note_suppression() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO {SCHEMA}.suppression VALUES (NEW.id, NEW.suppressed_reason, clock_timestamp());
  RETURN NEW;
END $$;
CREATE TRIGGER chaos_claim AFTER UPDATE ON touch FOR EACH ROW
  WHEN (OLD.status = 'queued' AND NEW.status = 'sending') EXECUTE FUNCTION {SCHEMA}.note_claim();
CREATE TRIGGER chaos_release AFTER UPDATE ON touch FOR EACH ROW
  WHEN (OLD.status = 'sending' AND NEW.status <> 'sending')
  EXECUTE FUNCTION {SCHEMA}.note_release();
CREATE TRIGGER chaos_exit AFTER UPDATE ON enrollment FOR EACH ROW
  WHEN (OLD.status <> 'exited' AND NEW.status = 'exited') EXECUTE FUNCTION {SCHEMA}.note_exit();
CREATE TRIGGER chaos_suppression AFTER UPDATE ON lead FOR EACH ROW
  WHEN (OLD.suppressed_at IS NULL AND NEW.suppressed_at IS NOT NULL)
  EXECUTE FUNCTION {SCHEMA}.note_suppression();
"""


@dataclass(frozen=True)
class Claim:
    touch_id: int
    began: float  # the claiming transaction's start
    committed: float | None  # its commit (None without track_commit_timestamp)
    lease_until: float | None
    app: str  # the claiming connection's application_name


@dataclass(frozen=True)
class Release:
    """A claim ended (sent, failed, handed back, re-driven...): by whom, into which status."""

    touch_id: int
    status: str
    at: float
    app: str


@dataclass(frozen=True)
class Exit:
    enrollment_id: int
    reason: str
    committed: float


def install(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.exec_driver_sql(_INSTALL)


def claims(engine: Engine) -> dict[int, list[Claim]]:
    """Every committed claim, per touch, oldest first."""
    query = text(
        f"SELECT touch_id, extract(epoch FROM began), "
        f"extract(epoch FROM pg_xact_commit_timestamp(xmin)), "
        f"extract(epoch FROM lease_until), app "
        f"FROM {SCHEMA}.claim ORDER BY began"
    )
    found: dict[int, list[Claim]] = defaultdict(list)
    with engine.connect() as connection:
        for touch_id, began, committed, lease, app in connection.execute(query):
            found[int(touch_id)].append(
                Claim(int(touch_id), float(began), _float(committed), _float(lease), str(app))
            )
    return dict(found)


def releases(engine: Engine) -> dict[int, list[Release]]:
    """Every end of a claim (`sending` -> anything else), per touch, oldest first."""
    query = text(
        f"SELECT touch_id, status, extract(epoch FROM at), app FROM {SCHEMA}.release ORDER BY at"
    )
    found: dict[int, list[Release]] = defaultdict(list)
    with engine.connect() as connection:
        for touch_id, status, at, app in connection.execute(query):
            found[int(touch_id)].append(Release(int(touch_id), str(status), float(at), str(app)))
    return dict(found)


def exits(engine: Engine) -> dict[int, Exit]:
    """Each enrollment's committed exit, with its commit instant (the noted instant, just
    before the commit, without track_commit_timestamp)."""
    query = text(
        f"SELECT enrollment_id, reason, extract(epoch FROM "
        f"coalesce(pg_xact_commit_timestamp(xmin), noted)) FROM {SCHEMA}.exit"
    )
    with engine.connect() as connection:
        return {
            int(eid): Exit(int(eid), str(reason), float(at))
            for eid, reason, at in connection.execute(query)
        }


def suppressions(engine: Engine) -> dict[int, float]:
    """Each lead's committed suppression instant (its commit, as exits()): a lead whose
    enrollment had already completed is suppressed without any exit."""
    query = text(
        f"SELECT lead_id, extract(epoch FROM coalesce(pg_xact_commit_timestamp(xmin), noted)) "
        f"FROM {SCHEMA}.suppression"
    )
    with engine.connect() as connection:
        return {int(lead_id): float(at) for lead_id, at in connection.execute(query)}


def _float(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]  # a Decimal
