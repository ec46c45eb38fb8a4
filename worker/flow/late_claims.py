"""A claim whose commit came back late (a slow or cut-off database link) must not send: its
lease may have run out, and the touch been re-driven to another worker, while it waited.

The lease is counted from the claim's start; a send may take `longest_send` (tunables.SendBounds)
so a send that starts later than `lease_until - longest_send` could still be running when a
second worker takes the touch over. Such a claim is handed back instead, unsent.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlmodel import col

from models.touch import Touch, TouchStatus
from worker.engine.db import changed_rows, transaction
from worker.engine.runtime import Runtime
from worker.engine.tunables import send_bounds
from worker.flow.outgoing import ClaimedTouch
from worker.flow.send_slots import give_back_slots


def too_late_to_send(rt: Runtime, claimed: ClaimedTouch) -> bool:
    """Whether a send starting now could outlast the claim's lease."""
    longest = send_bounds(rt.settings.lease_seconds).longest_send
    return rt.clock.now() + longest > claimed.lease_until


def hand_back(rt: Runtime, claims: list[ClaimedTouch]) -> set[int]:
    """Back to `scheduled`, due now, with their attempt and send slots given back, those whose
    row still holds this very claim (same lease); the others another worker has already. The
    ids handed back."""
    handed_back = set()
    with transaction(rt.engine) as session:
        now = rt.clock.now()
        for claimed in claims:
            ours = changed_rows(
                session,
                update(Touch)
                .where(
                    col(Touch.id) == claimed.touch_id,
                    col(Touch.status) == TouchStatus.SENDING,
                    col(Touch.lease_until) == claimed.lease_until,
                )
                .values(
                    status=TouchStatus.SCHEDULED,
                    due_at=now,
                    lease_until=None,
                    attempts=col(Touch.attempts) - 1,
                ),
            )
            if ours:
                give_back_slots(session, team=rt.catalog.team, slots=claimed.slots)
                handed_back.add(claimed.touch_id)
    return handed_back
