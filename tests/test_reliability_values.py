"""Issue 26, values: one validation layer (yolov6_edge/arguments.py) for every numeric option and API argument,
run before any work, the API refusing what the CLI refuses; recipe YAML checked completely, with bounded
parsing, before anything is calibrated."""
import os
import time

import pytest

from reliability_common import model_and_images, one_line_error, one_line_raised, tiny_onnx
from yolov6_edge.cli.main import main
from yolov6_edge.errors import Yolov6EdgeError


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return model_and_images(tmp_path_factory.mktemp("rel_values"))


class _Untouched:
    """An iterable that fails the test when read: the checks must come first."""

    def __iter__(self):
        pytest.fail("the source was read before the arguments were checked")


# ---- the API checks what the CLI checks, before any work --------------------------------------------------------

@pytest.mark.parametrize("kw", [{"timeout": -1}, {"timeout": 0}, {"timeout": float("nan")}, {"timeout": float("inf")},
                                {"timeout": "10"}, {"timeout": 10**9}, {"batch": 0}, {"batch": 2.5}, {"batch": True},
                                {"batch": 10**9}, {"queue": 0}, {"queue": 2000}, {"vid_stride": 0}, {"reconnect": -1},
                                {"reconnect": 10**9}, {"policy": "newest"}, {"decoder": "ffmpeg"},
                                {"keep_frames": "yes"}])
def test_stream_arguments_are_checked_before_a_source_is_opened(work, kw):
    from yolov6_edge.runtime.detector import Detector

    det = Detector(work / "tiny.onnx")
    with pytest.raises(Yolov6EdgeError) as e:
        det.stream(_Untouched(), **kw)  # before: timeout=-1/nan and reconnect=10**9 accepted, "10" a TypeError later
    one_line_raised(e, next(iter(kw)))


@pytest.mark.parametrize("kw", [{"draws": 0}, {"draws": -1}, {"draws": 2.5}, {"draws": 10**9}, {"seed": -1},
                                {"seed": "0"}, {"seed": 1.5}])
def test_compare_refuses_bad_draws_and_seeds_before_evaluating(work, kw, monkeypatch):
    import yolov6_edge.eval.compare as compare

    monkeypatch.setattr(compare, "evaluate", lambda *a, **k: pytest.fail("evaluated before the check"))
    with pytest.raises(Yolov6EdgeError) as e:
        compare.compare([work / "tiny.onnx", work / "tiny.onnx"], work / "imgs", work / "ann.json", **kw)
    one_line_raised(e, next(iter(kw)))


@pytest.mark.parametrize("kw", [{"iters": 0}, {"warmup": -1}, {"batches": [0]}, {"batches": [2.5]}, {"batches": 4},
                                {"seed": -1}, {"batches": [10**7]}])
def test_bench_refuses_bad_counts_before_opening_a_model(kw):
    from yolov6_edge.bench import bench_many

    with pytest.raises(Yolov6EdgeError) as e:
        bench_many(["missing.onnx"], **kw)  # refused before the (missing) model is opened
    one_line_raised(e, "missing.onnx")


@pytest.mark.parametrize("value", [150, float("nan"), -5, 0.9999, 1, 50, "99.9"])
def test_calibration_percentile_out_of_range_is_refused_before_loading(value, tmp_path):
    from yolov6_edge.quant.calibrate import calibrate_to_qdq

    with pytest.raises(Yolov6EdgeError) as e:  # before: 150/nan/-5 accepted; 0.9999 gave an INT8 model of AP 0.003
        calibrate_to_qdq(tmp_path / "missing.pt", tmp_path, tmp_path / "q.onnx", method="percentile",
                         percentile=value)
    msg = one_line_raised(e, "percentile")
    if value == 0.9999:
        assert "99.99" in msg  # the hint: a fraction meant as 99.99 %


