"""DKIM signing (dkimpy): each message from a configured domain is signed right before it
leaves, relaxed/relaxed, with rsa-sha256 or ed25519-sha256 as the key says."""

from __future__ import annotations

import base64
import binascii
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime

from worker.mail.message import OutgoingEmail, envelope_address, to_bytes

# What the signature covers (the list); the others are signed when present.
SIGNED_HEADERS = (
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
)
SIGNED_WHEN_PRESENT = ("MIME-Version", "Content-Type", "In-Reply-To", "References")
CANONICALIZE = (b"relaxed", b"relaxed")
RSA, ED25519 = "rsa-sha256", "ed25519-sha256"
MIN_RSA_BITS = 1024  # receivers ignore shorter keys (RFC 8301); 2048 is what they recommend

_PEM = re.compile(rb"-----BEGIN ([A-Z ]+)-----\s*(.*?)\s*-----END \1-----", re.DOTALL)
# PKCS#8 wrapping of an Ed25519 seed (RFC 8410): this fixed prefix, then the 32 bytes.
_ED25519_PKCS8 = bytes.fromhex("302e020100300506032b657004220420")
_RSA_OID = bytes.fromhex("06092a864886f70d010101")


@dataclass(frozen=True)
class DkimKey:
    """One selector's private key, loaded and checked once; `private_key` is what dkimpy takes
    (PEM for RSA, the base64 seed for Ed25519) and is never shown."""

    domain: str
    selector: str
    algorithm: str
    private_key: bytes = field(repr=False)


def parse_private_key(text: bytes) -> tuple[str, bytes]:
    """(algorithm, key for dkimpy) from PEM (PKCS#1 or PKCS#8) or a bare base64 Ed25519 seed;
    ValueError says what is wrong, without the key."""
    text = text.replace(b"\\n", b"\n").replace(b"\r\n", b"\n").strip()
    found = _PEM.search(text)
    if found is None:
        return ED25519, _ed25519_seed(_b64(text, "the key is neither PEM nor base64"))
    label, body = found[1].decode(), found[2]
    der = _b64(body, f"the {label} block is not valid base64")
    if label == "PRIVATE KEY" and der.startswith(_ED25519_PKCS8):
        return ED25519, _ed25519_seed(der[len(_ED25519_PKCS8) :])
    if label not in ("RSA PRIVATE KEY", "PRIVATE KEY") or (
        label == "PRIVATE KEY" and _RSA_OID not in der[:32]
    ):
        raise ValueError(f"a {label} block is not an RSA or Ed25519 private key")
    pem = b"-----BEGIN %s-----\n%s\n-----END %s-----\n" % (
        label.encode(),
        base64.encodebytes(der).strip(),
        label.encode(),
    )
    # Deferred, as in DkimSigner.sign.
    from dkim.crypto import UnparsableKeyError, parse_pem_private_key

    try:
        parsed = parse_pem_private_key(pem)
    except UnparsableKeyError:
        raise ValueError("the RSA private key does not parse (PKCS#1 or PKCS#8 PEM)") from None
    bits = int(parsed["modulus"]).bit_length()
    if bits < MIN_RSA_BITS:
        raise ValueError(f"the RSA key has {bits} bits; receivers need at least {MIN_RSA_BITS}")
    return RSA, pem


