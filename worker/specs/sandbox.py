"""The template sandbox: Jinja2's read-only one, plus bounds on every operation that builds a
value much larger than its inputs (`*`, `**`, `%`, format, padding, joining, replacing), and on
the size of a rendered block, so a template cannot make a worker build megabytes.

Each bound is checked from the arguments, before the value is built.
"""

from __future__ import annotations

import inspect
import re
import string
from collections.abc import Callable, Iterable, Mapping
from functools import wraps
from typing import Any

from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_BUILT_LENGTH = 100_000  # characters or items one operation may build inside a template
MAX_POWER = 1_000  # the largest exponent `**` accepts
MAX_BLOCK_CHARS = 1_000_000  # one rendered subject, text or html block
MAX_JSON_INDENT = 16
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?[a-zA-Z%]")
_NUMBER = re.compile(r"\d+")
Arguments = dict[str, Any]


def _refuse(what: str, size: int) -> None:
    if size > MAX_BUILT_LENGTH:
        raise ValueError(
            f"{what} would build {size} characters or items; a template builds at most "
            f"{MAX_BUILT_LENGTH} in one operation"
        )


def _text_size(values: Iterable[Any]) -> int:
    return sum(len(str(value)) for value in values)


def _lines(text: str, width: int = 0) -> int:
    return text.count("\n") + 1 + (len(text) // width if width > 0 else 0)


def _replaced_size(text: str, old: str, new: str, count: int | None) -> int:
    found = len(text) + 1 if old == "" else text.count(old)
    if count is not None and count >= 0:
        found = min(found, count)
    return len(text) + found * (len(new) - len(old))


def check_percent(template: str, args: Any) -> None:
    """`template % args`: its widths and precisions, plus what the arguments bring."""
    widths = 0
    for match in _PERCENT_SPEC.finditer(template):
        if "*" in match.group(0):
            raise ValueError("variable widths (`%*s`) are not allowed in a template")
        widths += sum(int(n) for n in match.groups() if n)
    if isinstance(args, Mapping):
        values: Iterable[Any] = args.values()
    else:
        values = args if isinstance(args, tuple) else (args,)
    _refuse("this % format", len(template) + widths + _text_size(values))


def check_format(template: str, values: Iterable[Any]) -> None:
    """`template.format(...)`: the widths in its fields (nested fields are refused)."""
    widths = 0
    for _, field, spec, _ in string.Formatter().parse(template):
        if field is not None and spec and "{" in spec:
            raise ValueError("nested format fields are not allowed in a template")
        widths += sum(int(n) for n in _NUMBER.findall(spec or ""))
    _refuse("this format", len(template) + widths + _text_size(values))


def _format_filter(a: Arguments) -> None:
    check_percent(str(a["value"]), a["kwargs"] or a["args"])


def _center_filter(a: Arguments) -> None:
    _refuse("center", max(len(str(a["value"])), int(a["width"])))


def _indent_filter(a: Arguments) -> None:
    text, width = str(a["s"]), a["width"]
    _refuse("indent", len(text) + _lines(text) * (len(width) if isinstance(width, str) else width))


def _replace_filter(a: Arguments) -> None:
    size = _replaced_size(str(a["s"]), str(a["old"]), str(a["new"]), a["count"])
    _refuse("replace", size)


def _wordwrap_filter(a: Arguments) -> None:
    text, wrap = str(a["s"]), a["wrapstring"] or "\n"
    _refuse("wordwrap", len(text) + _lines(text, int(a["width"])) * len(wrap))


def _tojson_filter(a: Arguments) -> None:
    if a["indent"] is not None and int(a["indent"]) > MAX_JSON_INDENT:
        raise ValueError(f"tojson indent is at most {MAX_JSON_INDENT} in a template")


_FILTER_CHECKS: dict[str, Callable[[Arguments], None]] = {
    "format": _format_filter,
    "center": _center_filter,
    "indent": _indent_filter,
    "replace": _replace_filter,
    "wordwrap": _wordwrap_filter,
    "tojson": _tojson_filter,
    "batch": lambda a: _refuse("batch", int(a["linecount"])),
    "slice": lambda a: _refuse("slice", int(a["slices"])),
}


def _pad_method(name: str) -> Callable[[Any, tuple[Any, ...]], None]:
    return lambda text, args: _refuse(name, max(len(text), int(args[0])))


# str (and bytes) methods a template may call, checked from their positional arguments.
_METHOD_CHECKS: dict[str, Callable[[Any, tuple[Any, ...]], None]] = {
    **{name: _pad_method(name) for name in ("center", "ljust", "rjust", "zfill")},
    "expandtabs": lambda s, a: _refuse("expandtabs", len(s) + s.count("\t") * int(a[0])),
    "replace": lambda s, a: _refuse(
        "replace", _replaced_size(s, a[0], a[1], a[2] if len(a) > 2 else None)
    ),
}


def _bounded_filter(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
    signature = inspect.signature(original)
    check = _FILTER_CHECKS[name]
    # Jinja passes the eval context or environment first to marked filters; some of their
    # signatures (sync/async variants) do not show that parameter.
    first = next(iter(signature.parameters), "")
    shown = first in ("eval_ctx", "environment", "env", "context")
    skip = 1 if getattr(original, "jinja_pass_arg", None) is not None and not shown else 0

    @wraps(original)  # keeps Jinja's pass_eval_context / pass_environment marks
    def bounded(*args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(*args[skip:], **kwargs)
        bound.apply_defaults()
        check(dict(bound.arguments))
        return original(*args, **kwargs)

    return bounded


def _joined_items(separator: Any, items: Iterable[Any]) -> list[Any]:
    """The items of a join, read once and counted before they are joined."""
    listed = list(items)
    _refuse("join", len(separator) * max(len(listed) - 1, 0) + _text_size(listed))
    return listed


def _bounded_join(original: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(original)
    def bounded(eval_ctx: Any, value: Iterable[Any], d: str = "", attribute: Any = None) -> Any:
        return original(eval_ctx, _joined_items(d, value), d, attribute)

    return bounded


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """The read-only sandbox with bounds on the operations that could otherwise eat memory."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        for name in _FILTER_CHECKS:
            self.filters[name] = _bounded_filter(name, self.filters[name])
        self.filters["join"] = _bounded_join(self.filters["join"])

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            if isinstance(right, int | float) and abs(right) > MAX_POWER:
                raise ValueError(f"exponent {right} is too large for a template")
            return left**right
        if operator == "%":
            if isinstance(left, str):
                check_percent(left, right)
            return left % right
        for sequence, count in ((left, right), (right, left)):
            if isinstance(sequence, str | list | tuple) and isinstance(count, int):
                _refuse("this repetition", len(sequence) * count)
        return left * right

    def call(
        __self, __context: Any, __obj: Any, *args: Any, **kwargs: Any
    ) -> Any:  # Jinja's signature
        """Method calls on text: padding, tab expansion, replace, join and format are bounded."""
        target = getattr(__obj, "__wrapped__", __obj)  # str.format comes wrapped by the sandbox
        owner, name = getattr(target, "__self__", None), getattr(target, "__name__", "")
        if isinstance(owner, str | bytes) and args:
            if name in _METHOD_CHECKS:
                _METHOD_CHECKS[name](owner, args)
            elif name == "join":
                args = (_joined_items(owner, args[0]), *args[1:])
        if isinstance(owner, str) and name == "format":
            check_format(owner, [*args, *kwargs.values()])
        elif isinstance(owner, str) and name == "format_map" and args:
            check_format(owner, args[0].values() if isinstance(args[0], Mapping) else ())
        return super().call(__context, __obj, *args, **kwargs)


def join_block(chunks: Iterable[str]) -> str:
    """A rendered block's pieces, refused once they pass MAX_BLOCK_CHARS (loops of pieces)."""
    parts, size = [], 0
    for chunk in chunks:
        size += len(chunk)
        if size > MAX_BLOCK_CHARS:
            raise ValueError(
                f"the rendered block is over {MAX_BLOCK_CHARS} characters; shorten the template"
            )
        parts.append(chunk)
    return "".join(parts)
