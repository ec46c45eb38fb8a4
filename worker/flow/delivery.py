"""WHERE AN EMAIL IS SENT: claim a message's touches (touch_claims.py) -> render -> send each ->
record them all (delivery_records.py); each step idempotent, two transactions a message."""

from __future__ import annotations

import logging

from worker.engine.logs import log_context
from worker.engine.runtime import Runtime
from worker.flow.delivery_records import Attempt, Delivery, DeliveryOutcome, record_attempts
from worker.flow.late_claims import hand_back, too_late_to_send
from worker.flow.outgoing import ClaimedTouch, compose_email
from worker.flow.touch_claims import claim_touches
from worker.mail import PermanentSendError, SendError
from worker.specs.rendering import RENDER_ERROR, RenderError

log = logging.getLogger("followup.delivery")

LEFT = Delivery(DeliveryOutcome.LEFT, "left claimed: its lease re-drives it")


def deliver_touch(rt: Runtime, touch_id: int) -> Delivery:
    """Send one touch; a touch that is not `queued` is left alone."""
    return deliver_touches(rt, [touch_id])[touch_id]


def deliver_touches(rt: Runtime, touch_ids: list[int]) -> dict[int, Delivery]:
    """Send a message's touches one after the other; each id's outcome.

    All are claimed at the start (none waits in `queued` while the others go out) and recorded
    together at the end, also when the message is interrupted (dramatiq's time limit): what was
    sent is recorded, what was not started is handed back. Every log line (SMTP errors too)
    names the touch, its enrollment, lead, sequence, step and Message-ID.
    """
    claims = claim_touches(rt, touch_ids)
    ready = [claimed for claimed in claims.values() if isinstance(claimed, ClaimedTouch)]
    attempts: list[Attempt] = []
    started = 0
    try:
        for claimed in ready:
            if too_late_to_send(rt, claimed):  # the claim came back late: its lease is spent
                break
            started += 1
            with log_context(**claimed.log_ids):
                attempt = _send(rt, claimed)
            if attempt is not None:
                attempts.append(attempt)
    finally:
        recorded = record_attempts(rt, attempts)
        handed_back = hand_back(rt, ready[started:]) if ready[started:] else set()
    deliveries = {touch_id: LEFT for touch_id in touch_ids}
    for touch_id, claim in claims.items():
        done = claim if isinstance(claim, Delivery) else recorded.get(touch_id, LEFT)
        deliveries[touch_id] = done
    for claimed in ready[started:]:
        back = claimed.touch_id in handed_back
        deliveries[claimed.touch_id] = Delivery(
            DeliveryOutcome.EXPIRED, "handed back" if back else "taken over"
        )
    _log_outcomes(deliveries, claims)
    return deliveries


def _send(rt: Runtime, claimed: ClaimedTouch) -> Attempt | None:
    """What the SMTP server said; None when the send broke otherwise (left to its lease)."""
    try:
        email = compose_email(rt, claimed)
        rt.mailer.send(email)
    except RenderError as exc:
        failure = f"{RENDER_ERROR}{exc} (lead {claimed.lead_email}, step {claimed.step.id!r})"
        return Attempt(claimed, error=PermanentSendError(failure))
    except SendError as exc:
        return Attempt(claimed, error=exc)
    except Exception:  # one broken send must not stop the rest of the message
        log.exception("touch %s: send broke; its lease re-drives it", claimed.touch_id)
        return None
    return Attempt(claimed, subject=email.subject)


def _log_outcomes(
    deliveries: dict[int, Delivery], claims: dict[int, ClaimedTouch | Delivery]
) -> None:
    for touch_id, delivery in deliveries.items():
        claimed = claims.get(touch_id)
        ids = claimed.log_ids if isinstance(claimed, ClaimedTouch) else {"touch_id": touch_id}
        with log_context(**ids):
            log.info("touch %s: %s", touch_id, delivery, extra={"outcome": str(delivery.outcome)})
