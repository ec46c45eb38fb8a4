"""Slack's documented Block Kit rules for messages, as a checker for tests.

From Slack's reference (docs.slack.dev/reference/block-kit): up to 50 blocks per message;
a header holds a plain_text object of at most 150 characters; a section holds a text object of
at most 3000 characters and/or 1-10 fields of at most 2000; a context holds 1-10 text or image
elements; a text object is plain_text or mrkdwn with 1-3000 characters, `emoji` only on
plain_text and `verbatim` only on mrkdwn; block_id at most 255 characters, unique.
"""

from __future__ import annotations

from typing import Any

MESSAGE_KEYS = {"text", "blocks", "attachments", "thread_ts", "mrkdwn", "username", "icon_emoji"}
BLOCK_KEYS = {
    "header": {"type", "text", "block_id"},
    "section": {"type", "text", "fields", "accessory", "block_id", "expand"},
    "context": {"type", "elements", "block_id"},
    "divider": {"type", "block_id"},
}


def _text_object(obj: Any, where: str, limit: int, plain_only: bool = False) -> list[str]:
    if not isinstance(obj, dict):
        return [f"{where}: not a text object"]
    errors = [
        f"{where}: unknown key {k!r}" for k in obj if k not in {"type", "text", "emoji", "verbatim"}
    ]
    kind = obj.get("type")
    if kind not in ({"plain_text"} if plain_only else {"plain_text", "mrkdwn"}):
        errors.append(f"{where}: type {kind!r} not allowed here")
    text = obj.get("text")
    if not isinstance(text, str) or not 1 <= len(text) <= limit:
        errors.append(f"{where}: text must be 1-{limit} characters")
    if "emoji" in obj and kind != "plain_text":
        errors.append(f"{where}: emoji is for plain_text only")
    if "verbatim" in obj and kind != "mrkdwn":
        errors.append(f"{where}: verbatim is for mrkdwn only")
    return errors


def _block(block: Any, where: str) -> list[str]:
    if not isinstance(block, dict) or block.get("type") not in BLOCK_KEYS:
        return [f"{where}: not a known block"]
    kind = block["type"]
    errors = [f"{where}: unknown key {k!r}" for k in block if k not in BLOCK_KEYS[kind]]
    if kind == "header":
        errors += _text_object(block.get("text"), f"{where}.text", 150, plain_only=True)
    elif kind == "section":
        if "text" not in block and "fields" not in block:
            errors.append(f"{where}: a section needs text or fields")
        if "text" in block:
            errors += _text_object(block["text"], f"{where}.text", 3000)
        fields = block.get("fields", [])
        if not isinstance(fields, list) or len(fields) > 10:
            errors.append(f"{where}: at most 10 fields")
        for n, field in enumerate(fields if isinstance(fields, list) else []):
            errors += _text_object(field, f"{where}.fields[{n}]", 2000)
    elif kind == "context":
        elements = block.get("elements")
        if not isinstance(elements, list) or not 1 <= len(elements) <= 10:
            return [*errors, f"{where}: a context holds 1-10 elements"]
        for n, element in enumerate(elements):
            if not (isinstance(element, dict) and element.get("type") == "image"):
                errors += _text_object(element, f"{where}.elements[{n}]", 3000)
    return errors


def block_kit_problems(payload: Any) -> list[str]:
    """Every way `payload` breaks the rules; empty when Slack would accept its shape."""
    if not isinstance(payload, dict):
        return ["the message is not a JSON object"]
    errors = [f"unknown message key {k!r}" for k in payload if k not in MESSAGE_KEYS]
    blocks = payload.get("blocks")
    if blocks is None:
        if not isinstance(payload.get("text"), str) or not payload["text"]:
            errors.append("a message without blocks needs text")
        return errors
    if not isinstance(blocks, list) or not 1 <= len(blocks) <= 50:
        return [*errors, "blocks must be a list of 1-50 blocks"]
    if "text" in payload and (not isinstance(payload["text"], str) or len(payload["text"]) > 40000):
        errors.append("text (the notification fallback) must be a string of at most 40000")
    ids = [b.get("block_id") for b in blocks if isinstance(b, dict) and "block_id" in b]
    if len(ids) != len(set(ids)) or any(not isinstance(i, str) or len(i) > 255 for i in ids):
        errors.append("block_id must be unique strings of at most 255 characters")
    for n, block in enumerate(blocks):
        errors += _block(block, f"blocks[{n}]")
    return errors
