"""The package's import contracts (scripts/import_graph.py): no cycles, no relative import that climbs above the
package, layers import downward only, only the training commands import the trainer, and the torch-free part
never imports torch. Each contract is shown to fail on a planted violation, in a small package and in a copy of
the real one."""
import importlib.util
import shutil
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("import_graph", ROOT / "scripts" / "import_graph.py")
import_graph = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(import_graph)


def test_the_package_keeps_every_import_contract(capsys):
    assert import_graph.main([]) == 0, capsys.readouterr().out
    out = capsys.readouterr().out
    assert "0 cycles, 0 other violations" in out


def test_the_package_has_no_import_cycle():
    graph = import_graph.import_graph()
    assert "yolov6_edge.trainer.loop" in graph and "yolov6_edge.runtime.detector" in graph
    assert import_graph.cycles(graph) == []


def test_only_the_cli_imports_the_trainer():
    graph = import_graph.import_graph()
    users = sorted(m for m, deps in graph.items() if not m.startswith("yolov6_edge.trainer")
                   and any(d.startswith("yolov6_edge.trainer") for d in deps))
    assert users == ["yolov6_edge.cli.demo", "yolov6_edge.cli.train"]


def test_every_layer_of_the_order_exists_and_the_torch_free_part_is_the_runtime_side():
    graph = import_graph.import_graph()
    for name, _ in import_graph.LAYERS:
        assert any(import_graph.layer_of(m) and import_graph.layer_of(m)[1] == name for m in graph), name
    for m in ("yolov6_edge.runtime.detector", "yolov6_edge.backends.onnxruntime.runtime", "yolov6_edge.ops",
              "yolov6_edge.serve.client", "yolov6_edge.track.tracker", "yolov6_edge.quant.reference"):
        assert import_graph.torch_free(m), m
    for m in ("yolov6_edge.backends.torch.runtime", "yolov6_edge.models.yolov6", "yolov6_edge.quant.qat"):
        assert not import_graph.torch_free(m), m


def _package(tmp_path, files):
    for name, text in files.items():
        path = tmp_path / "yolov6_edge" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return tmp_path


def _check(root, capsys):
    code = import_graph.main(["--root", str(root)])
    return code, capsys.readouterr().out


# a small package with one module in each layer the plants below use
BASE = {"__init__.py": "", "errors.py": "", "cli/__init__.py": "", "cli/main.py": "from ..runtime import detector\n",
        "runtime/__init__.py": "", "runtime/detector.py": "from ..backends import base\n",
        "backends/__init__.py": "", "backends/base.py": "from ..errors import *\n",
        "models/__init__.py": "", "models/yolov6.py": "import torch\n", "trainer/__init__.py": "",
        "trainer/loop.py": "from ..models import yolov6\n", "quant/__init__.py": "", "quant/qat.py": ""}


def test_a_clean_small_package_passes(tmp_path, capsys):
    code, out = _check(_package(tmp_path, BASE), capsys)
    assert code == 0, out


def test_a_cycle_through_a_function_level_import_is_found(tmp_path, capsys):
    root = _package(tmp_path, {**BASE, "runtime/a.py": "from .b import f\n",
                               "runtime/b.py": "def f():\n    from . import a\n", "runtime/c.py": "from . import a\n"})
    assert import_graph.cycles(import_graph.import_graph(root)) == [["yolov6_edge.runtime.a",
                                                                     "yolov6_edge.runtime.b"]]
    code, out = _check(root, capsys)
    assert code == 1
    assert "cycles: yolov6_edge.runtime.a -> yolov6_edge.runtime.b -> yolov6_edge.runtime.a" in out


def test_a_relative_import_above_the_package_is_refused(tmp_path, capsys):
    root = _package(tmp_path, {**BASE, "trainer/e.py": "try:\n    from ...ops import nms\nexcept ImportError:\n"
                                                       "    nms = None\n"})
    code, out = _check(root, capsys)
    assert code == 1
    assert "e.py:2: `from ...ops import ...` climbs above the yolov6_edge package" in out


@pytest.mark.parametrize("source", ["from ..runtime.detector import Detector\n",
                                    "def lazy():\n    from ..runtime import detector\n",
                                    "def lazy():\n    from .. import Detector\n",
                                    "import yolov6_edge.cli.main\n"])
