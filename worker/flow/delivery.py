"""WHERE AN EMAIL IS SENT: claim a message's touches (touch_claims.py) -> render them all -> send
each, paced against the time limit (send_pacing.py) -> record them (delivery_records.py); each
step idempotent, two transactions a message when its sends are quick."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from dramatiq.middleware import Interrupt

from worker.engine.logs import log_context
from worker.engine.runtime import Runtime
from worker.flow.delivery_records import Attempt, Delivery, DeliveryOutcome
from worker.flow.late_claims import hand_back, too_late_to_send
from worker.flow.outgoing import ClaimedTouch, compose_email
from worker.flow.send_pacing import Recorder, SendPace
from worker.flow.touch_claims import claim_touches
from worker.mail import OutgoingEmail, PermanentSendError, SendError
from worker.specs.rendering import RENDER_ERROR, RenderError

log = logging.getLogger("followup.delivery")

LEFT = Delivery(DeliveryOutcome.LEFT, "left claimed: its lease re-drives it")
R = TypeVar("R")


def deliver_touch(rt: Runtime, touch_id: int) -> Delivery:
    """Send one touch; a touch that is not `queued` is left alone."""
    return deliver_touches(rt, [touch_id])[touch_id]


def deliver_touches(rt: Runtime, touch_ids: list[int]) -> dict[int, Delivery]:
    """Send a message's touches one after the other; each id's outcome.

    All are claimed at the start (none waits in `queued` while the others go out) and rendered
    before the first send (a render that hangs until the time limit holds no sent touch); no
    send starts once the message used its share of the time limit, and the sends are recorded
    as they go when they are slow, else together at the end. An interrupted message (dramatiq's
    time limit) records what was sent and hands back what was not started. Every log line (SMTP
    errors too) names the touch, its enrollment, lead, sequence, step and Message-ID.
    """
    pace = SendPace.start(rt)
    claims = claim_touches(rt, touch_ids)
    ready = [claimed for claimed in claims.values() if isinstance(claimed, ClaimedTouch)]
    recorder = Recorder(rt, pace)
    unsent = list(ready)  # handed back at the end: claimed, never tried
    try:
        emails = _compose_all(rt, ready, unsent)
        for claimed, email in zip(ready, emails, strict=True):
            started = len(ready) - len(unsent)
            if too_late_to_send(rt, claimed):  # the claim came back late: its lease is spent
                break
            if started and not pace.may_start_send():  # the rest of the time limit is the record's
                break
            unsent.remove(claimed)
            with log_context(**claimed.log_ids):
                attempt = email if isinstance(email, Attempt) else _send(rt, claimed, email)
            if attempt is not None:
                recorder.add(attempt)
            recorder.record_if_slow()
    finally:
        handed_back = _despite_one_interrupt(lambda: _wind_up(rt, recorder, unsent))
    deliveries = {touch_id: LEFT for touch_id in touch_ids}
    for touch_id, claim in claims.items():
        done = claim if isinstance(claim, Delivery) else recorder.recorded.get(touch_id, LEFT)
        deliveries[touch_id] = done
    for claimed in unsent:
        back = claimed.touch_id in handed_back
        deliveries[claimed.touch_id] = Delivery(
            DeliveryOutcome.EXPIRED, "handed back" if back else "taken over"
        )
    _log_outcomes(deliveries, claims)
    return deliveries


def _compose_all(
    rt: Runtime, ready: list[ClaimedTouch], unsent: list[ClaimedTouch]
) -> list[OutgoingEmail | Attempt | None]:
    """Each touch's email, or its render error as a failed attempt, or None (composing broke
    otherwise: left to its lease). A touch interrupted while it renders leaves `unsent` (left
    to its lease, which counts a re-drive: a render that always hangs ends `failed`)."""
    emails: list[OutgoingEmail | Attempt | None] = []
    for claimed in ready:
        with log_context(**claimed.log_ids):
            try:
                emails.append(_compose(rt, claimed))
            except BaseException:  # the time limit: the others are handed back unsent
                unsent.remove(claimed)
                raise
    return emails


def _compose(rt: Runtime, claimed: ClaimedTouch) -> OutgoingEmail | Attempt | None:
    try:
        return compose_email(rt, claimed)
    except RenderError as exc:
        failure = f"{RENDER_ERROR}{exc} (lead {claimed.lead_email}, step {claimed.step.id!r})"
        return Attempt(claimed, error=PermanentSendError(failure))
    except Exception:  # one broken email must not stop the rest of the message
        log.exception("touch %s: composing broke; its lease re-drives it", claimed.touch_id)
        return None


def _send(rt: Runtime, claimed: ClaimedTouch, email: OutgoingEmail | None) -> Attempt | None:
    """What the SMTP server said; None when the send broke otherwise (left to its lease)."""
    if email is None:
        return None
    try:
        rt.mailer.send(email)
    except SendError as exc:
        return Attempt(claimed, error=exc)
    except Exception:  # one broken send must not stop the rest of the message
        log.exception("touch %s: send broke; its lease re-drives it", claimed.touch_id)
        return None
    return Attempt(claimed, subject=email.subject)


def _wind_up(rt: Runtime, recorder: Recorder, unsent: list[ClaimedTouch]) -> set[int]:
    """Record what is pending, then hand back what was never tried; the ids handed back."""
    recorder.record()
    return hand_back(rt, unsent) if unsent else set()


def _despite_one_interrupt(work: Callable[[], R]) -> R:
    """work(), run once more when dramatiq's time limit cut it (the limit interrupts a message
    once: the second run is not cut), the interrupt then raised again. `work` must be safe to
    run twice: the record and the hand-back are compare-and-sets, and keep what they finished."""
    try:
        return work()
    except Interrupt:
        log.warning("interrupted while recording its sends; recording again, then stopping")
        work()
        raise


def _log_outcomes(
    deliveries: dict[int, Delivery], claims: dict[int, ClaimedTouch | Delivery]
) -> None:
    if not log.isEnabledFor(logging.INFO):  # FOLLOWUP_LOG_LEVEL=warning: not even the context
        return
    for touch_id, delivery in deliveries.items():
        claimed = claims.get(touch_id)
        ids = claimed.log_ids if isinstance(claimed, ClaimedTouch) else {"touch_id": touch_id}
        with log_context(**ids):
            log.info("touch %s: %s", touch_id, delivery, extra={"outcome": str(delivery.outcome)})
