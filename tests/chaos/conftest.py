"""Fixtures of the fault suite (issue 9): the tier and its seed, the database (SQLite in the
quick tier where a scenario allows, PostgreSQL in `make chaos`), a Redis and a chaos sink of
the test's own, and the checker's lines repeated in pytest's summary."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from testkit.chaos.report import LINES, Tier
from testkit.chaos.sink import ChaosSink
from testkit.chaos.sink_plan import SinkPlan


@pytest.fixture
def tier() -> Tier:
    """FOLLOWUP_CHAOS=full for the `make chaos` sizes; FOLLOWUP_CHAOS_SEED=n replays a run."""
    return Tier.from_env()


@pytest.fixture
def chaos_database_url(request: pytest.FixtureRequest, tier: Tier, tmp_path: Path) -> str:
    """The quick tier's own SQLite file; PostgreSQL in the full tier (or when a scenario marks
    itself `pytest.mark.postgres_only`)."""
    if tier.full or request.node.get_closest_marker("postgres_only"):
        return str(request.getfixturevalue("postgres_url"))
    return f"sqlite:///{tmp_path / 'chaos.db'}"


@pytest.fixture
def chaos_sink(tmp_path: Path, tier: Tier) -> Iterator[ChaosSink]:
    """The programmable sink in its own process, seeded with the tier's seed."""
    with ChaosSink(tmp_path / "sink", SinkPlan(seed=tier.seed)) as sink:
        yield sink


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Every checker line of the run, after the results."""
    if LINES:
        terminalreporter.section("chaos checker")
        for line in LINES:
            terminalreporter.write_line(line)
