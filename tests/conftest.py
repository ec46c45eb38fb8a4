"""Fixtures shared by every tier: harnesses on fakes, the CLI aimed at one, and real services."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from testkit.chaos.redis_process import RedisBinaryMissing, RedisProcess
from testkit.harness import Harnesses
from tests.support.cli import Cli
from tests.support.services import isolated_schema, missing, postgres_server, redis_server
from worker.engine.db import make_engine
from worker.engine.schema import prepare_schema


@pytest.fixture
def make_harness(tmp_path: Path) -> Iterator[Harnesses]:
    """`make_harness(sequences=..., templates=...)` builds a harness; all are closed after."""
    with Harnesses(tmp_path) as factory:
        yield factory


@pytest.fixture(scope="module")
def make_shared_harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harnesses]:
    """The same, for a story played once and read by every test of a module."""
    with Harnesses(tmp_path_factory.mktemp("shared")) as factory:
        yield factory


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def database_url(request: pytest.FixtureRequest) -> str | None:
    """Where a harness keeps its data: its own SQLite file (None), and PostgreSQL in the
    integration tier."""
    if request.param == "postgres":
        return str(request.getfixturevalue("postgres_url"))
    return None


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """`cli("status")` runs followup in-process from an empty folder, with no FOLLOWUP_*
    variables; `cli.on(h)` aims it at harness h: its settings and its virtual clock."""
    return Cli(monkeypatch, tmp_path / "workdir")


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A real Redis (see tests/support/services.py for where it comes from)."""
    with redis_server() as url:
        yield url


@pytest.fixture
def clean_redis_url(redis_url: str) -> str:
    """The Redis URL with its database emptied first, so queues hold only this test's messages."""
    import redis

    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    client.close()
    return redis_url


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisProcess]:
    """A redis-server of this test's own on a free port (the only Redis a test may stop)."""
    try:
        server = RedisProcess(tmp_path / "redis")
    except RedisBinaryMissing as exc:
        missing(str(exc))
    with server:
        yield server


@pytest.fixture(scope="session")
def postgres_base_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.fixture
def postgres_url(postgres_base_url: str) -> Iterator[str]:
    """A PostgreSQL URL on a fresh schema of this test's own."""
    with isolated_schema(postgres_base_url) as url:
        yield url


@pytest.fixture
def artifacts_dir() -> Path:
    """Where tests leave files worth keeping (screenshots, measurements)."""
    folder = Path(__file__).resolve().parent.parent / "test-artifacts"
    folder.mkdir(exist_ok=True)
    return folder


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The inbox classifier's accuracy over the corpus (tests/flow/test_inbox_corpus.py)."""
    import sys

    corpus = sys.modules.get("tests.flow.test_inbox_corpus")
    results = getattr(corpus, "RESULTS", None)
    if results:
        right = sum(results.values())
        terminalreporter.write_line(
            f"inbox classifier accuracy over the corpus: {right}/{len(results)} "
            f"({right / len(results):.1%})"
        )
        for name, ok in sorted(results.items()):
            if not ok:
                terminalreporter.write_line(f"  misclassified: {name}")


@pytest.fixture
def engine(tmp_path: Path, database_url: str | None) -> Iterator[Engine]:
    """A database at the schema's head: SQLite in tmp_path, or the integration PostgreSQL."""
    made = make_engine(database_url or f"sqlite:///{tmp_path / 'flow.db'}")
    prepare_schema(made)
    yield made
    made.dispose()