def test_calibrated_model_and_calibrate_check_the_percentile_too(work):
    import torch

    from yolov6_edge.quant.calibrate import calibrated_model
    from yolov6_edge.quant.interface import calibrate

    with pytest.raises(Yolov6EdgeError, match="percentile"):
        calibrated_model(torch.nn.Identity(), work / "m.pt", work / "imgs", 64, 2, "percentile", percentile=0.999)
    with pytest.raises(Yolov6EdgeError, match="percentile"):
        calibrate(torch.nn.Identity(), [], "percentile", percentile=float("nan"))


@pytest.mark.parametrize("kw", [{"num": 0}, {"tol": -1}, {"tol": float("nan")}, {"threads": -1},
                                {"backends": "onnxruntime"}, {"backends": ["tensorrt"]}])
def test_compare_runtimes_refuses_bad_values_before_reading_the_model(tmp_path, kw):
    from yolov6_edge.quant.runtime_compare import compare_runtimes

    with pytest.raises(Yolov6EdgeError) as e:
        compare_runtimes(tmp_path / "missing.onnx", tmp_path, **kw)
    one_line_raised(e, tmp_path / "missing.onnx")


def test_detector_threads_beyond_reason_are_refused(work):
    from yolov6_edge.runtime.detector import Detector

    for threads in (-1, 10**6, 2.0):
        with pytest.raises(Yolov6EdgeError) as e:
            Detector(work / "tiny.onnx", threads=threads)
        one_line_raised(e, "threads")


CLI_REFUSALS = [
    (["calibrate", "{m}", "--images", "{i}", "-o", "{o}.onnx", "--percentile", "150"], "--percentile"),
    (["calibrate", "{m}", "--images", "{i}", "-o", "{o}.onnx", "--percentile", "nan"], "--percentile"),
    (["calibrate", "{m}", "--images", "{i}", "-o", "{o}.onnx", "--percentile", "-5"], "--percentile"),
    (["calibrate", "{m}", "--images", "{i}", "-o", "{o}.onnx", "--percentile", "0.9999"], "--percentile"),
    (["calibrate", "{m}", "--images", "{i}", "-o", "{o}.onnx", "--max-ap-drop", "-1"], "--max-ap-drop"),
    (["qat", "{m}", "--images", "{i}", "-o", "{o}.onnx", "--lr", "0"], "--lr"),
    (["qat", "{m}", "--images", "{i}", "-o", "{o}.onnx", "--lr", "nan"], "--lr"),
    (["qat", "{m}", "--images", "{i}", "-o", "{o}.onnx", "--temperature", "-1"], "--temperature"),
    (["qat", "{m}", "--images", "{i}", "-o", "{o}.onnx", "--seed", "-1"], "--seed"),
    (["qat", "{m}", "--images", "{i}", "-o", "{o}.onnx", "--eval-every", "0"], "--eval-every"),
    (["compare", "{x}", "{x}", "--images", "{i}", "--ann", "{o}.json", "--seed", "-1"], "--seed"),
    (["compare", "{x}", "{x}", "--images", "{i}", "--ann", "{o}.json", "--draws", "0"], "--draws"),
    (["compare-runtimes", "{x}", "--images", "{i}", "--num", "0"], "--num"),
    (["compare-runtimes", "{x}", "--images", "{i}", "--tol", "-1"], "--tol"),
    (["compare-runtimes", "{x}", "--images", "{i}", "--threads", "-2"], "--threads"),
    (["bench", "{x}", "--iters", "0"], "--iters"),
    (["bench", "{x}", "--warmup", "-1"], "--warmup"),
    (["predict", "{x}", "{i}", "--timeout", "0"], "--timeout"),
    (["predict", "{x}", "{i}", "--timeout", "nan"], "--timeout"),
    (["predict", "{x}", "{i}", "--reconnect", "-1"], "--reconnect"),
    (["eval", "{x}", "--images", "{i}", "--ann", "{o}.json", "--threads", "-1"], "--threads"),
    (["sensitivity", "{m}", "--images", "{i}", "--ap-top", "-1"], "--ap-top"),
    (["build", "{x}", "-o", "{o}.engine", "--max-batch", "0"], "--max-batch"),
    (["train", "--epochs", "0"], "--epochs"),
    (["train", "--mosaic", "2"], "--mosaic"),
    (["train", "--lr0", "-0.1"], "--lr0"),
    (["demo", "--train-minutes", "-1"], "--train-minutes"),
]


