"""RemoteDetector: the Detector API on a model served by Triton (a repository written by export-triton).

    det = RemoteDetector("127.0.0.1:8001")                   # gRPC; "http://127.0.0.1:8000" for HTTP
    res = det("bus.jpg")                                     # Detections, as Detector gives them
    for res in det.stream("traffic.mp4"): ...                # frames decoded here, inference on the server

Files are sent as their encoded bytes (the server decodes them as read_image does); arrays as raw uint8 BGR.
A list goes as few requests as possible: one for the files, one per image size for arrays (a request holds
images of one size), each at most the model's max batch, all in flight together. Thresholds are request
parameters; the model's defaults apply where not given. Errors are one line: a problem with an image names
it; a server that cannot be reached or stops answering says so.
"""
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..backends.base import Backend
from ..errors import Yolov6EdgeError, fail
from . import protocol

_IMAGE_ERROR = re.compile(r"^(?:in ensemble '[^']*', )?(?:images|raw)\[(\d+)\]: (.*)$", re.S)
# gRPC statuses and socket errors that mean the server is gone, not that the request was wrong
_GONE = ("UNAVAILABLE", "failed to connect", "Connection refused", "Socket closed", "Connection reset",
         "Broken pipe", "connection attempt failed", "RemoteDisconnected", "Connection aborted")


def parse_url(url: str):
    """'host:port' or 'grpc://host:port' -> ("grpc", "host:port"); 'http://host:port' -> ("http", ...)."""
    text = str(url).strip()
    m = re.match(r"^(?:(grpc|http|https)://)?([^/\s]+?)/?$", text)
    if not m or ":" not in m.group(2):
        raise fail(url, "expected host:port (gRPC), grpc://host:port or http://host:port")
    scheme = m.group(1) or "grpc"
    if scheme == "https":
        raise fail(url, "https is not supported by this client; put TLS in front (docs/SERVING.md) or use grpc")
    return scheme, m.group(2)


@dataclass
class RemoteModel(Backend):
    """What Detector.stream() reads of a backend, for a model on a server (the Backend Protocol's members; it
    is never called: RemoteDetector sends the images themselves)."""

    url: str
    model: str
    names: list
    input_size: tuple
    max_batch: int
    layout: str = "remote"
    name: str = "triton"
    dtype: type = np.uint8  # what goes over the wire: the images, letterboxed by the server
    metadata: dict = field(default_factory=dict)

    def __call__(self, blob):
        raise TypeError("a model on a server takes images (RemoteDetector), not blobs")

    @property
    def path(self):
        return f"{self.url} model '{self.model}'"


@dataclass
class Pending:
    """Requests sent and not yet answered: (future, positions of its images) each; what infer() hands to
    postprocess()."""

    sent: list
    count: int

    def wait(self) -> list:
        results = [None] * self.count
        for future, positions in self.sent:
            for pos, det in zip(positions, future.result()):
                results[pos] = det
        return results


