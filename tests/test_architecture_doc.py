"""docs/ARCHITECTURE.md describes the tree as it is: every module of the package, the layer order that
scripts/import_graph.py enforces, the real Detector signature and stages, and the Backend Protocol's members."""
import importlib.util
import inspect
import re
from pathlib import Path

from yolov6_edge.backends.base import Backend
from yolov6_edge.runtime.detector import Detector

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
FLAT = " ".join(DOC.split())  # whitespace-insensitive: the page wraps its lines
_spec = importlib.util.spec_from_file_location("import_graph", ROOT / "scripts" / "import_graph.py")
import_graph = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(import_graph)


def named(name: str) -> bool:
    # a whole path: `runtime.py` must not count as named by `backends/onnxruntime/runtime.py`
    return re.search(r"(?<![\w/.])" + re.escape(name) + r"(?![\w])", DOC) is not None


def doc_names(package: Path) -> list:
    """How the page names each module: its path under yolov6_edge/, a package by its folder (`runtime/`)."""
    out = []
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package)
        if path.name == "__init__.py" and rel.parent != Path("."):
            out.append(rel.parent.as_posix() + "/")
        else:
            out.append(rel.as_posix())
    return out


def test_every_module_of_the_package_is_named():
    names = doc_names(ROOT / "yolov6_edge")
    assert len(names) > 140 and "runtime/detector.py" in names and "serve/models/" in names
    missing = [n for n in names if not named(n)]
    assert not missing, f"docs/ARCHITECTURE.md does not name: {missing}"


def test_a_module_missing_from_the_page_is_noticed():
    assert named("runtime/detector.py") and not named("runtime/teleport.py")
    assert not named("onnxruntime/runtime.py")  # only as part of backends/onnxruntime/runtime.py


def test_the_layer_order_is_the_one_the_import_check_enforces():
    order = " > ".join(name for name, _ in import_graph.LAYERS)
    assert order in FLAT, order


def test_the_detector_signature_and_stages_are_the_real_ones():
    params = list(inspect.signature(Detector.__init__).parameters.values())[1:]
    text = "Detector(" + ", ".join(p.name if p.default is p.empty else f"{p.name}={p.default!r}"
                                   for p in params) + ")"
    assert text in FLAT, text
    for stage, shown in (("preprocess", "preprocess(images) -> Prepared"), ("infer", "infer(prepared) -> Inferred"),
                         ("postprocess", "postprocess(inferred, sources=None, conf=None, iou=None, max_det=None)")):
        args = shown[shown.index("(") + 1:shown.index(")")]
        real = ", ".join(p.name if p.default is p.empty else f"{p.name}={p.default!r}"
                         for p in list(inspect.signature(getattr(Detector, stage)).parameters.values())[1:])
        assert args == real, (stage, real)
        assert shown in FLAT, shown


def test_the_backend_protocol_members_are_all_named():
    section = FLAT[FLAT.index("### The Backend Protocol"):FLAT.index("### The registry")]
    # the declared attributes, and the methods and properties the Protocol itself defines
    members = set(Backend.__annotations__) | {"__call__"} | {m for m, v in vars(Backend).items()
                                                             if (not m.startswith("_") and callable(v)) or
                                                             isinstance(v, property)}
    assert {"name", "metadata", "fixed_batch", "label", "infer_images", "stop_spinning", "close"} <= members
    missing = [m for m in sorted(members) if f"`{m}" not in section]
    assert not missing, f"the Protocol section does not name {missing}"
