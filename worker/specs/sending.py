"""Who may be the From: team.yaml owners, and addresses of its `sending_domains:` allow-list;
who an email is from, and the `owner` its template signs with (never missing while one exists).

A lead's owner arrives from outside (API, CSV): without this list, anyone with an API key could
make the company's relay send as any address. A sequence's explicit `from:` and
FOLLOWUP_DEFAULT_FROM are written by operators and need no listing.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Protocol

from pydantic import AfterValidator

from worker.mail.message import format_sender, split_sender

if TYPE_CHECKING:
    from worker.specs.team import OwnerSpec, TeamSpec

_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_NAME_SEPARATORS = re.compile(r"[._+-]+")


def _domain_name(value: str) -> str:
    domain = value.strip().lower()
    if not _DOMAIN.match(domain):
        raise ValueError(f"{value!r} is not a domain name (e.g. acme.com, without a user@ part)")
    return domain


SendingDomain = Annotated[str, AfterValidator(_domain_name)]


def may_send_as(team: TeamSpec, address: str | None) -> bool:
    """A listed owner, or an address in an allowed domain (exactly: subdomains are not in it)."""
    if not address:
        return False
    address = address.strip().lower()
    return team.owner(address) is not None or address.rpartition("@")[2] in team.sending_domains


def not_allowed_reason(address: str) -> str:
    return f"owner {address} is not in team.yaml (owners or sending_domains), so not the From"


def no_sender_reason(owner: str | None) -> str:
    if owner:
        return f"no sender: {not_allowed_reason(owner)}, and FOLLOWUP_DEFAULT_FROM is unset"
    return "no sender: the lead has no owner and FOLLOWUP_DEFAULT_FROM is unset"


class SendsFrom(Protocol):
    """The part of a sequence spec that decides its sender: `owner` or an explicit address."""

    @property
    def sender(self) -> str: ...


def fallback_sender(spec: SendsFrom, default_from: str | None) -> str | None:
    """The sender of a lead without an owner: the sequence's own `from`, else the default."""
    return spec.sender if spec.sender != "owner" else default_from


def sender_for(
    spec: SendsFrom, owner: str | None, *, team: TeamSpec, default_from: str | None
) -> str | None:
    """The From of an email to a lead with this owner: the sequence's `from:`, else the owner
    if team.yaml allows them, else the default; None when there is nobody to send as."""
    if spec.sender != "owner" or not owner or not may_send_as(team, owner):
        return fallback_sender(spec, default_from)
    profile = team.owner(owner)
    return format_sender(profile.name if profile else None, owner)


def owner_context(profile: OwnerSpec | None, sender: str | None) -> dict[str, str]:
    """`owner` in a template: the lead's owner from team.yaml, else the sender actually used."""
    if profile is not None:
        return {"email": profile.email, "name": profile.name or name_from_address(profile.email)}
    try:
        name, address = split_sender(sender) if sender else ("", "")
    except ValueError:  # checked where senders are configured; the send would say why
        return {}
    if not address:
        return {}
    return {"email": address.lower(), "name": name or name_from_address(address)}


def name_from_address(address: str) -> str:
    """`ana.rep@acme.test` -> `Ana Rep`: a signature for a mailbox nobody named."""
    local = address.partition("@")[0]
    return " ".join(part.capitalize() for part in _NAME_SEPARATORS.split(local) if part) or local


def lead_owner_context(
    spec: SendsFrom, owner: str | None, *, team: TeamSpec, default_from: str | None
) -> dict[str, str]:
    """The `owner` of a lead's templates in this sequence, as a send would see it."""
    sender = sender_for(spec, owner, team=team, default_from=default_from)
    return owner_context(team.owner(owner), sender)
