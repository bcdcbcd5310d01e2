"""Every file opens on the runtime it was placed for (issue 27 part 4): an INT8 file whose Q/DQ placement is for
OpenVINO opens on OpenVINO where it is installed, in Detector, eval, bench, compare and the CLI, and on ONNX
Runtime with one FallbackWarning line where it is not; a tensorrt- or onnxruntime-placed file and a float file
open on ONNX Runtime; a named backend always wins. The placement is read from the file's metadata alone."""
import json
import sys
import warnings

import numpy as np
import onnx
import pytest

from standin_models import TinyContractModel, tiny_contract_onnx
from yolov6_edge.backends import base
from yolov6_edge.backends.base import FallbackWarning
from yolov6_edge.onnx_contract import QDQ_TARGET_KEY, read_file_props
from yolov6_edge.runtime.detector import Detector

SIZE = (64, 64)


@pytest.fixture(scope="module")
def placed(tmp_path_factory):
    """{"openvino"|"tensorrt"|"onnxruntime"|"float": path}: TinyContractModel calibrated once on random images
    and written for each Q/DQ target, and its float export."""
    import torch

    from yolov6_edge.quant.interface import QuantConfig, calibrate, export_qdq, quantize

    d = tmp_path_factory.mktemp("placed")
    torch.manual_seed(0)
    model = TinyContractModel().eval()
    q = quantize(model, QuantConfig(method="max"))
    g = torch.Generator().manual_seed(1)
    calibrate(q, [torch.rand(2, 3, *SIZE, generator=g) for _ in range(2)], "max")
    files = {}
    for target in ("openvino", "tensorrt", "onnxruntime"):
        files[target] = d / f"m_{target}.onnx"
        export_qdq(q, files[target], img_size=SIZE, target=target)
    files["float"] = tiny_contract_onnx(d / "m_float.onnx", img_size=SIZE)
    return files


@pytest.fixture
def no_openvino(monkeypatch):
    """OpenVINO not importable: find_spec (the registry's availability check) and import both see None."""
    monkeypatch.setitem(sys.modules, "openvino", None)


def _openvino():
    return pytest.importorskip("openvino")


