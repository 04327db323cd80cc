"""The package's structure: every module sits in one layer, imports point only down the layers or to an earlier
module of the same layer (so there is no cycle), and no function imports a corelib module except to keep a light
entry point light (with a comment saying so). Read from the source text, independently of corelib's own code
that hashes import closures."""
import ast
from pathlib import Path

import pytest

import corelib
from corelib import layers, utils

PACKAGE = Path(corelib.__file__).resolve().parent

# bottom-up; within a layer, a module may import only the modules listed before it (corelib/layers.py)
ORDER = layers.modules()
LIGHT_ENTRY_POINT = "light entry point"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    base = PACKAGE.parent.joinpath(*name.split("."))
    return (base / "__init__.py").is_file() or base.with_suffix(".py").is_file()


def corelib_imports(path: Path):
    """(line, imported module, inside a function?) for every import of a corelib module in the file."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text())
    local = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
             for n in ast.walk(f)}
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names if a.name.split(".")[0] == "corelib"]
        elif isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("corelib")):
            base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
            base = (f"{base}.{node.module}" if node.module else base) if node.level else node.module
            subs = [f"{base}.{a.name}" for a in node.names if is_module(f"{base}.{a.name}")]
            targets = subs + ([base] if len(subs) < len(node.names) else [])
        for target in targets:
            yield node.lineno, target, id(node) in local


def all_modules():
    return sorted(PACKAGE.rglob("*.py"))


def test_every_module_is_placed_in_a_layer():
    found = {module_name(p) for p in all_modules()}
    assert found - set(ORDER) == set(), "place new modules in corelib/layers.py (LAYERS)"
    assert set(ORDER) - found == set(), "LAYERS names modules that do not exist"


@pytest.mark.parametrize("path", all_modules(), ids=lambda p: module_name(p))
def test_imports_point_down(path):
    me = module_name(path)
    upward = [f"line {line}: {me} imports {target}" for line, target, _ in corelib_imports(path)
              if ORDER.index(target) >= ORDER.index(me)]
    assert not upward, "imports must point down the layers or to an earlier module of the same layer:\n" + "\n".join(upward)


@pytest.mark.parametrize("path", all_modules(), ids=lambda p: module_name(p))
def test_no_function_local_corelib_import_without_a_reason(path):
    lines = path.read_text().splitlines()
    hidden = [f"{module_name(path)} line {line}: {lines[line - 1].strip()}" for line, _, inside in corelib_imports(path)
              if inside and LIGHT_ENTRY_POINT not in lines[line - 1] + lines[line - 2]]
    assert not hidden, f"import at the top, or comment why ('{LIGHT_ENTRY_POINT}'):\n" + "\n".join(hidden)


def test_no_import_cycle():
    graph = {module_name(p): {t for _, t, _ in corelib_imports(p)} for p in all_modules()}
    state = {}

    def visit(node, trail):
        if state.get(node) == "open":
            raise AssertionError("import cycle: " + " → ".join(trail + [node]))
        if state.get(node) != "done":
            state[node] = "open"
            for nxt in sorted(graph.get(node, ())):
                visit(nxt, trail + [node])
            state[node] = "done"

    for module in sorted(graph):
        visit(module, [])


def test_the_layer_checker_sees_a_planted_upward_import_and_cycle(tmp_path, monkeypatch):
    """The checks above would fail on a bad package: an upward import is found, and the cycle detector too."""
    fake = tmp_path / "corelib"
    (fake / "experiments").mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "experiments" / "__init__.py").write_text("")
    (fake / "data.py").write_text("def f():\n    from .experiments import grid\n")
    (fake / "experiments" / "grid.py").write_text("from ..data import f\n")
    monkeypatch.setattr(__import__(__name__), "PACKAGE", fake)
    found = list(corelib_imports(fake / "data.py"))
    assert found == [(2, "corelib.experiments.grid", True)]
    assert ORDER.index("corelib.experiments.grid") > ORDER.index("corelib.data")  # would be reported as upward
    assert list(corelib_imports(fake / "experiments" / "grid.py")) == [(1, "corelib.data", False)]


def test_code_hash_follows_the_import_closure(tmp_path):
    """An artifact's code hash changes when any module it imports (transitively) changes, and not otherwise."""
    import shutil

    copy = tmp_path / "corelib"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    closure = utils.import_closure("corelib.train", copy)
    assert "corelib.models" in closure and "corelib.plots" not in closure and "corelib.easycore" not in closure
    before = utils.code_hash("corelib.train", copy)
    (copy / "plots.py").write_text((copy / "plots.py").read_text() + "\n# an unrelated edit\n")
    (copy / "experiments" / "verdicts.py").write_text((copy / "experiments" / "verdicts.py").read_text() + "\n# unrelated\n")
    assert utils.code_hash("corelib.train", copy) == before
    (copy / "models.py").write_text((copy / "models.py").read_text() + "\n# train imports models\n")
    after = utils.code_hash("corelib.train", copy)
    assert after != before
    (copy / "sampling.py").write_text((copy / "sampling.py").read_text() + "\n# two imports away from experiments.top_bottom\n")
    assert "corelib.sampling" not in utils.module_imports("corelib.experiments.top_bottom", copy)
    assert "corelib.sampling" in utils.import_closure("corelib.experiments.top_bottom", copy)
    assert utils.code_hash("corelib.train", copy) == after
    # a subpackage's modules are part of the closure of what imports it
    assert "corelib.methods.geometry" in utils.import_closure("corelib.experiments.benchmark", copy)
