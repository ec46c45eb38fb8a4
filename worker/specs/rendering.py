"""One sandboxed Jinja2 environment per templates folder -> rendered subject, text and html."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import (
    BaseLoader,
    DictLoader,
    FileSystemLoader,
    StrictUndefined,
    TemplateError,
    TemplateNotFound,
    meta,
)
from jinja2.sandbox import ImmutableSandboxedEnvironment

from worker.specs.sandbox import BoundedSandbox, join_block

TEMPLATE_SUFFIX = ".j2"
# What a broken template raises while rendering; RecursionError: a template including itself.
_TEMPLATE_FAILURES = (
    TemplateError,
    ArithmeticError,
    TypeError,
    ValueError,
    LookupError,
    RecursionError,
)
_WHITESPACE = re.compile(r"\s+")


class RenderError(Exception):
    """A template is missing, broken or refers to an undefined name; the message says which."""


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    subject: str  # "" when the template has no subject block (threaded replies)
    text: str
    html: str | None


def template_path(name: str) -> str:
    """`mql/intro` -> `mql/intro.j2`, the loader's name for a step's `email:`."""
    return f"{name}{TEMPLATE_SUFFIX}"


class Renderer:
    """Renders email templates and task texts; HTML blocks are autoescaped, the others are not.

    Built on the templates folder, or on pinned sources ({path: text}) of a sequence version.
    """

    def __init__(self, templates_dir: Path | None = None, *, sources: dict[str, str] | None = None):
        self.templates_dir = templates_dir or Path("<pinned>")
        loader: BaseLoader = (
            DictLoader(dict(sources))
            if sources is not None
            else FileSystemLoader(str(templates_dir))
        )
        self._loader = loader
        # Immutable: a template must not change the lead/sample data other blocks and checks share.
        self._plain = BoundedSandbox(autoescape=False, loader=loader, undefined=StrictUndefined)
        self._html = BoundedSandbox(autoescape=True, loader=loader, undefined=StrictUndefined)

    def exists(self, name: str) -> bool:
        try:
            self._loader.get_source(self._plain, template_path(name))
        except TemplateNotFound:
            return False
        return True

    def sources(self, names: list[str]) -> dict[str, str]:
        """The text of `names` and of every template they extend, include or import."""
        found: dict[str, str] = {}
        pending = [template_path(n) for n in names]
        while pending:
            path = pending.pop()
            if path in found:
                continue
            source, _, _ = self._loader.get_source(self._plain, path)
            found[path] = source
            pending += [p for p in meta.find_referenced_templates(self._plain.parse(source)) if p]
        return found

    def render_email(self, name: str, context: dict[str, Any]) -> RenderedEmail:
        try:
            subject = self._block(self._plain, name, "subject", context)
            text = self._block(self._plain, name, "text", context)
            html = self._block(self._html, name, "html", context)
        except TemplateNotFound as exc:
            missing = exc.name if isinstance(exc.name, str) else str(exc)
            where = "" if missing == template_path(name) else f"{template_path(name)}: "
            raise RenderError(f"{where}template {missing!r} not found") from None
        except _TEMPLATE_FAILURES as exc:
            raise RenderError(f"{template_path(name)}: {type(exc).__name__}: {exc}") from None
        if text is None:
            raise RenderError(f"{template_path(name)}: no {{% block text %}}")
        return RenderedEmail(
            subject=_WHITESPACE.sub(" ", subject or "").strip(),
            text=text.strip("\n") + "\n",
            html=html.strip() if html and html.strip() else None,
        )

    def render_text(self, source: str, context: dict[str, Any]) -> str:
        """A one-line template such as a task's text."""
        try:
            text = join_block(self._plain.from_string(source).generate(context))
            return _WHITESPACE.sub(" ", text).strip()
        except _TEMPLATE_FAILURES as exc:
            raise RenderError(f"{type(exc).__name__}: {exc}") from None

    @staticmethod
    def _block(
        env: ImmutableSandboxedEnvironment, name: str, block: str, context: dict[str, Any]
    ) -> str | None:
        template = env.get_template(template_path(name))
        ctx = template.new_context(context)
        # Running the root resolves {% extends %}, which registers the parents' blocks.
        for _ in template.root_render_func(ctx):
            pass
        functions = ctx.blocks.get(block)
        if not functions:
            return None
        return join_block(functions[0](ctx))


def reply_subject(first_subject: str) -> str:
    """A threaded follow-up's subject: `Re: <first subject>` (never `Re: Re: ...`)."""
    return first_subject if first_subject.lower().startswith("re:") else f"Re: {first_subject}"


def build_context(
    *,
    lead: dict[str, Any],
    owner: Any,
    owner_email: str | None,
    sequence: Any,
    step: str,
    unsubscribe_url: str,
) -> dict[str, Any]:
    """The names a template sees (SPEC section 6); unset lead fields stay undefined."""
    owner_context: dict[str, Any] = {}
    if owner_email:
        owner_context["email"] = owner_email
        owner_context["name"] = getattr(owner, "name", None) or owner_email.split("@")[0].title()
    return {
        "lead": lead,
        "owner": owner_context,
        "sequence": {"name": sequence.name, "description": sequence.description},
        "step": {"id": step},
        "unsubscribe_url": unsubscribe_url,
    }
