"""Choosing what to quantize from AP on labelled images: the float-layer search and `--method auto`.

AP is replaced by a known function of the model (which calibration method, how many float layers), so the
tests check the choices exactly; the real AP of these choices is measured in benchmarks/quant_lite.py.
"""
import json

import numpy as np
import onnx
import pytest

from yolov6_edge.cli.main import main
from yolov6_edge.quant import partial, sensitivity
from yolov6_edge.quant.interface import QuantConfig, float_layers, quant_layers, quantize

FLOAT_AP = 30.0
METHOD_AP = {"max": 20.0, "entropy": 27.0, "percentile": 28.0, "mse": 29.5}  # mse within 1.0 of float


def _fake_ap(model, *args, **kwargs):
    if not quant_layers(model):
        return FLOAT_AP
    _fake_ap.int8_calls += 1
    return METHOD_AP[model.quant_config.method]


def test_float_layer_search_finds_the_fewest_layers_in_few_evaluations(monkeypatch):
    from yolov6_edge.models import build_model

    model = build_model("yolov6lite-s", num_classes=3).eval()
    qmodel = quantize(model, QuantConfig())
    ranking = list(quant_layers(qmodel))
    assert len(ranking) > 50

    def ap(m, *args, **kwargs):  # each float layer halves the remaining drop: 8 -> 4 -> ... within 1 at k=3
        return FLOAT_AP if m is model else FLOAT_AP - 8.0 * 0.5 ** len(float_layers(m))

    monkeypatch.setattr(partial, "eval_ap", ap)
    got = partial.choose_float_layers(model, qmodel, "imgs", "ann.json", 64, 1.0, ranking=ranking)
    assert got["float_layers"] == ranking[:3] and got["met"]
    assert got["int8_ap"] == pytest.approx(FLOAT_AP - 1.0)
    assert float_layers(qmodel) == ranking[:3]  # the model is left as chosen
    assert len(got["tried"]) <= 2 * np.log2(len(ranking))  # doubling then bisection, not a linear scan

    # a drop that no float layer removes (say, from the head's output quantization): every layer ends
    # float and the report says the budget was not met
    monkeypatch.setattr(partial, "eval_ap", lambda m, *a, **k: ap(m) - (0 if m is model else 1.0))
    got = partial.choose_float_layers(model, qmodel, "imgs", "ann.json", 64, 0.5, ranking=ranking)
    assert not got["met"] and got["float_layers"] == ranking


def test_method_auto_keeps_the_best_method_and_its_cache(tmp_path, random_lite_checkpoint, labelled_images,
                                                        monkeypatch, capsys):
    import importlib

    calib = importlib.import_module("yolov6_edge.quant.calibrate")  # the module; quant.calibrate is a function

    monkeypatch.setattr(sensitivity, "eval_ap", _fake_ap)
    monkeypatch.setattr(partial, "eval_ap", _fake_ap)
    seen = []

    def fake_onnx_ap(q, img_size, target, *a):
        seen.append(target)
        return _fake_ap(q), "onnxruntime"

    monkeypatch.setattr(calib, "onnx_ap", fake_onnx_ap)
    imgs, ann = labelled_images
    out = tmp_path / "m_int8.onnx"
    args = ["calibrate", str(random_lite_checkpoint), "--images", str(imgs), "--img", "64", "64", "--num", "4",
            "--batch", "2", "--method", "auto", "--eval-images", str(imgs), "--eval-ann", str(ann),
            "--skip", "auto", "--max-ap-drop", "1.0", "-o", str(out)]
    _fake_ap.int8_calls = 0
    assert main(args) == 0
    assert "picked mse" in capsys.readouterr().out
    # each method scored once as an ONNX of the target, then the partial search scores the fake-quant model
    assert seen == ["tensorrt"] * len(METHOD_AP) and _fake_ap.int8_calls == len(METHOD_AP) + 1
    report = json.loads(out.with_suffix(".quant.json").read_text())
    assert report["method"] == "mse" and report["method_ap"] == METHOD_AP
    assert report["method_ap_runtime"] == "onnxruntime"
    assert report["float_layers"] == [] and report["partial"]["met"]
    caches = {m: tmp_path / f"m_int8.calib.{m}.json" for m in METHOD_AP}
    assert {m: json.loads(p.read_text())["method"] for m, p in caches.items()} == {m: m for m in METHOD_AP}
    assert report["cache"] == str(caches["mse"])

    # the ONNX carries the picked method's amax (entropy, calibrated last, differs): scale = amax / 127
    amax = json.loads(caches["mse"].read_text())["amax"]
    other = json.loads(caches["entropy"].read_text())["amax"]
    m = onnx.load(str(out))
    scales = {float(onnx.numpy_helper.to_array(i)) for i in m.graph.initializer
              if i.name.endswith("scale") and onnx.numpy_helper.to_array(i).size == 1}
    differ = [n for n in amax if not np.isclose(amax[n], other[n], rtol=1e-3) and amax[n] > 0]
    assert differ
    assert all(any(np.isclose(amax[n] / 127, s, rtol=1e-5) for s in scales) for n in differ)
    assert not all(any(np.isclose(other[n] / 127, s, rtol=1e-5) for s in scales) for n in differ)

    # a second run reuses every method's cache
    mtimes = {m: p.stat().st_mtime_ns for m, p in caches.items()}
    assert main(args) == 0
    assert {m: p.stat().st_mtime_ns for m, p in caches.items()} == mtimes

    # QAT from the report starts from the picked method without being told; scored on the labelled images
    # (its own training images here, which it warns about), a tie keeps the start
    qat_out = tmp_path / "m_qat.onnx"
    assert main(["qat", str(random_lite_checkpoint), "--images", str(imgs), "--img", "64", "64", "--num", "4",
                 "--epochs", "1", "--batch", "4", "--skip", str(out.with_suffix(".quant.json")),
                 "--eval-images", str(imgs), "--eval-ann", str(ann), "-o", str(qat_out)]) == 0
    cap = capsys.readouterr()
    assert "QAT trains on these images" in cap.err and "kept epoch 0" in cap.out
    qrep = json.loads(qat_out.with_suffix(".qat.json").read_text())
    assert qrep["method"] == "mse" and qrep["eval_images"] == str(imgs)
    assert qrep["scores"] == [{"epoch": 0, "score": 29.5}, {"epoch": 1, "score": 29.5}, {"kept_epoch": 0}]
    assert json.loads(qat_out.with_suffix(".calib.json").read_text())["method"] == "mse"


def test_method_auto_without_labelled_images_names_the_model(tmp_path, random_lite_checkpoint, labelled_images,
                                                             capsys):
    imgs, _ = labelled_images
    assert main(["calibrate", str(random_lite_checkpoint), "--images", str(imgs), "--img", "64", "64",
                 "--method", "auto", "-o", str(tmp_path / "x.onnx")]) == 2
    err = capsys.readouterr().err.strip()
    assert str(random_lite_checkpoint) in err and "--eval-images" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "x.onnx").exists()


def test_auto_is_a_calibrate_choice_only(capsys):
    from yolov6_edge.cli.main import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["sensitivity", "m.pt", "--images", "d", "--method", "auto"])
    assert "invalid choice" in capsys.readouterr().err
