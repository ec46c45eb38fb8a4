"""Untrusted text (lead fields, log details, CSV headers, rendered task texts) as the terminal
shows it: plain text, never Rich markup, with no control character left to act on the terminal.

`[/]` in a first name would crash a table for good (the log is append-only), `[link=...]` would
hide a URL, and ESC sequences could rewrite the operator's screen or title bar.
"""

from __future__ import annotations

import re
from typing import Any

from rich.text import Text

# C0 but tab and newline, DEL, C1, and the bidirectional overrides that reorder what is shown.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_BREAKS = re.compile("[\t\n\r]+")


def clean(value: Any) -> str:
    """One line of plain text: breaks become a space, other control characters go."""
    return _CONTROL.sub("", _BREAKS.sub(" ", "" if value is None else str(value)))


def cell(value: Any) -> Text:
    """A table cell or printed value that Rich shows as the characters it is."""
    return Text(clean(value))


def clean_lines(text: str) -> str:
    """Data (CSV, JSON lines, HTML) bound for a terminal: lines kept, control characters gone."""
    return _CONTROL.sub("", text.replace("\r\n", "\n"))


def labelled(label: str, message: Any, style: str = "red") -> Text:
    """`error: <message>` with only the label styled: the message is never read as markup."""
    return Text.assemble((label, style), " ", clean(message))
