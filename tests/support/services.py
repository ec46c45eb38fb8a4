"""Real Redis and PostgreSQL for integration tests: from FOLLOWUP_TEST_* URLs, else started
from the PATH on a free port, else skipped with a reason (a failure when CI is set)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import pytest

from testkit.chaos.postgres_instance import PostgresInstance, PostgresUnavailable
from testkit.ports import free_port


def missing(reason: str) -> NoReturn:
    """Skip on a laptop without the service; fail in CI, where nothing may skip."""
    if os.environ.get("CI"):
        pytest.fail(f"CI is set but {reason}", pytrace=False)
    pytest.skip(reason)


def _wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


@contextmanager
def redis_server() -> Iterator[str]:
    """A Redis URL: FOLLOWUP_TEST_REDIS_URL, else a redis-server from the PATH."""
    url = os.environ.get("FOLLOWUP_TEST_REDIS_URL")
    if url:
        yield url
        return
    binary = shutil.which("redis-server")
    if binary is None:
        missing("no FOLLOWUP_TEST_REDIS_URL and no redis-server on the PATH")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_port(port)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def postgres_server() -> Iterator[str]:
    """A PostgreSQL URL: FOLLOWUP_TEST_DATABASE_URL, else a private cluster on a free port."""
    url = os.environ.get("FOLLOWUP_TEST_DATABASE_URL")
    if url:
        yield url
        return
    try:
        instance = PostgresInstance()
    except PostgresUnavailable as exc:
        missing(f"no FOLLOWUP_TEST_DATABASE_URL, and {exc}")
    with instance:
        yield instance.url()


@contextmanager
def isolated_schema(url: str) -> Iterator[str]:
    """A URL whose connections use a fresh schema of their own, dropped afterwards."""
    from sqlalchemy import create_engine, text

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url)
    with admin.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    separator = "&" if "?" in url else "?"
    try:
        yield f"{url}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
