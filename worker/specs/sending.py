"""Who may be the From: team.yaml owners, and addresses of its `sending_domains:` allow-list.

A lead's owner arrives from outside (API, CSV): without this list, anyone with an API key could
make the company's relay send as any address. A sequence's explicit `from:` and
FOLLOWUP_DEFAULT_FROM are written by operators and need no listing.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated

from pydantic import AfterValidator

if TYPE_CHECKING:
    from worker.specs.team import TeamSpec

_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


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
