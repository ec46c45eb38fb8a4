"""The fields a template needs: each name it uses without a default or a guard, with file:line.

Read from the Jinja2 syntax tree, so a missing field is found before any lead lacks it.
`| default(...)`, `{% if x %}`, `x is defined` and `x or ...` guard a name (only the last part:
`lead.a.b | default` still needs `lead.a`). The analysis follows `{% extends %}` (each block as the
most derived template defines it, `super()` included) and `{% include %}`, carrying the guards of
the place it is included from. Macros are read where they are defined, without the guards of
their callers; `{% import %}`ed macros and names computed at run time are left to the trial
rendering that `sequences check` does beside this analysis.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from jinja2 import TemplateError, nodes

from worker.specs.rendering import Renderer, template_path

Path = tuple[str, ...]
Guards = frozenset[Path]
EMAIL_BLOCKS = ("subject", "text", "html")  # what render_email renders, each on its own
_SPECIAL_NAMES = frozenset({"loop", "self", "super", "caller", "varargs", "kwargs"})
_DEFAULT_FILTERS = frozenset({"default", "d"})
_PRESENCE_TESTS = frozenset({"defined", "undefined"})


@dataclass(frozen=True, order=True)
class FieldUse:
    """`path` (`("lead", "first_name")`) used at `template:line` with nothing to fall back on."""

    template: str  # the loader's name of the file ("layouts/base.j2"); "" for a task text
    line: int
    path: Path

    @property
    def field(self) -> str:
        return ".".join(self.path)


@dataclass(frozen=True)
class _Layer:
    """One template of an extends chain: its name, local names and the blocks it defines."""

    template: str
    tree: nodes.Template
    local_names: frozenset[str]
    blocks: dict[str, nodes.Block]


@dataclass(frozen=True)
class _Frame:
    """Where the walk is: the chain blocks resolve in, the layer whose code it reads, the block."""

    chain: tuple[_Layer, ...]
    index: int
    block: str | None = None

    @property
    def layer(self) -> _Layer:
        return self.chain[self.index]


def email_field_uses(renderer: Renderer, name: str) -> list[FieldUse]:
    """Every unguarded name an email template (a step's `email:`) renders with."""
    analysis = _Analysis(renderer)
    chain = analysis.chain(template_path(name))
    if chain:
        analysis.run_chain(chain, frozenset())
        for block in EMAIL_BLOCKS:  # rendered on their own too, outside the root's guards
            analysis.block(_Frame(chain, 0), block, frozenset(), start=0)
    return sorted(analysis.uses)


def text_field_uses(renderer: Renderer, source: str) -> list[FieldUse]:
    """Every unguarded name a one-line template (a task's text) renders with."""
    analysis = _Analysis(renderer)
    try:
        tree = renderer.parse_text(source)
    except TemplateError:  # reported by the trial rendering
        return []
    analysis.run_chain((analysis.layer("", tree),), frozenset())
    return sorted(analysis.uses)


@dataclass
class _Analysis:
    renderer: Renderer
    uses: set[FieldUse] = field(default_factory=set)
    _active: set[tuple[str, str | None]] = field(default_factory=set)  # includes, blocks walked

    @property
    def ignored_names(self) -> frozenset[str]:
        return self.renderer.global_names | _SPECIAL_NAMES

    def layer(self, name: str, tree: nodes.Template) -> _Layer:
        local_names = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
        local_names |= {m.name for m in tree.find_all(nodes.Macro)}
        local_names |= {i.target for i in tree.find_all(nodes.Import)}
        for imported in tree.find_all(nodes.FromImport):
            local_names |= {n if isinstance(n, str) else n[1] for n in imported.names}
        blocks = {b.name: b for b in tree.find_all(nodes.Block)}
        return _Layer(name, tree, frozenset(local_names), blocks)

    def chain(self, name: str) -> tuple[_Layer, ...]:
        """The template and the ones it extends, most derived first (unreadable ones end it)."""
        layers: list[_Layer] = []
        current: str | None = name
        while current and current not in {layer.template for layer in layers}:
            try:
                _, tree = self.renderer.parse(current)
            except (TemplateError, OSError):  # missing or broken: the trial rendering says so
                break
            layers.append(self.layer(current, tree))
            parent = next((n for n in tree.body if isinstance(n, nodes.Extends)), None)
            current = _constant(parent.template) if parent is not None else None
        return tuple(layers)

    def run_chain(self, chain: tuple[_Layer, ...], guards: Guards) -> None:
        """The top-level code of each template of the chain, as a render runs it."""
        for index, layer in enumerate(chain):
            root = index == len(chain) - 1
            extended = False
            for node in layer.tree.body:
                extended = extended or isinstance(node, nodes.Extends)
                after_extends = extended and isinstance(node, nodes.Output)
                if not root and (isinstance(node, nodes.Block) or after_extends):
                    continue  # a child's blocks run where the root places them; its output, never
                self.statement(node, _Frame(chain, index), guards)

    def block(self, frame: _Frame, name: str, guards: Guards, *, start: int) -> None:
        """The most derived definition of block `name` from chain position `start` on."""
        for index in range(start, len(frame.chain)):
            found = frame.chain[index].blocks.get(name)
            if found is None:
                continue
            key = (frame.chain[index].template, name)
            if key not in self._active:
                self._active.add(key)
                self.statements(found.body, _Frame(frame.chain, index, name), guards)
                self._active.discard(key)
            return

    def include(self, node: nodes.Include, guards: Guards) -> None:
        if not node.with_context:
            return
        for name in _constants(node.template):
            if (name, None) in self._active:
                continue
            self._active.add((name, None))
            chain = self.chain(name)
            if chain:
                self.run_chain(chain, guards)
            self._active.discard((name, None))

    def statements(self, body: Iterable[nodes.Node], frame: _Frame, guards: Guards) -> None:
        for node in body:
            self.statement(node, frame, guards)

    def statement(self, node: nodes.Node, frame: _Frame, guards: Guards) -> None:
        if isinstance(node, nodes.If):
            self.branches(node, frame, guards)
        elif isinstance(node, nodes.Block):
            self.block(frame, node.name, guards, start=0)
        elif isinstance(node, nodes.Include):
            self.include(node, guards)
        elif isinstance(node, nodes.Macro):
            self.statements(node.body, frame, frozenset())  # callers' guards are not known here
            for default in node.defaults:
                self.expr(default, frame, guards)
        elif isinstance(node, nodes.For):
            self.expr(node.iter, frame, guards)
            if node.test is not None:
                self.expr(node.test, frame, guards, tested=True)
            self.statements(node.body, frame, guards)
            self.statements(node.else_, frame, guards)
        elif not isinstance(node, nodes.Extends | nodes.TemplateData):
            self.children(node, frame, guards)

    def branches(self, node: nodes.If, frame: _Frame, guards: Guards) -> None:
        """`if` / `elif` / `else`: each body knows what its test (or the failed ones) proved."""
        remaining = guards
        for test, body in [(node.test, node.body), *((e.test, e.body) for e in node.elif_)]:
            self.expr(test, frame, remaining, tested=True)
            present, absent = _proven(test)
            self.statements(body, frame, _with(remaining, present))
            remaining = _with(remaining, absent)
        self.statements(node.else_, frame, remaining)

    def children(self, node: nodes.Node, frame: _Frame, guards: Guards) -> None:
        for child in node.iter_child_nodes():
            if isinstance(child, nodes.Expr):
                self.expr(child, frame, guards)
            else:
                self.statement(child, frame, guards)

    def expr(
        self, node: nodes.Node, frame: _Frame, guards: Guards, *, tested: bool = False
    ) -> None:
        """Record the names `node` needs; `tested`: its truth is all that is asked of it."""
        path = _path(node)
        if path is not None:
            self.use(path[:-1] if tested else path, node, frame, guards)
        elif isinstance(node, nodes.Filter) and node.name in _DEFAULT_FILTERS and node.node:
            self.expr(node.node, frame, guards, tested=True)
            self.arguments(node, frame, guards)
        elif isinstance(node, nodes.Test) and node.name in _PRESENCE_TESTS:
            self.expr(node.node, frame, guards, tested=True)
        elif isinstance(node, nodes.CondExpr):
            self.expr(node.test, frame, guards, tested=True)
            present, absent = _proven(node.test)
            self.expr(node.expr1, frame, _with(guards, present), tested=tested)
            if node.expr2 is not None:
                self.expr(node.expr2, frame, _with(guards, absent), tested=tested)
        elif isinstance(node, nodes.And | nodes.Or):
            # `a or b` only tests a; `a and b` yields a itself when a is false
            self.expr(node.left, frame, guards, tested=tested or isinstance(node, nodes.Or))
            present, absent = _proven(node.left)
            proven = present if isinstance(node, nodes.And) else absent
            self.expr(node.right, frame, _with(guards, proven), tested=tested)
        elif isinstance(node, nodes.Not):
            self.expr(node.node, frame, guards, tested=True)
        elif isinstance(node, nodes.Call) and self.block_call(node, frame, guards):
            self.arguments(node, frame, guards)
        else:
            self.children(node, frame, guards)

    def block_call(self, node: nodes.Call, frame: _Frame, guards: Guards) -> bool:
        """`super()` and `self.name()` render a block here; True when `node` was one."""
        callee = node.node
        if isinstance(callee, nodes.Name) and callee.name == "super" and frame.block:
            self.block(frame, frame.block, guards, start=frame.index + 1)
            return True
        if (
            isinstance(callee, nodes.Getattr)
            and isinstance(callee.node, nodes.Name)
            and callee.node.name == "self"
        ):
            self.block(frame, callee.attr, guards, start=0)
            return True
        return False

    def arguments(self, node: nodes.Filter | nodes.Call, frame: _Frame, guards: Guards) -> None:
        for argument in [*node.args, *node.kwargs, node.dyn_args, node.dyn_kwargs]:
            if argument is not None:
                self.expr(argument, frame, guards)

    def use(self, path: Path, node: nodes.Node, frame: _Frame, guards: Guards) -> None:
        if not path or path in guards:
            return
        if path[0] in frame.layer.local_names or path[0] in self.ignored_names:
            return
        self.uses.add(FieldUse(frame.layer.template, node.lineno, path))


def _path(node: nodes.Node) -> Path | None:
    """`lead.address["city"]` -> ("lead", "address", "city"); None for anything computed."""
    if isinstance(node, nodes.Name) and node.ctx == "load":
        return (node.name,)
    if isinstance(node, nodes.Getattr):
        inner = _path(node.node)
        return (*inner, node.attr) if inner else None
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        inner = _path(node.node)
        key = node.arg.value
        return (*inner, str(key)) if inner and isinstance(key, str | int) else None
    return None


def _proven(test: nodes.Node) -> tuple[set[Path], set[Path]]:
    """(names present when `test` is true, names present when it is false)."""
    path = _path(test)
    if path is not None:
        return {path}, set()
    if isinstance(test, nodes.Test) and test.name in _PRESENCE_TESTS:
        inner = _path(test.node)
        found = {inner} if inner else set()
        return (found, set()) if test.name == "defined" else (set(), found)
    if isinstance(test, nodes.Not):
        present, absent = _proven(test.node)
        return absent, present
    if isinstance(test, nodes.And):
        return _proven(test.left)[0] | _proven(test.right)[0], set()
    if isinstance(test, nodes.Or):
        return set(), _proven(test.left)[1] | _proven(test.right)[1]
    return set(), set()


def _with(guards: Guards, paths: Iterable[Path]) -> Guards:
    """The guards plus each path and its parents (`lead.a.b` present: so is `lead.a`)."""
    added = {path[:end] for path in paths for end in range(1, len(path) + 1)}
    return guards | added if added else guards


def _constant(node: nodes.Node) -> str | None:
    return node.value if isinstance(node, nodes.Const) and isinstance(node.value, str) else None


def _constants(node: nodes.Node) -> list[str]:
    """The template names of an include: one, or a list of alternatives."""
    if isinstance(node, nodes.Tuple | nodes.List):
        return [name for item in node.items if (name := _constant(item))]
    name = _constant(node)
    return [name] if name else []
