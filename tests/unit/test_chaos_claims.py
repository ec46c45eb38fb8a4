"""Double claims across schedulers (testkit/chaos/claims.py)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from testkit.chaos.claims import Claim, claims_in_log, double_claims


def test_claims_are_read_from_json_lines_and_torn_lines_skipped(tmp_path: Path) -> None:
    """Given a scheduler log with a claim line, a text line and a torn line, then only the
    claim's touch ids are read, with the line's time."""
    log = tmp_path / "scheduler-1.log"
    entry = {"time": "2026-12-01T09:00:00.250+00:00", "message": "queued 2 due touches"}
    log.write_text(
        json.dumps({**entry, "touch_ids": [7, 9]})
        + "\nplain text line\n"
        + '{"time": "2026-12-01T09:00:01", "message": "queued 1 due touches", "touch_'
    )
    claims = claims_in_log(log, "scheduler-1")
    assert [(c.scheduler, c.touch_id) for c in claims] == [("scheduler-1", 7), ("scheduler-1", 9)]
    assert claims[0].at % 60 == 0.25


def test_a_touch_enqueued_more_often_than_claimed_is_a_double_claim() -> None:
    """Given touch 1 logged by two schedulers but claimed once by the database, and touch 2
    logged twice and claimed twice (a re-drive in between), then only touch 1 is double."""
    claims = [Claim(0.0, "a", 1), Claim(1.0, "b", 1), Claim(0.0, "a", 2), Claim(8.0, "b", 2)]
    assert double_claims(claims, Counter({1: 1, 2: 2, 3: 1})) == {1: 1}
