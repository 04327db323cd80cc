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
    (copy / "experiments" / "sentences.py").write_text((copy / "experiments" / "sentences.py").read_text() + "\n# unrelated\n")
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


# ------------------------------------------------------------------ the size of the rooms

MAX_MODULE_LINES, MAX_FUNCTION_LINES, MAX_PARAMETERS = 450, 60, 8
# functions still above MAX_PARAMETERS (self, *args, **kwargs aside), each with what it waits for; the list may only
# shrink: a function that meets the limit must leave it, and no other may join it
WIDE_FUNCTIONS: dict[str, int] = {}


def _functions():
    for path in all_modules():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                a = node.args
                params = [x.arg for x in a.posonlyargs + a.args + a.kwonlyargs if x.arg not in ("self", "cls")]
                yield f"{path.relative_to(PACKAGE.parent)}:{node.name}", len(params), node.end_lineno - node.lineno + 1


def test_modules_and_functions_stay_small():
    """No module longer than 450 lines, no function longer than 60 lines, none with more than 8 parameters but the
    listed ones (which may not grow)."""
    long_modules = [f"{p.relative_to(PACKAGE.parent)}: {n} lines" for p in all_modules()
                    if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES]
    long_functions = [f"{name}: {n} lines" for name, _, n in _functions() if n > MAX_FUNCTION_LINES]
    wide = {name: n for name, n, _ in _functions() if n > MAX_PARAMETERS}
    assert not long_modules and not long_functions, long_modules + long_functions
    assert {k: v for k, v in wide.items() if WIDE_FUNCTIONS.get(k, 0) < v} == {}, "new or wider functions"
    assert set(WIDE_FUNCTIONS) <= set(wide), f"now within the limit, remove from WIDE_FUNCTIONS: {set(WIDE_FUNCTIONS) - set(wide)}"


def test_no_module_but_the_settings_reads_profile_keys_by_string():
    """Past `Settings.from_mapping`, code reads typed attributes: no `params["train_size"]` or
    `p.get("bench_epochs")` on a flat mapping anywhere else in corelib."""
    from corelib.settings import Settings

    keys = set(Settings.keys()) | {"model"}
    flat_names = {"params", "p", "profile", "flat", "namespace", "overrides"}
    found = []
    for path in all_modules():
        if path.name in ("settings.py", "profiles.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            target = key = None
            if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
                target, key = node.value, node.slice.value
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
                  and node.args and isinstance(node.args[0], ast.Constant)):
                target, key = node.func.value, node.args[0].value
            if isinstance(target, ast.Name) and target.id in flat_names and key in keys:
                found.append(f"{module_name(path)} line {node.lineno}: {target.id}[{key!r}]")
    assert not found, found


def test_the_readme_layout_table_is_the_layer_list():
    readme = (PACKAGE.parent / "README.md").read_text()
    assert layers.readme_table() in readme, "regenerate the README's layout table: corelib.layers.readme_table()"
    for layer, modules in layers.LAYERS.items():
        assert layer in corelib.__doc__ and all(f"`{m}`" in corelib.__doc__ for m, _ in modules if m)


def _public_functions():
    """(module, qualified name, node) of every public function and public method of a public class in corelib."""
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
                yield module_name(path), node.name, node
            elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                for item in node.body:
                    if isinstance(item, ast.FunctionDef) and (not item.name.startswith("_")
                                                              or item.name in ("__init__", "__call__")):
                        yield module_name(path), f"{node.name}.{item.name}", item


def test_public_functions_are_typed():
    """Every public function names the types of its parameters and (but for __init__) of what it returns."""
    untyped = []
    for module, name, node in _public_functions():
        args = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
        bare = [a.arg for a in args if a.annotation is None and a.arg not in ("self", "cls")]
        bare += [f"*{a.arg}" for a in (node.args.vararg, node.args.kwarg) if a is not None and a.annotation is None]
        if bare or (node.returns is None and node.name != "__init__"):
            untyped.append(f"{module}.{name}: " + (", ".join(bare) or "return"))
    assert not untyped, "add type hints:\n" + "\n".join(untyped)


DISTRIBUTIONS = {"yaml": "pyyaml", "PIL": "pillow", "IPython": "ipython", "myst_nb": "myst-nb"}
PRESENTATION = ("corelib/book/", "corelib/plots.py", "corelib/experiments/chapter.py")  # need the book / notebook extras


def test_every_third_party_package_the_library_imports_is_declared_where_it_is_needed():
    """A plain `pip install corelib` gets every package the library's own code imports (AutoAttack's torchattacks
    included: the adversarial track needs it at run time); what only the book, its pages and plots import is in the
    `book` and `notebook` extras."""
    import re
    import sys
    import tomllib

    project = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())["project"]
    name = lambda requirement: re.split(r"[<>=\[; ]", requirement, 1)[0].lower()  # noqa: E731
    runtime = {name(r) for r in project["dependencies"]}
    extras = {name(r) for group in ("book", "notebook") for r in project["optional-dependencies"][group]}
    missing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).as_posix()
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else [])
            for module in {n.split(".")[0] for n in names} - set(sys.stdlib_module_names) - {"corelib"}:
                package = DISTRIBUTIONS.get(module, module).lower()
                allowed = runtime | (extras if relative.startswith(PRESENTATION) else set())
                if package not in allowed:
                    missing.append(f"{relative} imports {module} ({package})")
    assert not missing, "declare in pyproject.toml:\n" + "\n".join(sorted(set(missing)))
    assert "torchattacks" in runtime


def test_the_readme_explains_every_autoattack_check_flag():
    from corelib.attacks.sanity import CHECKS

    readme = (PACKAGE.parent / "README.md").read_text()
    section = readme[readme.index("## AutoAttack's checks"):readme.index("## Checks")]
    assert all(f"- `{flag}`:" in section for flag in CHECKS)
