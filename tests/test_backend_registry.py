"""A backend is one class plus one registration: a stand-in registered here, in the test, opens through
Detector, bench, `info --system` and the CLI without any change to them; the registry's default choice is a
function of the file; stand-ins without the Protocol's optional members still work (adapted)."""
import ast
import json
from pathlib import Path

import numpy as np
import pytest

from yolov6_edge.backends import base
from yolov6_edge.backends.base import AdaptedBackend, Backend, BackendSpec, as_backend, register, unregister
from yolov6_edge.errors import Yolov6EdgeError
from yolov6_edge.runtime.detector import Detector

ROOT = Path(__file__).resolve().parents[1]


class BoxFileBackend(Backend):
    """A '.box' file: JSON naming the input size, the classes and one box (input pixels) it always finds."""

    name = "boxfile"

    def __init__(self, path, threads: int = 0, flavour: str = "plain"):
        self.path = Path(path)
        spec = json.loads(self.path.read_text())
        self.input_size, self.names, self.box = tuple(spec["input_size"]), spec["names"], spec["box"]
        self.max_batch, self.layout, self.dtype = 2, "boxes_xyxy+scores", np.float32
        self.metadata = {"precision": "fp32", "flavour": flavour}
        self.threads, self.flavour, self.calls = threads, flavour, []

    def __call__(self, blob):
        self.calls.append(blob.shape)
        n = len(blob)
        boxes = np.tile(np.float32(self.box), (n, 1, 1))
        scores = np.zeros((n, 1, len(self.names)), np.float32)
        scores[:, 0, 1] = 0.9
        return boxes, scores


class PickyBackend(BoxFileBackend):
    """Runs the same files; the registry should pick it only for files that ask for it."""

    name = "picky"


def _prefers_picky(path) -> bool:
    return json.loads(Path(path).read_text()).get("runtime") == "picky"


PICKY_MACHINE = {"why_not": "needs a picky machine"}  # what picky's check says here (None: it runs here)


@pytest.fixture
def boxfile(tmp_path):
    register(BackendSpec("boxfile", (".box",), BoxFileBackend, options=("threads", "flavour"),
                         description="test stand-in"))
    register(BackendSpec("picky", (".box",), PickyBackend, prefers=_prefers_picky,
                         check=lambda: PICKY_MACHINE["why_not"], prefers_why="made for picky",
                         fallback_cost="without its speed"))
    path = tmp_path / "m.box"
    path.write_text(json.dumps({"input_size": [64, 64], "names": ["a", "b"], "box": [16, 24, 48, 40]}))
    yield path
    unregister("boxfile")
    unregister("picky")
    assert ".box" not in base.model_suffixes()


def test_a_registered_backend_runs_through_the_detector(boxfile):
    det = Detector(boxfile, threads=3)
    assert det.backend.name == "boxfile" and det.backend.threads == 3
    img = np.zeros((32, 64, 3), np.uint8)  # letterboxed to 64x64: scale 1, 16 rows of padding on top
    d = det([img, img, img])  # max_batch 2: two calls
    assert [s[0] for s in det.backend.calls] == [2, 1]
    assert np.allclose(d[0].boxes, [[16, 8, 48, 24]]) and d[0].names == ["b"]
    assert Detector(boxfile, backend="boxfile", backend_options={"flavour": "x"}).backend.flavour == "x"
    with pytest.raises(Yolov6EdgeError, match="m.box: a .box file runs on boxfile or picky, not onnxruntime"):
        Detector(boxfile, backend="onnxruntime")
    with pytest.raises(Yolov6EdgeError, match=r"options \['inference_precision'\] apply to the openvino backend"):
        Detector(boxfile, backend_options={"inference_precision": "f32"})


def test_the_default_backend_is_a_function_of_the_file(boxfile, tmp_path, monkeypatch):
    picky = tmp_path / "p.box"
    picky.write_text(json.dumps({"input_size": [64, 64], "names": ["a", "b"], "box": [0, 0, 8, 8],
                                 "runtime": "picky"}))
    monkeypatch.setitem(PICKY_MACHINE, "why_not", None)
    assert base.default_backend(boxfile) == "boxfile"  # the first registered for .box
    assert base.choose_backend(picky) == ("picky", None)  # a later one that claims this file
    assert Detector(picky).backend.name == "picky"
    assert Detector(picky, backend="boxfile").backend.name == "boxfile"