def test_an_upward_import_is_refused_even_inside_a_function(tmp_path, capsys, source):
    code, out = _check(_package(tmp_path, {**BASE, "backends/probe.py": source}), capsys)
    assert code == 1
    assert "layers: yolov6_edge/backends/probe.py:" in out and "(backends) imports yolov6_edge." in out, out
    assert "a layer above it" in out


def test_the_facade_version_is_no_edge(tmp_path, capsys):
    code, out = _check(_package(tmp_path, {**BASE, "backends/probe.py": "from .. import __version__\n"}), capsys)
    assert code == 0, out


def test_a_library_import_of_the_trainer_is_refused(tmp_path, capsys):
    code, out = _check(_package(tmp_path, {**BASE, "cli/qat.py": "def run():\n    from ..trainer import loop\n"}),
                       capsys)
    assert code == 1
    assert "trainer: yolov6_edge/cli/qat.py:2: yolov6_edge.cli.qat imports yolov6_edge.trainer.loop" in out
    # a library layer below the trainer is refused by the layer order as well
    code, out = _check(_package(tmp_path, {**BASE, "quant/qat.py": "from ..trainer.loop import x\n"}), capsys)
    assert "layers: yolov6_edge/quant/qat.py:1" in out and "trainer: yolov6_edge/quant/qat.py:1" in out


@pytest.mark.parametrize("source", ["import torch\n", "def f():\n    import torch.nn\n",
                                    "try:\n    from torchvision.ops import nms\nexcept ImportError:\n    pass\n"])
def test_a_torch_import_in_the_runtime_is_refused(tmp_path, capsys, source):
    code, out = _check(_package(tmp_path, {**BASE, "runtime/images.py": source}), capsys)
    assert code == 1
    assert "torch: yolov6_edge/runtime/images.py:" in out and "(it is in the torch-free part)" in out


def test_torch_reached_through_a_module_level_import_is_refused(tmp_path, capsys):
    # runtime -> models is downward, but importing the runtime module would now import torch
    code, out = _check(_package(tmp_path, {**BASE, "runtime/images.py": "from ..models import yolov6\n"}), capsys)
    assert code == 1
    assert ("torch: importing yolov6_edge.runtime.images imports torch: yolov6_edge.runtime.images -> "
            "yolov6_edge.models.yolov6 -> torch") in out
    # inside a function it runs only when called (the torch backend's registration does this): allowed
    code, out = _check(_package(tmp_path, {**BASE, "runtime/images.py": "def f():\n    from ..models import yolov6\n"}),
                       capsys)
    assert code == 0, out


def test_the_torch_backend_may_import_torch(tmp_path, capsys):
    code, out = _check(_package(tmp_path, {**BASE, "backends/torch/__init__.py": "",
                                           "backends/torch/runtime.py": "import torch\n"}), capsys)
    assert code == 0, out


def test_a_module_in_no_layer_is_refused(tmp_path, capsys):
    code, out = _check(_package(tmp_path, {**BASE, "newthing.py": ""}), capsys)
    assert code == 1
    assert "placed: yolov6_edge.newthing is in no layer" in out


def test_plants_in_a_copy_of_the_real_package_fail_the_check(tmp_path, capsys):
    """The contracts as configured for the real tree: a copy passes, each plant fails it with its own line."""
    shutil.copytree(ROOT / "yolov6_edge", tmp_path / "yolov6_edge",
                    ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    code, out = _check(tmp_path, capsys)
    assert code == 0, out

    def plant(rel, text):
        path = tmp_path / "yolov6_edge" / rel
        path.write_text(path.read_text() + "\n\n" + textwrap.dedent(text))

    plant("weights/official.py", "def _planted_cycle():\n    from .checkpoint import save_checkpoint\n")
    plant("weights/checkpoint.py", "def _planted_cycle():\n    from .official import load_official\n")
    plant("backends/base.py", "def _planted_upward():\n    from ..runtime.detector import Detector\n")
    plant("runtime/images.py", "def _planted_torch():\n    import torch\n")
    code, out = _check(tmp_path, capsys)
    assert code == 1
    assert "cycles: yolov6_edge.weights.checkpoint -> yolov6_edge.weights.official -> yolov6_edge.weights" \
           ".checkpoint" in out, out
    assert "layers: yolov6_edge/backends/base.py:" in out and "imports yolov6_edge.runtime.detector (runtime)" in out
    assert "torch: yolov6_edge/runtime/images.py:" in out
