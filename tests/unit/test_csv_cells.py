"""CSV cells a spreadsheet would run are neutralised; everything else is left as written."""

from __future__ import annotations

import pytest

from tests.support.cells import HOSTILE
from worker.compliance.export import safe_cell


@pytest.mark.parametrize("text", HOSTILE)
def test_formula_starts_are_quoted(text: str) -> None:
    """Given text starting with = + - @ tab or CR, then the cell starts with a quote instead."""
    assert safe_cell(text) == "'" + text


def test_plain_text_and_numbers_are_left_alone() -> None:
    """Given ordinary text (an = inside it too) and negative numbers, then nothing is changed."""
    assert (
        safe_cell("called, left a message"),
        safe_cell("a=b"),
        safe_cell(-3),
        safe_cell(0.5),
    ) == (
        "called, left a message",
        "a=b",
        -3,
        0.5,
    )
