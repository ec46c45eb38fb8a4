"""Each step rendered on sample data before anything runs: errors that stop the folder, and
warnings about what hurts deliverability (known from the standards and the big receivers)."""

from __future__ import annotations

import re
from typing import Any

from worker.specs.rendering import (
    RenderedEmail,
    Renderer,
    RenderError,
    build_context,
    template_path,
)
from worker.specs.sending import lead_owner_context
from worker.specs.sequences import SequenceSpec, StepSpec
from worker.specs.team import TeamSpec
from worker.specs.yaml_source import Loc, SourceError, YamlDocument

SAMPLE_LEAD: dict[str, Any] = {
    "email": "sample.lead@example.com",
    "first_name": "Sam",
    "last_name": "Sample",
    "company": "Example Inc",
    "owner": "rep@example.com",
    "timezone": "America/New_York",
}
# The full sample's sender: its owner is in no team.yaml, and it must still sign like a full lead.
SAMPLE_SENDER = "Sam Rep <rep@example.com>"
SAMPLE_UNSUBSCRIBE = "https://example.com/unsubscribe/sample"
MAX_SUBJECT = 100  # longer subjects are cut off by every inbox and look like bulk mail
# Link shorteners hide where a link goes; spam filters (SpamAssassin's URIBL rules, Gmail)
# weigh them against the message. Any link on one of these hosts is a warning.
SHORTENERS = frozenset(
    {
        "bit.ly", "bitly.com", "tinyurl.com", "t.co", "goo.gl", "ow.ly", "is.gd", "buff.ly",
        "rebrand.ly", "cutt.ly", "shorturl.at", "tiny.cc", "bl.ink", "lnkd.in", "t.ly", "rb.gy",
        "s.id", "shorte.st", "adf.ly", "bit.do", "v.gd", "qr.ae", "po.st", "soo.gd", "clck.ru",
        "tr.im", "x.co", "mcaf.ee", "su.pr", "db.tt", "trib.al", "dlvr.it", "ift.tt", "hubs.ly",
    }
)  # fmt: skip
_LINK_HOST = re.compile(r"https?://([^/\s\"'<>?#:]+)", re.IGNORECASE)

Finding = tuple[SourceError, bool]  # the problem, and whether it is an error (else a warning)


def context_for(
    lead: dict[str, Any],
    spec: SequenceSpec,
    step: str,
    team: TeamSpec,
    unsubscribe_url: str,
    default_from: str | None = None,
) -> dict[str, Any]:
    """What a template sees when rendered to be looked at, not sent (the check, the preview);
    `owner` as a send would have it: the lead's owner in team.yaml, else the sender used."""
    return build_context(
        lead=lead,
        owner=lead_owner_context(spec, lead.get("owner"), team=team, default_from=default_from),
        sequence=spec,
        step=step,
        unsubscribe_url=unsubscribe_url,
    )


def check_step(
    spec: SequenceSpec,
    index: int,
    document: YamlDocument,
    renderer: Renderer,
    team: TeamSpec,
    *,
    first_email: str | None,
) -> list[Finding]:
    """Every problem of one step: its task text, or each template it may send."""
    step = spec.steps[index]
    context = context_for(SAMPLE_LEAD, spec, step.id, team, SAMPLE_UNSUBSCRIBE, SAMPLE_SENDER)
    if step.task is not None:
        try:
            renderer.render_text(step.task, context)
        except RenderError as exc:
            return [(document.error(("steps", index, "task"), f"step {step.id!r}: {exc}"), True)]
        return []
    if step.variants is None:
        places: list[tuple[Loc, str]] = [(("steps", index, "email"), step.email or "")]
    else:
        places = [
            (("steps", index, "variants", n, "email"), variant.email)
            for n, variant in enumerate(step.variants)
        ]
    found: list[Finding] = []
    for where, name in places:
        found += _check_template(step, index, where, name, document, renderer, context, first_email)
    return found


def _check_template(
    step: StepSpec,
    index: int,
    where: Loc,
    name: str,
    document: YamlDocument,
    renderer: Renderer,
    context: dict[str, Any],
    first_email: str | None,
) -> list[Finding]:
    path = template_path(name)
    if not renderer.exists(name):
        return [
            (
                document.error(where, f"template {path!r} not found in {renderer.templates_dir}"),
                True,
            )
        ]
    try:
        email = renderer.render_email(name, context)
    except RenderError as exc:
        return [(document.error(where, f"step {step.id!r}: {exc}"), True)]
    if not email.subject and not step.thread:
        return [(document.error(where, f"{path}: empty subject"), True)]
    found = [(document.error(where, problem), False) for problem in deliverability(path, email)]
    if email.subject and step.thread and step.id != first_email:
        ignored = (
            f"step {step.id!r}: with thread: true the subject is \"Re: <first email's "
            f'subject>"; the subject block of {path} is ignored'
        )
        found.append((document.error(("steps", index, "thread"), ignored), False))
    elif len(email.subject) > MAX_SUBJECT:
        too_long = (
            f"{path}: the subject has {len(email.subject)} characters (keep it under {MAX_SUBJECT})"
        )
        found.append((document.error(where, too_long), False))
    return found


def deliverability(path: str, email: RenderedEmail) -> list[str]:
    """What in a rendered email hurts its way to the inbox, one sentence each."""
    problems = []
    if not email.text.strip():
        problems.append(f"{path}: no text part (an HTML-only email looks like bulk mail)")
    if email.html is not None and SAMPLE_UNSUBSCRIBE not in email.html:
        problems.append(
            f"{path}: the HTML part has no unsubscribe link (put {{{{ unsubscribe_url }}}} in it)"
        )
    shortened = sorted(
        {
            host.lower().removeprefix("www.")
            for body in (email.text, email.html or "")
            for host in _LINK_HOST.findall(body)
        }
        & SHORTENERS
    )
    if shortened:
        problems.append(
            f"{path}: links through a URL shortener ({', '.join(shortened)}) are a spam signal; "
            "link to the real address"
        )
    return problems
