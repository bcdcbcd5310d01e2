"""The package's import graph, every import counted (scripts/import_graph.py): no cycles, no relative import
that climbs above the package, and nothing of the library imports the trainer."""
import importlib.util
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("import_graph", ROOT / "scripts" / "import_graph.py")
import_graph = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(import_graph)


def test_the_package_has_no_import_cycle():
    graph = import_graph.import_graph()
    assert "yolov6_edge.trainer.loop" in graph and "yolov6_edge.runtime.detector" in graph
    assert import_graph.cycles(graph) == []


def test_only_the_cli_imports_the_trainer():
    graph = import_graph.import_graph()
    users = sorted(m for m, deps in graph.items() if not m.startswith("yolov6_edge.trainer")
                   and any(d.startswith("yolov6_edge.trainer") for d in deps))
    assert users == ["yolov6_edge.cli.demo", "yolov6_edge.cli.train"]


def _package(tmp_path, files):
    for name, text in files.items():
        path = tmp_path / "yolov6_edge" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return tmp_path


def test_a_cycle_through_a_function_level_import_is_found(tmp_path, capsys):
    root = _package(tmp_path, {"__init__.py": "", "a.py": "from .b import f\n",
                               "b.py": "def f():\n    from . import a\n", "c.py": "from . import a\n"})
    assert import_graph.cycles(import_graph.import_graph(root)) == [["yolov6_edge.a", "yolov6_edge.b"]]
    assert import_graph.main(["--root", str(root)]) == 1
    assert "cycle: yolov6_edge.a -> yolov6_edge.b -> yolov6_edge.a" in capsys.readouterr().out


def test_a_relative_import_above_the_package_is_refused(tmp_path, capsys):
    root = _package(tmp_path, {"__init__.py": "", "t/__init__.py": "",
                               "t/e.py": "try:\n    from ...ops import nms\nexcept ImportError:\n    nms = None\n"})
    assert import_graph.main(["--root", str(root)]) == 1
    assert "e.py:2: `from ...ops import ...` climbs above the yolov6_edge package" in capsys.readouterr().out
