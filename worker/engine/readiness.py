"""Readiness: can this process do its work? Database reachable and at head, broker reachable,
sequences loaded (plus the checks a process adds). Anyone may learn ok/unavailable; only the
holder of an API key sees why, since the reasons name internal hosts and ports."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sqlalchemy import Engine

from worker.auth.apikeys import verify_key
from worker.engine.db import reading
from worker.engine.runtime import Runtime
from worker.engine.schema import SchemaError, head_revision, read_revision, refusal

log = logging.getLogger("followup.readiness")
Check = tuple[bool, str]  # (passed, what was found)


@dataclass(frozen=True)
class Readiness:
    checks: dict[str, Check]

    @property
    def ok(self) -> bool:
        return all(passed for passed, _ in self.checks.values())

    def body(self, *, detail: bool) -> dict[str, object]:
        body: dict[str, object] = {"status": "ok" if self.ok else "unavailable"}
        if detail:
            body["checks"] = {name: found for name, (_, found) in self.checks.items()}
        return body


def database_check(engine: Engine) -> Check:
    try:
        current = read_revision(engine)
    except SchemaError as exc:
        return False, str(exc)
    except Exception as exc:  # any driver error means "not reachable"
        return False, f"unreachable: {str(exc).splitlines()[0]}"
    if current is None:
        return False, "no followup tables"
    problem = refusal(current)
    return (False, problem) if problem else (True, f"ok, at {head_revision()} (head)")


def broker_check(rt: Runtime) -> Check:
    if rt.broker_health is None:
        return True, "ok, embedded"
    answer = rt.broker_health.check()[0]
    return answer == "ok", answer


def sequences_check(rt: Runtime) -> Check:
    count = len(rt.catalog.sequences)
    return count > 0, f"{count} loaded" if count else "none loaded"


def check_readiness(
    rt: Runtime, extra: Mapping[str, Callable[[], Check]] | None = None
) -> Readiness:
    """Every check, each bounded (database pool timeouts, Redis 2 s); failures are logged."""
    checks = {
        "database": database_check(rt.engine),
        "broker": broker_check(rt),
        "sequences": sequences_check(rt),
    }
    for name, check in (extra or {}).items():
        checks[name] = check()
    readiness = Readiness(checks)
    if not readiness.ok:
        failing = "; ".join(f"{n}: {found}" for n, (ok, found) in checks.items() if not ok)
        log.warning("not ready: %s", failing)
    return readiness


def may_see_detail(engine: Engine, authorization: str | None) -> bool:
    """A live API key in `Authorization: Bearer <key>` unlocks the reasons."""
    if not authorization or not authorization.lower().startswith("bearer "):
        return False
    try:
        with reading(engine) as session:
            return verify_key(session, authorization[7:].strip()) is not None
    except Exception:  # the database is down: no key can be checked, so no detail
        return False
