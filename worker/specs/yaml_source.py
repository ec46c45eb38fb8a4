"""YAML loading that remembers the line of every key, so errors (the YAML's own and the
models' validation errors) can name file:line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from worker.specs.validation_errors import error_loc, error_message

Loc = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)


class SourceError(Exception):
    """A problem at a place in a file: str() is `file:line: problem`."""

    def __init__(self, path: Path, line: int | None, problem: str) -> None:
        self.path, self.line, self.problem = path, line, problem
        super().__init__(f"{path}:{line}: {problem}" if line else f"{path}: {problem}")


@dataclass
class YamlDocument:
    path: Path
    data: Any
    lines: dict[Loc, int]  # location -> 1-based line

    def line_of(self, loc: Loc) -> int | None:
        """The line of the deepest known location along `loc`."""
        for end in range(len(loc), -1, -1):
            line = self.lines.get(tuple(loc[:end]))
            if line is not None:
                return line
        return None

    def error(self, loc: Loc, problem: str) -> SourceError:
        return SourceError(self.path, self.line_of(loc), problem)


ALIASES_REFUSED = (
    "YAML anchors and aliases (&name, *name, <<: *name) are not allowed here; "
    "write the value out in full"
)


def load_yaml(path: Path) -> YamlDocument:
    """Parse one file; raises SourceError for unreadable files, syntax errors, duplicate keys,
    and anchors or aliases (a few hundred bytes of them expand to gigabytes, or to a loop)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(path, None, f"cannot read: {exc}") from None
    try:
        _refuse_aliases(path, text)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise SourceError(
            path, mark.line + 1 if mark else None, f"invalid YAML: {problem}"
        ) from None
    if node is None:
        return YamlDocument(path, None, {})
    lines: dict[Loc, int] = {}
    _index(node, (), lines, path)
    data = yaml.safe_load(text)
    return YamlDocument(path, data, lines)


def _refuse_aliases(path: Path, text: str) -> None:
    """One pass over the parser's events, before any node is composed or value constructed."""
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        anchored = isinstance(event, yaml.NodeEvent) and event.anchor is not None
        if anchored or isinstance(event, yaml.AliasEvent):
            mark = event.start_mark
            raise SourceError(path, mark.line + 1 if mark else None, ALIASES_REFUSED)


def _index(node: yaml.Node, loc: Loc, lines: dict[Loc, int], path: Path) -> None:
    lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen:
                raise SourceError(path, key_node.start_mark.line + 1, f"duplicate key {key!r}")
            seen.add(key)
            lines[(*loc, key)] = key_node.start_mark.line + 1
            _index(value_node, (*loc, key), lines, path)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _index(item, (*loc, index), lines, path)


def validate_model(
    model: type[M], data: Any, document: YamlDocument, context: dict[str, Any] | None = None
) -> M:
    """`model` from a document's data; SourceErrorGroup with every problem at its line.
    `context` reaches validators (team.yaml's checks of the variables its secrets name)."""
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise SourceErrorGroup([_source_error(err, document) for err in exc.errors()]) from None


def _source_error(err: Any, document: YamlDocument) -> SourceError:
    loc: Loc = error_loc(err)
    if err["type"] == "extra_forbidden":
        message = f"unknown key {loc[-1]!r}"
    elif err["type"] == "missing":
        message = f"missing required key {loc[-1]!r}"
    else:
        message = f"{'.'.join(str(part) for part in loc) or 'file'}: {error_message(err)}"
    return document.error(loc, message)


class SourceErrorGroup(Exception):
    """Several SourceErrors found in one pass, reported together."""

    def __init__(self, errors: list[SourceError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))
