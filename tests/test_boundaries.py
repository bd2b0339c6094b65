"""The architecture's rules, checked on the source: imports run one way and the layers keep their promises.

Every `import` and `from ... import` is read from the syntax tree, function-level ones included,
so a late import cannot hide a cycle or a Qt dependency.
"""
import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("core", "microgpt_viz")
QT = ("PyQt6", "pyqtgraph", "PySide6", "PyQt5")
MAX_MODULES_PER_FOLDER = 15


def _modules():
    """Dotted module name -> source path, for every module of the two packages."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _imports(name, path, modules):
    """Every module `name` imports: project modules by their dotted names, others by their top-level name."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            for alias in node.names:  # `from pkg import module` imports the module
                submodule = f"{target}.{alias.name}"
                found.add(submodule if submodule in modules else target)
    return found


@pytest.fixture(scope="module")
def graph():
    """The import graph: an edge a -> b where module a imports b (project modules and third-party roots)."""
    modules = _modules()
    g = nx.DiGraph()
    for name, path in modules.items():
        g.add_node(name)
        for target in _imports(name, path, modules):
            if target in modules:
                g.add_edge(name, target)
            else:
                g.add_edge(name, target.split(".")[0])  # a third-party or standard module, by its root
    g.graph["modules"] = modules
    return g


def _imports_of(graph, prefix):
    return {(a, b) for a, b in graph.edges if a == prefix or a.startswith(prefix + ".")}


def test_the_import_graph_sees_the_known_edges(graph):
    # the checks below are only as good as the parser: it must see module-level, function-level and `from pkg import mod` imports
    assert graph.has_edge("microgpt_viz.cli.main", "microgpt_viz.cli.train")
    assert graph.has_edge("microgpt_viz.cli.gui", "microgpt_viz.app.launch")  # imported inside run()
    assert graph.has_edge("core.trace.record", "core.engine.autograd")
    assert graph.has_edge("microgpt_viz.app.main_window", "PyQt6")


def test_no_import_cycles(graph):
    cycles = [sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1]
    assert cycles == []
    assert [a for a, b in graph.edges if a == b] == []


def test_core_never_imports_the_app_or_qt(graph):
    bad = {(a, b) for a, b in _imports_of(graph, "core") if b.startswith("microgpt_viz") or b in QT}
    assert bad == set()


def test_the_session_layer_never_imports_qt_the_app_or_the_cli(graph):
    bad = {(a, b) for a, b in _imports_of(graph, "microgpt_viz.session")
           if b in QT or b.startswith(("microgpt_viz.app", "microgpt_viz.cli"))}
    assert bad == set()


def test_the_app_never_imports_the_cli(graph):
    # the CLI checks the user's input and hands the app a built Trainer; the app never reaches back
    assert {(a, b) for a, b in _imports_of(graph, "microgpt_viz.app") if b.startswith("microgpt_viz.cli")} == set()


def test_docks_never_import_each_other(graph):
    docks = "microgpt_viz.app.docks."
    bad = {(a, b) for a, b in graph.edges if a.startswith(docks) and b.startswith(docks) and a != b}
    assert bad == set()


def test_cli_helpers_are_a_leaf(graph):
    # every subcommand imports microgpt_viz.cli.args; it imports no other CLI module
    assert {b for a, b in _imports_of(graph, "microgpt_viz.cli.args") if b.startswith("microgpt_viz")} == set()


def test_no_folder_holds_more_than_fifteen_modules(graph):
    per_folder = {}
    for path in graph.graph["modules"].values():
        if path.name != "__init__.py":
            per_folder.setdefault(str(path.parent.relative_to(ROOT)), []).append(path.name)
    crowded = {folder: len(names) for folder, names in per_folder.items() if len(names) > MAX_MODULES_PER_FOLDER}
    assert crowded == {}


def test_core_and_session_import_and_record_with_qt_unavailable():
    # a process of its own: Qt must be absent from the interpreter, not just unimported by this test
    script = textwrap.dedent(
        """
        import sys, importlib, pkgutil

        class BlockQt:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("PyQt6", "pyqtgraph", "PySide6", "PyQt5"):
                    raise ImportError(f"{name} is blocked in this test")
                return None

        sys.meta_path.insert(0, BlockQt())
        import core, microgpt_viz.session
        names = [m.name for m in pkgutil.walk_packages(core.__path__, "core.")]
        names += [m.name for m in pkgutil.walk_packages(microgpt_viz.session.__path__, "microgpt_viz.session.")]
        for name in names:
            importlib.import_module(name)
        from core.engine.train import Trainer
        from core.engine.config import preset
        trace = Trainer(["abc", "bca"], preset("original")).record()
        assert trace.num_nodes > 100
        import microgpt_viz.cli.main  # the CLI itself must not need Qt either
        assert not [m for m in sys.modules if m.startswith(("PyQt6", "pyqtgraph"))]
        print(len(names))
        """
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.strip()) > 40  # every module of core and the session layer was imported
