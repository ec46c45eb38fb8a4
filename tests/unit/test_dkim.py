"""DKIM: keys from a file or the environment, file:line errors for bad ones, and signatures that
dkimpy verifies with the public key (a dnsfunc answers: no DNS)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path

import dkim
import pytest

from testkit.harness import write_files
from worker.mail import MaildirMailer, OutgoingEmail
from worker.mail.dkim import ED25519, RSA, DkimKey, DkimSigner, parse_private_key, public_record
from worker.specs.catalog import CatalogError, load_catalog
from worker.specs.rendering import Renderer

KEYS = Path(__file__).resolve().parents[1] / "support" / "dkim"
RSA_KEY = (KEYS / "rsa-test.key").read_bytes()
ED_KEY = (KEYS / "ed25519-test.key").read_bytes()
SEQUENCE = "name: s\ntrigger: lead.mql\nsteps:\n  - id: a\n    email: t/a\n"
TEMPLATE = (
    "{% block subject %}Hi{% endblock %}{% block text %}Hi {{ unsubscribe_url }}{% endblock %}"
)


def dns_for(*keys: DkimKey):
    """dkimpy's DNS lookup, answered from the keys' public records."""
    records = {f"{k.selector}._domainkey.{k.domain}.": public_record(k).encode() for k in keys}

    def lookup(name: bytes, timeout: int = 5) -> bytes | None:
        return records.get(name.decode())

    return lookup


def message(sender: str = "Ana <ana@acme.test>") -> OutgoingEmail:
    return OutgoingEmail(
        sender=sender,
        to="lead@example.com",
        subject="Quick question",
        text="Hello there\n",
        html="<p>Hello <b>there</b></p>",
        message_id="<abc.1@acme.test>",
        headers=(
            ("List-Unsubscribe", "<https://f.test/u/x>"),
            ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ),
    )


def team_catalog(tmp_path: Path, team: str, environ: dict[str, str] | None = None):
    write_files(tmp_path / "sequences", {"s.yaml": SEQUENCE, "team.yaml": team})
    write_files(tmp_path / "templates", {"t/a.j2": TEMPLATE})
    return load_catalog(tmp_path / "sequences", Renderer(tmp_path / "templates"), environ)


def catalog_errors(tmp_path: Path, team: str, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(CatalogError) as caught:
        team_catalog(tmp_path, team, environ)
    return [str(error) for error in caught.value.errors]


@pytest.mark.parametrize(
    ("name", "algorithm"),
    [
        ("rsa-test.key", RSA),
        ("rsa-pkcs1-test.key", RSA),
        ("ed25519-test.key", ED25519),
    ],
)
def test_pem_keys_of_both_kinds_parse_and_say_their_algorithm(name: str, algorithm: str) -> None:
    """PKCS#8 and PKCS#1 RSA, and PKCS#8 Ed25519 (what openssl genpkey writes) are read."""
    assert parse_private_key((KEYS / name).read_bytes())[0] == algorithm


def test_an_ed25519_seed_in_base64_and_a_pem_with_escaped_newlines_parse() -> None:
    """dknewkey's base64 seed, and a PEM put in one line of .env with \\n, are keys too."""
    assert parse_private_key(base64.b64encode(bytes(range(32))))[0] == ED25519
    assert parse_private_key(RSA_KEY.replace(b"\n", b"\\n"))[0] == RSA


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (b"not a key at all!", "neither PEM nor base64"),
        (b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----", "not an RSA or Ed25519"),
        (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----", "not an RSA or Ed25519"),
        (base64.b64encode(b"short"), "32 bytes"),
        ((KEYS / "rsa-512-test.key").read_bytes(), "512 bits"),
    ],
)
def test_what_is_not_a_usable_key_is_refused_with_the_reason(text: bytes, problem: str) -> None:
    """Garbage, other PEM blocks, a wrong-sized seed and a short RSA key never get to sign."""
    with pytest.raises(ValueError, match=problem):
        parse_private_key(text)


@pytest.mark.parametrize("key", [RSA_KEY, ED_KEY], ids=["rsa", "ed25519"])
def test_a_signed_message_verifies_with_the_public_key(key: bytes) -> None:
    """relaxed/relaxed over the required headers; dkimpy verifies it against the record."""
    signing = DkimKey("acme.test", "s2026", *parse_private_key(key))
    signer = DkimSigner([signing])
    data = signer.sign(_bytes(message()), "ana@acme.test")
    assert dkim.verify(data, dnsfunc=dns_for(signing))
    signature = dkim.DKIM(data)
    assert signature.verify(dnsfunc=dns_for(signing))
    tags = dict(_tags(data))
    assert tags["c"] == "relaxed/relaxed" and tags["d"] == "acme.test" and tags["s"] == "s2026"
    signed = {h.strip().lower() for h in tags["h"].split(":")}
    assert {"from", "to", "subject", "date", "message-id"} <= signed
    assert {"list-unsubscribe", "list-unsubscribe-post"} <= signed


def test_a_tampered_subject_no_longer_verifies() -> None:
    """The control case: the signature covers the Subject."""
    signing = DkimKey("acme.test", "s1", *parse_private_key(RSA_KEY))
    data = DkimSigner([signing]).sign(_bytes(message()), "ana@acme.test")
    assert not dkim.verify(
        data.replace(b"Quick question", b"Quick answer"), dnsfunc=dns_for(signing)
    )


