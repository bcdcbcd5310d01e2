"""`yolov6-edge compare`: AP differences to the first model with a seeded paired bootstrap."""
import json

import numpy as np
import pytest

from yolov6_edge.cli.main import main
from yolov6_edge.errors import Yolov6EdgeError


@pytest.fixture
def two_onnx(tmp_path, random_lite_checkpoint, one_torch_thread):
    import torch

    from yolov6_edge.export.onnx import export_onnx
    from yolov6_edge.weights import load_model

    a = export_onnx(random_lite_checkpoint, tmp_path / "a.onnx", (64, 64), simplify=False)
    model, _ = load_model(random_lite_checkpoint)
    with torch.no_grad():  # another model: the same one with its class predictors perturbed
        for name, m in model.named_modules():
            if isinstance(m, torch.nn.Conv2d) and "cls_preds" in name:
                m.weight.add_(torch.randn_like(m.weight) * 0.3)
    b = export_onnx(model, tmp_path / "b.onnx", (64, 64), simplify=False)
    return a, b


def test_compare_full_sample_ap_equals_eval_and_itself_gives_zero(tmp_path, two_onnx, labelled_images):
    from yolov6_edge.eval.coco import evaluate
    from yolov6_edge.eval.compare import compare

    imgs, ann = labelled_images
    a, b = two_onnx
    rep = compare([a, a, b], imgs, ann, draws=50, seed=1, progress=False)
    for path, row in zip([a, a, b], rep["models"]):
        assert row["AP"] == pytest.approx(evaluate(path, imgs, ann, progress=False)["AP"], abs=0.01)
    same = rep["models"][1]
    assert same["diff"] == 0 and same["diff_se"] == 0 and same["diff_95"] == [0.0, 0.0]
    other = rep["models"][2]
    assert other["diff"] == pytest.approx(other["AP"] - rep["models"][0]["AP"])
    assert other["diff_95"][0] <= other["diff"] + 1e-9 or other["diff_95"][1] >= other["diff"] - 1e-9
    # seeded: the same seed gives the same draws, another seed others
    again = compare([a, b], imgs, ann, draws=50, seed=1, progress=False)
    assert again["models"][1]["diff_se"] == rep["models"][2]["diff_se"]
    assert again["models"][1]["diff_95"] == rep["models"][2]["diff_95"]


def test_cli_compare_writes_json_and_refuses_one_model(tmp_path, two_onnx, labelled_images, capsys):
    imgs, ann = labelled_images
    a, b = two_onnx
    out = tmp_path / "c.json"
    assert main(["compare", str(a), str(b), "--images", str(imgs), "--ann", str(ann), "--draws", "20",
                 "--json", str(out)]) == 0
    rep = json.loads(out.read_text())
    assert [r["backend"] for r in rep["models"]] == ["onnxruntime", "onnxruntime"]
    assert np.isfinite(rep["models"][1]["diff_se"]) and "95% interval" in capsys.readouterr().out
    assert main(["compare", str(a), "--images", str(imgs), "--ann", str(ann)]) == 2
    assert "at least two models" in capsys.readouterr().err


def test_compare_across_runtimes(tmp_path, two_onnx, labelled_images):
    pytest.importorskip("openvino")
    from yolov6_edge.eval.compare import compare

    imgs, ann = labelled_images
    a, _ = two_onnx
    rep = compare([a, a], imgs, ann, backends=["onnxruntime", "openvino"], draws=20, progress=False)
    assert [r["backend"] for r in rep["models"]] == ["onnxruntime", "openvino"]
    assert abs(rep["models"][1]["diff"]) < 0.5  # the same float model on two runtimes
    with pytest.raises(Yolov6EdgeError, match="one per model"):
        compare([a, a, a], imgs, ann, backends=["onnxruntime", "openvino"], draws=2, progress=False)
