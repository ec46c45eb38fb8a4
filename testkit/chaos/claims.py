"""Who claimed which touch when: the schedulers' JSON log lines ("queued N due touches" with
touch_ids), and the check that no touch was claimed twice while a claim of it still held.

A touch may be claimed again only after its queued lease ran out (the sweeper re-drove it).
The lease runs from the claiming tick's start and the line is logged after the ids are
enqueued, so a legitimate re-claim can show up to a slow tick early: two claims of one touch
less than half a lease apart are a double claim (a failed compare-and-set would put them
within a tick of each other).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import NamedTuple

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


def double_claims(claims: Iterable[Claim], lease_seconds: float) -> list[tuple[Claim, Claim]]:
    """Pairs of claims of one touch less than half a lease apart."""
    by_touch: dict[int, list[Claim]] = defaultdict(list)
    for claim in claims:
        by_touch[claim.touch_id].append(claim)
    doubles = []
    for touch_claims in by_touch.values():
        ordered = sorted(touch_claims)
        for first, second in pairwise(ordered):
            if second.at - first.at < lease_seconds / 2:
                doubles.append((first, second))
    return doubles
