"""WHERE AN EMAIL LEAVES: SMTP with one persistent connection per worker thread."""

from __future__ import annotations

import re
import smtplib
import ssl
import threading
import time

from worker.engine.clock import Clock, SystemClock
from worker.engine.metrics import SMTP_SEND_SECONDS
from worker.engine.tunables import SMTP_IDLE_NOOP_SECONDS, SMTP_TIMEOUT_SECONDS
from worker.mail.base import PermanentSendError, SendError, TransientSendError, classify_smtp_reply
from worker.mail.dkim import DkimSigner, to_signed_bytes
from worker.mail.message import OutgoingEmail, envelope_address
from worker.mail.smtp_url import is_loopback, parse_smtp_url


class _Connection:
    """One thread's SMTP session; `lock` is held while a transaction runs."""

    __slots__ = ("closed", "last_used", "lock", "smtp")

    def __init__(self, smtp: smtplib.SMTP) -> None:
        self.smtp = smtp
        self.last_used = time.monotonic()
        self.lock = threading.Lock()
        self.closed = False


class _Stale(Exception):
    """The connection died before the message content left: safe to retry at once."""


class SmtpMailer:
    """Sends over SMTP, reusing one connection per thread and mapping every failure."""

    idle_noop_seconds = SMTP_IDLE_NOOP_SECONDS

    def __init__(
        self,
        url: str,
        *,
        timeout: float = SMTP_TIMEOUT_SECONDS,
        local_hostname: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        clock: Clock | None = None,
        plain_login_on_loopback: bool = True,
        signer: DkimSigner | None = None,
    ) -> None:
        """`plain_login_on_loopback`: a local relay may take the password without TLS."""
        self.target = parse_smtp_url(url)
        self._plain_login_on_loopback = plain_login_on_loopback
        self._signer = signer
        self._timeout = timeout
        self._local_hostname = local_hostname
        self._ssl_context = ssl_context
        self._clock = clock or SystemClock()
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: set[_Connection] = set()

    def send(self, email: OutgoingEmail) -> None:
        started, result = time.perf_counter(), "accepted"
        try:
            self._send(email)
        except PermanentSendError:
            result = "permanent"
            raise
        except SendError:
            result = "transient"
            raise
        finally:
            SMTP_SEND_SECONDS.labels(result=result).observe(time.perf_counter() - started)

    def _send(self, email: OutgoingEmail) -> None:
        try:
            envelope_from = envelope_address(email.sender)
            data = to_signed_bytes(email, date=self._clock.now(), signer=self._signer)
        except ValueError as error:
            raise PermanentSendError(f"invalid message: {error}") from None
        conn, reused = self._connection()
        try:
            self._transact(conn, envelope_from, email.to, data)
        except _Stale as stale:
            if not reused:
                raise TransientSendError(str(stale)) from None
            conn, _ = self._connection()  # the reused connection was dead: one fresh attempt
            try:
                self._transact(conn, envelope_from, email.to, data)
            except _Stale as again:
                raise TransientSendError(str(again)) from None

    def close(self) -> None:
        with self._lock:
            connections, self._connections = self._connections, set()
        for conn in connections:
            conn.closed = True
            if conn.lock.acquire(blocking=False):  # a busy one is quit by its own thread
                try:
                    _quit(conn.smtp)
                finally:
                    conn.lock.release()

    def check(self) -> str | None:
        try:
            smtp = self._open()
        except SendError as error:
            return error.reason
        try:
            code, reply = smtp.noop()
        except OSError as error:  # smtplib.SMTPException is an OSError
            return f"{self.target.describe()}: {str(error) or type(error).__name__}"
        finally:
            _quit(smtp)
        if code != 250:
            refusal = classify_smtp_reply(code, reply, stage="NOOP")
            return f"{self.target.describe()} answered NOOP with {refusal}"
        return None

    def _transact(self, conn: _Connection, envelope_from: str, to: str, data: bytes) -> None:
        """MAIL, RCPT, DATA on `conn`; RSET after a refusal so the connection stays usable."""
        stage = "MAIL"
        with conn.lock:
            smtp = conn.smtp
            try:
                size = f" SIZE={len(data)}" if smtp.has_extn("size") else ""
                reply: bytes | str
                code, reply = _command(smtp, "mail", f"FROM:{_angled(envelope_from)}{size}")
                if code == 250:
                    stage = "RCPT"
                    code, reply = _command(smtp, "rcpt", f"TO:{_angled(to)}")
                    if code in (250, 251):
                        stage = "DATA"
                        code, reply = smtp.data(data)
            except smtplib.SMTPResponseException as refused:
                code, reply = refused.smtp_code, refused.smtp_error
            except OSError as error:  # disconnect, reset, timeout, TLS failure
                self._drop(conn)
                reason = f"{self.target.describe()} lost the connection at {stage}: {error}"
                raise (_Stale(reason) if stage != "DATA" else TransientSendError(reason)) from None
            finally:
                conn.last_used = time.monotonic()
                if conn.closed and smtp.sock is not None:  # close() ran during the send
                    _quit(smtp)
            if stage == "DATA" and code == 250:
                return
            if code == 421:  # the server is closing this connection
                self._drop(conn)
                if stage == "MAIL":  # typically an idle timeout: nothing of ours was taken
                    refusal = classify_smtp_reply(code, reply, stage=stage)
                    raise _Stale(f"{self.target.describe()} is closing the session: {refusal}")
            elif not conn.closed:
                self._reset(conn)
        raise classify_smtp_reply(code, reply, stage=stage)

    def _connection(self) -> tuple[_Connection, bool]:
        """This thread's connection and whether it was reused; opens one if needed."""
        conn: _Connection | None = getattr(self._local, "conn", None)
        if conn is not None and not conn.closed:
            idle = time.monotonic() - conn.last_used
            if idle <= self.idle_noop_seconds or _answers_noop(conn.smtp):
                return conn, True
            self._drop(conn)
        conn = _Connection(self._open())
        with self._lock:
            self._connections.add(conn)
        self._local.conn = conn
        return conn, False

    def _open(self) -> smtplib.SMTP:
        """A connected, TLS-wrapped (if asked) and logged-in session, or a SendError."""
        where = self.target.describe()
        try:
            return self._connect()
        except smtplib.SMTPAuthenticationError as error:
            reason = f"{where} refused the login of {self.target.user!r}: " + str(
                classify_smtp_reply(error.smtp_code, error.smtp_error, stage="AUTH")
            )
            if 400 <= error.smtp_code < 500:
                raise TransientSendError(reason, error.smtp_code) from None
            raise PermanentSendError(reason, error.smtp_code) from None
        except smtplib.SMTPResponseException as error:
            refusal = classify_smtp_reply(error.smtp_code, error.smtp_error, stage="SESSION")
            raise type(refusal)(f"{where} refused the session: {refusal}", refusal.code) from None
        except smtplib.SMTPServerDisconnected as error:
            raise TransientSendError(f"{where} closed the connection: {error}") from None
        except smtplib.SMTPException as error:  # AUTH not offered, no common mechanism
            raise PermanentSendError(f"{where}: {error}") from None
        except ssl.SSLError as error:
            raise TransientSendError(f"TLS with {where} failed: {error}") from None
        except OSError as error:
            raise TransientSendError(f"cannot connect to {where}: {error}") from None

    def _connect(self) -> smtplib.SMTP:
        target, context = self.target, self._tls_context()
        smtp: smtplib.SMTP
        if target.tls == "implicit":
            smtp = smtplib.SMTP_SSL(
                target.host,
                target.port,
                self._local_hostname,
                timeout=self._timeout,
                context=context,
            )
        else:
            smtp = smtplib.SMTP(target.host, target.port, self._local_hostname, self._timeout)
        try:
            smtp.ehlo_or_helo_if_needed()
            if target.tls in ("auto", "starttls") and smtp.has_extn("starttls"):
                smtp.starttls(context=context)
                smtp.ehlo()
            elif target.tls == "starttls":
                raise TransientSendError(
                    f"{target.describe()} does not offer STARTTLS; refusing to send in clear"
                )
            if target.user:
                self._check_login_is_private(smtp)
                smtp.login(target.user, target.password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp

    def _check_login_is_private(self, smtp: smtplib.SMTP) -> None:
        """The password crosses a network only inside TLS; a loopback relay is the exception."""
        if isinstance(smtp.sock, ssl.SSLSocket):
            return
        if self._plain_login_on_loopback and is_loopback(self.target.host):
            return
        raise TransientSendError(
            f"{self.target.describe()} offers no STARTTLS; refusing to send the SMTP password "
            "in clear text (use smtps://, or a server that offers STARTTLS)"
        )

    def _tls_context(self) -> ssl.SSLContext | None:
        if self.target.tls == "none":
            return None
        if self._ssl_context is None:
            self._ssl_context = _default_context(self.target.tls, self.target.host)
        return self._ssl_context

    def _reset(self, conn: _Connection) -> None:
        try:
            conn.smtp.rset()
        except OSError:
            self._drop(conn)

    def _drop(self, conn: _Connection) -> None:
        """Forget a broken connection so this thread's next send opens a new one."""
        with self._lock:
            self._connections.discard(conn)
        if getattr(self._local, "conn", None) is conn:
            del self._local.conn
        conn.closed = True
        conn.smtp.close()


def _default_context(tls: str, host: str) -> ssl.SSLContext:
    """Verify certificate and name; except opportunistic STARTTLS to a loopback relay, whose
    certificate is typically self-signed and whose traffic crosses no network: encrypted all
    the same, so nothing is refused that plain text would have delivered."""
    context = ssl.create_default_context()
    if tls == "auto" and is_loopback(host):
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _command(smtp: smtplib.SMTP, name: str, argument: str) -> tuple[int, bytes]:
    """smtplib's mail() and rcpt() without their quoteaddr, which runs email.utils' address
    parser on every call (~6% of a send's CPU, issue 15): the addresses are checked already."""
    smtp.putcmd(name, argument)
    return smtp.getreply()


_BARE_ADDRESS = re.compile(r"[^\s<>(),;:\"\\]+@[^\s<>(),;:\"\\]+")


def _angled(address: str) -> str:
    """`<address>` as smtplib.quoteaddr writes a bare address (anything else goes to it)."""
    return f"<{address}>" if _BARE_ADDRESS.fullmatch(address) else smtplib.quoteaddr(address)


def _answers_noop(smtp: smtplib.SMTP) -> bool:
    try:
        return smtp.noop()[0] == 250
    except OSError:
        return False


def _quit(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except OSError:
        smtp.close()