def _b64(data: bytes, problem: str) -> bytes:
    try:
        return base64.b64decode(b"".join(data.split()), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(problem) from None


def _ed25519_seed(seed: bytes) -> bytes:
    if len(seed) != 32:
        raise ValueError("an Ed25519 private key is 32 bytes (PKCS#8 PEM or base64 seed)")
    return base64.b64encode(seed)


def public_record(key: DkimKey) -> str:
    """The TXT record to publish at `<selector>._domainkey.<domain>`."""
    if key.algorithm == ED25519:
        import nacl.signing

        signing = nacl.signing.SigningKey(base64.b64decode(key.private_key))
        public = base64.b64encode(bytes(signing.verify_key)).decode()
        return f"v=DKIM1; k=ed25519; p={public}"
    from dkim.crypto import parse_pem_private_key  # deferred, as in DkimSigner.sign

    parsed = parse_pem_private_key(key.private_key)
    return f"v=DKIM1; k=rsa; p={_rsa_public_der(parsed['modulus'], parsed['publicExponent'])}"


def _rsa_public_der(modulus: int, exponent: int) -> str:
    """SubjectPublicKeyInfo of an RSA key, base64 (what `p=` holds)."""

    def der(tag: int, body: bytes) -> bytes:
        size = len(body)
        length = bytes([size]) if size < 128 else _length_bytes(size)
        return bytes([tag]) + length + body

    def integer(value: int) -> bytes:
        raw = value.to_bytes(value.bit_length() // 8 + 1, "big")
        return der(0x02, raw)

    rsa_key = der(0x30, integer(modulus) + integer(exponent))
    algorithm = der(0x30, _RSA_OID + b"\x05\x00")
    return base64.b64encode(der(0x30, algorithm + der(0x03, b"\x00" + rsa_key))).decode()


def _length_bytes(size: int) -> bytes:
    raw = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


class DkimSigner:
    """Signs with every key of the From address's domain (or its closest configured parent);
    keys are swapped whole when team.yaml is reloaded."""

    def __init__(self, keys: list[DkimKey] | tuple[DkimKey, ...] = ()) -> None:
        self._lock = threading.Lock()
        self._by_domain: dict[str, tuple[DkimKey, ...]] = {}
        self.use(keys)

    def use(self, keys: list[DkimKey] | tuple[DkimKey, ...]) -> None:
        by_domain: dict[str, list[DkimKey]] = {}
        for key in keys:
            by_domain.setdefault(key.domain, []).append(key)
        with self._lock:
            self._by_domain = {domain: tuple(found) for domain, found in by_domain.items()}

    def keys_for(self, address: str) -> tuple[DkimKey, ...]:
        """The keys that sign mail from `address`: its domain's, else its nearest parent's."""
        domain = address.rpartition("@")[2].lower()
        with self._lock:
            by_domain = self._by_domain
        while domain:
            if domain in by_domain:
                return by_domain[domain]
            domain = domain.partition(".")[2]
        return ()

    def sign(self, message: bytes, from_address: str) -> bytes:
        """The message with a DKIM-Signature per key prepended; unchanged without a key.
        ValueError when dkimpy refuses (a header it cannot sign)."""
        keys = self.keys_for(from_address)
        if not keys:
            return message
        # Deferred: dkimpy (with dnspython) costs every CLI start about 0.3 s, the demo's and
        # a status check's, and most commands never sign.
        import dkim

        signatures = b""
        for key in keys:
            headers = [*SIGNED_HEADERS, *_present(message, SIGNED_WHEN_PRESENT)]
            try:
                signatures += dkim.sign(
                    message,
                    key.selector.encode(),
                    key.domain.encode(),
                    key.private_key,
                    canonicalize=CANONICALIZE,
                    signature_algorithm=key.algorithm.encode(),
                    include_headers=[h.encode() for h in headers],
                )
            except dkim.DKIMException as error:
                raise ValueError(f"DKIM signing for {key.domain} failed: {error}") from None
        return signatures + message


def _present(message: bytes, names: tuple[str, ...]) -> list[str]:
    """Those of `names` the message's header has."""
    head = b"\r\n" + message.split(b"\r\n\r\n", 1)[0].lower()
    return [name for name in names if b"\r\n" + name.lower().encode() + b":" in head]


def to_signed_bytes(email: OutgoingEmail, *, date: datetime, signer: DkimSigner | None) -> bytes:
    """The message as it leaves: its bytes, DKIM-signed when its From domain has a key;
    ValueError on anything that could inject or that dkimpy refuses."""
    data = to_bytes(email, date=date)
    return signer.sign(data, envelope_address(email.sender)) if signer is not None else data
