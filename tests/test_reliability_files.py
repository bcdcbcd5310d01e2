"""Issue 17, files: no command writes over its own inputs or writes two outputs to one path, output paths are
checked before the work, written files get the umask's mode (an overwritten file keeps its own), nothing
temporary is left after SIGTERM, SIGKILL or a failure halfway through `predict`."""
import json
import os
import shutil
import signal

import pytest

from conftest import shared_path
from reliability_common import one_line_error, run_python, snapshot, tiny_checkpoint, tiny_onnx, write_images
from yolov6_edge.atomic import atomic_path, atomic_write_text
from yolov6_edge.cli.main import main


@pytest.fixture(scope="module")
def onnx_model(tmp_path_factory):
    return tiny_onnx(tmp_path_factory.mktemp("rel_files") / "tiny.onnx")


# ---- lost files ------------------------------------------------------------------------------------------------

def test_import_ncnn_refuses_to_write_over_its_own_weights(tmp_path, capsys):
    src = shared_path("weights", "yolov6lite", "yolov6-lite-s.param")
    shutil.copy(src, tmp_path / "m.param")
    shutil.copy(src.with_suffix(".bin"), tmp_path / "m.bin")
    before = (tmp_path / "m.bin").read_bytes()
    assert main(["import-ncnn", str(tmp_path / "m.param"), "-o", str(tmp_path / "m.bin")]) == 2
    assert "overwrite the input" in one_line_error(capsys, tmp_path / "m.bin")
    assert (tmp_path / "m.bin").read_bytes() == before


def test_predict_into_the_source_folder_refuses_and_keeps_the_images(tmp_path, onnx_model, capsys):
    imgs = tmp_path / "imgs"
    write_images(imgs, ["a.jpg", "b.png"])
    before = snapshot(imgs)
    assert main(["predict", str(onnx_model), str(imgs), "-o", str(imgs)]) == 2
    assert "overwrite the input" in one_line_error(capsys, imgs)
    assert snapshot(imgs) == before


def test_predict_gives_every_result_its_own_file(tmp_path, onnx_model):
    a, b = tmp_path / "a", tmp_path / "b"
    srcs = write_images(a, ["x.jpg"], seed=1) + write_images(b, ["x.jpg", "x_1.jpg", "X.JPG"], seed=2)
    out = tmp_path / "out"
    assert main(["predict", str(onnx_model)] + [str(p) for p in srcs] + ["-o", str(out), "--conf", "0.01"]) == 0
    written = sorted(p.name for p in out.iterdir() if p.suffix.lower() == ".jpg")
    assert len(written) == 4 and len({n.lower() for n in written}) == 4, written
    assert len(json.loads((out / "detections.json").read_text())["images"]) == 4


def test_calibrate_refuses_one_path_for_model_and_cache_before_calibrating(tmp_path, capsys, monkeypatch):
    import yolov6_edge.quant.calibrate as calibrate

    monkeypatch.setattr(calibrate, "calibrate_to_qdq", lambda *a, **k: pytest.fail("calibration started"))
    ckpt = tiny_checkpoint(tmp_path / "m.pt")
    imgs = tmp_path / "imgs"
    write_images(imgs, ["a.jpg"])
    out = tmp_path / "m.onnx"
    assert main(["calibrate", str(ckpt), "--images", str(imgs), "-o", str(out), "--cache", str(out)]) == 2
    assert "both" in one_line_error(capsys, out)
    assert main(["calibrate", str(ckpt), "--images", str(imgs), "-o", str(out), "--cache", str(ckpt)]) == 2
    assert "overwrite the input" in one_line_error(capsys, ckpt)


# ---- outputs checked before the work ---------------------------------------------------------------------------

@pytest.fixture
def no_work(monkeypatch):
    """Make every command's main work fail the test: the checks must stop it first."""
    import yolov6_edge.bench
    import yolov6_edge.eval.coco
    import yolov6_edge.quant.calibrate
    import yolov6_edge.weights

    for mod, name in ((yolov6_edge.weights, "load_model"), (yolov6_edge.quant.calibrate, "calibrate_to_qdq"),
                      (yolov6_edge.eval.coco, "evaluate"), (yolov6_edge.bench, "bench")):
        monkeypatch.setattr(mod, name, lambda *a, **k: pytest.fail("the work started before the output check"))


@pytest.mark.parametrize("case", ["export", "calibrate", "eval --json", "eval --predictions folder", "bench --json",
                                  "predict -o file"])
def test_unwritable_outputs_fail_before_the_work(case, tmp_path, onnx_model, capsys, no_work):
    ckpt = tiny_checkpoint(tmp_path / "m.pt")
    (tmp_path / "afile").write_text("a file, not a folder")
    bad = tmp_path / "afile" / "out"
    imgs = tmp_path / "imgs"
    write_images(imgs, ["a.jpg"])
    ann = tmp_path / "ann.json"
    ann.write_text("{}")
    argv = {"export": ["export", str(ckpt), "-o", f"{bad}.onnx"],
            "calibrate": ["calibrate", str(ckpt), "--images", str(imgs), "-o", f"{bad}.onnx"],
            "eval --json": ["eval", str(onnx_model), "--images", str(imgs), "--ann", str(ann), "--json", f"{bad}.json"],
            "eval --predictions folder": ["eval", str(onnx_model), "--images", str(imgs), "--ann", str(ann),
                                          "--predictions", str(tmp_path)],
            "bench --json": ["bench", str(onnx_model), "--json", f"{bad}.json"],
            "predict -o file": ["predict", str(onnx_model), str(imgs), "-o", str(tmp_path / "afile")]}[case]
    assert main(argv) == 2
    one_line_error(capsys, tmp_path)


