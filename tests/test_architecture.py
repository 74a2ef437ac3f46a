"""The layout docs/architecture.md describes, checked: rooms, floors, no cycle between packages and
none between modules.

Every import statement counts, those inside functions too: a lazy import is still a dependency.
"""

import ast
import os

import pytest

from helpers import REPO

# The rooms of pix2pix/, lowest floor first: a room imports only its own floor or lower ones.
FLOORS = ("errors", "io", "options", "data", "models", "reporting", "inference", "serving", "modes", "commands")
# What data_prep, the sibling package, may use of pix2pix.
DATA_PREP_MAY_IMPORT = ("pix2pix.errors", "pix2pix.io", "pix2pix.reporting.metrics")
TOP_LEVEL_MODULES = {"__init__.py", "__main__.py", "errors.py"}


def _modules(package):
    """{dotted module name: source path} of every .py file under PACKAGE."""
    found = {}
    for root, _, files in os.walk(os.path.join(REPO, package)):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(root, name)
                dotted = os.path.relpath(path, REPO)[:-3].replace(os.sep, ".")
                found[dotted.removesuffix(".__init__")] = path
    return found


def _import_statements(path, module):
    """[(module named, [names imported from it])] of every import in PATH, anywhere in the file."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    statements = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            statements += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the importing module's package
                base = module.rsplit(".", node.level)[0]
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module
            statements.append((target, [alias.name for alias in node.names]))
    return [(target, names) for target, names in statements if target.split(".")[0] in ("pix2pix", "data_prep")]


def _imports(path, module):
    """The pix2pix/data_prep modules (or packages, or names in them) PATH imports, anywhere in the file."""
    names = set()
    for target, imported in _import_statements(path, module):
        names.add(target)
        names.update(f"{target}.{name}" for name in imported)
    return names


def _room(name):
    """'pix2pix.models.losses' -> 'models'; the package face 'pix2pix' -> None."""
    parts = name.split(".")
    if parts[0] != "pix2pix" or len(parts) == 1:
        return None
    return parts[1] if parts[1] in FLOORS else None


ALL = {**_modules("pix2pix"), **_modules("data_prep")}
GRAPH = {module: _imports(path, module) for module, path in ALL.items()}


def _module_edges(path, module):
    """The modules of ALL that PATH's imports load by name: `from P import M` is module P.M when M is a
    module, else P (a name defined in P); `import P.M` is P.M. (A package's __init__ that runs only
    because a module below it is imported is not counted: it imports nothing of its modules here.)"""
    edges = set()
    for target, imported in _import_statements(path, module):
        modules = [f"{target}.{name}" for name in imported if f"{target}.{name}" in ALL]
        if len(modules) < len(imported) or not imported:  # some name is not a module: target itself
            modules.append(target)
        edges.update(name for name in modules if name in ALL and name != module)
    return edges


MODULE_GRAPH = {module: _module_edges(path, module) for module, path in ALL.items()}


def _cycle(edges):
    """One cycle of the directed graph EDGES ({node: targets}) as [a, b, ..., a], or None."""
    visiting, done = [], set()

    def visit(node):
        if node in visiting:
            return visiting[visiting.index(node):] + [node]
        if node in done:
            return None
        visiting.append(node)
        for target in sorted(edges.get(node, ())):
            found = visit(target)
            if found:
                return found
        visiting.pop()
        done.add(node)
        return None

    for node in sorted(edges):
        found = visit(node)
        if found:
            return found
    return None


def test_pix2pix_has_no_module_at_its_top_level_but_its_face_main_and_errors():
    top = {name for name in os.listdir(os.path.join(REPO, "pix2pix")) if name.endswith(".py")}
    assert top == TOP_LEVEL_MODULES
    rooms = {name for name in os.listdir(os.path.join(REPO, "pix2pix"))
             if os.path.isfile(os.path.join(REPO, "pix2pix", name, "__init__.py"))}
    assert rooms == set(FLOORS) - {"errors"}


@pytest.mark.parametrize("module", sorted(m for m in ALL if _room(m)))
def test_a_room_imports_only_its_own_floor_or_lower_ones(module):
    floor = FLOORS.index(_room(module))
    higher = sorted(name for name in GRAPH[module]
                    if name.startswith("data_prep") or (_room(name) and FLOORS.index(_room(name)) > floor))
    assert not higher, f"{module} (floor {_room(module)}) imports {higher}"


def test_data_prep_imports_only_the_shared_io_errors_and_metrics():
    for module, names in GRAPH.items():
        if module.startswith("data_prep"):
            foreign = sorted(n for n in names if n.startswith("pix2pix")
                             and not n.startswith(DATA_PREP_MAY_IMPORT) and n != "pix2pix")
            assert not foreign, f"{module} imports {foreign}"


def test_no_package_imports_data_prep():
    for module, names in GRAPH.items():
        if module.startswith("pix2pix"):
            assert not any(n.startswith("data_prep") for n in names), module


def test_no_import_cycle_between_packages():
    """The graph of packages (pix2pix's rooms and data_prep) has no cycle."""
    def package(name):
        return "data_prep" if name.startswith("data_prep") else _room(name)

    edges = {}
    for module, names in GRAPH.items():
        source = package(module)
        for name in names:
            target = package(name)
            if source and target and source != target:
                edges.setdefault(source, set()).add(target)
    cycle = _cycle(edges)
    assert cycle is None, "import cycle between packages: " + " -> ".join(cycle)


def test_no_import_cycle_between_modules():
    """No module of pix2pix/ or data_prep/ imports itself back through others, not even from inside a
    function (an import that only works because of where its line sits)."""
    cycle = _cycle(MODULE_GRAPH)
    assert cycle is None, "import cycle between modules: " + " -> ".join(cycle)


def test_the_cycle_check_finds_a_cycle_and_resolves_names_to_modules():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None
    # `from pix2pix.models import kernels` loads the module kernels; `from ...registry import Registry` registry
    assert {"pix2pix.models.kernels", "pix2pix.options.registry"} <= MODULE_GRAPH["pix2pix.models.generators"]


@pytest.mark.xdist_group("grouping_check")
def test_tests_marked_with_a_group_run_together_under_make_test(request):
    """pytest.ini's --dist loadgroup sends the tests of an xdist_group to one worker, so a module's
    fixtures (a trained run, a server, a browser) are built once. pytest 9.2 with pytest-xdist 3.8
    drops the groups without a word; setup.py keeps pytest below 9.2, and this says if it breaks."""
    if not getattr(request.config.option, "loadgroup", False):
        pytest.skip("not run by pytest-xdist with --dist loadgroup")
    assert request.node.nodeid.endswith("@grouping_check"), request.node.nodeid
