"""`dkim:` in team.yaml: per sending domain a selector and its private key (from a file or an
environment variable), loaded and checked once when the folder is read."""

from __future__ import annotations

from email.utils import parseaddr
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field, PrivateAttr, ValidationError, ValidationInfo, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from worker.mail.dkim import DkimKey, parse_private_key
from worker.specs.sequences import SequenceSpec
from worker.specs.spec_parts import Strict
from worker.specs.yaml_source import Loc, SourceError, YamlDocument

if TYPE_CHECKING:
    from worker.specs.catalog import Catalog
    from worker.specs.team import TeamSpec

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
SELECTOR = rf"^{_LABEL}(?:\.{_LABEL})*$"  # DNS labels (RFC 6376 3.1: a sub-domain)
DOMAIN = rf"^(?:{_LABEL}\.)+[A-Za-z]{{2,63}}$"
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


class DkimSpec(Strict):
    domain: str = Field(pattern=DOMAIN, max_length=253)
    selector: str = Field(pattern=SELECTOR, max_length=253)
    private_key_file: str | None = Field(default=None, min_length=1)  # beside team.yaml if relative
    private_key_env: str | None = Field(default=None, pattern=ENV_NAME)
    _key: DkimKey | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _load_key(self, info: ValidationInfo) -> DkimSpec:
        """Exactly one key source; the key is read and parsed here, so a bad one is a file:line
        error and nothing starts."""
        if (self.private_key_file is None) == (self.private_key_env is None):
            raise ValueError(f"dkim {self.domain}: give one of private_key_file or private_key_env")
        context: dict[str, Any] = info.context or {}
        where, text = self._key_text(context)
        try:
            algorithm, key = parse_private_key(text)
        except ValueError as exc:
            raise _at(where, str(exc)) from None
        self._key = DkimKey(self.domain.lower(), self.selector, algorithm, key)
        return self

    def _key_text(self, context: dict[str, Any]) -> tuple[str, bytes]:
        if self.private_key_env is not None:
            value = (context.get("environ") or {}).get(self.private_key_env)
            if not value:
                raise _at(
                    "private_key_env", f"environment variable {self.private_key_env} is unset"
                )
            return "private_key_env", value.encode()
        assert self.private_key_file is not None
        path = Path(self.private_key_file).expanduser()
        if not path.is_absolute():
            path = Path(context.get("folder") or ".") / path
        try:
            return "private_key_file", path.read_bytes()
        except OSError as exc:
            raise _at("private_key_file", f"cannot read {path}: {exc.strerror}") from None

    @property
    def key(self) -> DkimKey:
        assert self._key is not None, "validated with its key"
        return self._key


def _at(field: str, message: str) -> ValidationError:
    """An error placed at one of the entry's keys, so file:line points at it."""
    return ValidationError.from_exception_data(
        "dkim",
        [InitErrorDetails(type=PydanticCustomError("dkim_key", message), loc=(field,), input=None)],
    )


def check_unique(entries: list[DkimSpec]) -> list[DkimSpec]:
    """A domain may have several selectors (RSA beside Ed25519), never one selector twice."""
    seen: set[tuple[str, str]] = set()
    for entry in entries:
        pair = (entry.domain.lower(), entry.selector.lower())
        if pair in seen:
            raise ValueError(f"dkim: selector {entry.selector} of {entry.domain} is listed twice")
        seen.add(pair)
    return entries


def unsigned_from_domains(
    sequences: dict[str, SequenceSpec],
    documents: dict[str, YamlDocument],
    team: TeamSpec,
    team_document: YamlDocument | None,
) -> list[SourceError]:
    """A warning for each From domain with no DKIM key: a sequence's own `from:`, and for
    `from: owner` each owner's and each sending_domains entry; once per domain, where it is
    first written. (Gmail and Yahoo require authenticated mail since 2024.)"""
    signed = {entry.domain.lower() for entry in team.dkim}
    seen: set[str] = set()
    found: list[SourceError] = []

    def check(address_or_domain: str, document: YamlDocument, loc: Loc) -> None:
        domain = address_or_domain.rpartition("@")[2].strip(" >").lower()
        if domain in seen or _signed(domain, signed):
            return
        seen.add(domain)
        found.append(document.error(loc, f"mail from {domain} is not DKIM-signed: {_ADVICE}"))

    for name, spec in sequences.items():
        if spec.sender != "owner":
            check(spec.sender, documents[name], ("from",))
    if team_document is not None and any(s.sender == "owner" for s in sequences.values()):
        for index, owner in enumerate(team.owners):
            check(owner.email, team_document, ("owners", index, "email"))
        for index, domain in enumerate(team.sending_domains):
            check(domain, team_document, ("sending_domains", index))
    return found


def unsigned_default_from(default_from: str | None, catalog: Catalog) -> SourceError | None:
    """FOLLOWUP_DEFAULT_FROM's domain, when `from: owner` may fall back to it unsigned (a
    warning placed at the variable's name, as no file holds it)."""
    if not default_from or not any(s.sender == "owner" for s in catalog.sequences.values()):
        return None
    domain = parseaddr(default_from)[1].rpartition("@")[2].lower()
    if not domain or _signed(domain, {entry.domain.lower() for entry in catalog.team.dkim}):
        return None
    problem = f"mail from {domain} is not DKIM-signed: {_ADVICE}"
    return SourceError(Path("FOLLOWUP_DEFAULT_FROM"), None, problem)


_ADVICE = "add a dkim: entry for it to team.yaml (domain, selector, private_key_file or _env)"


def _signed(domain: str, signed: set[str]) -> bool:
    """Its own key or a parent domain's (the signer uses the nearest one)."""
    while domain:
        if domain in signed:
            return True
        domain = domain.partition(".")[2]
    return False