def _opened(make):
    """(what make() returned, the FallbackWarnings it gave)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = make()
    return out, [w for w in caught if issubclass(w.category, FallbackWarning)]


def test_the_placement_is_read_from_the_metadata_without_onnx(placed, tmp_path):
    for target, path in placed.items():
        full = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
        assert read_file_props(path) == full and full  # the same props onnx reads, in the same order
        assert full.get(QDQ_TARGET_KEY) == (None if target == "float" else target)
    # not an ONNX file, an empty one, a truncated one, a folder: no props, no error (opening it says what is wrong)
    (tmp_path / "text.onnx").write_text("not a model\n")
    (tmp_path / "empty.onnx").write_bytes(b"")
    (tmp_path / "cut.onnx").write_bytes(placed["openvino"].read_bytes()[:-7])
    for bad in ("text.onnx", "empty.onnx", "cut.onnx", "missing.onnx"):
        assert read_file_props(tmp_path / bad) == {}
    assert read_file_props(tmp_path) == {}


def test_the_weights_are_not_read(placed, monkeypatch):
    """The graph (with its weights) is skipped with a seek: the bytes read are a small part of the file."""
    import builtins

    read = []
    real_open = builtins.open

    class Counting:
        def __init__(self, f):
            self.f = f

        def read(self, n=-1):
            data = self.f.read(n)
            read.append(len(data))
            return data

        def __getattr__(self, name):
            return getattr(self.f, name)

        def __enter__(self):
            return self

        def __exit__(self, *a):
            self.f.close()

    monkeypatch.setattr(builtins, "open", lambda *a, **k: Counting(real_open(*a, **k)))
    props = read_file_props(placed["openvino"])
    assert props[QDQ_TARGET_KEY] == "openvino"
    metadata = sum(len(k) + len(v) for k, v in props.items())
    assert sum(read) < metadata + 200 < placed["openvino"].stat().st_size / 2


def test_the_default_backend_follows_the_placement(placed):
    _openvino()
    assert base.default_backend(placed["openvino"]) == "openvino"
    for other in ("tensorrt", "onnxruntime", "float"):
        assert base.default_backend(placed[other]) == "onnxruntime"


def test_the_detector_opens_each_file_on_its_runtime_and_a_named_backend_wins(placed):
    _openvino()
    det, fallbacks = _opened(lambda: Detector(placed["openvino"]))
    assert det.backend.name == "openvino" and fallbacks == []
    assert det.backend.precision == "int8-qdq" and det.backend.metadata[QDQ_TARGET_KEY] == "openvino"
    for other in ("tensorrt", "onnxruntime", "float"):
        assert Detector(placed[other]).backend.name == "onnxruntime"
    assert Detector(placed["openvino"], backend="onnxruntime").backend.name == "onnxruntime"
    assert Detector(placed["float"], backend="openvino").backend.name == "openvino"
    # the default's options: inference_precision is OpenVINO's, and the placed file's default takes it
    det = Detector(placed["openvino"], backend_options={"inference_precision": "f32"})
    assert det.backend.inference_precision == "f32"
    # the same detections either way: the placement is a function ORT computes right, only slower
    img = np.random.default_rng(0).integers(0, 256, (60, 80, 3), dtype=np.uint8)
    a, b = Detector(placed["openvino"], conf=0.05)([img])[0], Detector(placed["openvino"], conf=0.05,
                                                                         backend="onnxruntime")([img])[0]
    assert len(a.boxes) == len(b.boxes) > 0
    np.testing.assert_allclose(a.boxes, b.boxes, atol=0.5)


def test_without_openvino_it_opens_on_onnxruntime_with_one_warning_line(placed, no_openvino):
    assert base.availability()["openvino"] is not None
    det, fallbacks = _opened(lambda: Detector(placed["openvino"]))
    assert det.backend.name == "onnxruntime"
    assert len(fallbacks) == 1
    line = str(fallbacks[0].message)
    assert "\n" not in line and line.startswith(str(placed["openvino"]))
    assert "OpenVINO" in line and "onnxruntime" in line and "without INT8 speed" in line
    assert "pip install 'yolov6-edge[openvino]'" in line
    # per open, not per frame
    _, fallbacks = _opened(lambda: [det([np.zeros((64, 64, 3), np.uint8)]) for _ in range(3)])
    assert fallbacks == []
    # nothing to say for the files placed for ONNX Runtime or TensorRT, a float file, or a named backend
    for other in ("tensorrt", "onnxruntime", "float"):
        assert _opened(lambda p=placed[other]: Detector(p))[1] == []
    assert _opened(lambda: Detector(placed["openvino"], backend="onnxruntime"))[1] == []


@pytest.fixture
def labelled(tmp_path):
    """(image folder, COCO annotations): one 64x64 image, one box, the tiny model's three classes."""
    import cv2

    imgs = tmp_path / "images"
    imgs.mkdir()
    cv2.imwrite(str(imgs / "a.png"), np.full((64, 64, 3), 200, np.uint8))
    ann = tmp_path / "ann.json"
    ann.write_text(json.dumps({"images": [{"id": 1, "file_name": "a.png", "height": 64, "width": 64}],
                               "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [8, 8, 20, 20],
                                                "area": 400, "iscrowd": 0}],
                               "categories": [{"id": i + 1, "name": f"c{i}"} for i in range(3)]}))
    return imgs, ann


def test_eval_and_compare_open_the_placed_file_on_its_runtime(placed, labelled):
    from yolov6_edge.eval.compare import compare
    from yolov6_edge.eval.coco import evaluate

    _openvino()
    imgs, ann = labelled
    stats = evaluate(placed["openvino"], imgs, ann, progress=False)
    assert stats["backend"] == "openvino"
    assert evaluate(placed["openvino"], imgs, ann, progress=False, backend="onnxruntime")["backend"] == "onnxruntime"
    assert evaluate(placed["tensorrt"], imgs, ann, progress=False)["backend"] == "onnxruntime"
    report = compare([placed["float"], placed["openvino"]], imgs, ann, draws=10, progress=False)
    assert [r["backend"] for r in report["models"]] == ["onnxruntime", "openvino"]


def test_bench_opens_the_placed_file_on_its_runtime(placed, no_openvino):
    from yolov6_edge.bench import bench_many

    rep, fallbacks = _opened(lambda: bench_many([placed["openvino"], placed["float"]], batches=(1,), warmup=0,
                                                iters=1))
    assert [m["runtime"] for m in rep["models"]] == ["onnxruntime", "onnxruntime"]
    assert len(fallbacks) == 1 and str(placed["openvino"]) in str(fallbacks[0].message)


def test_bench_with_openvino(placed):
    from yolov6_edge.bench import bench_many

    _openvino()
    rep = bench_many([placed["openvino"], placed["openvino"]], batches=(1,), warmup=0, iters=1,
                     backends=[None, "onnxruntime"], backend_options={"inference_precision": "f32"})
    assert [m["runtime"] for m in rep["models"]] == ["openvino", "onnxruntime"]


