"""Serving on the real NVIDIA Triton Inference Server (the [serve] extra's tritonserver, on 127.0.0.1 only).

One server for the module serves two models from one repository written by export-triton: `tiny` (the python
flavour) and `tiny_ens` (the ensemble with its network step on the Python backend: the nvidia-pytriton wheel
has no ONNX Runtime / OpenVINO / TensorRT backend). Every served result is compared with the local Detector on
the same ONNX file. Not run here: the ensemble with Triton's onnxruntime_onnx, openvino or tensorrt_plan
network step (test_repository_flavours_differ_only_in_the_network_step checks their files).
"""
import socket
import threading

import cv2
import numpy as np
import pytest

from serve_common import (CONF, IOU, MAX_DET, assert_no_server_left, assert_same, images, ports, require_serve,
                          tiny_onnx)

require_serve()

from yolov6_edge.errors import Yolov6EdgeError  # noqa: E402
from yolov6_edge.runtime.detector import Detector  # noqa: E402
from yolov6_edge.serve import metrics  # noqa: E402
from yolov6_edge.serve.client import RemoteDetector  # noqa: E402
from yolov6_edge.serve.repository import ExportSettings, export_triton  # noqa: E402
from yolov6_edge.serve.server import TritonServer  # noqa: E402

MODELS = ("tiny", "tiny_ens")


@pytest.fixture(scope="module")
def onnx_path(tmp_path_factory):
    return tiny_onnx(tmp_path_factory.mktemp("serve"))


@pytest.fixture(scope="module")
def served(onnx_path, tmp_path_factory):
    repo = tmp_path_factory.mktemp("repo") / "models"
    # a 20 ms batching window: concurrent requests meet in one execution (the test of batching needs it)
    common = dict(max_batch=8, conf=CONF, iou=IOU, max_det=MAX_DET, queue_delay_us=20000, threads=1)
    export_triton(onnx_path, repo, ExportSettings(name="tiny", flavour="python", **common))
    export_triton(onnx_path, repo, ExportSettings(name="tiny_ens", flavour="python-ensemble", **common))
    server = TritonServer(repo, **ports(), exit_timeout=10)
    try:
        server.start(timeout=120)
        yield server
    finally:
        server.stop()
    assert not server.alive()
    assert_no_server_left()


@pytest.fixture(scope="module")
def local(onnx_path):
    return Detector(onnx_path, conf=CONF, iou=IOU, max_det=MAX_DET, threads=1)


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("proto", ["grpc", "http"])
def test_remote_detector_equals_local_detector(served, local, tmp_path, model, proto):
    url = served.grpc_url if proto == "grpc" else served.http_url
    imgs = images(4)
    png, jpg = tmp_path / "a.png", tmp_path / "b.jpg"
    cv2.imwrite(str(png), imgs[0])
    cv2.imwrite(str(jpg), imgs[1])
    with RemoteDetector(url, model=model) as det:
        assert det.names == local.names and det.input_size == local.input_size
        # arrays of three sizes and two files in one call: several requests, results in order
        got = det([imgs[0], imgs[1], str(png), imgs[2], jpg, imgs[3]])
        ref = local([imgs[0], imgs[1], str(png), imgs[2], jpg, imgs[3]])
        for g, r in zip(got, ref):
            assert_same(g, r, r.source)
        assert_same(det(imgs[2]), local(imgs[2]))  # one image: one Detections, not a list
        assert det([]) == []


@pytest.mark.parametrize("model", MODELS)
def test_thresholds_travel_as_request_parameters(served, onnx_path, model):
    """conf/iou/max_det per request reach the model (through the ensemble to its last step too)."""
    imgs = images(3, seed=1)
    ref = Detector(onnx_path, conf=0.5, iou=0.3, max_det=2)(imgs)
    with RemoteDetector(served.grpc_url, model=model, conf=0.5, iou=0.3, max_det=2) as det:
        for g, r in zip(det(imgs), ref):
            assert_same(g, r)
            assert len(g) <= 2
    with pytest.raises(Yolov6EdgeError, match="exceeds the served model's 30"):
        RemoteDetector(served.grpc_url, model=model, max_det=31)


def test_stream_runs_remotely_and_equals_local(served, local):
    frames = images(10, seed=2)
    with RemoteDetector(served.grpc_url, model="tiny") as det:
        results = list(det.stream(iter(frames), batch=2))
    assert [r.frame_index for r in results] == list(range(10))
    for r, f in zip(results, frames):
        assert_same(r, local(f))


