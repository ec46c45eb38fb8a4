"""A real SMTP server (aiosmtpd) on 127.0.0.1 for tests: records messages, scripts refusals.

with SmtpSink() as sink:
    sink.fail("bounce@example.com", "550 5.1.1 no such user")
    sink.fail(lambda rcpt: rcpt.startswith("slow"), "451 4.3.0 try again", times=2)
    ... send to sink.url ...
    assert sink.message_ids() == [...]
"""

from __future__ import annotations

import email
import email.policy
import functools
import ssl
import subprocess
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from testkit.ports import free_port

Stage = Literal["mail", "rcpt", "data"]
_COUNTED = ("EHLO", "HELO", "STARTTLS", "AUTH", "MAIL", "RCPT", "DATA", "RSET", "NOOP", "QUIT")


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    """One accepted message: the envelope and the parsed content."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage
    raw: bytes


@dataclass(slots=True)
class _Rule:
    matches: Callable[[str], bool]
    reply: str
    stage: Stage
    remaining: int | None


class SmtpSink:
    """An SMTP server in a background thread; use as a context manager or start()/stop()."""

    def __init__(
        self,
        *,
        auth: tuple[str, str] | None = None,
        starttls: ssl.SSLContext | None = None,
        implicit_tls: ssl.SSLContext | None = None,
    ) -> None:
        """`auth` requires that login; `starttls` offers STARTTLS; `implicit_tls` is smtps."""
        self.auth = auth
        self.messages: list[ReceivedMessage] = []
        self.connections = 0  # sessions opened since start() or reset()
        self.commands: Counter[str] = Counter()  # SMTP verbs received, e.g. commands["RSET"]
        self.port = 0
        self._starttls, self._implicit_tls = starttls, implicit_tls
        self._rules: list[_Rule] = []
        self._live: set[SMTP] = set()
        self._changed = threading.Condition()
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        """The FOLLOWUP_SMTP_URL that reaches this sink, with its login if auth is on."""
        return self.url_for(*(self.auth or (None, None)))

    def url_for(self, user: str | None = None, password: str | None = None) -> str:
        """A URL with the given (percent-encoded) credentials, e.g. to test a wrong password."""
        login = quote(user, safe="") if user is not None else ""
        if user is not None and password is not None:
            login += ":" + quote(password, safe="")
        login += "@" if user is not None else ""
        scheme = "smtps" if self._implicit_tls else "smtp"
        query = "?starttls=true" if self._starttls else ""
        return f"{scheme}://{login}127.0.0.1:{self.port}{query}"

    def start(self, port: int | None = None) -> SmtpSink:
        """Listen on a free port (retrying if another process takes it first), or on `port`
        to come back where the clients expect it after stop() (an SMTP outage)."""
        for attempt in range(5):
            self.port = port or free_port()
            controller = _Controller(self, self.port, self._options())
            try:
                controller.start()
            except OSError:
                if attempt == 4:
                    raise
                continue
            self._controller = controller
            break
        with self._changed:
            self.connections = 0  # the controller's own start-up probe is not a client
            self.commands.clear()
        return self

    def stop(self) -> None:
        """Shut the server down; further connections are refused."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def fail(
        self,
        predicate_or_address: str | Callable[[str], bool] | None,
        code_and_text: str,
        times: int | None = None,
        *,
        stage: Stage = "rcpt",
    ) -> None:
        """Answer `code_and_text` for matching addresses (None: all), `times` times or forever.

        The predicate sees the recipient (stages "rcpt" and "data") or the sender ("mail").
        Rules are tried in the order they were added; the first live match wins.
        """
        with self._changed:
            self._rules.append(_Rule(_matcher(predicate_or_address), code_and_text, stage, times))

    def message_ids(self) -> list[str]:
        """Message-ID headers of the accepted messages, in arrival order."""
        with self._changed:
            return [str(received.message["Message-ID"]) for received in self.messages]

    def recipients(self) -> list[str]:
        """Envelope recipients of the accepted messages, in arrival order."""
        with self._changed:
            return [rcpt for received in self.messages for rcpt in received.rcpt_tos]

    def wait_for_messages(self, count: int, timeout: float = 5.0) -> bool:
        """Block until at least `count` messages arrived (for senders in other threads)."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self.messages) >= count, timeout)

    def reset(self) -> None:
        """Forget messages, rules and counters; open connections stay open."""
        with self._changed:
            self.messages.clear()
            self._rules.clear()
            self.connections = 0
            self.commands.clear()

    def drop_connections(self) -> None:
        """Close every client connection from the server side, as a restart or timeout would."""
        assert self._controller is not None, "start() the sink first"
        done = threading.Event()

        def close_all() -> None:
            for session in list(self._live):
                if session.transport is not None:
                    session.transport.close()
            done.set()

        self._controller.loop.call_soon_threadsafe(close_all)
        done.wait(5.0)

    def _options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"server_hostname": "sink.test"}
        options["ssl_context"] = self._implicit_tls
        if self._starttls is not None:
            options["tls_context"] = self._starttls
        if self.auth is not None:
            options.update(authenticator=self._authenticate, auth_require_tls=False)
        return options

    def _authenticate(
        self, server: SMTP, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        assert self.auth is not None
        user, password = (part.encode() for part in self.auth)
        ok = isinstance(auth_data, LoginPassword) and auth_data.login == user
        ok = ok and auth_data.password == password
        return AuthResult(success=ok, handled=False)

    def _refusal(self, stage: Stage, address: str) -> str | None:
        with self._changed:
            for rule in self._rules:
                if rule.stage == stage and rule.remaining != 0 and rule.matches(address):
                    if rule.remaining is not None:
                        rule.remaining -= 1
                    return rule.reply
        return None

    def _record(self, envelope: Any) -> None:
        raw = bytes(envelope.content)
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        received = ReceivedMessage(envelope.mail_from, tuple(envelope.rcpt_tos), parsed, raw)
        with self._changed:
            self.messages.append(received)
            self._changed.notify_all()

    def _session_event(self, session: SMTP, *, opened: bool) -> None:
        with self._changed:
            if opened:
                self.connections += 1
                self._live.add(session)
            else:
                self._live.discard(session)

    def _count(self, verb: str) -> None:
        with self._changed:
            self.commands[verb] += 1


class _Handler:
    """aiosmtpd hooks: enforce auth, apply the scripted refusals, record what is accepted."""

    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_MAIL(
        self, server: SMTP, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if self.sink.auth is not None and not session.authenticated:
            return "530 5.7.0 Authentication required"
        refusal = self.sink._refusal("mail", address)
        if refusal is not None:
            return refusal
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        refusal = self.sink._refusal("rcpt", address)
        if refusal is not None:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Any) -> str:
        for rcpt in envelope.rcpt_tos:
            refusal = self.sink._refusal("data", rcpt)
            if refusal is not None:
                return refusal
        self.sink._record(envelope)
        return "250 2.0.0 OK queued"


class _SinkSMTP(SMTP):
    """aiosmtpd's SMTP that reports sessions and verbs to the sink."""

    def __init__(self, sink: SmtpSink, handler: _Handler, **kwargs: Any) -> None:
        self._sink = sink
        super().__init__(handler, **kwargs)

    def connection_made(self, transport: Any) -> None:
        is_new = self._original_transport is None  # STARTTLS calls this again for the same client
        super().connection_made(transport)
        if is_new:
            self._sink._session_event(self, opened=True)

    def connection_lost(self, error: Exception | None) -> None:
        self._sink._session_event(self, opened=False)
        super().connection_lost(error)


