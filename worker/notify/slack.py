"""Slack incoming-webhook messages in Block Kit: a header, the alert lines, who they are for."""

from __future__ import annotations

from typing import Any

MAX_BLOCKS = 50  # per message (Slack's Block Kit reference)
MAX_HEADER = 150  # header blocks: plain_text only
MAX_TEXT = 3000  # section text and the top-level fallback text


def escape(text: str) -> str:
    """Slack's three control characters in mrkdwn."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _sections(lines: list[str], room: int) -> list[str]:
    """The lines packed into at most `room` mrkdwn texts of MAX_TEXT characters."""
    chunks: list[str] = []
    for index, line in enumerate(escape(line)[: MAX_TEXT - 2] for line in lines):
        bullet = f"• {line}"
        if chunks and len(chunks[-1]) + 1 + len(bullet) <= MAX_TEXT:
            chunks[-1] += "\n" + bullet
        elif len(chunks) < room:
            chunks.append(bullet)
        else:
            more = f"\n… and {len(lines) - index} more"
            chunks[-1] = chunks[-1][: MAX_TEXT - len(more)] + more
            break
    return chunks


def slack_message(title: str, lines: list[str], footer: str) -> dict[str, Any]:
    """One message: always valid Block Kit, however many lines a digest holds."""
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": title[:MAX_HEADER], "emoji": True},
        }
    ]
    blocks += [
        {"type": "section", "text": {"type": "mrkdwn", "text": chunk}}
        for chunk in _sections(lines or ["(no details)"], MAX_BLOCKS - 2)
    ]
    blocks.append(
        {"type": "context", "elements": [{"type": "mrkdwn", "text": escape(footer)[:MAX_TEXT]}]}
    )
    fallback = f"{title}: {lines[0]}" if lines else title  # notifications show this
    return {"text": fallback[:MAX_TEXT], "blocks": blocks}
