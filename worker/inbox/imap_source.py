"""An IMAP mailbox read with BODY.PEEK (nothing marked seen unless asked), never deleted from."""

from __future__ import annotations

import contextlib
import ssl
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from imapclient import SEEN, IMAPClient

from worker.engine import tunables
from worker.inbox.parsing import MAX_MESSAGE_BYTES
from worker.inbox.recording import RawMessage
from worker.specs.mailboxes import MailboxSpec

_WHOLE = b"BODY[]"
_START = b"BODY[]<0>"


class MailboxError(Exception):
    """A mailbox that cannot be read as configured; the message is for people, as is."""


class ImapSource:
    """One mailbox of team.yaml; connects on open(), IDLEs in wait() when the server can."""

    def __init__(
        self,
        spec: MailboxSpec,
        password: str | None,
        *,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = tunables.IMAP_TIMEOUT_SECONDS,
    ) -> None:
        self.spec = spec
        self.target = spec.target
        self.name = spec.name
        self._password = password
        self._ssl_context = ssl_context
        self._timeout = timeout
        self._client: IMAPClient | None = None
        self._uidvalidity = 0

    def open(self) -> int:
        """Connect, log in and select the folder (read-only unless we move or flag); UIDVALIDITY."""
        if self._password is None:
            raise MailboxError(
                f"the variable {self.spec.password_env} named by password_env is unset"
            )
        if self._client is None:
            self._client = self._connect()
        writes = self.spec.move_to is not None or self.spec.mark_seen
        selected = self._client.select_folder(self.target.folder, readonly=not writes)
        self._uidvalidity = int(selected[b"UIDVALIDITY"])
        return self._uidvalidity

    def fetch(self, *, after_uid: int = 0) -> Iterator[RawMessage]:
        """Messages with a UID above `after_uid`, oldest first; big ones only up to the cap."""
        client = self._require()
        uids = sorted(u for u in client.search(["UID", f"{after_uid + 1}:*"]) if u > after_uid)
        for start in range(0, len(uids), tunables.IMAP_FETCH_BATCH):
            batch = uids[start : start + tunables.IMAP_FETCH_BATCH]
            facts = client.fetch(batch, ["RFC822.SIZE", "INTERNALDATE"])
            for uid in batch:
                if uid not in facts:  # expunged meanwhile
                    continue
                yield self._message(client, uid, facts[uid])

    def _message(self, client: IMAPClient, uid: int, facts: dict[bytes, Any]) -> RawMessage:
        size = int(facts.get(b"RFC822.SIZE", 0))
        part = "BODY.PEEK[]" if size <= MAX_MESSAGE_BYTES else f"BODY.PEEK[]<0.{MAX_MESSAGE_BYTES}>"
        body = client.fetch([uid], [part]).get(uid, {})
        data = body.get(_WHOLE) or body.get(_START) or b""
        arrived = facts.get(b"INTERNALDATE")
        if isinstance(arrived, datetime):
            arrived = arrived.astimezone(UTC) if arrived.tzinfo else arrived.replace(tzinfo=UTC)
        return RawMessage(
            uidvalidity=self._uidvalidity,
            uid=str(uid),
            data=bytes(data),
            arrived_at=arrived if isinstance(arrived, datetime) else None,
        )

    def done(self, message: RawMessage, *, recognised: bool) -> None:
        """mark_seen flags it \\Seen; move_to moves a recognised one (MOVE, else a copy)."""
        client = self._require()
        uid = int(message.uid)
        if self.spec.mark_seen:
            client.add_flags([uid], [SEEN])
        if recognised and self.spec.move_to:
            if client.has_capability("MOVE"):
                client.move([uid], self.spec.move_to)
            else:  # without MOVE only a copy: we never delete the user's mail
                client.copy([uid], self.spec.move_to)

    def wait(self, seconds: float, stop: threading.Event) -> None:
        """IDLE until the server reports a change (or `seconds`), else a plain wait."""
        client = self._client
        if client is None or not client.has_capability("IDLE"):
            stop.wait(seconds)
            return
        deadline = time.monotonic() + min(seconds, tunables.IMAP_IDLE_SECONDS)
        client.idle()
        try:
            while not stop.is_set() and time.monotonic() < deadline:
                if client.idle_check(timeout=tunables.IMAP_IDLE_CHECK_SECONDS):
                    break
        finally:
            client.idle_done()

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                client.logout()
            except Exception:  # the connection may be gone already
                with contextlib.suppress(Exception):
                    client.shutdown()

    def _connect(self) -> IMAPClient:
        target = self.target
        context = self._ssl_context or ssl.create_default_context()
        implicit = target.tls == "implicit"
        client = IMAPClient(
            target.host,
            port=target.port,
            ssl=implicit,
            ssl_context=context if implicit else None,
            timeout=self._timeout,
        )
        try:
            client.normalise_times = False
            if not implicit:
                client.starttls(context)  # imap:// means STARTTLS: never a password in clear
            client.login(target.user, self._password or "")
        except BaseException:
            with contextlib.suppress(Exception):
                client.shutdown()
            raise
        return client

    def _require(self) -> IMAPClient:
        if self._client is None:
            raise MailboxError("not connected")
        return self._client
