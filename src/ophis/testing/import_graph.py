"""The import graph of a package, read from its source with :mod:`ast` (nothing is imported).

Every ``import`` and ``from ... import`` counts, including those deferred into functions (they
still close a cycle, only later) and those under ``if TYPE_CHECKING:`` (they never run, but two
modules that need each other's names are still one design split in two).
``from a import b`` is an edge to ``a.b`` when ``a.b`` is a module of the package, else to ``a``.

Run it as ``python -m ophis.testing.import_graph [PACKAGE_DIR]`` for a summary: how many
modules, the longest chain of imports (its levels) and every cycle.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path


@dataclass(frozen=True)
class Import:
    """One import statement of a module: what it names, where, and whether it runs at import."""

    importer: str
    imported: str
    line: int
    deferred: bool
    typing_only: bool


@dataclass
class ImportGraph:
    """The modules of a package and the imports between them (and of outside packages)."""

    modules: dict[str, Path] = field(default_factory=dict)
    imports: list[Import] = field(default_factory=list)

    def edges(self, typing_only: bool = True) -> dict[str, set[str]]:
        """Each module's imports of other modules of the package (those that run, and those
        under ``TYPE_CHECKING`` unless ``typing_only`` is false)."""
        edges: dict[str, set[str]] = {name: set() for name in self.modules}
        for found in self.imports:
            if found.typing_only and not typing_only:
                continue
            if found.imported in self.modules and found.imported != found.importer:
                edges[found.importer].add(found.imported)
        return edges

    def cycles(self, typing_only: bool = True) -> list[list[str]]:
        """The strongly connected groups of two or more modules, each sorted, largest first."""
        edges = self.edges(typing_only)
        groups = [sorted(group) for group in _strongly_connected(edges) if len(group) > 1]
        return sorted(groups, key=lambda group: (-len(group), group))

    def levels(self) -> tuple[int, list[str]]:
        """The length (in modules) of the longest import chain, and one such chain.

        A cycle counts as one module, so this is defined for any graph."""
        edges = self.edges(typing_only=False)
        group_of: dict[str, int] = {}
        groups = _strongly_connected(edges)
        for index, group in enumerate(groups):
            for name in group:
                group_of[name] = index

        @cache
        def longest(index: int) -> tuple[str, ...]:
            below = {group_of[target] for name in groups[index] for target in edges[name]}
            below.discard(index)
            tails = [longest(other) for other in below]
            return (min(groups[index]), *max(tails, key=len, default=()))

        sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(groups) + 100))
        chain = max((longest(index) for index in range(len(groups))), key=len, default=())
        return len(chain), list(chain)

    def importers_of(self, prefix: str) -> list[Import]:
        """The imports of ``prefix`` or anything below it."""
        return [
            found
            for found in self.imports
            if found.imported == prefix or found.imported.startswith(prefix + ".")
        ]


def read_package(package_dir: Path) -> ImportGraph:
    """The import graph of the package whose ``__init__.py`` is in ``package_dir``."""
    graph = ImportGraph()
    top = package_dir.resolve()
    while (top.parent / "__init__.py").is_file():
        top = top.parent
    for path in sorted(package_dir.resolve().rglob("*.py")):
        parts = path.relative_to(top.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        graph.modules[".".join(parts)] = path
    for name, path in graph.modules.items():
        is_package = path.name == "__init__.py"
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node, deferred, typing_only in _import_nodes(tree.body, False, False):
            for imported in _imported_names(node, name, is_package, graph.modules):
                found = Import(name, imported, node.lineno, deferred, typing_only)
                graph.imports.append(found)
    return graph


def _import_nodes(
    body: list[ast.stmt], deferred: bool, typing_only: bool
) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool, bool]]:
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node, deferred, typing_only
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from _import_nodes(node.body, deferred, True)
            yield from _import_nodes(node.orelse, deferred, typing_only)
        else:
            inner = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            for child_body in _child_bodies(node):
                yield from _import_nodes(child_body, deferred or inner, typing_only)


def _child_bodies(node: ast.AST) -> Iterator[list[ast.stmt]]:
    for name in ("body", "orelse", "finalbody", "handlers", "cases"):
        value = getattr(node, name, None)
        if isinstance(value, list) and value:
            statements = [item for item in value if isinstance(item, ast.stmt)]
            if statements:
                yield statements
            for item in value:
                if isinstance(item, ast.excepthandler | ast.match_case):
                    yield item.body


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported_names(
    node: ast.Import | ast.ImportFrom, importer: str, is_package: bool, modules: dict[str, Path]
) -> Iterator[str]:
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield alias.name
        return
    base = node.module or ""
    if node.level:
        anchor = importer.split(".")
        anchor = anchor if is_package else anchor[:-1]
        anchor = anchor[: len(anchor) - (node.level - 1)]
        base = ".".join([*anchor, base] if base else anchor)
    for alias in node.names:
        submodule = f"{base}.{alias.name}"
        yield submodule if submodule in modules else base


def _strongly_connected(edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (an import chain can be deeper than Python's stack)."""
    index_of: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    for start in sorted(edges):
        if start in index_of:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index_of[start] = low[start] = len(index_of)
        stack.append(start)
        on_stack.add(start)
        while work:
            name, targets = work[-1]
            for target in targets:
                if target not in index_of:
                    index_of[target] = low[target] = len(index_of)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(edges[target]))))
                    break
                if target in on_stack:
                    low[name] = min(low[name], index_of[target])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[name])
                if low[name] == index_of[name]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == name:
                            break
                    groups.append(group)
    return groups


def summary(graph: ImportGraph) -> str:
    """Modules, levels with the longest chain, and cycles, as lines of text."""
    level_count, chain = graph.levels()
    lines = [
        f"modules: {len(graph.modules)}",
        f"imports between them: {sum(len(targets) for targets in graph.edges().values())}",
        f"levels (longest import chain): {level_count}",
        "  " + " -> ".join(chain),
    ]
    running = graph.cycles(typing_only=False)
    lines.append(f"cycles of imports that run: {len(running)}")
    lines.extend(f"  ({len(group)}) " + ", ".join(group) for group in running)
    typed = [group for group in graph.cycles() if group not in running]
    lines.append(f"more cycles with TYPE_CHECKING imports: {len(typed)}")
    lines.extend(f"  ({len(group)}) " + ", ".join(group) for group in typed)
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    package_dir = Path(argv[0]) if argv else Path(__file__).resolve().parents[1]
    print(summary(read_package(package_dir)))


if __name__ == "__main__":
    main(sys.argv[1:])
