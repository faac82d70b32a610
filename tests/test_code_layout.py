"""The shape of ``modules/``, read from its source with ``ast``: no import cycles, no private
name of one module used by another, no function longer than a screen.

Imports inside functions count: a lazy import still makes the two modules depend on each other,
it only hides the cycle until someone moves the import to the top. An import names the module it
loads; ``from package import name`` depends on the package (its ``__init__``) unless ``name`` is
a submodule. Tests (``*_test.py``) are not library code and are left out.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ROOT / "modules"
MAX_FUNCTION_LINES = 80


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def library_modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(LIBRARY.rglob("*.py"))
            if not path.name.endswith("_test.py")}


def _absolute(module: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    base = package[:len(package) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


class ModuleImports:
    """What one module imports from the library, and which private names it takes."""

    def __init__(self, module: str, path: Path, known: dict[str, Path]):
        self.module, self.path, self.known = module, path, known
        self.imports: set[str] = set()
        self.private: list[str] = []
        self.aliases: dict[str, str] = {}  # local name -> library module
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                self._import_from(node)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in known:
                        self.imports.add(alias.name)
                        if alias.asname:
                            self.aliases[alias.asname] = alias.name
        for node in ast.walk(tree):  # module._name on an imported library module
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in self.aliases and _is_private(node.attr)):
                self.private.append(f"{self.aliases[node.value.id]}.{node.attr} "
                                    f"(line {node.lineno})")

    def _import_from(self, node: ast.ImportFrom) -> None:
        source = _absolute(self.module, self.path, node)
        if source.split(".")[0] != "modules":
            return
        for alias in node.names:
            submodule = f"{source}.{alias.name}"
            if submodule in self.known:
                target = submodule
                self.aliases[alias.asname or alias.name] = submodule
                # a private submodule is the package's own business: only its package imports it
                if _is_private(alias.name) and not self.module.startswith(source):
                    self.private.append(f"{submodule} (line {node.lineno})")
            else:
                target = source
                if _is_private(alias.name):
                    self.private.append(f"{source}.{alias.name} (line {node.lineno})")
            if target in self.known and target != self.module:
                self.imports.add(target)


def import_graph() -> dict[str, ModuleImports]:
    known = library_modules()
    return {name: ModuleImports(name, path, known) for name, path in known.items()}


def find_cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iteratively)."""
    index, low, on_stack, stack, cycles, counter = {}, {}, set(), [], [], [0]
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    cycles.append(sorted(component))
    return cycles


def long_functions(limit: int = MAX_FUNCTION_LINES) -> list[tuple[int, str]]:
    """(lines, "module:function") for every function over ``limit`` lines, longest first."""
    found = []
    for module, path in library_modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > limit:
                    found.append((lines, f"{module}:{node.name} (line {node.lineno})"))
    return sorted(found, reverse=True)


def test_the_checks_see_what_they_look_for():
    # the cycle finder and the function measure on known inputs: they could fail
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []
    graph = import_graph()
    assert "modules.parameters" in graph["modules.training"].imports
    assert long_functions(limit=1)


def test_modules_have_no_import_cycle():
    edges = {name: module.imports for name, module in import_graph().items()}
    cycles = find_cycles(edges)
    assert not cycles, "import cycles in modules/:\n" + "\n".join(
        " <-> ".join(cycle) for cycle in cycles)


def test_no_module_uses_another_modules_private_names():
    used = [f"{name}: {entry}" for name, module in sorted(import_graph().items())
            for entry in module.private]
    assert not used, "private names used across modules:\n" + "\n".join(used)


def test_no_function_is_longer_than_a_screen():
    found = long_functions()
    assert not found, f"functions over {MAX_FUNCTION_LINES} lines:\n" + "\n".join(
        f"{lines:4d}  {where}" for lines, where in found)
