"""CLI smoke tests through main([...]): export, info, predict, eval, demo on a small random model."""
import json

import pytest

from yolov6_edge.cli.main import main
from yolov6_edge.datasets.synthetic import class_names, generate


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    import torch

    from yolov6_edge.models.lite import build_lite
    from yolov6_edge.weights.checkpoint import save_checkpoint

    d = tmp_path_factory.mktemp("cli")
    torch.manual_seed(0)
    save_checkpoint(build_lite("yolov6lite-s", num_classes=5, names=class_names()), d / "lite.pt")
    ann = generate(d / "data", num_images=4, size=(96, 128))
    assert main(["export", str(d / "lite.pt"), "-o", str(d / "lite.onnx"), "--img", "64", "128"]) == 0
    return d, ann


def test_export_writes_onnx_with_the_requested_size(files):
    import onnx

    d, _ = files
    meta = {p.key: p.value for p in onnx.load(str(d / "lite.onnx")).metadata_props}
    assert json.loads(meta["input_size"]) == [64, 128] and json.loads(meta["names"]) == class_names()


def test_info_on_onnx_and_checkpoint(files, capsys):
    d, _ = files
    assert main(["info", str(d / "lite.onnx"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["ours"] and info["model_name"] == "yolov6lite-s" and info["num_classes"] == 5
    assert info["layout"] == "boxes_xyxy+scores" and info["precision"] == "fp32"
    assert set(info["outputs"]) == {"boxes", "scores"}
    assert main(["info", str(d / "lite.pt")]) == 0
    out = capsys.readouterr().out
    assert "yolov6lite-s" in out and "parameters" in out


def test_predict_writes_images_and_json(files):
    d, ann = files
    out = d / "pred"
    assert main(["predict", str(d / "lite.onnx"), str(ann.parent / "images"), "-o", str(out), "--conf", "0.001"]) == 0
    data = json.loads((out / "detections.json").read_text())
    assert len(data["images"]) == 4
    assert len(list(out.glob("*.jpg"))) == 4
    assert not list(out.glob(".*.tmp"))


def test_eval_prints_table_and_writes_json(files, capsys):
    d, ann = files
    assert main(["eval", str(d / "lite.onnx"), "--images", str(ann.parent / "images"), "--ann", str(ann),
                 "--json", str(d / "ap.json")]) == 0
    assert "AP50" in capsys.readouterr().out
    stats = json.loads((d / "ap.json").read_text())
    assert stats["n_images"] == 4 and 0.0 <= stats["AP"] <= 100.0


def test_demo_with_given_weights(files, capsys):
    d, _ = files
    out = d / "demo"
    assert main(["demo", "--weights", str(d / "lite.pt"), "-o", str(out), "--img", "64", "64", "--runs", "3",
                 "--images", "2", "--no-eval"]) == 0
    text = capsys.readouterr().out
    assert "latency" in text and "p50" in text
    summary = json.loads((out / "summary.json").read_text())
    assert summary["input_size"] == [64, 64] and len(summary["images"]) == 2
    assert len(list(out.glob("*_det.jpg"))) == 2 and (out / "yolov6lite-s.onnx").is_file()


def test_demo_without_shared_uses_random_yolov6n_and_synthetic_images(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("YOLOV6_EDGE_SHARED", str(tmp_path / "no_shared_here"))
    out = tmp_path / "demo"
    assert main(["demo", "-o", str(out), "--img", "64", "64", "--runs", "2", "--images", "2",
                 "--train-minutes", "0"]) == 0
    text = capsys.readouterr().out
    assert "RANDOM weights" in text and "synthetic_0.jpg" in text and "float AP" not in text
    assert (out / "yolov6n.onnx").is_file() and len(list(out.glob("synthetic_*_det.jpg"))) == 2


@pytest.mark.slow
def test_demo_without_shared_trains_on_synthetic_shapes_first(tmp_path, monkeypatch, capsys):
    # A few seconds of training cannot make a good model; this checks the path: train, load, export, detect.
    monkeypatch.setenv("YOLOV6_EDGE_SHARED", str(tmp_path / "no_shared_here"))
    monkeypatch.setenv("HOME", str(tmp_path))  # the synthetic set is generated under ~/.cache
    out = tmp_path / "demo"
    assert main(["demo", "-o", str(out), "--img", "64", "64", "--runs", "2", "--images", "2",
                 "--train-minutes", "0.05"]) == 0
    text = capsys.readouterr().out
    assert "trained 0.05 min on synthetic shapes" in text and "RANDOM" not in text
    assert (out / "train" / "last.pt").is_file() and (out / "yolov6lite-s.onnx").is_file()