def _counting(verb: str) -> Callable[..., Any]:
    original = getattr(SMTP, f"smtp_{verb}")

    @functools.wraps(original)
    async def method(self: _SinkSMTP, arg: str) -> None:
        self._sink._count(verb)
        await original(self, arg)

    return method


for _verb in _COUNTED:
    setattr(_SinkSMTP, f"smtp_{_verb}", _counting(_verb))


class _Controller(Controller):
    def __init__(self, sink: SmtpSink, port: int, options: dict[str, Any]) -> None:
        self._sink = sink
        super().__init__(_Handler(sink), hostname="127.0.0.1", port=port, **options)

    def factory(self) -> SMTP:
        return _SinkSMTP(self._sink, self.handler, **self.SMTP_kwargs)


def _matcher(predicate_or_address: str | Callable[[str], bool] | None) -> Callable[[str], bool]:
    """A predicate from None (everything), an address (case-insensitive) or a predicate."""
    if callable(predicate_or_address):
        return predicate_or_address
    wanted = predicate_or_address.lower() if predicate_or_address is not None else None
    return lambda address: wanted is None or address.lower() == wanted


def self_signed_tls(directory: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server, client) contexts for a throwaway certificate for 127.0.0.1; needs `openssl`."""
    cert, key = directory / "sink.crt", directory / "sink.key"
    request = "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1"
    names = "-subj /CN=localhost -addext subjectAltName=IP:127.0.0.1,DNS:localhost"
    command = ["openssl", *request.split(), *names.split(), "-keyout", str(key), "-out", str(cert)]
    subprocess.run(command, check=True, capture_output=True)
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)
    return server, ssl.create_default_context(cafile=str(cert))
