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
    TemplateSyntaxError,
    Undefined,
    UndefinedError,
    meta,
    nodes,
)
from jinja2.runtime import Context as JinjaContext
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import missing

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
RENDER_ERROR = "render error: "  # opens a touch's detail when its template failed for its lead


class RenderError(Exception):
    """A template is missing, broken or refers to an undefined name; the message says which.

    `where` is the file and line that failed (`layouts/base.j2:8`), `field` the missing name,
    `problem` the message without the place.
    """

    def __init__(
        self,
        message: str,
        *,
        where: str | None = None,
        field: str | None = None,
        problem: str | None = None,
    ) -> None:
        super().__init__(message)
        self.where, self.field, self.problem = where, field, problem or message


class UndefinedField(UndefinedError):
    """A name the data lacks, with the object it was looked up on, to name the full path."""

    def __init__(self, message: str, owner: Any, name: str | None) -> None:
        super().__init__(message)
        self.owner, self.name = owner, name


class PresenceUndefined(StrictUndefined):
    """Strict undefined names, except that `{% if x %}` tests presence (False when missing)."""

    __slots__ = ()

    def __bool__(self) -> bool:  # type: ignore[override]  # StrictUndefined's raises instead
        return False

    def _fail_with_undefined_error(self, *args: Any, **kwargs: Any) -> Any:
        if self._undefined_exception is not UndefinedError:  # the sandbox's "unsafe" refusal
            super()._fail_with_undefined_error(*args, **kwargs)
        raise UndefinedField(self._undefined_message, self._undefined_obj, self._undefined_name)


# Jinja binds the failing operators (str, +, ==, ...) to the base method itself, not by name.
for _operator, _method in {**vars(Undefined), **vars(StrictUndefined)}.items():
    if _method is Undefined._fail_with_undefined_error and _operator != "__bool__":
        setattr(PresenceUndefined, _operator, PresenceUndefined._fail_with_undefined_error)


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
        self._plain = BoundedSandbox(autoescape=False, loader=loader, undefined=PresenceUndefined)
        self._html = BoundedSandbox(autoescape=True, loader=loader, undefined=PresenceUndefined)

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
            plain = self._rooted(self._plain, name, context)  # one root render for both
            subject = self._block(plain, "subject")
            text = self._block(plain, "text")
            # the same sources: no html block in the plain blocks, none with autoescape either
            has_html = bool(plain.blocks.get("html"))
            html = (
                self._block(self._rooted(self._html, name, context), "html") if has_html else None
            )
        except TemplateNotFound as exc:
            missing_name = exc.name if isinstance(exc.name, str) else str(exc)
            where = "" if missing_name == template_path(name) else f"{template_path(name)}: "
            raise RenderError(f"{where}template {missing_name!r} not found") from None
        except _TEMPLATE_FAILURES as exc:
            raise render_failure(exc, template_path(name), context) from None
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
            template = self._plain.from_string(source)
            # root_render_func, not generate(): the frames keep the names of included templates
            rendered = join_block(template.root_render_func(template.new_context(context)))
        except _TEMPLATE_FAILURES as exc:
            raise render_failure(exc, None, context) from None
        return _WHITESPACE.sub(" ", rendered).strip()

    def parse(self, name: str) -> tuple[str, nodes.Template]:
        """The source and syntax tree of a template file, for the analysis of the names it uses."""
        source, _, _ = self._loader.get_source(self._plain, name)
        return source, self._plain.parse(source, name)

    def parse_text(self, source: str) -> nodes.Template:
        return self._plain.parse(source)

    @property
    def global_names(self) -> frozenset[str]:
        """Names every template has without the context (range, cycler, ...)."""
        return frozenset(self._plain.globals)

    @staticmethod
    def _rooted(
        env: ImmutableSandboxedEnvironment, name: str, context: dict[str, Any]
    ) -> JinjaContext:
        """The template's context once its root has run: that resolves {% extends %}, which
        registers the parents' blocks, and sets its top-level names. Its blocks then render
        from it one by one (issue 15: one root render a mail, not one a block)."""
        template = env.get_template(template_path(name))
        ctx = template.new_context(context)
        for _ in template.root_render_func(ctx):
            pass
        return ctx

    @staticmethod
    def _block(ctx: JinjaContext, block: str) -> str | None:
        functions = ctx.blocks.get(block)
        if not functions:
            return None
        return join_block(functions[0](ctx))


def render_failure(exc: BaseException, entry: str | None, context: dict[str, Any]) -> RenderError:
    """One line naming the template, the file and line that failed, and the missing field."""
    where = _failed_at(exc)
    field = _missing_field(exc, context) if isinstance(exc, UndefinedField) else None
    kind = "UndefinedError" if isinstance(exc, UndefinedError) else type(exc).__name__
    problem = f"{field} is undefined" if field else f"{kind}: {exc}"
    if entry is None or where is None:
        place = where or entry
    else:
        place = where if where.startswith(f"{entry}:") else f"{entry} ({where})"
    message = f"{place}: {problem}" if place else problem
    return RenderError(message, where=where, field=field, problem=problem)


def _failed_at(exc: BaseException) -> str | None:
    """`file:line` of the innermost template frame (the raw traceback keeps the template)."""
    if isinstance(exc, TemplateSyntaxError):
        return f"{exc.name}:{exc.lineno}" if exc.name else None
    found = None
    tb = exc.__traceback__
    while tb is not None:
        template = tb.tb_frame.f_globals.get("__jinja_template__")
        if template is not None and template.name:
            found = f"{template.name}:{template.get_corresponding_lineno(tb.tb_lineno)}"
        tb = tb.tb_next
    return found


def _missing_field(exc: UndefinedField, context: dict[str, Any]) -> str | None:
    """`lead.first_name` for the name missing on the context's `lead`; None when not found."""
    if exc.name is None:
        return None
    if exc.owner is missing:
        return exc.name
    path = _path_to(exc.owner, context)
    return ".".join([*path, exc.name]) if path else None


def _path_to(target: object, context: dict[str, Any], depth: int = 4) -> tuple[str, ...] | None:
    """The keys leading from the context to `target` (by identity), breadth first."""
    frontier: list[tuple[tuple[str, ...], dict[str, Any]]] = [((), context)]
    for _ in range(depth):
        deeper = []
        for path, mapping in frontier:
            for key, value in mapping.items():
                if value is target:
                    return (*path, str(key))
                if isinstance(value, dict):
                    deeper.append(((*path, str(key)), value))
        frontier = deeper
    return None


def reply_subject(first_subject: str) -> str:
    """A threaded follow-up's subject: `Re: <first subject>` (never `Re: Re: ...`)."""
    return first_subject if first_subject.lower().startswith("re:") else f"Re: {first_subject}"


def build_context(
    *,
    lead: dict[str, Any],
    owner: dict[str, str],
    sequence: Any,
    step: str,
    unsubscribe_url: str,
) -> dict[str, Any]:
    """The names a template sees (SPEC section 6); unset lead fields stay undefined.

    `owner` has `email` and `name` whenever the email has a sender (worker/specs/sending.py).
    """
    return {
        "lead": lead,
        "owner": owner,
        "sequence": {"name": sequence.name, "description": sequence.description},
        "step": {"id": step},
        "unsubscribe_url": unsubscribe_url,
    }