@pytest.mark.parametrize("argv, option", CLI_REFUSALS, ids=[" ".join(a[:1] + [o]) for a, o in CLI_REFUSALS])
def test_cli_refuses_numeric_options_out_of_range(work, tmp_path, capsys, argv, option):
    argv = [a.format(m=work / "m.pt", x=work / "tiny.onnx", i=work / "imgs", o=tmp_path / "out") for a in argv]
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert option in err, err


# ---- recipes: checked completely, with bounded parsing, before any work -----------------------------------------

# 482 bytes: nine levels of nine aliases each, 9^9 (387 million) strings once expanded. Before: a minute and
# 3 GB, then a MemoryError.
LAUGHS = "".join(f"{b}: &{b} [" + ", ".join([f"*{a}"] * 9) + "]\n" for a, b in zip("abcdefgh", "bcdefghi"))
LAUGHS = 'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n' + LAUGHS + "num: 4\n"
LAUGHS = "# a billion laughs ".ljust(482 - len(LAUGHS) - 1, "#") + "\n" + LAUGHS


@pytest.mark.parametrize("text, words", [
    ("qat: 5\n", "'qat' must be a mapping"),
    ("images: 5\n", "images must be a path"),
    ("images: [a, b]\n", "images must be a path"),
    ("num: 2.5\n", "num must be a whole number"),
    ("num: true\n", "num must be a whole number"),
    ("batch: -1\n", "batch must be a whole number"),
    ("threads: 0\n", "threads must be a whole number"),
    ("percentile: 150\n", "percentile"),
    ("percentile: .nan\n", "percentile"),
    ("percentile: 0.9999\n", "99.99"),
    ("max_ap_drop: -1\n", "max_ap_drop"),
    ("skip: 7\n", "skip must be"),
    ("img_size: [320, '320']\n", "img_size"),
    ("img_size: [0, 320]\n", "img_size"),
    ("qat:\n  epochs: 0\n", "qat.epochs"),
    ("qat:\n  lr: -1e-4\n", "qat.lr"),
    ("qat:\n  augment: 3\n", "qat.augment"),
    ("qat:\n  optimizer: lion\n", "qat.optimizer"),
    ("qat:\n  weight_bound: lots\n", "qat.weight_bound"),
    ("qat:\n  seed: -1\n", "qat.seed"),
    ("qat: [1, 2]\n", "'qat' must be a mapping"),
    ("images: !!python/object/apply:os.system [echo hi]\n", "not a valid recipe YAML"),
    (LAUGHS, "aliases"),
    ("a: " + "[" * 40 + "]" * 40 + "\n", "nested deeper"),
])
def test_bad_recipes_are_one_line_before_any_work(tmp_path, text, words):
    from yolov6_edge.quant.recipe import QuantRecipe

    f = tmp_path / "r.yaml"
    f.write_text(text)
    t0 = time.perf_counter()
    with pytest.raises(Yolov6EdgeError) as e:
        QuantRecipe.load(f)
    assert time.perf_counter() - t0 < 2.0
    assert words in one_line_raised(e, f)
    assert text != LAUGHS or len(f.read_bytes()) == 482


def test_recipe_that_is_not_utf8_too_large_or_not_a_file_is_refused(tmp_path):
    from yolov6_edge.quant.recipe import QuantRecipe

    cases = {"latin1.yaml": "images: caf\xe9\n".encode("latin-1"), "huge.yaml": b"# pad\n" * 20_000}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(Yolov6EdgeError) as e:
            QuantRecipe.load(tmp_path / name)
        one_line_raised(e, tmp_path / name)
    os.mkfifo(tmp_path / "fifo.yaml")
    with pytest.raises(Yolov6EdgeError) as e:  # before: open() blocked until something wrote to the fifo
        QuantRecipe.load(tmp_path / "fifo.yaml")
    assert "fifo" in one_line_raised(e, tmp_path / "fifo.yaml")