# ---- permissions -----------------------------------------------------------------------------------------------

@pytest.fixture
def umask():
    old = os.umask(0o022)
    yield lambda m: os.umask(m)
    os.umask(old)


def _mode(p):
    return p.stat().st_mode & 0o777


def test_written_files_follow_the_umask_and_keep_an_existing_mode(tmp_path, umask):
    umask(0o022)
    atomic_write_text(tmp_path / "a.json", "{}")
    assert _mode(tmp_path / "a.json") == 0o644  # before: 0600 whatever the umask
    umask(0o027)
    atomic_write_text(tmp_path / "b.json", "{}")
    assert _mode(tmp_path / "b.json") == 0o640
    os.chmod(tmp_path / "a.json", 0o664)
    atomic_write_text(tmp_path / "a.json", "[]")
    assert _mode(tmp_path / "a.json") == 0o664 and (tmp_path / "a.json").read_text() == "[]"


def test_cli_outputs_are_readable_by_others_under_umask_022(tmp_path, onnx_model, umask):
    umask(0o022)
    ckpt = tiny_checkpoint(tmp_path / "m.pt")
    assert main(["export", str(ckpt), "-o", str(tmp_path / "m.onnx"), "--img", "64", "64", "--no-simplify"]) == 0
    imgs = tmp_path / "imgs"
    write_images(imgs, ["a.jpg"])
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.jpg").write_bytes(b"old")
    os.chmod(tmp_path / "out" / "a.jpg", 0o666)
    assert main(["predict", str(onnx_model), str(imgs), "-o", str(tmp_path / "out")]) == 0
    assert _mode(tmp_path / "m.pt") == _mode(tmp_path / "m.onnx") == 0o644
    assert _mode(tmp_path / "out" / "detections.json") == 0o644
    assert _mode(tmp_path / "out" / "a.jpg") == 0o666  # replaced, its mode kept


# ---- leftovers -------------------------------------------------------------------------------------------------

def test_sigterm_during_a_write_leaves_no_temporary_file(tmp_path, onnx_model):
    out = tmp_path / "out" / "bench.json"
    res = run_python(f"""
        import os, pathlib, signal, sys, time
        from yolov6_edge.cli.main import main

        real = pathlib.Path.write_text
        def write_then_terminated(self, *a, **k):
            real(self, *a, **k)  # the temporary file is complete on disk; the rename has not happened
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(30)
        pathlib.Path.write_text = write_then_terminated
        sys.exit(main(["bench", {str(onnx_model)!r}, "--batch", "1", "--iters", "1", "--warmup", "0",
                       "--json", {str(out)!r}]))
    """)
    assert res.returncode == 128 + signal.SIGTERM, (res.returncode, res.stderr[-2000:])
    assert "SIGTERM" in res.stderr
    assert sorted(p.name for p in out.parent.iterdir()) == []


def test_staging_of_a_killed_writer_is_removed_by_the_next_write(tmp_path):
    res = run_python(f"""
        import os, signal
        from yolov6_edge.atomic import atomic_path
        with atomic_path({str(tmp_path / 'm.engine')!r}) as tmp:
            tmp.write_bytes(b"half an engine")
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    assert res.returncode == -signal.SIGKILL
    left = [p.name for p in tmp_path.iterdir()]
    assert len(left) == 1 and left[0].startswith(".yolov6-edge-stage."), left
    res = run_python(f"""
        from yolov6_edge.atomic import atomic_write_text
        atomic_write_text({str(tmp_path / 'm.engine.json')!r}, "{{}}")
    """)
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.engine.json"]


def test_atomic_path_and_staged_folder_leave_nothing_on_error(tmp_path):
    from yolov6_edge.atomic import staged_folder

    with pytest.raises(KeyError):
        with atomic_path(tmp_path / "x.onnx") as tmp:
            tmp.write_bytes(b"partial")
            raise KeyError("boom")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.json").write_text("old")
    with pytest.raises(KeyError):
        with staged_folder(tmp_path / "out") as stage:
            (stage / "a.jpg").write_bytes(b"new")
            (stage / "keep.json").write_text("new")
            raise KeyError("boom")
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == ["out", "out/keep.json"]
    assert (tmp_path / "out" / "keep.json").read_text() == "old"


def test_predict_failing_halfway_leaves_the_output_folder_as_it_was(tmp_path, onnx_model, capsys):
    imgs = tmp_path / "imgs"
    write_images(imgs, ["a.jpg", "b.jpg"])
    (imgs / "c.jpg").write_bytes(b"\xff\xd8 not really a jpeg")  # sorted last: fails after a and b
    out = tmp_path / "out"
    out.mkdir()
    (out / "detections.json").write_text('{"from": "an earlier run"}')
    before = snapshot(out)
    assert main(["predict", str(onnx_model), str(imgs), "-o", str(out)]) == 2
    one_line_error(capsys, imgs / "c.jpg")
    assert snapshot(out) == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