@pytest.mark.parametrize("model,batched", [("tiny", "tiny"), ("tiny_ens", "tiny_ens_pre")])
def test_eight_concurrent_clients_all_served_in_fewer_executions(served, local, model, batched):
    """Each client sends frames of its own size (cameras of different resolutions): Triton's batcher joins only
    same-shape requests unless the raw input allows ragged batches, and then every request ran alone."""
    before = metrics.model_counts(metrics.read_metrics(served.metrics_url), batched)
    rng = np.random.default_rng(3)
    imgs = [rng.integers(0, 256, (40 + 9 * i, 130 - 7 * i, 3), dtype=np.uint8) for i in range(8)]
    refs = [local(i) for i in imgs]
    errors, done = [], []
    start = threading.Barrier(8)

    def client(i):
        try:
            with RemoteDetector(served.grpc_url, model=model, timeout=60) as det:
                start.wait(timeout=30)
                for _ in range(6):
                    assert_same(det(imgs[i]), refs[i])
                    done.append(1)
        except BaseException as e:  # noqa: BLE001 - reported by the main thread
            errors.append(e)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors[0]
    assert len(done) == 48
    after = metrics.model_counts(metrics.read_metrics(served.metrics_url), batched)
    requests = after["requests"] - before["requests"]
    executions = after["executions"] - before["executions"]
    assert requests == 48 and after["inferences"] - before["inferences"] == 48
    # 8 clients in step and a 20 ms window: about 6-12 executions; one per request if shapes kept them apart
    assert executions <= requests // 2, f"dynamic batching merged too little: {executions} executions for {requests}"
    assert max(metrics.batch_sizes(served.http_url, batched)) > 1


def _raw_request(url, model, name, array, dtype):
    import tritonclient.grpc as g

    client = g.InferenceServerClient(url)
    try:
        inp = g.InferInput(name, list(array.shape), dtype)
        inp.set_data_from_numpy(array)
        return client.infer(model, [inp], client_timeout=30)
    finally:
        client.close()


@pytest.mark.parametrize("model", MODELS)
def test_a_bad_request_gets_its_own_error_and_others_are_served(served, local, tmp_path, model):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4)  # a JPEG header and garbage
    good = images(2, seed=4)
    refs = [local(i) for i in good]
    served_ok, failures = [], []

    def good_client():
        with RemoteDetector(served.grpc_url, model=model) as det:
            for _ in range(5):
                for img, ref in zip(good, refs):
                    assert_same(det(img), ref)
                    served_ok.append(1)

    def run_good():
        try:
            good_client()
        except BaseException as e:  # noqa: BLE001 - reported below
            failures.append(e)

    t = threading.Thread(target=run_good)
    t.start()
    with RemoteDetector(served.grpc_url, model=model) as det:
        with pytest.raises(Yolov6EdgeError, match=r"broken\.jpg: not an image or corrupt .*said the server"):
            det(str(bad))
        fine = tmp_path / "fine.png"
        cv2.imwrite(str(fine), good[0])
        with pytest.raises(Yolov6EdgeError) as e:  # a corrupt image in a batch: the error names that one
            det([str(fine), str(bad)])
        assert str(e.value).startswith(str(bad)) and "\n" not in str(e.value)
    # wrong dtype and shape: Triton itself refuses them against the model configuration, naming the input
    with pytest.raises(Exception, match=r"input 'raw' data-type is 'FP32'.*expects 'UINT8'"):
        _raw_request(served.grpc_url, model, "raw", np.zeros((1, 8, 8, 3), np.float32), "FP32")
    with pytest.raises(Exception, match=r"(?s)shape.*'raw'|'raw'.*shape"):
        _raw_request(served.grpc_url, model, "raw", np.zeros((1, 8, 8, 4), np.uint8), "UINT8")
    t.join(timeout=120)
    assert len(served_ok) == 10 and not failures


def test_both_inputs_or_none_is_refused_by_name(served):
    import tritonclient.grpc as g

    client = g.InferenceServerClient(served.grpc_url)
    try:
        a = g.InferInput("raw", [1, 8, 8, 3], "UINT8")
        a.set_data_from_numpy(np.zeros((1, 8, 8, 3), np.uint8))
        b = g.InferInput("images", [1, 1], "BYTES")
        ok, buf = cv2.imencode(".png", np.zeros((8, 8, 3), np.uint8))
        b.set_data_from_numpy(np.array([[buf.tobytes()]], dtype=object))
        with pytest.raises(Exception, match="send exactly one of the inputs 'images'.*both"):
            client.infer("tiny", [a, b], client_timeout=30)
        with pytest.raises(Exception, match=r"request parameter conf=1\.5 must be a number in \[0\.0, 1\.0\]"):
            client.infer("tiny", [a], parameters={"conf": 1.5}, client_timeout=30)
    finally:
        client.close()


