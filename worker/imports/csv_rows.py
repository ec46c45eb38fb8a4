"""A CSV file as rows: encoding, delimiter, header names, line numbers, and each row validated.

UTF-8 with or without BOM, comma or semicolon (sniffed on the header line), quoted fields with
newlines, CRLF. Undecodable bytes are kept (surrogateescape) so a row can be rejected by line.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Iterator
from typing import IO, Any

from pydantic import ValidationError

from models.lead import LEAD_COLUMNS, LeadIn
from worker.specs.validation_errors import one_line

HEADER_MAX_CHARS = 65_536
_BAD_CHARS = re.compile("[\x00\udc80-\udcff]")  # NUL, or bytes that were not UTF-8


class CsvImportError(Exception):
    """The file as a whole cannot be imported (not CSV, no email column, bad option); one line."""

    def __init__(self, message: str, field: str = "file") -> None:
        super().__init__(message)
        self.field = field  # "file", or the option at fault: "event" / "sequence"


class CsvSource:
    """An open CSV file: its header, normalised column names, and its rows as they stream by."""

    def __init__(self, binary: IO[bytes]) -> None:
        self._binary = binary
        self.size, self.fingerprint = _size_and_digest(binary)
        self._text = io.TextIOWrapper(
            binary, encoding="utf-8-sig", errors="surrogateescape", newline=""
        )
        first = self._text.readline(HEADER_MAX_CHARS)
        if not first.strip():
            raise CsvImportError("the file is empty (no header line)")
        too_long = len(first) >= HEADER_MAX_CHARS and not first.endswith(("\n", "\r"))
        if too_long or _BAD_CHARS.search(first):
            raise CsvImportError("the header line is not UTF-8 CSV text (export as CSV UTF-8)")
        self.delimiter = ";" if first.count(";") > first.count(",") else ","
        self.header = next(csv.reader([first], delimiter=self.delimiter))
        self.columns = _column_names(self.header)

    def position(self) -> int:
        """Bytes read so far, for a progress bar."""
        return self._binary.tell()

    def records(self) -> Iterator[tuple[int, list[str] | None, str]]:
        """(line number, values or None, why unreadable) per row; blank lines are no rows."""
        reader = csv.reader(self._text, delimiter=self.delimiter)
        while True:
            line = reader.line_num + 2  # the header is line 1
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield line, None, f"unreadable CSV: {exc}"
                continue
            if any(value.strip() for value in values):
                yield line, values, ""


def _size_and_digest(binary: IO[bytes]) -> tuple[int | None, str]:
    """One pass over a seekable file: its size, and a digest that keys import events."""
    if not binary.seekable():
        return None, ""
    digest = hashlib.sha256()
    while chunk := binary.read(1 << 20):
        digest.update(chunk)
    size = binary.tell()
    binary.seek(0)
    return size, digest.hexdigest()


def _column_names(header: list[str]) -> list[str | None]:
    """`First Name` -> first_name; unnamed columns are ignored (None); every name once."""
    names: list[str | None] = []
    for raw in header:
        name = re.sub(r"\W+", "_", raw.strip().lower()).strip("_") or None
        if name is not None and not name.isidentifier():
            name = f"field_{name}"
        if name is not None and name in names:
            raise CsvImportError(f"header: column {raw.strip()!r} appears twice")
        names.append(name)
    if "email" not in names:
        found = ", ".join(repr(h.strip()) for h in header[:10])
        raise CsvImportError(f"header: no 'email' column (found {found}); is this a CSV file?")
    return names


def lead_from_row(columns: list[str | None], values: list[str]) -> LeadIn | str:
    """A validated lead, or the reason the row is rejected (naming the column)."""
    if len(values) != len(columns):
        return f"has {len(values)} columns, the header has {len(columns)}"
    data: dict[str, Any] = {}
    custom: dict[str, str] = {}
    for name, value in zip(columns, values, strict=True):
        if name is None or not value.strip():
            continue
        bad = _BAD_CHARS.search(value)
        if bad is not None:
            return f"{name}: " + (
                "contains a NUL character" if bad.group() == "\x00" else "is not valid UTF-8"
            )
        (data if name in LEAD_COLUMNS else custom)[name] = value.strip()
    if "email" not in data:
        return "email: missing"
    try:
        return LeadIn.model_validate({**data, "fields": custom})
    except ValidationError as exc:
        return one_line(exc)
