"""The layers of the package, checked on its source with `ast` (module- and function-level imports).

read config → effective settings → models → sizing and choice → report data → renderers → CLI:
an import may only point down this chain. The core never imports a renderer or the CLI, only the
CLI imports typer, each third-party library has one home, and imports (module- and function-level)
have no cycle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "capplan"

# Each third-party library and the modules (prefixes) allowed to import it.
HOMES = {
    "typer": ("capplan.cli",),
    "click": ("capplan.cli",),
    "tabulate": ("capplan.render.table",),
    "yaml": ("capplan.profile",),
    "scipy": ("capplan.queueing",),
    # The event chains build their states and transitions as arrays (models/event_chain.py,
    # models/event_backlog.py, models/event_together.py).
    "numpy": (
        "capplan.logs",
        "capplan.queueing.ctmc",
        "capplan.models.event_chain",
        "capplan.models.event_backlog",
        "capplan.models.event_together",
    ),
    "dask": ("capplan.logs",),
    "distributed": ("capplan.logs",),
    "fsspec": ("capplan.logs",),
    "pcre2": ("capplan.config",),
    "matplotlib": ("capplan.render",),
}
# The layers, lowest first; a module may import its own layer and those below.
LAYERS = (
    ("capplan.errors", "capplan.location", "capplan.units", "capplan.files", "capplan.config",
     "capplan.mpm_names", "capplan.mpm_settings", "capplan.queueing", "capplan.runtime"),
    ("capplan.effective", "capplan.http2", "capplan.profile", "capplan.catalog", "capplan.fpm"),
    ("capplan.machine",),
    ("capplan.models", "capplan.logs", "capplan.measure", "capplan.errorlog", "capplan.snippet"),
    ("capplan.recommend", "capplan.fit"),
    ("capplan.advice", "capplan.compare", "capplan.sweep", "capplan.fpm_plan"),
    ("capplan.pipeline",),
    ("capplan.render",),
    ("capplan.cli",),
)  # fmt: skip


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(tree: ast.AST, module: str, is_package: bool) -> Iterator[tuple[str, int, bool]]:
    """(imported module, line, at module level) for every import, relative ones resolved."""
    top_level = set(getattr(tree, "body", []))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno, node in top_level
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".")
                package = package if is_package else package[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join([*package, base]) if base else ".".join(package)
            if base.startswith("capplan"):
                # `from capplan import x` may name a submodule.
                names = [f"{base}.{alias.name}" for alias in node.names]
                yield from ((name, node.lineno, node in top_level) for name in names)
            else:
                yield base, node.lineno, node in top_level


def _type_checking_lines(tree: ast.AST) -> set[int]:
    """Lines of imports under `if TYPE_CHECKING:` (never executed: not a dependency)."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            for inner in ast.walk(node):
                if isinstance(inner, ast.Import | ast.ImportFrom):
                    lines.add(inner.lineno)
    return lines


def _layer_of(module: str) -> int | None:
    if module == "capplan":  # the package's __init__: its version, nothing else
        return 0
    for index, layer in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in layer):
            return index
    return None


def _sources() -> list[tuple[str, Path]]:
    return sorted((_module_name(path), path) for path in PACKAGE.rglob("*.py"))


def _real_module(name: str, known: set[str]) -> str:
    """`capplan.models.evaluate` → `capplan.models` (a name imported from a module)."""
    while name not in known and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def violations_of(sources: list[tuple[str, Path]]) -> list[str]:
    known = {name for name, _ in sources} | {name for name, _ in _sources()}
    problems = []
    for module, path in sources:
        tree = ast.parse(path.read_text(), str(path))
        skip = _type_checking_lines(tree)
        layer = _layer_of(module)
        if layer is None:
            problems.append(f"{module}: in no layer (add it to LAYERS)")
            continue
        for imported, line, _ in _imports(tree, module, path.name == "__init__.py"):
            if line in skip:
                continue
            where = f"{path.relative_to(PACKAGE.parent)}:{line}"
            root = imported.split(".")[0]
            if root in HOMES and not any(module.startswith(h) for h in HOMES[root]):
                problems.append(f"{where}: {module} imports {root} (its home: {HOMES[root]})")
            if root != "capplan":
                continue
            target = _layer_of(_real_module(imported, known))
            if target is not None and target > layer:
                problems.append(f"{where}: {module} imports {imported}, a layer above it")
    return problems


def cycles_of(sources: list[tuple[str, Path]]) -> list[list[str]]:
    """Cycles among the imports, module- and function-level (not those under TYPE_CHECKING)."""
    known = {name for name, _ in sources}
    graph: dict[str, set[str]] = {}
    for module, path in sources:
        tree = ast.parse(path.read_text(), str(path))
        skip = _type_checking_lines(tree)
        graph[module] = {
            _real_module(name, known)
            for name, line, _ in _imports(tree, module, path.name == "__init__.py")
            if line not in skip and name.startswith("capplan")
        } - {module}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            # A package's own __init__ importing its submodules is how packages work.
            if node.startswith(nxt + "."):
                continue
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt in graph and state.get(nxt) is None:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if state.get(node) is None:
            visit(node)
    return cycles


def test_imports_point_down_the_layers() -> None:
    assert violations_of(_sources()) == []


def test_imports_have_no_cycle() -> None:
    assert cycles_of(_sources()) == []


@pytest.mark.parametrize(
    ("module", "text", "found"),
    [
        pytest.param(
            "capplan.models.bad",
            "from capplan.render.format import format_bytes\n",
            "a layer above it",
            id="upward-module-level",
        ),
        pytest.param(
            "capplan.advice",
            "def f():\n    from capplan.cli import main\n",
            "a layer above it",
            id="upward-in-a-function",
        ),
        pytest.param("capplan.models.bad", "import typer\n", "imports typer", id="typer-outside"),
        pytest.param(
            "capplan.render.bad",
            "from tabulate import tabulate\n",
            "imports tabulate",
            id="tabulate-outside-its-home",
        ),
    ],
)
def test_a_deliberate_violation_is_caught(
    tmp_path: Path, module: str, text: str, found: str
) -> None:
    path = PACKAGE.parent / (module.replace(".", "/") + ".py")
    fake = tmp_path / path.name
    fake.write_text(text)
    # The fake file stands at the module's place for naming, read from the temporary copy.
    problems = violations_of([(module, _Relocated(fake, path))])  # type: ignore[list-item]
    assert any(found in p for p in problems), problems


class _Relocated:
    """A file read from one place but reported at another (for the deliberate-violation test)."""

    def __init__(self, real: Path, shown: Path) -> None:
        self.real, self.shown, self.name = real, shown, shown.name

    def read_text(self) -> str:
        return self.real.read_text()

    def relative_to(self, other: Path) -> Path:
        return self.shown.relative_to(other)

    def __str__(self) -> str:
        return str(self.shown)


@pytest.mark.parametrize(
    "first",
    [
        pytest.param("from capplan.models import b\n", id="module-level"),
        pytest.param("def f():\n    from capplan.models import b\n", id="in-a-function"),
    ],
)
def test_a_deliberate_cycle_is_caught(tmp_path: Path, first: str) -> None:
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    a.write_text(first)
    b.write_text("import capplan.models.a\n")
    sources = [
        ("capplan.models.a", _Relocated(a, PACKAGE / "models" / "a.py")),
        ("capplan.models.b", _Relocated(b, PACKAGE / "models" / "b.py")),
    ]
    assert cycles_of(sources) == [  # type: ignore[arg-type]
        ["capplan.models.a", "capplan.models.b", "capplan.models.a"]
    ]
