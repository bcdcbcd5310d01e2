"""`yolov6-edge export-triton`, `serve` and `predict --server` as a user runs them (subprocesses, 127.0.0.1 only,
bounded waits), and the repository files of the flavours that cannot run here."""
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from serve_common import CONF, IOU, MAX_DET, assert_same, images, ports, require_serve, server_processes, tiny_onnx

require_serve()

from yolov6_edge.runtime.detector import Detector  # noqa: E402
from yolov6_edge.serve.client import RemoteDetector  # noqa: E402

CLI = [sys.executable, "-m", "yolov6_edge.cli.main"]


@pytest.fixture(scope="module")
def onnx_path(tmp_path_factory):
    return tiny_onnx(tmp_path_factory.mktemp("cli"))


def _serve(args, env=None):
    return subprocess.Popen(CLI + ["serve", *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, start_new_session=True)


def _wait_line(proc, timeout=120.0) -> str:
    """The first stdout line (the ready line), or fail with what the command said."""
    got = []
    reader = threading.Thread(target=lambda: got.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if not got or not got[0]:
        proc.kill()
        raise AssertionError(f"no ready line; stderr: {proc.stderr.read()[-2000:]}")
    return got[0]


def _finish(proc, timeout=60.0):
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        raise AssertionError(f"the serve command did not stop: {err[-2000:]}")
    return proc.returncode, out, err


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_prints_ready_and_stops_cleanly_finishing_requests_in_flight(onnx_path, sig):
    p = ports()
    # a long batching window keeps a lone request waiting in the server when the signal arrives
    proc = _serve([onnx_path, "--name", "tiny", "--max-batch", "8", "--queue-delay-us", "1500000",
                   "--http-port", p["http_port"], "--grpc-port", p["grpc_port"], "--metrics-port",
                   p["metrics_port"], "--exit-timeout", "20"])
    try:
        line = _wait_line(proc)
        assert line.startswith("yolov6-edge serve: ready: tiny at grpc 127.0.0.1:") and "metrics http://" in line
        img = images(1, seed=8)[0]
        det = RemoteDetector(f"127.0.0.1:{p['grpc_port']}", model="tiny", timeout=60)
        result = {}
        t = threading.Thread(target=lambda: result.update(res=det(img)))
        t.start()
        time.sleep(0.5)  # the request is now waiting in the batcher
        proc.send_signal(sig)
        t.join(timeout=60)
        det.close()
        code, out, err = _finish(proc)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert code == 0, err
    assert "stopped (requests in flight were finished)" in out
    assert_same(result["res"], Detector(onnx_path)(img))  # the request in flight got its answer
    assert not server_processes(p["grpc_port"])


def test_serve_port_in_use_is_one_line_and_leaves_nothing(onnx_path):
    p = ports()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", p["grpc_port"]))
        taken.listen(1)
        proc = _serve([onnx_path, "--http-port", p["http_port"], "--grpc-port", p["grpc_port"],
                       "--metrics-port", p["metrics_port"]])
        code, out, err = _finish(proc)
    assert code == 2 and out == ""
    assert err.strip().count("\n") == 0 and f"127.0.0.1:{p['grpc_port']}: the grpc port is in use" in err
    assert not server_processes(p["http_port"])


def test_serve_model_that_does_not_load_is_one_line_and_leaves_nothing(onnx_path, tmp_path):
    from yolov6_edge.serve.repository import ExportSettings, export_triton

    repo = tmp_path / "repo"
    export_triton(onnx_path, repo, ExportSettings(name="tiny"))
    (repo / "tiny" / "1" / "model.onnx").write_bytes(b"not an onnx file")
    p = ports()
    proc = _serve([repo, "--http-port", p["http_port"], "--grpc-port", p["grpc_port"],
                   "--metrics-port", p["metrics_port"]])
    code, out, err = _finish(proc, timeout=120)
    assert code == 2, err
    line = err.strip()
    assert "\n" not in line and "tritonserver exited" in line and "tiny" in line and "not a readable ONNX" in line
    assert not server_processes(p["grpc_port"])


def test_serve_without_the_extra_says_what_to_install(onnx_path, tmp_path):
    # a Python that cannot find nvidia-pytriton, and no tritonserver on PATH
    blocker = ("import importlib.util, sys\n"
               "find = importlib.util.find_spec\n"
               "importlib.util.find_spec = lambda name, *a: None if name.split('.')[0] == 'pytriton' else "
               "find(name, *a)\n"
               "from yolov6_edge.cli.main import main\n"
               "sys.exit(main(sys.argv[1:]))\n")
    env = dict(os.environ, PATH="/usr/bin:/bin")
    env.pop("YOLOV6_EDGE_TRITONSERVER", None)
    p = ports()
    run = subprocess.run([sys.executable, "-c", blocker, "serve", str(onnx_path), "--grpc-port", str(p["grpc_port"])],
                         capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 2
    assert run.stderr.strip().count("\n") == 0 and "pip install 'yolov6-edge[serve]'" in run.stderr


def test_predict_with_server_writes_what_local_predict_writes(onnx_path, tmp_path):
    from yolov6_edge.serve.repository import ExportSettings, export_triton
    from yolov6_edge.serve.server import TritonServer

    files = []
    for i, img in enumerate(images(3, seed=9)):
        files.append(tmp_path / f"{i}.png")
        cv2.imwrite(str(files[-1]), img)
    repo = tmp_path / "repo"
    export_triton(onnx_path, repo, ExportSettings(name="tiny", conf=CONF, iou=IOU, max_det=MAX_DET))
    with TritonServer(repo, **ports(), exit_timeout=5) as server:
        remote = subprocess.run(CLI + ["predict", "tiny", *map(str, files), "--server", server.grpc_url, "-o",
                                       str(tmp_path / "remote"), "--no-draw"], capture_output=True, text=True,
                                timeout=120)
    local = subprocess.run(CLI + ["predict", str(onnx_path), *map(str, files), "-o", str(tmp_path / "local"),
                                  "--no-draw", "--conf", str(CONF), "--iou", str(IOU), "--max-det", str(MAX_DET)],
                           capture_output=True, text=True, timeout=120)
    assert remote.returncode == 0 and local.returncode == 0, remote.stderr + local.stderr
    a = json.loads((tmp_path / "remote" / "detections.json").read_text())["images"]
    b = json.loads((tmp_path / "local" / "detections.json").read_text())["images"]
    assert [r["source"] for r in a] == [r["source"] for r in b]
    for ra, rb in zip(a, b):
        assert ra["image_shape"] == rb["image_shape"] and len(ra["detections"]) == len(rb["detections"]) > 0
        for da, db in zip(ra["detections"], rb["detections"]):
            assert da["class_id"] == db["class_id"] and da["name"] == db["name"]
            np.testing.assert_allclose(da["box"], db["box"], atol=1e-2)


def test_repository_flavours_differ_only_in_the_network_step(onnx_path, tmp_path):
    """The deployed ensembles (onnxruntime, openvino) are the tested one (python-ensemble) but for the network
    step's backend: same pre/post/ensemble files, and a network config that names Triton's backend and file."""
    from yolov6_edge.serve.repository import ExportSettings, export_triton

    repos = {}
    for flavour in ("python-ensemble", "onnxruntime", "openvino"):
        repos[flavour] = tmp_path / flavour
        run = subprocess.run(CLI + ["export-triton", str(onnx_path), "-o", str(repos[flavour]), "--model-backend",
                                    flavour, "--max-batch", "8"], capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr

    def files(root):
        return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}

    tested = files(repos["python-ensemble"])
    for flavour, (key, value, filename) in (("onnxruntime", ("platform", "onnxruntime_onnx", "model.onnx")),
                                           ("openvino", ("backend", "openvino", "model.onnx"))):
        other = files(repos[flavour])
        same = {k for k in tested if not k.startswith("yolov6_net/")}
        for k in same:
            if k == "yolov6/config.pbtxt":  # the ensemble says which flavour it is, and nothing else differs
                assert tested[k].replace(b'"python-ensemble"', f'"{flavour}"'.encode()) == other[k]
            else:
                assert tested[k] == other[k], k
        net = other["yolov6_net/config.pbtxt"].decode()
        assert f'{key}: "{value}"' in net and f'default_model_filename: "{filename}"' in net
        assert other[f"yolov6_net/1/{filename}"] == onnx_path.read_bytes()
        assert "yolov6_net/1/model.py" not in other
        strip = [ln for ln in tested["yolov6_net/config.pbtxt"].decode().splitlines()
                 if 'backend: "python"' not in ln]
        # everything of the tested network config but its backend line (and its stand-in's parameters) is there
        head = strip[:strip.index("parameters [")] if "parameters [" in strip else strip
        assert all(ln in net.splitlines() for ln in head), (head, net)
    # the tensorrt flavour needs an engine built on the serving GPU: one line saying so
    run = subprocess.run(CLI + ["export-triton", str(onnx_path), "-o", str(tmp_path / "trt"), "--model-backend",
                                "tensorrt"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "built on the serving GPU" in run.stderr
    # nothing of the user's is overwritten
    again = subprocess.run(CLI + ["export-triton", str(onnx_path), "-o", str(repos["openvino"])],
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 2 and "already exists" in again.stderr
    export_triton(onnx_path, repos["openvino"], ExportSettings(name="other"))  # a second model beside them
    assert (repos["openvino"] / "other" / "config.pbtxt").is_file()
    assert Path(repos["openvino"] / "yolov6_net" / "1" / "model.onnx").is_file()
