"""The Prometheus figures, driven through the real flows on fakes (virtual clock): counters move
by what committed, gauges are read from the database when scraped, and /metrics serves both."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from models.event import EventIn
from testkit.harness import Harness, template
from tests.support.metrics import sample
from worker.api.app import create_app
from worker.auth.apikeys import create_key
from worker.engine.db import transaction
from worker.engine.metrics import EVENTS_ACCEPTED, count_on_commit
from worker.engine.metrics_state import exposition_registry, state_collector
from worker.flow.events import record_event
from worker.imports.csv_import import ImportOptions, import_rows
from worker.imports.csv_rows import CsvSource
from worker.mail import PermanentSendError, TransientSendError

SEQUENCE = """
name: mql
trigger: lead.mql
from: owner
sla:
  first_touch_within: 1h
  min_touches: 2
  within: 2d
steps:
  - id: intro
    email: t/intro
  - id: bump
    email: t/intro
    wait: 1d
"""
TEAM = """
owners:
  - email: rep@acme.test
    name: Rep
    daily_limit: 1
"""


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(
        tmp_path,
        sequences={"mql.yaml": SEQUENCE, "team.yaml": TEAM},
        templates={"t/intro.j2": template("Hello")},
    )
    try:
        yield harness
    finally:
        harness.close()


class Delta:
    """Samples of the default registry before and after, by (name, labels)."""

    def __init__(self, *samples: tuple[str, dict[str, str]]) -> None:
        self.samples = samples
        self.before = [sample(name, **labels) for name, labels in samples]

    def now(self) -> list[float]:
        return [
            sample(name, **labels) - before
            for (name, labels), before in zip(self.samples, self.before, strict=True)
        ]


def touches(outcome: str) -> tuple[str, dict[str, str]]:
    return "followup_touches_total", {"outcome": outcome, "sequence": "mql"}


def test_sends_retries_failures_and_limit_deferrals_are_counted_by_outcome(h: Harness) -> None:
    """Given three leads of one owner limited to one email a day, and a mailer that fails once
    transiently then permanently, the counters say exactly what happened, per sequence."""
    delta = Delta(
        touches("sent"),
        touches("retry"),
        touches("failed"),
        touches("deferred"),
        ("followup_mailbox_limit_deferrals_total", {"mailbox": "rep@acme.test"}),
        ("followup_events_accepted_total", {}),
        ("followup_events_applied_total", {}),
        ("followup_claim_batch_size_count", {}),
        ("followup_claim_batch_size_sum", {}),
    )
    h.mailer.fail_next(TransientSendError("451 try later"))
    h.event("lead.mql", "a@example.com", lead={"owner": "rep@acme.test"})
    h.tick()  # a: retry
    h.event("lead.mql", "b@example.com", lead={"owner": "rep@acme.test"})
    h.event("lead.mql", "c@example.com", lead={"owner": "rep@acme.test"})
    h.mailer.fail_next(PermanentSendError("550 5.7.1 refused"))
    h.advance(timedelta(minutes=5))  # a retried: refused for good; b sent; c over the limit
    sent, retry, failed, deferred, limit, accepted, applied, claims, claimed = delta.now()
    assert (retry, failed, sent, deferred, limit) == (1, 1, 1, 1, 1)
    assert (accepted, applied) == (3, 3)
    assert claims >= 2 and claimed == 4  # a, then a again with b and c


def test_a_rolled_back_transaction_counts_nothing(h: Harness) -> None:
    """count_on_commit: the increment happens on commit, and a rollback forgets it."""
    before = sample("followup_events_accepted_total")
    with pytest.raises(RuntimeError), transaction(h.rt.engine) as session:
        record_event(session, EventIn.model_validate(_event("x@example.com")), now=h.clock.now())
        raise RuntimeError("the request failed after the insert")
    assert sample("followup_events_accepted_total") == before
    with transaction(h.rt.engine) as session:
        count_on_commit(session, EVENTS_ACCEPTED, 2)
    assert sample("followup_events_accepted_total") == before + 2


def test_sla_verdicts_and_redriven_leases_are_counted(h: Harness) -> None:
    """A lead that gets no second touch in time is breached; a lost queued touch re-driven."""
    delta = Delta(
        ("followup_sla_verdicts_total", {"outcome": "breached"}),
        ("followup_touches_redriven_total", {}),
    )
    h.event("lead.mql", "ana@example.com")
    h.tick()  # intro sent; bump due in a day
    h.mailer.fail_next(TransientSendError("451 later"), times=50)
    with transaction(h.rt.engine) as session:
        from worker.flow.scheduling import claim_due

        h.clock.move_to(h.clock.now() + timedelta(days=1, minutes=1))
        claim_due(session, now=h.clock.now())  # claimed, message "lost"
    h.advance(timedelta(days=2))
    breached, redriven = delta.now()
    assert breached == 1 and redriven >= 1


def test_scraped_gauges_show_the_due_backlog_and_how_late_the_oldest_touch_is(
    h: Harness,
) -> None:
    """Given three touches due and no scheduler running for 90 seconds, a scrape says backlog 3
    and lag 90 s; at-risk is 0 until the SLA clocks add that status; queues come from the stub."""
    for n in range(3):
        h.event("lead.mql", f"l{n}@example.com")
    h.clock.move_to(h.clock.now() + timedelta(seconds=90))
    families = _families(
        generate_latest(exposition_registry(state_collector(h.rt, h.simulation.broker)))
    )
    assert families["followup_due_backlog"] == {(): 3.0}
    assert families["followup_scheduler_lag_seconds"] == {(): 90.0}
    assert families["followup_enrollments_at_risk"] == {(): 0.0}
    assert families["followup_database_up"] == {(): 1.0}
    assert families["followup_queue_depth"] == {
        (("queue", "events"),): 0,
        (("queue", "touches"),): 0,
    }
    h.tick()
    after = _families(
        generate_latest(exposition_registry(state_collector(h.rt, h.simulation.broker)))
    )
    assert after["followup_due_backlog"] == {(): 0.0}
    assert after["followup_scheduler_lag_seconds"] == {(): 0.0}


def test_the_api_serves_metrics_to_a_key_holder(h: Harness) -> None:
    """GET /metrics needs a key (like every route) and serves the text format with ours and
    the queue figures of the middleware."""
    with transaction(h.rt.engine) as session:
        key = create_key(session, "prometheus", now=h.clock.now())
    client = TestClient(create_app(h.rt, process_inline=True, broker=h.simulation.broker))
    assert client.get("/metrics").status_code == 401
    h.event("lead.mql", "ana@example.com")
    h.tick()
    response = client.get("/metrics", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    families = _families(response.content)
    assert families["followup_due_backlog"] == {(): 0.0}
    assert families["followup_touches_total"][(("outcome", "sent"), ("sequence", "mql"))] >= 1
    messages = families["followup_queue_messages_total"]
    assert messages[(("actor", "send_touch"), ("queue", "touches"), ("result", "ok"))] >= 1
    assert (("version", "0.1.0"),) in families["followup_build_info"]


def test_import_rows_are_counted_by_result_and_a_dry_run_counts_nothing(
    h: Harness, tmp_path: Path
) -> None:
    """Two good rows and one rejected: created 2, rejected 1; the same file in a dry run adds
    nothing, imported again it is unchanged 2."""
    csv = tmp_path / "leads.csv"
    csv.write_text("email,first_name\na@example.com,A\nnot-an-email,B\nb@example.com,B\n")
    labels = ("created", "unchanged", "rejected")
    delta = Delta(*(("followup_import_rows_total", {"result": r}) for r in labels))
    for dry_run in (False, True, False):
        with csv.open("rb") as binary:
            import_rows(h.rt, CsvSource(binary), ImportOptions(dry_run=dry_run))
    assert delta.now() == [2, 2, 2]


def _event(email: str) -> dict[str, object]:
    return {"type": "lead.mql", "lead": {"email": email}}


Labels = tuple[tuple[str, str], ...]


def _families(exposition: bytes) -> dict[str, dict[Labels, float]]:
    """{sample name: {sorted labels: value}} for gauges and counters (`..._total`)."""
    found: dict[str, dict[Labels, float]] = {}
    for family in text_string_to_metric_families(exposition.decode()):
        for s in family.samples:
            if s.name in (family.name, f"{family.name}_total"):
                found.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return found