def test_two_selectors_of_a_domain_both_sign_and_other_domains_are_not_signed() -> None:
    """RSA beside Ed25519 (RFC 8463's advice) gives two signatures; a subdomain uses its parent's
    keys; mail from a domain without a key leaves unchanged."""
    rsa = DkimKey("acme.test", "rsa", *parse_private_key(RSA_KEY))
    ed = DkimKey("acme.test", "ed", *parse_private_key(ED_KEY))
    signer = DkimSigner([rsa, ed])
    data = signer.sign(_bytes(message()), "ana@eu.acme.test")
    assert data.count(b"DKIM-Signature:") == 2
    assert dkim.DKIM(data).verify(idx=0, dnsfunc=dns_for(rsa, ed))
    assert dkim.DKIM(data).verify(idx=1, dnsfunc=dns_for(rsa, ed))
    plain = _bytes(message("x@other.test"))
    assert signer.sign(plain, "x@other.test") == plain


def test_the_outbox_signs_too(tmp_path: Path) -> None:
    """The Maildir outbox (the embedded default) writes the signed message."""
    signing = DkimKey("acme.test", "s1", *parse_private_key(ED_KEY))
    MaildirMailer(tmp_path / "outbox", signer=DkimSigner([signing])).send(message())
    [written] = list((tmp_path / "outbox" / "new").iterdir())
    assert dkim.verify(written.read_bytes(), dnsfunc=dns_for(signing))


def test_team_yaml_keys_load_from_a_file_beside_it_and_from_the_environment(
    tmp_path: Path,
) -> None:
    """A relative private_key_file is read beside team.yaml; private_key_env from Settings'
    environment; both are loaded once, with the catalog."""
    (tmp_path / "sequences").mkdir()
    (tmp_path / "sequences" / "acme.key").write_bytes(RSA_KEY)
    team = (
        "dkim:\n"
        "  - domain: acme.test\n    selector: s1\n    private_key_file: acme.key\n"
        "  - domain: beta.test\n    selector: ed.2026\n    private_key_env: BETA_DKIM\n"
    )
    catalog = team_catalog(tmp_path, team, {"BETA_DKIM": ED_KEY.decode()})
    keys = {key.domain: key for key in catalog.team.dkim_keys()}
    assert (keys["acme.test"].algorithm, keys["beta.test"].algorithm) == (RSA, ED25519)
    assert "PRIVATE" not in repr(catalog.team) and "PRIVATE" not in repr(keys["acme.test"])


@pytest.mark.parametrize(
    ("entry", "line", "fragment"),
    [
        ("    selector: s_1\n    private_key_env: K\n", 3, "selector: String should match"),
        ("    selector: -s\n    private_key_env: K\n", 3, "selector: String should match"),
        ("    selector: s1\n    private_key_env: GARBAGE\n", 4, "the key is neither PEM"),
        ("    selector: s1\n    private_key_env: UNSET\n", 4, "UNSET is unset"),
        ("    selector: s1\n    private_key_file: nope.key\n", 4, "cannot read"),
        ("    selector: s1\n    private_key_file: short.key\n", 4, "512 bits"),
        ("    selector: s1\n", 2, "give one of private_key_file or private_key_env"),
    ],
)
def test_a_bad_dkim_entry_names_team_yaml_and_the_line(
    tmp_path: Path, entry: str, line: int, fragment: str
) -> None:
    """A selector that is not a DNS label, a key that does not parse or cannot be found: the
    catalog refuses the folder at the line, so nothing starts."""
    (tmp_path / "sequences").mkdir()
    (tmp_path / "sequences" / "short.key").write_bytes((KEYS / "rsa-512-test.key").read_bytes())
    team = "dkim:\n  - domain: acme.test\n" + entry
    found = catalog_errors(tmp_path, team, {"K": ED_KEY.decode(), "GARBAGE": "nope!"})
    path = tmp_path / "sequences" / "team.yaml"
    assert len(found) == 1 and found[0].startswith(f"{path}:{line}: "), found
    assert fragment in found[0]
    assert "PRIVATE KEY" not in found[0]


def test_the_same_selector_twice_is_an_error(tmp_path: Path) -> None:
    """One selector is one DNS record: listing it twice is a mistake."""
    entry = "  - domain: acme.test\n    selector: s1\n    private_key_env: K\n"
    found = catalog_errors(tmp_path, "dkim:\n" + entry + entry, {"K": ED_KEY.decode()})
    assert len(found) == 1 and "selector s1 of acme.test is listed twice" in found[0]


def _bytes(email: OutgoingEmail) -> bytes:
    from worker.mail import to_bytes

    return to_bytes(email, date=datetime(2026, 11, 30, 14, 0, tzinfo=UTC))


def _tags(data: bytes) -> list[tuple[str, str]]:
    header = data.split(b"\r\n\r\n")[0].decode()
    unfolded = header.replace("\r\n ", " ").replace("\r\n\t", " ")
    line = next(h for h in unfolded.split("\r\n") if h.startswith("DKIM-Signature:"))
    value = line.split(":", 1)[1]
    pairs = [part.strip().split("=", 1) for part in value.split(";") if "=" in part]
    return [(k.strip(), "".join(v.split())) for k, v in pairs]
