"""Every CSV the tool writes goes through this one writer, which neutralises the cells a
spreadsheet would run as formulas (CSV injection): report, log and the --rejects file alike."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import IO, Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """Prefix a quote to text that a spreadsheet would read as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class SafeCsvWriter:
    """csv.writer with every cell neutralised; None is an empty cell."""

    def __init__(self, handle: IO[str]) -> None:
        # RFC 4180 CRLF: the writer quotes cells holding any lineterminator character, so a bare
        # CR in a cell cannot split the row in a spreadsheet ("\n" alone left CR unquoted).
        self._writer = csv.writer(handle, lineterminator="\r\n")

    def writerow(self, row: Iterable[Any]) -> None:
        self._writer.writerow([safe_cell("" if value is None else value) for value in row])
