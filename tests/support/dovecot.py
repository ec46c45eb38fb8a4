"""A private Dovecot for integration tests: a temp folder, free ports on 127.0.0.1, a passwd file,
a self-signed certificate for imaps:// and STARTTLS (see /work/shared/notes/dovecot.md)."""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from testkit.ports import free_port
from tests.support.services import _wait_port, missing

USER, PASSWORD = "rep", "imap-test-password"
CONFIG = """
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
ssl = yes
ssl_cert = <{root}/cert.pem
ssl_key = <{root}/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 1
mail_location = maildir:~/Maildir
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {root}/passwd
}}
userdb {{
  driver = static
  args = uid=mail gid=mail home={root}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    port = {port}
  }}
  inet_listener imaps {{
    port = {tls_port}
    ssl = yes
  }}
}}
"""


@dataclass(frozen=True)
class Dovecot:
    port: int  # imap:// (STARTTLS)
    tls_port: int  # imaps://
    cafile: Path

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cafile))

    def url(self, folder: str = "INBOX", *, tls: bool = True) -> str:
        if tls:
            return f"imaps://{USER}@127.0.0.1:{self.tls_port}/{folder}"
        return f"imap://{USER}@127.0.0.1:{self.port}/{folder}"

    def client(self) -> Any:  # an IMAPClient, logged in
        from imapclient import IMAPClient

        client = IMAPClient("127.0.0.1", port=self.tls_port, ssl_context=self.ssl_context())
        client.login(USER, PASSWORD)
        return client


@contextmanager
def dovecot_server() -> Iterator[Dovecot]:
    """Start Dovecot from the PATH; skipped with the reason without it (a failure under CI)."""
    binary = shutil.which("dovecot") or (
        "/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None
    )
    if binary is None:
        missing("no dovecot on the PATH (apt-get install dovecot-imapd)")
    if shutil.which("openssl") is None:
        missing("no openssl to make the test certificate")
    if os.geteuid() != 0:
        missing("the test Dovecot needs root (its mail folders belong to the mail user)")
    root = Path(tempfile.mkdtemp(prefix="followup-dovecot-"))
    os.chmod(root, 0o755)
    port, tls_port = free_port(), free_port()
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", str(root / "key.pem"), "-out", str(root / "cert.pem"),
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    (root / "passwd").write_text(f"{USER}:{PASSWORD}::::::\n")
    (root / "mail").mkdir()
    shutil.chown(root / "mail", "mail", "mail")
    config = root / "dovecot.conf"
    config.write_text(CONFIG.format(root=root, port=port, tls_port=tls_port))
    with open(root / "start.log", "wb") as out:
        started = subprocess.run([binary, "-c", str(config)], stdout=out, stderr=out, check=False)
    if started.returncode != 0:
        reason = (root / "start.log").read_text()[:500]
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"dovecot did not start: {reason}")
    try:
        _wait_port(tls_port)
        _wait_port(port)
        yield Dovecot(port=port, tls_port=tls_port, cafile=root / "cert.pem")
    finally:
        subprocess.run(
            [binary, "-c", str(config), "stop"],
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        shutil.rmtree(root, ignore_errors=True)
