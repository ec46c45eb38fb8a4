"""The part of a reply its author wrote: the text above the quoted message."""

from __future__ import annotations

import re

# Where mail programs start the quoted original: Gmail/Apple "On ... wrote:", Outlook's header
# block or rule, and their translations.
_QUOTE_START = re.compile(
    r"^\s*(?:>|"
    r"on .{1,200}(?:wrote|a écrit|schrieb|escribió|ha scritto|schreef|escreveu)\s*:|"
    r"le .{1,200}a écrit\s*:|am .{1,200}schrieb .{0,200}:|el .{1,200}escribió\s*:|"
    r"il .{1,200}ha scritto\s*:|op .{1,200}schreef .{0,200}:|em .{1,200}escreveu\s*:|"
    r"-{2,}\s*(?:original message|ursprüngliche nachricht|message d'origine|mensaje original|"
    r"messaggio originale|oorspronkelijk bericht|mensagem original)\s*-{2,}|"
    r"_{10,}|"
    r"(?:from|von|de|da|van):\s.{1,200}$)",
    re.IGNORECASE,
)


def fresh_text(text: str) -> str:
    """Lines before the first quote marker (all of it when nothing is quoted)."""
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if (_QUOTE_START.match(line) and index > 0) or line.lstrip().startswith(">"):
            return "\n".join(lines[:index]).strip()
    return text.strip()
