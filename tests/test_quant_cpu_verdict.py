"""`--target cpu` says when INT8 does not pay: each verdict path (INT8 faster and within the AP budget, slower,
over the budget, both), its line and JSON, `--fail-if-not-better`. Timings are made to go one way with a
stand-in for bench_many where a test needs a fixed outcome; the real timer and the real AP run once."""
import json

import numpy as np
import onnx
import pytest

from yolov6_edge.cli.main import main
from yolov6_edge.quant.choose_target import choose_cpu_target, verdict

SIZE = (64, 64)


def test_verdict_rule():
    fast, slow = {"p50_ms": 4.0}, {"p50_ms": 9.0}
    assert verdict(5.0, {"openvino": fast, "onnxruntime": slow}) == {"chosen": "openvino", "verdict": "int8",
                                                                     "reasons": []}
    v = verdict(3.0, {"openvino": fast, "onnxruntime": slow})
    assert v["verdict"] == "float" and v["chosen"] == "openvino" and "faster" in v["reasons"][0]
    # AP: the fast one misses the budget, the slow one is within it but slower than float
    v = verdict(5.0, {"openvino": dict(fast, ap=20.0), "onnxruntime": dict(slow, ap=21.5)}, ap_float=22.0,
                ap_budget=1.0)
    assert v == {"chosen": "onnxruntime", "verdict": "float", "reasons": ["no INT8 file is faster than float"]}
    # both miss the budget: the fastest is still written (one calibration, the same function), and the verdict
    # says why; being slower than float too adds the second reason
    v = verdict(5.0, {"openvino": dict(fast, ap=20.0), "onnxruntime": dict(slow, ap=20.5)}, ap_float=22.0)
    assert v["chosen"] == "openvino" and v["verdict"] == "float" and v["reasons"] == [
        "every INT8 file misses the AP budget (1 AP under float)"]
    v = verdict(3.0, {"openvino": dict(fast, ap=20.0), "onnxruntime": dict(slow, ap=20.5)}, ap_float=22.0)
    assert len(v["reasons"]) == 2 and "not faster than float either" in v["reasons"][1]
    # a budget of 0: any AP loss at all sends the user to float; none keeps INT8
    assert verdict(5.0, {"openvino": dict(fast, ap=21.99)}, ap_float=22.0, ap_budget=0)["verdict"] == "float"
    assert verdict(5.0, {"openvino": dict(fast, ap=22.0)}, ap_float=22.0, ap_budget=0)["verdict"] == "int8"


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory):
    from standin_models import calibration_images, random_fused_lite
    from yolov6_edge.quant.data import iter_batches, list_images
    from yolov6_edge.quant.interface import QuantConfig, calibrate, quantize

    imgs = calibration_images(tmp_path_factory.mktemp("verdict") / "images", mark=False)
    model = random_fused_lite()
    q = quantize(model, QuantConfig(method="max"))
    calibrate(q, lambda: iter_batches(list_images(imgs), list(SIZE), 2), "max")
    return q, imgs


def fake_timer(float_ms, int8_ms, calls=None):
    """bench_many's report with fixed medians: every float model float_ms, every INT8 file int8_ms."""
    def timer(models, batches, warmup, iters, backends, threads, backend_options):
        if calls is not None:
            calls.append(list(backends))
        rows = []
        for m in models:
            p = onnx.load(str(m))
            int8 = any(x.key == "precision" and x.value == "int8-qdq" for x in p.metadata_props)
            rows.append({"results": [{"latency_ms": {"p50": int8_ms if int8 else float_ms}}]})
        return {"models": rows, "host": {"cpu_flags": []}}
    return timer