def test_a_bad_recipe_stops_calibrate_before_the_model_is_loaded(work, tmp_path, capsys, monkeypatch):
    import yolov6_edge.quant.calibrate as calibrate

    monkeypatch.setattr(calibrate, "load_float_model", lambda *a, **k: pytest.fail("loaded before the check"))
    (tmp_path / "r.yaml").write_text(f"images: {work / 'imgs'}\nqat:\n  epochs: many\n")
    assert main(["calibrate", str(work / "m.pt"), "--recipe", str(tmp_path / "r.yaml"), "-o",
                 str(tmp_path / "q.onnx")]) == 2
    assert "qat.epochs" in one_line_error(capsys, tmp_path / "r.yaml")


ONE_LINE_REFUSALS = [
    (["export", "{m}", "-o", "{o}.onnx", "--batch", "1000000"], "{o}.onnx"),  # before: a 4.9 TB zero input
    (["predict", "{m}", "{i}", "--img", "100000", "100000", "-o", "{o}"], "--img"),  # before: a 120 GB letterbox
    (["eval", "{x}", "--images", "{i}", "--ann", "{o}.json", "--img", "0", "320"], "--img"),
]


@pytest.mark.parametrize("argv, name", ONE_LINE_REFUSALS, ids=[" ".join(a[:1] + a[-2:]) for a, _ in ONE_LINE_REFUSALS])
def test_sizes_that_would_allocate_without_bound_are_one_line(work, tmp_path, capsys, argv, name, monkeypatch):
    import yolov6_edge.weights

    monkeypatch.setattr(yolov6_edge.weights, "load_model", lambda *a, **k: pytest.fail("loaded before the check"))
    fmt = dict(m=work / "m.pt", x=work / "tiny.onnx", i=work / "imgs", o=tmp_path / "out")
    assert main([a.format(**fmt) for a in argv]) == 2
    one_line_error(capsys, name.format(**fmt))


def test_detector_img_size_beyond_the_largest_input_is_refused(work):
    from yolov6_edge.runtime.detector import Detector

    with pytest.raises(Yolov6EdgeError) as e:
        Detector(work / "m.pt", img_size=(100000, 100000))
    one_line_raised(e, work / "m.pt")


@pytest.mark.parametrize("kw", [{"epochs": 0}, {"lr": 0.0}, {"lr": float("nan")}, {"temperature": -1.0},
                                {"amax_lr": -1.0}, {"weight_bound": -1.0}, {"seed": -1}, {"score_every": 0},
                                {"optimizer": "lion"}])
def test_qat_library_checks_its_settings_before_any_work(kw):
    from yolov6_edge.quant.qat import qat

    with pytest.raises(Yolov6EdgeError) as e:  # before: epochs=0 returned no history; lr=nan trained NaNs
        qat(None, None, [], **kw)
    one_line_raised(e, next(iter(kw)))


@pytest.mark.parametrize("kw", [{"timeout": -1}, {"timeout": float("nan")}, {"timeout": "soon"}, {"in_flight": 0},
                                {"in_flight": 10**6}])
def test_remote_detector_checks_its_numbers_before_connecting(kw):
    from yolov6_edge.serve.client import RemoteDetector

    with pytest.raises(Yolov6EdgeError) as e:  # before: "soon" a ValueError traceback, -1 / nan accepted
        RemoteDetector("127.0.0.1:9", **kw)
    one_line_raised(e, next(iter(kw)))


def test_bench_refuses_a_batch_whose_input_blob_would_not_fit(tmp_path):
    from yolov6_edge.bench import bench_many

    model = tiny_onnx(tmp_path / "big.onnx", size=(1024, 1024))
    with pytest.raises(Yolov6EdgeError) as e:  # before: a 51 GB random blob was allocated first
        bench_many([model], batches=[4096], iters=1, warmup=0)
    assert "input values" in one_line_raised(e, model)