def test_a_client_that_disconnects_mid_request_does_not_disturb_the_server(served, local):
    host, port = served.http_url.rsplit("/", 1)[-1].split(":")
    # HTTP: announce a 4 MB body, send part of it, hang up
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(b"POST /v2/models/tiny/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 4000000\r\n\r\n" + b'{"inputs": [' + b" " * 10000)
    # gRPC: a request whose deadline passes while the server works on it (the client abandons it)
    import tritonclient.grpc as g

    client = g.InferenceServerClient(served.grpc_url)
    big = np.zeros((8, 720, 1280, 3), np.uint8)
    inp = g.InferInput("raw", list(big.shape), "UINT8")
    inp.set_data_from_numpy(big)
    with pytest.raises(Exception, match="(?i)deadline"):
        client.infer("tiny", [inp], client_timeout=0.001)
    client.close()
    img = images(1, seed=5)[0]
    with RemoteDetector(served.grpc_url, model="tiny") as det:
        assert_same(det(img), local(img))
    assert served.alive()


def test_unknown_model_and_foreign_server_errors_are_one_line(served):
    with pytest.raises(Yolov6EdgeError, match=r"model 'nope' is not ready on this server \(ready: .*tiny"):
        RemoteDetector(served.grpc_url, model="nope")
    with pytest.raises(Yolov6EdgeError, match="expected host:port"):
        RemoteDetector("not a url", model="tiny")


def test_server_killed_mid_stream_gives_one_line_and_keeps_results(onnx_path, tmp_path, local):
    repo = tmp_path / "repo"
    export_triton(onnx_path, repo, ExportSettings(name="tiny", max_batch=4, conf=CONF, iou=IOU, max_det=MAX_DET,
                                                  threads=1))
    frames = images(5, seed=6)
    server = TritonServer(repo, **ports(), exit_timeout=5)
    received = []
    try:
        server.start(timeout=120)

        def source():
            for i in range(400):
                if i == 12:
                    server.kill()
                yield frames[i % 5]

        with RemoteDetector(server.grpc_url, model="tiny", timeout=20) as det:
            with pytest.raises(Yolov6EdgeError) as e:
                for res in det.stream(source()):
                    received.append(res)
    finally:
        server.stop()
    message = str(e.value)
    assert "\n" not in message and server.grpc_url in message
    assert "stopped answering" in message or "cannot reach" in message
    assert 1 <= len(received) <= 12
    for res in received:  # what came before the fault is whole and right
        assert_same(res, local(frames[res.frame_index % 5]))
    assert_no_server_left([server.process.pid])


def test_ensemble_config_forwards_steps_and_batches(served):
    import tritonclient.http as h

    client = h.InferenceServerClient(served.http_url.split("//")[1])
    cfg = client.get_model_config("tiny_ens")
    client.close()
    steps = [s["model_name"] for s in cfg["ensemble_scheduling"]["step"]]
    assert steps == ["tiny_ens_pre", "tiny_ens_net", "tiny_ens_post"]
    before = metrics.model_counts(metrics.read_metrics(served.metrics_url), "tiny_ens_net")
    with RemoteDetector(served.grpc_url, model="tiny_ens") as det:
        det(images(3, seed=7))
    after = metrics.model_counts(metrics.read_metrics(served.metrics_url), "tiny_ens_net")
    assert after["inferences"] - before["inferences"] == 3


def test_tracking_on_a_remote_stream_equals_tracking_on_the_local_one(served, local, tmp_path, capsys):
    """stream(track=True) through RemoteDetector: the tracker runs here on the served results, so the ids are
    those of the same tracker on the local Detector's results; and predict --server --track writes them."""
    import json

    pytest.importorskip("supervision", reason="the [track] extra (supervision) is not installed")
    from yolov6_edge.cli.main import main

    base = images(1, seed=7)[0]
    frames = [np.roll(base, 2 * t, axis=1) for t in range(12)]  # one scene drifting slowly: boxes that persist
    with RemoteDetector(served.grpc_url, model="tiny") as det:
        remote = list(det.stream(iter(frames), batch=3, track=True))
    ref = list(local.stream(iter(frames), batch=3, track=True))
    assert [r.track_ids.tolist() for r in remote] == [r.track_ids.tolist() for r in ref]
    assert max(max(r.track_ids, default=-1) for r in ref) >= 1  # tracks were made, not only -1s
    video = tmp_path / "drift.avi"
    w = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (base.shape[1], base.shape[0]))
    for f in frames:
        w.write(f)
    w.release()
    out = tmp_path / "out"
    assert main(["predict", "tiny", str(video), "--server", served.grpc_url, "--track", "--save", "--no-draw",
                 "-o", str(out), "--decoder", "opencv"]) == 0
    lines = [json.loads(s) for s in (out / "drift.jsonl").read_text().splitlines()]
    assert len(lines) == 12 and all(len(r["track_ids"]) == len(r["boxes"]) for r in lines)
    assert "objects tracked" in capsys.readouterr().out
