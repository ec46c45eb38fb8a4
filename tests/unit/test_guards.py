"""Guards against input that would hurt the running service: template bombs, bad senders."""

from __future__ import annotations

import pytest

from worker.engine.settings import ConfigError, Settings
from worker.specs.rendering import Renderer, RenderError


@pytest.mark.parametrize(
    "source",
    [
        "{{ lead.email * 100000000 }}",
        "{{ 100000000 * lead.email }}",
        "{{ [1] * 1000000 }}",
        "{{ 2 ** 100000 }}",
    ],
)
def test_templates_cannot_build_huge_values(source: str) -> None:
    """Repeating a string or list past 100,000, or a giant power, is a render error, not an OOM."""
    with pytest.raises(RenderError):
        Renderer(sources={}).render_text(source, {"lead": {"email": "a@example.com"}})


def test_small_repeats_and_powers_still_work() -> None:
    """Ordinary arithmetic is unaffected by the bounds."""
    text = Renderer(sources={}).render_text("{{ '-' * 3 }} {{ 2 ** 10 }} {{ 6 * 7 }}", {})
    assert text == "--- 1024 42"


@pytest.mark.parametrize("value", ["sales@acme_corp.test", "Sales", "a@b.c\nBcc: x@y.z"])
def test_a_bad_default_from_is_refused_at_start_up(value: str) -> None:
    """FOLLOWUP_DEFAULT_FROM is checked when settings load, not discovered in failed touches."""
    with pytest.raises(ConfigError, match="FOLLOWUP_DEFAULT_FROM"):
        Settings.from_mapping({"FOLLOWUP_DEFAULT_FROM": value})


def test_a_named_default_from_is_accepted() -> None:
    """The usual `Name <address>` form loads."""
    settings = Settings.from_mapping({"FOLLOWUP_DEFAULT_FROM": "Acme Sales <sales@acme.test>"})
    assert settings.default_from == "Acme Sales <sales@acme.test>"


@pytest.mark.parametrize(
    "lead",
    [
        {"email": "a@example.com", "first_name": "A\x00"},
        {"email": "a@example.com", "fields": {"note": "\ud800"}},
        {"email": "a@example.com", "fields": {"score": float("nan")}},
    ],
)
def test_events_that_no_database_could_store_are_refused_everywhere(lead: dict) -> None:
    """NUL, lone surrogates and NaN are refused by the model itself (CLI, CSV and API alike)."""
    from pydantic import ValidationError

    from models.event import EventIn

    with pytest.raises(ValidationError, match=r"NUL or an unpaired surrogate|not a finite number"):
        EventIn.model_validate({"type": "lead.mql", "lead": lead})