def test_int8_slower_than_float_gives_the_float_verdict_in_json_metadata_and_line(calibrated, tmp_path):
    pytest.importorskip("openvino")
    q, imgs = calibrated
    calls = []
    out = tmp_path / "cpu.onnx"
    rep = choose_cpu_target(q, out, SIZE, images=imgs, iters=2, check_layers="neck", timer=fake_timer(2.0, 3.0, calls))
    # one interleaved call: float on both runtimes, then the INT8 candidates on theirs
    assert calls == [["onnxruntime", "openvino", "openvino", "onnxruntime"]]
    assert rep["verdict"] == "float" and rep["float_p50_ms"] == 2.0 and rep["int8_p50_ms"] == 3.0
    assert rep["ap_float"] is None and rep["ap_int8"] is None
    assert "deploy the float model" in rep["message"] and "1.50x slower" in rep["message"]
    assert "\n" not in rep["message"]
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    choice = json.loads(meta["yolov6_edge.cpu_choice"])
    assert choice["verdict"] == "float" and choice["reasons"] == ["no INT8 file is faster than float"]
    assert meta["precision"] == "int8-qdq"  # the INT8 file is still written, for whoever wants it

    rep = choose_cpu_target(q, out, SIZE, images=imgs, iters=2, check_layers="neck", timer=fake_timer(3.0, 2.0))
    assert rep["verdict"] == "int8" and "deploy the INT8 file" in rep["message"]


def test_ap_is_scored_on_the_eval_images_and_the_budget_decides(calibrated, labelled_images, tmp_path):
    pytest.importorskip("pycocotools")
    pytest.importorskip("openvino")
    q, imgs = calibrated
    eval_imgs, ann = labelled_images
    kw = dict(images=imgs, iters=2, check_layers="neck", eval_images=eval_imgs, eval_ann=ann,
              timer=fake_timer(3.0, 2.0))
    rep = choose_cpu_target(q, tmp_path / "a.onnx", SIZE, ap_budget=100.0, **kw)
    cands = rep["cpu_choice"]["candidates"]
    assert rep["ap_float"] is not None and all(c["ap"] is not None for c in cands.values())
    assert rep["verdict"] == "int8" and "budget 100" in rep["message"]
    assert rep["ap_int8"] == cands[rep["target"]]["ap"]
    # the same measurements judged with a budget of 0: the rule decides, not the numbers we hoped for
    rep0 = choose_cpu_target(q, tmp_path / "b.onnx", SIZE, ap_budget=0.0, **kw)
    expected = verdict(rep0["float_p50_ms"], rep0["cpu_choice"]["candidates"], rep0["ap_float"], 0.0)
    assert rep0["verdict"] == expected["verdict"] and rep0["target"] == expected["chosen"]


@pytest.mark.slow  # two calibrate runs, each checking both placements layer by layer on their runtimes
def test_cli_fail_if_not_better_exits_1_on_a_float_verdict(random_lite_checkpoint, tmp_path, monkeypatch, capsys):
    pytest.importorskip("openvino")
    import cv2

    import yolov6_edge.bench as bench

    imgs = tmp_path / "images"
    imgs.mkdir()
    rng = np.random.default_rng(1)
    for i in range(2):
        cv2.imwrite(str(imgs / f"{i}.png"), rng.integers(0, 255, (40, 50, 3), dtype=np.uint8))
    args = ["calibrate", str(random_lite_checkpoint), "--images", str(imgs), "--img", "64", "64", "--num", "2",
            "--method", "max", "--target", "cpu", "-o", str(tmp_path / "m.onnx")]
    monkeypatch.setattr(bench, "bench_many", fake_timer(2.0, 4.0))
    assert main(args + ["--fail-if-not-better"]) == 1
    out = capsys.readouterr().out
    assert "deploy the float model on this CPU (no INT8 file is faster than float)" in out
    report = json.loads((tmp_path / "m.quant.json").read_text())
    assert report["verdict"] == "float" and report["float_p50_ms"] == 2.0 and report["int8_p50_ms"] == 4.0
    assert {"ap_float", "ap_int8"} <= set(report)
    monkeypatch.setattr(bench, "bench_many", fake_timer(4.0, 2.0))
    assert main(args + ["--fail-if-not-better"]) == 0
    assert "deploy the INT8 file" in capsys.readouterr().out
    # the flag judges against float on this CPU: only --target cpu does that
    assert main(args[:-4] + ["--target", "openvino", "-o", str(tmp_path / "o.onnx"), "--fail-if-not-better"]) == 2
    assert "needs --target cpu" in capsys.readouterr().err