def test_the_cli_prints_one_warning_line_and_runs_on_onnxruntime(placed, no_openvino, tmp_path, capsys):
    from yolov6_edge.cli.main import main

    out = tmp_path / "bench.json"
    assert main(["bench", str(placed["openvino"]), "--batch", "1", "--warmup", "0", "--iters", "1",
                 "--json", str(out)]) == 0
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if str(placed["openvino"]) in ln]
    assert len(lines) == 1 and "warning:" in lines[0] and "without INT8 speed" in lines[0], err
    assert json.loads(out.read_text())["models"][0]["runtime"] == "onnxruntime"


def test_the_cli_eval_names_the_runtime_the_file_opened_on(placed, labelled, capsys):
    from yolov6_edge.cli.main import main

    _openvino()
    imgs, ann = labelled
    assert main(["eval", str(placed["openvino"]), "--images", str(imgs), "--ann", str(ann)]) == 0
    assert f"{placed['openvino']} (openvino)" in capsys.readouterr().out
    assert main(["eval", str(placed["openvino"]), "--images", str(imgs), "--ann", str(ann), "--backend",
                 "onnxruntime"]) == 0
    assert f"{placed['openvino']} (onnxruntime)" in capsys.readouterr().out


def test_the_cli_predict_warns_once_without_openvino(placed, no_openvino, tmp_path, capsys):
    import cv2

    from yolov6_edge.cli.main import main

    for i in range(3):
        cv2.imwrite(str(tmp_path / f"{i}.png"), np.full((48, 64, 3), 90 * i, np.uint8))
    assert main(["predict", str(placed["openvino"]), *(str(tmp_path / f"{i}.png") for i in range(3)), "-o",
                 str(tmp_path / "out"), "--no-draw"]) == 0
    err = capsys.readouterr().err
    assert len([ln for ln in err.splitlines() if "without INT8 speed" in ln]) == 1, err


def test_the_cli_takes_inference_precision_for_a_file_that_opens_on_openvino(placed, tmp_path, capsys):
    from yolov6_edge.cli.main import main

    _openvino()
    out = tmp_path / "bench.json"
    assert main(["bench", str(placed["openvino"]), "--batch", "1", "--warmup", "0", "--iters", "1",
                 "--inference-precision", "f32", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["models"][0]["runtime"] == "openvino"
    # a file that opens on ONNX Runtime: the option has nothing to apply to
    assert main(["bench", str(placed["float"]), "--batch", "1", "--warmup", "0", "--iters", "1",
                 "--inference-precision", "f32"]) == 2
    assert "openvino" in capsys.readouterr().err


def _served_args(model_dir):
    """The `args` Triton hands a Python model's initialize(): its configuration as JSON (the parameters read
    back from the config.pbtxt export-triton wrote), the repository folder and the version."""
    import re

    text = (model_dir / "config.pbtxt").read_text()
    params = {k: {"string_value": json.loads(f'"{v}"')}
              for k, v in re.findall(r'key: "([^"]+)"\s*value \{\s*string_value: "((?:[^"\\]|\\.)*)"', text)}
    assert params["model_file"]["string_value"] == "model.onnx"
    return {"model_config": json.dumps({"max_batch_size": 16, "parameters": params}),
            "model_repository": str(model_dir), "model_version": "1"}


@pytest.fixture
def served(placed, tmp_path, monkeypatch):
    """The python flavour's PipelineModel for the OpenVINO-placed file, initialized as Triton would (with a
    stand-in for triton_python_backend_utils, which initialize only stores)."""
    import types

    from yolov6_edge.serve.models.pipeline import PipelineModel
    from yolov6_edge.serve.repository import export_triton

    export_triton(placed["openvino"], tmp_path / "repo")
    monkeypatch.setitem(sys.modules, "triton_python_backend_utils", types.ModuleType("triton_python_backend_utils"))

    def start():
        model = PipelineModel()
        model.initialize(_served_args(tmp_path / "repo" / "yolov6"))
        return model

    return start


def test_the_python_flavour_serves_the_placed_file_on_its_runtime(served):
    _openvino()
    model, fallbacks = _opened(served)
    assert model.detector.backend.name == "openvino" and fallbacks == []


def test_the_python_flavour_falls_back_with_one_warning(served, no_openvino):
    model, fallbacks = _opened(served)
    assert model.detector.backend.name == "onnxruntime" and len(fallbacks) == 1


def test_export_triton_says_when_an_ensemble_serves_the_placed_file_without_int8_speed(placed, tmp_path):
    from yolov6_edge.serve.repository import ExportSettings, export_triton

    def export(model, flavour):
        return _opened(lambda: export_triton(model, tmp_path / flavour / model.stem, ExportSettings(flavour=flavour)))

    _, fallbacks = export(placed["openvino"], "onnxruntime")
    assert len(fallbacks) == 1 and "--model-backend openvino" in str(fallbacks[0].message)
    assert export(placed["openvino"], "openvino")[1] == []
    assert export(placed["tensorrt"], "onnxruntime")[1] == []
