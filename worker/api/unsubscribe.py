"""GET shows a confirmation page (link scanners prefetch GETs); POST unsubscribes (RFC 8058)."""

from __future__ import annotations

from html import escape
from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import HTMLResponse

from models.lead import LeadIn
from models.validation import normalise_email
from worker.api.deps import Rt
from worker.auth.tokens import unsign
from worker.engine.db import transaction
from worker.flow.enrollment import suppress_lead
from worker.flow.leads import upsert_lead

router = APIRouter(tags=["unsubscribe"])
Token = Annotated[str, Path(max_length=2000, description="from the email's List-Unsubscribe")]
PAGE_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"content": {"text/html": {}}, "description": "an HTML page"},
    404: {"content": {"text/html": {}}, "description": "the link is not valid"},
}
_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem}}
button{{font:inherit;padding:.5rem 1.25rem;cursor:pointer}}</style></head>
<body><main><h1>{title}</h1>{body}</main></body></html>
"""


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        _PAGE.format(title=escape(title), body=body),
        status_code=status,
        headers={"Cache-Control": "no-store", "X-Robots-Tag": "noindex"},
    )


def _email(rt: Rt, token: str) -> str | None:
    value = unsign(token, keys=rt.key_ring, purpose="unsubscribe")
    try:
        return normalise_email(value) if value else None
    except ValueError:
        return None


def _not_valid() -> HTMLResponse:
    return _page(
        "Link not valid",
        "<p>This unsubscribe link is not valid. If you copied it, check that it is complete.</p>",
        status=404,
    )


@router.get("/unsubscribe/{token}", response_class=HTMLResponse, responses=PAGE_RESPONSES)
def confirm_page(token: Token, rt: Rt) -> HTMLResponse:
    """Ask first: opening the link changes nothing."""
    email = _email(rt, token)
    if email is None:
        return _not_valid()
    return _page(
        "Unsubscribe",
        f"<p>Stop follow-up emails to <strong>{escape(email)}</strong>?</p>"
        '<form method="post"><input type="hidden" name="List-Unsubscribe" '
        'value="One-Click"><button type="submit">Unsubscribe</button></form>',
    )


@router.post("/unsubscribe/{token}", response_class=HTMLResponse, responses=PAGE_RESPONSES)
def unsubscribe(token: Token, rt: Rt) -> HTMLResponse:
    """One-click: suppress the address and end its enrollments; no key, no cookie, any body."""
    email = _email(rt, token)
    if email is None:
        return _not_valid()
    now = rt.clock.now()
    with transaction(rt.engine) as session:
        lead, _ = upsert_lead(session, LeadIn(email=email), now=now)
        suppress_lead(session, lead, reason="lead.unsubscribed", at=now, now=now)
    return _page(
        "Unsubscribed",
        f"<p><strong>{escape(email)}</strong> will get no more follow-up emails from us.</p>",
    )