def test_a_file_whose_backend_cannot_run_here_opens_on_the_first_with_one_warning(boxfile, tmp_path):
    picky = tmp_path / "p.box"
    picky.write_text(json.dumps({"input_size": [64, 64], "names": ["a", "b"], "box": [0, 0, 8, 8],
                                 "runtime": "picky"}))
    name, note = base.choose_backend(picky)
    assert name == "boxfile"
    assert note == f"{picky}: made for picky, but needs a picky machine; opening it on boxfile: correct, but " \
                   "without its speed"
    with pytest.warns(base.FallbackWarning) as caught:
        assert Detector(picky).backend.name == "boxfile"
    assert [str(w.message) for w in caught] == [note]
    assert base.choose_backend(boxfile) == ("boxfile", None)  # a file nobody claims: nothing to say


def test_bench_and_info_see_a_registered_backend(boxfile):
    from yolov6_edge.bench import bench
    from yolov6_edge.system_info import backends_report

    rep = bench(boxfile, batches=(1,), warmup=0, iters=2, end_to_end=True, threads=2)
    assert (rep["runtime"], rep["backend"], rep["threads"], rep["precision"]) == ("boxfile", "BoxFileBackend", 2,
                                                                                   "fp32")
    assert [(r["mode"], r["batch"]) for r in rep["results"]] == [("model", 1), ("end_to_end", 1)]
    report = backends_report()
    assert report["boxfile"] == "yes" and report["picky"] == "needs a picky machine"
    assert report["onnxruntime"] == "yes"


def test_the_cli_runs_a_registered_backend(boxfile, tmp_path, capsys):
    import cv2

    from yolov6_edge.cli.main import main

    img = tmp_path / "i.png"
    cv2.imwrite(str(img), np.zeros((32, 64, 3), np.uint8))
    assert main(["predict", str(boxfile), str(img), "-o", str(tmp_path / "out"), "--no-draw"]) == 0
    got = json.loads((tmp_path / "out" / "detections.json").read_text())["images"][0]["detections"]
    assert [(d["name"], d["box"]) for d in got] == [("b", [16.0, 8.0, 48.0, 24.0])]


def test_stand_ins_with_the_minimum_interface_are_adapted():
    class Minimal:  # the interface documented before the Protocol: four attributes and a call
        input_size, names, max_batch, layout = (32, 32), ["x"], 4, "boxes_xyxy+scores"

        def __init__(self):
            self.calls = 0

        def __call__(self, blob):
            self.calls += 1
            return np.zeros((len(blob), 1, 4), np.float32), np.zeros((len(blob), 1, 1), np.float32)

    m = Minimal()
    b = as_backend(m)
    assert isinstance(b, AdaptedBackend) and b.wrapped is m
    assert (b.name, b.label, b.fixed_batch, b.letterboxes_on_device, b.metadata, b.threads) == \
        ("Minimal", "Minimal", False, False, {}, None)
    b.stop_spinning()  # declared: a no-op where the stand-in has none
    det = Detector(m)
    det(np.zeros((8, 8, 3), np.uint8))
    assert det.backend.calls == 1  # the stand-in's own attributes are still reachable
    registered = BoxFileBackend.__new__(BoxFileBackend)
    assert as_backend(registered) is registered  # declared backends are used as they are
    with pytest.raises(Yolov6EdgeError, match="not a Backend: it lacks names"):
        AdaptedBackend(type("Half", (), {"input_size": (1, 1), "max_batch": 1, "layout": "end2end",
                                         "__call__": lambda self, b: b})())


def test_the_built_in_backends_are_registered_in_order():
    assert base.backends_for(".onnx") == ("onnxruntime", "openvino")
    assert base.backends_for(".engine") == ("tensorrt",)
    assert base.backends_for(".param") == ("torch",)
    from yolov6_edge.cli.backend_args import onnx_backends

    assert onnx_backends() == ["onnxruntime", "openvino"]
    with pytest.raises(ValueError, match="registered already"):
        register(BackendSpec("onnxruntime", (".onnx",), "x:y"))


CALLERS = ["runtime/detector.py", "runtime/stream.py", "bench.py", "system_info.py", "eval/coco.py",
           "cli/backend_args.py", "cli/bench.py", "cli/evaluate.py", "cli/predict.py", "cli/predict_stream.py"]


@pytest.mark.parametrize("module", CALLERS)
def test_no_caller_probes_a_backend_for_capabilities(module):
    """Capabilities are declared on the Protocol; hasattr/getattr on a backend would bypass that."""
    tree = ast.parse((ROOT / "yolov6_edge" / module).read_text())
    probes = [ast.unparse(n) for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
              and n.func.id in ("hasattr", "getattr") and n.args and "backend" in ast.unparse(n.args[0])]
    assert probes == []
