"""Webhook signatures and retry timing; the README's verification snippet works as printed."""

from __future__ import annotations

import random
import re
import time
from datetime import timedelta
from pathlib import Path

from worker.notify.signing import signature_header, verify
from worker.notify.webhook_delivery import backoff

README = Path(__file__).resolve().parents[2] / "README.md"
BODY = (
    b'{"data":{"lead":"lee@example.com"},"id":"evt_1",'
    b'"occurred_at":"2026-12-07T14:00:00Z","type":"touch.sent"}'
)


def test_the_signature_covers_the_timestamp_and_the_exact_body() -> None:
    """Any change to the body, the time or the secret fails the check."""
    header = signature_header("s3cret", 1_800_000_000, BODY)
    assert re.fullmatch(r"t=1800000000,v1=[0-9a-f]{64}", header)
    assert verify("s3cret", header, BODY, now=1_800_000_010)
    assert not verify("s3cret", header, BODY + b" ", now=1_800_000_010)
    assert not verify("other", header, BODY, now=1_800_000_010)
    assert not verify(
        "s3cret", header.replace("t=1800000000", "t=1800000001"), BODY, now=1_800_000_010
    )
    assert not verify("s3cret", header, BODY, now=1_800_000_000 + 3600)  # a replay, much later
    assert not verify("s3cret", "garbage", BODY, now=1_800_000_000)


def test_the_first_retry_comes_within_30_seconds_and_backoff_is_capped_at_an_hour() -> None:
    """Jittered to 50-100% of 30 s x 2^(n-1), never more than an hour."""
    rng = random.Random(1)
    firsts = [backoff(1, rng) for _ in range(200)]
    assert all(timedelta(seconds=15) <= d <= timedelta(seconds=30) for d in firsts)
    assert len({round(d.total_seconds(), 3) for d in firsts}) > 100  # really jittered
    assert all(backoff(30, rng) <= timedelta(hours=1) for _ in range(50))


def test_the_readme_snippet_verifies_a_real_signature() -> None:
    """The Python block under "Verifying a webhook" in README.md, run as printed."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("### Verifying a webhook") :]
    snippet = section[
        section.index("```python") + len("```python") : section.index(
            "```\n", section.index("```python") + 9
        )
    ]
    namespace: dict[str, object] = {}
    exec(compile(snippet, "README.md", "exec"), namespace)  # our own documentation
    verify_readme = namespace["verify_followup_signature"]
    now = int(time.time())
    header = signature_header("s3cret", now, BODY)
    assert verify_readme("s3cret", header, BODY) is True  # type: ignore[operator]
    assert verify_readme("s3cret", header, BODY + b"x") is False  # type: ignore[operator]
