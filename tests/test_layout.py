"""The house rules of the package's layout, checked on its source: imports go downward (no module imports a module
that imports it back, directly or through others, counting imports inside functions too). No model is trained."""

import ast
from pathlib import Path

import stealguard

PACKAGE = Path(stealguard.__file__).parent


def _modules() -> dict[str, Path]:
    mods = {}
    for f in PACKAGE.rglob("*.py"):
        parts = list(f.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = f
    return mods


def import_graph() -> dict[str, set[str]]:
    """Module -> the stealguard modules it imports anywhere in its source (``from pkg import name`` counts as an
    import of the module ``pkg.name`` when there is one, else of ``pkg``)."""
    mods = _modules()

    def resolve(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, f in mods.items():
        pkg = m if f.name == "__init__.py" else m.rpartition(".")[0]
        for node in ast.walk(ast.parse(f.read_text(), str(f))):
            targets = []
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                    module = ".".join(base + ([node.module] if node.module else []))
                else:
                    module = node.module or ""
                targets = [resolve(f"{module}.{a.name}") or resolve(module) for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [resolve(a.name) for a in node.names]
            graph[m] |= {t for t in targets if t and t.startswith("stealguard") and t != m}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_in_the_package():
    graph = import_graph()
    assert "stealguard.backend" in graph["stealguard.access"]  # the walker sees real edges
    found = cycles(graph)
    assert not found, "import cycles: " + "; ".join(
        " <-> ".join(c) + " (" + ", ".join(f"{a} -> {sorted(graph[a] & set(c))}" for a in c) + ")" for c in found)


HEAVY = ("torch", "scipy", "stealguard.methods", "stealguard.attacks")


def _imported_after(code: str) -> list[str]:
    import json
    import subprocess
    import sys

    probe = (f"import sys\n{code}\nimport json\n"
             f"print(json.dumps(sorted(m for m in sys.modules if m.startswith({HEAVY!r}))))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_command_line_help_imports_nothing_heavy():
    """`stealguard --help` answers before torch, scipy, any method or any attack is imported (the subcommands of
    protect and steal, whose options come from those modules, are registered on first use)."""
    assert _imported_after("import stealguard.cli") == []
    help_run = ("from stealguard.cli import main\nsys.argv = ['stealguard', '--help']\n"
                "try:\n    main()\nexcept SystemExit:\n    pass")
    assert _imported_after(help_run) == []
    # the probe itself can see a heavy import: protect's subcommands do import the methods
    assert "torch" in _imported_after(help_run.replace("'--help'", "'protect', '--help'"))
