"""A person we follow up with, keyed by lower-cased email: the lead's columns are declared
once (LeadBase) and every other shape is derived from them (table, input, public)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Protocol

from pydantic import ConfigDict, field_validator
from sqlmodel import JSON, Column, Field, SQLModel

from models.types import UTCDateTime
from models.validation import Storable, check_fields, normalise_email, normalise_timezone


class LeadBase(SQLModel):
    """What a CRM, a form, a CSV row or `events send` may say about a lead."""

    email: str = Field(max_length=320)
    first_name: str | None = Field(default=None, max_length=200)
    last_name: str | None = Field(default=None, max_length=200)
    company: str | None = Field(default=None, max_length=200)
    owner: str | None = Field(default=None, max_length=320)  # the owner's (rep's) email
    timezone: str | None = Field(default=None, max_length=64)


LEAD_COLUMNS: tuple[str, ...] = tuple(LeadBase.model_fields)  # the email first
PROFILE_COLUMNS = LEAD_COLUMNS[1:]  # every column but the key: what an update may change


class Lead(LeadBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=320, unique=True, index=True)
    owner: str | None = Field(default=None, max_length=320, index=True)
    fields: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    suppressed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    suppressed_reason: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)

    def template_context(self) -> dict[str, Any]:
        return template_context(self.fields, {name: getattr(self, name) for name in LEAD_COLUMNS})


def template_context(
    custom_fields: dict[str, Any] | None, columns: Mapping[str, Any]
) -> dict[str, Any]:
    """What a template sees of a lead (its fields, then its LEAD_COLUMNS, read from an ORM
    object or a Core row): custom fields first, so standard columns win a clash; unset names
    stay undefined."""
    context: dict[str, Any] = dict(custom_fields or {})
    for name in LEAD_COLUMNS:
        value = columns[name]
        if value not in (None, ""):
            context[name] = value
    return context


class EnrollingLead(Protocol):
    """What enrolling a lead reads of it: a stored Lead, or LeadFacts read in bulk."""

    @property
    def id(self) -> int | None: ...
    @property
    def email(self) -> str: ...
    @property
    def owner(self) -> str | None: ...
    @property
    def timezone(self) -> str | None: ...
    @property
    def suppressed_at(self) -> datetime | None: ...
    @property
    def suppressed_reason(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class LeadFacts:
    """A stored lead's columns that enrolling reads, without an ORM object (imports read 500
    at a time: loading them as Lead objects was ~10% of an import's CPU)."""

    id: int
    email: str
    owner: str | None
    timezone: str | None
    suppressed_at: datetime | None
    suppressed_reason: str | None


LEAD_FACTS: tuple[str, ...] = tuple(f.name for f in fields(LeadFacts))  # their column names


class LeadIn(LeadBase, Storable):
    """A lead as sent by a CRM, form or CSV row; missing fields leave stored values alone."""

    # SQLModel types model_config as its own ConfigDict subclass, which it does not export
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)  # type: ignore[assignment]

    fields: dict[str, Any] = Field(default_factory=dict)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return normalise_email(value)

    @field_validator("owner")
    @classmethod
    def _owner(cls, value: str | None) -> str | None:
        return normalise_email(value) if value else None

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        return normalise_timezone(value) if value else None

    @field_validator("fields")
    @classmethod
    def _fields(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key in value:
            if not key.isidentifier():
                raise ValueError(f"custom field name {key!r} must be a valid identifier")
        check_fields(value)  # size, key count and text length, however deep (after merges too)
        return value


class LeadPublic(LeadBase):
    """A stored lead as the API shows it (every column present, null when unset)."""

    model_config = ConfigDict(  # type: ignore[assignment]  # as on LeadIn
        from_attributes=True, json_schema_serialization_defaults_required=True
    )

    fields: dict[str, Any]
    suppressed_at: datetime | None
    suppressed_reason: str | None
    created_at: datetime
    updated_at: datetime
