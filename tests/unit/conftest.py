"""The unit tier is pure: functions and objects in memory, small files under tmp_path at most.

A test here that opens a database or a socket fails, naming where such a test belongs
(tests/component for real SQLite, loopback servers and the CLI in-process).
"""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Iterator
from typing import NoReturn

import pytest


def _refuse(what: str) -> object:
    def refuse(*args: object, **kwargs: object) -> NoReturn:
        raise AssertionError(f"a unit test opened {what}; it belongs in tests/component")

    return refuse


@pytest.fixture(scope="module", autouse=True)
def no_database_or_socket() -> Iterator[None]:
    """Module-scoped (hypothesis refuses function-scoped fixtures around its examples)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sqlite3, "connect", _refuse("a SQLite database"))
        patch.setattr(sqlite3.dbapi2, "connect", _refuse("a SQLite database"))
        for method in ("connect", "connect_ex", "bind"):
            patch.setattr(socket.socket, method, _refuse("a socket"))
        yield
