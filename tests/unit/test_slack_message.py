"""Slack alert messages keep to Slack's documented Block Kit rules, however big a digest gets."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.slack_blocks import block_kit_problems
from worker.notify.slack import slack_message


def test_a_single_alert_is_a_header_a_section_and_a_context() -> None:
    """The shape a person sees: title, the alert line, who it is for; with a fallback text."""
    message = slack_message(
        "SLA at risk", ["lee@example.com (inbound): first touch due"], "for Ana"
    )
    assert block_kit_problems(message) == []
    assert [b["type"] for b in message["blocks"]] == ["header", "section", "context"]
    assert message["text"].startswith("SLA at risk: lee@example.com")


def test_a_huge_digest_still_fits_fifty_blocks_and_three_thousand_characters() -> None:
    """900 long lines pack into at most 48 sections and end with how many were left out."""
    lines = [f"lead{n}@example.com <b>&</b> " + "x" * 300 for n in range(900)]
    message = slack_message("T" * 400, lines, "f" * 5000)
    assert block_kit_problems(message) == []
    assert len(message["blocks"]) == 50
    assert "more" in message["blocks"][-2]["text"]["text"]
    assert "&lt;b&gt;&amp;&lt;/b&gt;" in message["blocks"][1]["text"]["text"]


@pytest.mark.parametrize(
    ("message", "problem"),
    [
        (
            {"blocks": [{"type": "header", "text": {"type": "mrkdwn", "text": "x"}}]},
            "type 'mrkdwn'",
        ),
        (
            {"blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]},
            "1-3000",
        ),
        ({"blocks": [{"type": "context", "elements": []}]}, "1-10 elements"),
        ({"blocks": [{"type": "divider"}] * 51}, "1-50 blocks"),
        ({"blocks": [{"type": "section"}]}, "text or fields"),
        ({"text": ""}, "needs text"),
    ],
)
def test_the_checker_refuses_what_slack_refuses(message: dict[str, Any], problem: str) -> None:
    """The control: the checker is not a rubber stamp."""
    assert any(problem in p for p in block_kit_problems(message))
