"""A/B variants end to end: each touch records its lead's variant and sends that template, a
retry keeps it, replies are counted per variant in the report, and `sequences promote` makes
the winner the only variant for new enrollments while running ones keep their version."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta

import pytest

from testkit.harness import Harness, Harnesses, template
from tests.support.cli import Cli
from worker.mail import TransientSendError
from worker.specs.variants import VariantSpec, choose_variant

SEQUENCE = """
name: ab
trigger: lead.mql
exit_on: [email.replied]
steps:
  - id: intro
    variants:
      - email: t/a
      - email: t/b
        id: b
  - id: bump
    wait: 1d
    variants:
      - email: t/c
      - email: t/d
"""
TEMPLATES = {f"t/{n}.j2": template(f"Subject {n.upper()}") for n in "abcd"}
INTRO = [VariantSpec(email="t/a"), VariantSpec(email="t/b", id="b")]
BUMP = [VariantSpec(email="t/c"), VariantSpec(email="t/d")]


def expected(email: str, step: str = "intro") -> str:
    variants = INTRO if step == "intro" else BUMP
    return choose_variant(variants, lead_email=email, sequence="ab", step=step).name


@pytest.fixture
def h(make_harness: Harnesses) -> Harness:
    return make_harness(sequences={"ab.yaml": SEQUENCE}, templates=TEMPLATES)


def test_each_touch_sends_the_variant_its_lead_hashes_to(h: Harness) -> None:
    """Given two equal variants, 40 leads split between them by the hash; each touch records
    its variant and the email carries that template's subject."""
    emails = [f"lead{n}@example.com" for n in range(40)]
    for email in emails:
        h.event("lead.mql", email)
    h.tick()
    touches = {t.lead_id: t for t in h.touches(step="intro")}
    assert len(touches) == 40
    subjects = {m.to: m.subject for m in h.sent}
    for email in emails:
        variant = expected(email)
        assert subjects[email] == ("Subject A" if variant == "t/a" else "Subject B")
    assert Counter(t.variant for t in touches.values()).keys() == {"t/a", "b"}


def test_a_retried_touch_keeps_its_variant(h: Harness) -> None:
    """A 4xx, then the retry: same variant, same template, same Message-ID."""
    h.mailer.fail_next(TransientSendError("451 4.7.1 later"))
    h.event("lead.mql", "retry@example.com")
    h.tick()
    [touch] = h.touches(step="intro")
    assert touch.status == "scheduled" and touch.variant == expected("retry@example.com")
    h.advance(timedelta(minutes=5))
    [touch] = h.touches(step="intro")
    [attempt, sent] = h.mailer.attempts
    assert touch.status == "sent" and touch.variant == expected("retry@example.com")
    assert (attempt.subject, attempt.message_id) == (sent.subject, sent.message_id)


def test_replies_are_counted_per_variant_in_the_report(
    make_harness: Harnesses, database_url: str | None, cli: Cli, capsys: pytest.CaptureFixture[str]
) -> None:
    """Replies count for the email the lead last got before replying: here the intro's
    variant; the JSON report has sent, replies, rate, interval and a verdict per variant."""
    h = make_harness(
        sequences={"ab.yaml": SEQUENCE}, templates=TEMPLATES, database_url=database_url
    )
    emails = [f"lead{n}@example.com" for n in range(30)]
    for email in emails:
        h.event("lead.mql", email)
    h.tick()
    repliers = emails[:12]
    h.advance(timedelta(hours=1))
    for email in repliers:
        h.event("email.replied", email)
    assert cli.on(h)("compliance", "report", "--format", "json") == 0
    rows = json.loads(capsys.readouterr().out)["variants"]
    intro = {r["variant"]: r for r in rows if r["step"] == "intro"}
    sent = Counter(expected(e) for e in emails)
    replied = Counter(expected(e) for e in repliers)
    assert list(intro) == ["t/a", "b"]  # the first variant listed is the control
    for name in ("t/a", "b"):
        assert (intro[name]["sent"], intro[name]["replies"]) == (sent[name], replied[name])
        assert intro[name]["ci_low"] <= intro[name]["reply_rate"] <= intro[name]["ci_high"]
    assert intro["t/a"]["verdict"] == "control" and intro["b"]["verdict"] == "collecting"
    assert cli.on(h)("compliance", "report") == 0
    assert "A/B variants, judged by replies" in capsys.readouterr().out


def test_promote_pins_the_winner_for_new_enrollments_only(h: Harness, cli: Cli, capsys) -> None:
    """Given a lead running the bump test on variant t/c, when t/d is promoted, then a lead
    enrolled afterwards gets t/d, and the running lead keeps t/c from its pinned version."""
    running = next(
        f"early{n}@example.com"
        for n in range(100)
        if expected(f"early{n}@example.com", "bump") == "t/c"
    )
    later = next(
        f"late{n}@example.com"
        for n in range(100)
        if expected(f"late{n}@example.com", "bump") == "t/c"
    )
    h.event("lead.mql", running)
    h.tick()
    assert cli.on(h)("sequences", "promote", "ab", "bump", "t/d") == 0
    out = capsys.readouterr().out
    assert "promoted t/d in ab / bump" in out and "running enrollments keep" in out
    text = (h.settings.sequences_dir / "ab.yaml").read_text()
    assert "variants:  # promoted t/d (was t/c, t/d)" in text and "email: t/c" not in text
    assert h.rt.refresh_catalog(min_interval=0)
    h.event("lead.mql", later)
    h.advance(timedelta(days=1, hours=1))
    bumps = {m.to: m.subject for m in h.sent if m.subject in ("Subject C", "Subject D")}
    assert bumps == {running: "Subject C", later: "Subject D"}
    versions = {e.version for e in h.enrollments()}
    assert len(versions) == 2


def test_promote_refuses_an_unknown_step_or_variant_with_one_line(
    h: Harness, cli: Cli, capsys
) -> None:
    """Exit 2 and the names there are; the file is left alone."""
    before = (h.settings.sequences_dir / "ab.yaml").read_text()
    followup = cli.on(h)
    assert followup("sequences", "promote", "ab", "nope", "t/a") == 2
    assert (
        "no step 'nope' with variants (steps with variants: intro, bump)" in capsys.readouterr().err
    )
    assert followup("sequences", "promote", "ab", "intro", "t/z") == 2
    assert "has no variant 't/z' (its variants: t/a, b)" in capsys.readouterr().err
    assert (h.settings.sequences_dir / "ab.yaml").read_text() == before
