"""Shared by the serving tests: skip without the [serve] extra, a tiny seeded detector, a server that is always
stopped, and the check that no server process outlives the tests."""
import os
from pathlib import Path

import numpy as np
import pytest

SIZE = (64, 96)
CONF, IOU, MAX_DET = 0.3, 0.5, 30


def require_serve():
    """Skip (module level) where the [serve] extra or a usable Triton is absent, saying what is missing."""
    pytest.importorskip("tritonclient.grpc", reason="tritonclient is not installed: the [serve] extra "
                                                    "(pip install 'yolov6-edge[serve]'; `make setup` installs it)")
    pytest.importorskip("tritonclient.http", reason="tritonclient[http] is not installed ([serve] extra)")
    from yolov6_edge.errors import Yolov6EdgeError
    from yolov6_edge.serve.server import find_installation

    try:
        find_installation()
    except Yolov6EdgeError as e:
        pytest.skip(f"no tritonserver: {e}", allow_module_level=True)


def tiny_onnx(folder: Path) -> Path:
    """The seeded few-layer stand-in of test_export_onnx (3 classes, detections at conf 0.3) as ONNX."""
    import torch

    from standin_models import TinyContractModel
    from yolov6_edge.export.onnx import export_onnx

    torch.manual_seed(0)
    return export_onnx(TinyContractModel().eval(), folder / "tiny.onnx", img_size=SIZE)


def images(n=4, seed=0):
    rng = np.random.default_rng(seed)
    shapes = [(50, 70), (120, 90), (64, 96), (33, 200), (90, 90)]
    return [rng.integers(0, 256, (*shapes[i % len(shapes)], 3), dtype=np.uint8) for i in range(n)]


def assert_same(remote, local, source=None):
    """A served Detections equals the local Detector's: same classes, boxes within 1e-2 px, and not empty."""
    assert len(local) > 0, "the tiny model must detect something for the comparison to mean anything"
    assert len(remote) == len(local)
    np.testing.assert_array_equal(remote.class_ids, local.class_ids)
    np.testing.assert_allclose(remote.boxes, local.boxes, atol=1e-2, rtol=0)
    np.testing.assert_allclose(remote.scores, local.scores, atol=1e-5, rtol=0)
    assert remote.names == local.names and tuple(remote.image_shape) == tuple(local.image_shape)
    assert remote.boxes.dtype == np.float32 and remote.class_ids.dtype == np.int64
    if source is not None:
        assert remote.source == source


def ports():
    from yolov6_edge.serve.server import free_port

    return dict(http_port=free_port(), grpc_port=free_port(), metrics_port=free_port())


def server_processes(port: int) -> list:
    """pids of tritonserver processes listening on `port` per their command line (any parent)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if cmd and cmd[0].endswith(b"tritonserver") and str(port).encode() in cmd:
            found.append(int(pid))
    return found


def assert_no_server_left(groups=None, wait: float = 15.0):
    """No process of the servers these tests started (their process groups) is left; a killed server's Python
    stubs take a moment to notice and exit, so wait a bounded time for that."""
    import time

    from yolov6_edge.serve.server import LAUNCHED, group_alive

    groups = set(LAUNCHED if groups is None else groups)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        alive = [g for g in groups if group_alive(g)]
        if not alive:
            return
        time.sleep(0.2)
    raise AssertionError(f"tritonserver process groups still alive after {wait:.0f} s: {alive}")