class RemoteDetector:
    """Detect objects with a model on a Triton server: the Detector API (call, stream, stages).

    url: "host:port" or "grpc://host:port" (gRPC), "http://host:port" (HTTP/REST); model: its name in the
    repository; conf/iou/max_det: sent with every request (None: the model's defaults); timeout: seconds per
    request; in_flight: requests sent at once.
    """

    def __init__(self, url, model: str = protocol.DEFAULT_MODEL, conf=None, iou=None, max_det=None,
                 timeout: float = 60.0, in_flight: int = 4):
        from .. import arguments
        from ..runtime.settings import PREDICT, check_count, check_threshold

        # checked before anything connects (arguments.py: the checks the CLI runs too)
        timeout = arguments.seconds(timeout, "timeout", where=str(url))
        in_flight = arguments.integer(in_flight, "in_flight", 1, 1024, where=str(url))
        self.url, self.model, self.timeout = str(url), str(model), float(timeout)
        self.protocol, self.address = parse_url(url)
        try:
            if self.protocol == "grpc":
                import tritonclient.grpc as tc
            else:
                import tritonclient.http as tc
        except ImportError:
            raise fail(url, "RemoteDetector needs tritonclient: pip install 'yolov6-edge[serve]'") from None
        self._tc = tc
        self._local = threading.local()
        self._clients, self._clients_lock = [], threading.Lock()
        client = self._client()
        try:
            client.is_server_live()
            ready = client.is_model_ready(self.model)
            if not ready:
                served = self._served_models(client)
                raise fail(self.url, f"model '{self.model}' is not ready on this server (ready: "
                                     f"{', '.join(served) or 'none'})")
            config = client.get_model_config(self.model, **({"as_json": True} if self.protocol == "grpc" else {}))
        except Yolov6EdgeError:
            raise
        except Exception as e:  # noqa: BLE001 - tritonclient and socket errors alike
            raise self._error(e, during="connecting") from None
        config = config.get("config", config)
        params = protocol.config_parameters(config)
        if params.get(protocol.FORMAT_KEY) != protocol.FORMAT_VERSION:
            raise fail(self.url, f"model '{self.model}' is not a yolov6-edge detector (its configuration lacks "
                                 f"{protocol.FORMAT_KEY} = {protocol.FORMAT_VERSION}; see export-triton)")
        self.names = list(protocol.decode_json(params, "names", []))
        self.input_size = tuple(protocol.decode_json(params, "input_size"))
        self.k = int(params.get("max_det", PREDICT.max_det))
        self.conf = float(params.get("conf", PREDICT.conf)) if conf is None else check_threshold(url, "conf", conf)
        self.iou = float(params.get("iou", PREDICT.iou)) if iou is None else check_threshold(url, "iou", iou)
        self.max_det = self.k if max_det is None else check_count(url, "max_det", max_det)
        if self.max_det > self.k:
            raise fail(url, f"max_det {self.max_det} exceeds the served model's {self.k} (export-triton --max-det)")
        self.parameters = {k: v for k, v in (("conf", conf), ("iou", iou), ("max_det", max_det)) if v is not None}
        self.backend = RemoteModel(self.url, self.model, self.names, self.input_size,
                                   max(1, int(config.get("max_batch_size", 1))))
        self._pool = ThreadPoolExecutor(max_workers=max(1, int(in_flight)), thread_name_prefix="yolov6-edge-remote")
        self.timing = {}

    # ---- connection ----------------------------------------------------------------------------------------
    def _client(self):
        # one client per thread: tritonclient's clients are not documented as safe to share between threads
        client = getattr(self._local, "client", None)
        if client is None:
            if self.protocol == "grpc":
                client = self._tc.InferenceServerClient(self.address)
            else:
                client = self._tc.InferenceServerClient(self.address, connection_timeout=self.timeout,
                                                        network_timeout=self.timeout)
            self._local.client = client
            with self._clients_lock:
                self._clients.append(client)
        return client

    def _served_models(self, client) -> list:
        try:
            index = client.get_model_repository_index(**({"as_json": True} if self.protocol == "grpc" else {}))
            models = index.get("models", []) if isinstance(index, dict) else index
            return sorted(m["name"] for m in models if m.get("state", "READY") == "READY")
        except Exception:  # noqa: BLE001 - only for the message
            return []

    def _error(self, e, names=(), during="") -> Yolov6EdgeError:
        text = (e.message() if hasattr(e, "message") and callable(e.message) else None) or str(e) or type(e).__name__
        status = str(e.status()) if hasattr(e, "status") and callable(e.status) else ""
        first = " ".join(text.strip().split())[:300]
        if isinstance(e, OSError) or any(g in status or g in text for g in _GONE):
            what = "cannot reach the Triton server" if during else "the Triton server stopped answering"
            return Yolov6EdgeError(f"{self.url}: {what} ({first})")
        if "DEADLINE_EXCEEDED" in status or "Deadline Exceeded" in text or "timed out" in text.lower():
            return Yolov6EdgeError(f"{self.url}: no answer within {self.timeout:g} s ({first})")
        m = _IMAGE_ERROR.match(first)
        if m and int(m.group(1)) < len(names):
            return fail(names[int(m.group(1))], m.group(2) + " (said the server)")
        return Yolov6EdgeError(f"{self.url} model '{self.model}': {first}")

    # ---- one request ---------------------------------------------------------------------------------------
    def _request(self, kind: str, payload: list, names: list) -> list:
        """Send one request (payload: encoded bytes or same-size arrays) -> one Detections per image."""
        tc = self._tc
        if kind == "encoded":
            data = np.empty((len(payload), 1), dtype=object)
            data[:, 0] = payload
            inp = tc.InferInput(protocol.INPUT_ENCODED, list(data.shape), "BYTES")
        else:
            data = np.ascontiguousarray(np.stack(payload))
            inp = tc.InferInput(protocol.INPUT_RAW, list(data.shape), "UINT8")
        inp.set_data_from_numpy(data)
        if self.protocol == "grpc":
            outputs = [tc.InferRequestedOutput(n) for n in protocol.OUTPUTS]
            call = dict(client_timeout=self.timeout)
        else:
            outputs = [tc.InferRequestedOutput(n, binary_data=True) for n in protocol.OUTPUTS]
            call = {}
        try:
            result = self._client().infer(self.model, [inp], outputs=outputs, parameters=self.parameters or None,
                                          **call)
        except Exception as e:  # noqa: BLE001 - tritonclient, gRPC and socket errors become one line
            raise self._error(e, names) from None
        return self._detections(result, names)

    def _detections(self, result, names) -> list:
        from ..runtime.results import Detections

        count, boxes, scores, classes, shapes = (result.as_numpy(n) for n in protocol.OUTPUTS)
        out = []
        for i, name in enumerate(names):
            k = int(count[i, 0])
            cls = classes[i, :k].astype(np.int64)
            labels = [self.names[c] if 0 <= c < len(self.names) else str(c) for c in cls]
            out.append(Detections(boxes=np.array(boxes[i, :k], np.float32), scores=np.array(scores[i, :k], np.float32),
                                  class_ids=cls, names=labels, image_shape=tuple(int(v) for v in shapes[i]),
                                  source=name))
        return out

    def _plan(self, items) -> list:
        """(kind, payload, names, positions) requests for a list of loaded items, in as few as allowed."""
        step = self.backend.max_batch
        groups = {}
        for pos, (kind, data, name) in enumerate(items):
            key = ("encoded",) if kind == "encoded" else ("raw", data.shape)
            groups.setdefault(key, []).append((pos, data, name))
        plan = []
        for key, members in groups.items():
            for i in range(0, len(members), step):
                chunk = members[i:i + step]
                plan.append((key[0], [m[1] for m in chunk], [m[2] for m in chunk], [m[0] for m in chunk]))
        return plan

    def _load(self, source, index: int):
        from ..runtime.images import check_array, read_bytes

        if isinstance(source, (str, Path)):
            data = read_bytes(source)
            if not data:
                raise fail(source, "file is empty (zero bytes)")
            return "encoded", data, str(source)
        name = f"image array #{index}"
        return "raw", check_array(source, name), name

    def _send(self, items) -> Pending:
        """Send loaded items as few requests as allowed, all at once; Pending.wait() gathers them in order."""
        plan = self._plan(items)
        sent = [(self._pool.submit(self._request, kind, payload, names), positions)
                for kind, payload, names, positions in plan]
        return Pending(sent, len(items))

    # ---- the Detector API ----------------------------------------------------------------------------------
    def __call__(self, source):
        single = isinstance(source, (str, Path, np.ndarray))
        if not single and not isinstance(source, (list, tuple)):
            raise fail(self.url, "expected an image path, an HxWx3 uint8 BGR array or a list of them, "
                                 f"got {type(source).__name__}")
        items = [source] if single else list(source)
        if not items:
            return []
        results = self._send([self._load(it, i) for i, it in enumerate(items)]).wait()
        return results[0] if single else results

    def stream(self, source, batch: int = 1, queue: int = 4, policy: str = "auto", vid_stride: int = 1,
               reconnect: int = 0, timeout: float = 10.0, keep_frames: bool = False, decoder: str = "auto",
               track=None):
        """Detector.stream() with inference on the server: frames are decoded here and sent raw, requests of
        successive batches in flight together. Arguments as Detector.stream (docs/STREAMS.md); track runs here,
        on the results (docs/TRACKING.md; a low_conf under the served conf needs RemoteDetector(conf=...)). A
        server that stops answering ends the stream with one line, after the results received before."""
        from ..runtime.stream import Stream

        return Stream(self, source, batch=batch, queue=queue, policy=policy, vid_stride=vid_stride,
                      reconnect=reconnect, timeout=timeout, keep_frames=keep_frames, decoder=decoder, track=track)

    # stages, as Detector's, so runtime/stream.py drives a RemoteDetector unchanged
    def preprocess(self, images):
        from ..runtime.detector import Prepared

        return Prepared([np.ascontiguousarray(im) for im in images], None, None)

    def infer(self, prepared) -> Pending:
        return self._send([("raw", img, "") for img in prepared.images])

    def postprocess(self, pending: Pending, sources=None, conf=None, iou=None, max_det=None) -> list:
        if conf is not None or iou is not None or max_det is not None:
            raise fail(self.url, "per-call thresholds: construct the RemoteDetector with conf/iou/max_det")
        results = pending.wait()
        for res, name in zip(results, sources if sources is not None else [""] * len(results)):
            res.source = name
        return results

    def close(self) -> None:
        """Wait for the requests in flight and close the connections (a server that shuts down waits for open
        HTTP connections)."""
        pool = getattr(self, "_pool", None)
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        with self._clients_lock:
            clients, self._clients = self._clients, []
        for client in clients:
            try:
                client.close()
            except Exception:  # noqa: BLE001 - closing a connection to a server that is gone
                pass

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"RemoteDetector({self.url!r}, model={self.model!r}, conf={self.conf}, iou={self.iou}, " \
               f"max_det={self.max_det})"
