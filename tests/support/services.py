"""Real Redis and PostgreSQL for integration tests: from FOLLOWUP_TEST_* URLs, else started
from the PATH on a free port, else skipped with a reason (a failure when CI is set)."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import pytest

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


def postgres_binaries() -> tuple[str, str] | None:
    """initdb and pg_ctl: from the PATH, else where Debian puts them (the highest version)."""
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl:
        return initdb, pg_ctl
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
        key=lambda path: int(path.parent.parent.name) if path.parent.parent.name.isdigit() else 0,
    )
    if not versions:
        return None
    folder = versions[-1].parent
    return str(folder / "initdb"), str(folder / "pg_ctl")


def as_postgres_user(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: root runs it as the `postgres` user."""
    if os.geteuid() != 0:
        return command
    if shutil.which("runuser") is None:
        missing("running as root without runuser, and PostgreSQL refuses to start as root")
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        missing("running as root with no `postgres` user, and PostgreSQL refuses root")
    return ["runuser", "-u", "postgres", "--", *command]


def _private_cluster_folder() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="followup-pg-"))
    if os.geteuid() == 0:
        entry = pwd.getpwnam("postgres")
        os.chown(folder, entry.pw_uid, entry.pw_gid)
    folder.chmod(0o700)
    return folder


@contextmanager
def postgres_server() -> Iterator[str]:
    """A PostgreSQL URL: FOLLOWUP_TEST_DATABASE_URL, else a private cluster on a free port."""
    url = os.environ.get("FOLLOWUP_TEST_DATABASE_URL")
    if url:
        yield url
        return
    binaries = postgres_binaries()
    if binaries is None:
        missing(
            "no FOLLOWUP_TEST_DATABASE_URL, and no initdb/pg_ctl on the PATH or in "
            "/usr/lib/postgresql/*/bin"
        )
    initdb, pg_ctl = binaries
    folder = _private_cluster_folder()
    data, port = folder / "data", free_port()
    quiet: dict[str, Any] = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    subprocess.run(
        as_postgres_user([initdb, "-D", str(data), "-U", "postgres", "--auth=trust"]),
        check=True,
        **quiet,
    )
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    start = [pg_ctl, "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start"]
    subprocess.run(as_postgres_user(start), check=True, **quiet)
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        stop = [pg_ctl, "-D", str(data), "-m", "immediate", "stop"]
        subprocess.run(as_postgres_user(stop), check=False, **quiet)
        shutil.rmtree(folder, ignore_errors=True)


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
