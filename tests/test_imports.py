"""The package's imports run one way: no cycle between its modules, lazy imports inside functions included."""
import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "skelnb"


def module_name(path: Path, root: Path = PKG) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path = PKG) -> dict[str, set[str]]:
    """Module -> the package's modules it imports anywhere in its file (top level, functions, classes)."""
    files = {module_name(p, root): p for p in sorted(root.rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for mod, path in files.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:                                   # from . / .. / .x import y
                    anchor = package.split(".")
                    anchor = anchor[:len(anchor) - (node.level - 1)]
                    base = ".".join(anchor + ([base] if base else []))
                for a in node.names:           # `from pkg import submodule` imports the submodule, else pkg
                    targets.add(f"{base}.{a.name}" if f"{base}.{a.name}" in files else base)
        graph[mod] = {t for t in targets if t in files and t != mod}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as [a, b, ..., a], or None (depth-first search, colours white/grey/black)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str):
        state[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                return stack[stack.index(n):] + [n]
            if n not in state and (found := visit(n)):
                return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (found := visit(m)):
            return found
    return None


def test_the_graph_sees_relative_and_function_level_imports(tmp_path):
    pkg = tmp_path / "skelnb"
    (pkg / "data").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "data" / "__init__.py").write_text("from .a import f\n")
    (pkg / "data" / "a.py").write_text("import os\n\ndef f():\n    from . import b\n    from ..top import g\n")
    (pkg / "data" / "b.py").write_text("X = 1\n")
    (pkg / "top.py").write_text("class G:\n    def g(self):\n        import skelnb.data.b\n"
                                "        from .data import f\n")
    graph = import_graph(pkg)
    assert graph == {"skelnb": set(), "skelnb.data": {"skelnb.data.a"},
                     "skelnb.data.a": {"skelnb.data.b", "skelnb.top"}, "skelnb.data.b": set(),
                     "skelnb.top": {"skelnb.data", "skelnb.data.b"}}
    assert find_cycle(graph) == ["skelnb.data", "skelnb.data.a", "skelnb.top", "skelnb.data"]
    (pkg / "top.py").write_text("import skelnb.data.b\n")
    assert find_cycle(import_graph(pkg)) is None


def test_no_import_cycle_between_the_packages_modules():
    graph = import_graph()
    assert len(graph) > 30 and {"skelnb.config", "skelnb.data.cache"} <= graph["skelnb.cli"]   # function-level too
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)
