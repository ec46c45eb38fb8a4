"""A private PostgreSQL cluster a fault test may stop, crash and start again (never the shared one).

with PostgresInstance() as pg:          # initdb on a temp folder, started on a free port
    url = pg.create_database("run")     # postgresql+psycopg://postgres@127.0.0.1:PORT/run
    pg.stop("immediate")                # a crash (or "fast": a clean shutdown)
    pg.start()                          # recovers, same port
As root, initdb and pg_ctl run as the `postgres` user (PostgreSQL refuses root); see
/work/shared/notes/postgres.md.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Literal

from testkit.ports import free_port

StopMode = Literal["fast", "immediate"]
START_TIMEOUT_SECONDS = 60


class PostgresUnavailable(RuntimeError):
    """This machine cannot run a private cluster (no binaries, root without `postgres`)."""


def postgres_binaries() -> tuple[Path, Path]:
    """initdb and pg_ctl: from the PATH, else where Debian puts them (the highest version)."""
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl:
        return Path(initdb), Path(pg_ctl)
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
        key=lambda path: int(path.parent.parent.name) if path.parent.parent.name.isdigit() else 0,
    )
    if not versions:
        raise PostgresUnavailable("no initdb/pg_ctl on the PATH or in /usr/lib/postgresql/*/bin")
    folder = versions[-1].parent
    return folder / "initdb", folder / "pg_ctl"


def as_postgres_user(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: root runs it as the `postgres` user."""
    if os.geteuid() != 0:
        return command
    if shutil.which("runuser") is None:
        raise PostgresUnavailable("running as root without runuser; PostgreSQL refuses root")
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise PostgresUnavailable("running as root with no `postgres` user") from None
    return ["runuser", "-u", "postgres", "--", *command]


def private_folder() -> Path:
    """A temp folder (mode 700) the server's user owns."""
    folder = Path(tempfile.mkdtemp(prefix="followup-pg-"))
    if os.geteuid() == 0:
        entry = pwd.getpwnam("postgres")
        os.chown(folder, entry.pw_uid, entry.pw_gid)
    folder.chmod(0o700)
    return folder


class PostgresInstance:
    """One cluster on 127.0.0.1:`port`, its data in a temp folder removed by close()."""

    def __init__(self, settings: dict[str, str] | None = None) -> None:
        """`settings`: extra server settings, e.g. {"track_commit_timestamp": "on"}."""
        self.settings = dict(settings or {})
        self.initdb, self.pg_ctl = postgres_binaries()
        self.folder = private_folder()
        self.data = self.folder / "data"
        self.log_path = self.folder / "log"
        self.port = free_port()
        self._run([str(self.initdb), "-D", str(self.data), "-U", "postgres", "--auth=trust"])

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        """Start (or start again after a stop: crash recovery runs first), same port."""
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        options += "".join(f" -c {name}={value}" for name, value in self.settings.items())
        wait = ["-w", "-t", str(START_TIMEOUT_SECONDS)]
        log = ["-l", str(self.log_path)]
        self._run([str(self.pg_ctl), "-D", str(self.data), "-o", options, *log, *wait, "start"])

    def stop(self, mode: StopMode = "fast") -> None:
        """`fast`: a clean shutdown (clients disconnected); `immediate`: a crash."""
        self._run([str(self.pg_ctl), "-D", str(self.data), "-m", mode, "-w", "stop"])

    @property
    def running(self) -> bool:
        status = subprocess.run(
            as_postgres_user([str(self.pg_ctl), "-D", str(self.data), "status"]),
            capture_output=True,
            check=False,
        )
        return status.returncode == 0

    def accepts_connections(self) -> bool:
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", self.port)) == 0

    def create_database(self, name: str) -> str:
        """CREATE DATABASE `name` (a plain identifier); returns its URL."""
        if not name.isidentifier():
            raise ValueError(f"database name {name!r} is not a plain identifier")
        from sqlalchemy import create_engine, text

        admin = create_engine(self.url(), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
        finally:
            admin.dispose()
        return self.url(name)

    def log(self, tail: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        lines = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(lines[-tail:])

    def close(self) -> None:
        """Stop (a crash: nothing to keep) and remove the data folder."""
        if self.running:
            self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> PostgresInstance:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _run(self, command: list[str]) -> None:
        done = subprocess.run(as_postgres_user(command), capture_output=True, check=False)
        if done.returncode != 0:
            output = (done.stdout + done.stderr).decode(errors="replace").strip()
            name = Path(command[0]).name
            raise RuntimeError(f"{name} failed ({done.returncode}): {output}\n{self.log()}")
