"""Detector: construct from a model file, call on images, get Detections back (no torch for .onnx/.engine).

    det = Detector("yolov6n.onnx", conf=0.25)
    result = det("bus.jpg")            # one Detections
    results = det([img1, "b.jpg"])     # a list

Pre-processing is yolov6_edge.ops.letterbox, NMS is yolov6_edge.ops.batched_nms (end-to-end models carry NMS
inside and skip it); boxes come back in original-image pixels, clipped to the image.
"""
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from .. import arguments
from ..backends.base import as_backend, is_backend, open_backend
from ..errors import fail
from ..onnx_contract import MAX_INPUT_SIDE  # one float32 image of it is 3 GiB
from . import images as image_io
from .postprocess import end2end_to_dets, to_original
from .results import Detections
from .settings import PREDICT, DetectionSettings


@dataclass
class Prepared:
    """A batch after preprocess(): the original images, the blob and the letterbox params (scale, pad_x,
    pad_y) per image; blob and params are None where the backend letterboxes on its device."""

    images: list
    blob: Optional[np.ndarray]
    params: Optional[np.ndarray]


@dataclass
class Inferred:
    """A batch after infer(): the backend outputs (ONNX contract), letterbox params and original (H, W)."""

    outputs: tuple
    params: np.ndarray
    shapes: list

MAX_THREADS = 1024  # inference threads: more is a typo that would make the runtime start thousands


def model_label(model) -> str:
    """How messages name a model: its path, a backend's label, else its type (never a multi-line repr)."""
    if isinstance(model, (str, Path)):
        return str(model)
    if is_backend(model):
        return model.label
    path = getattr(model, "path", None)  # a stand-in backend not yet adapted
    return str(path) if isinstance(path, (str, Path)) else type(model).__name__


def check_img_size(name, size):
    """None, an int or (H, W) of positive ints -> None or (H, W)."""
    if size is None:
        return None
    ok_int = lambda v: (isinstance(v, (int, np.integer)) and not isinstance(v, bool)  # noqa: E731
                        and 0 < v <= MAX_INPUT_SIDE)
    if ok_int(size):
        return int(size), int(size)
    if isinstance(size, (tuple, list)) and len(size) == 2 and all(ok_int(v) for v in size):
        return int(size[0]), int(size[1])
    raise fail(name, f"img_size must be an int or (H, W) of ints in 1..{MAX_INPUT_SIDE}, got {size!r:.60}")


def check_outputs(backend, outputs, n: int):
    """Backend outputs must hold one entry per image, in the shapes of the ONNX contract (docs/ARCHITECTURE.md).

    A foreign or damaged model can return fewer images than it was given (a batch fixed at 1 in an output),
    or 2-D tensors; reading those on would silently drop or mix images.
    """
    name = model_label(backend)
    outputs = tuple(outputs)
    expected: tuple
    if backend.layout == "end2end":
        expected = (("num_dets", 2), ("det_boxes", 3), ("det_scores", 2), ("det_classes", 2))
    else:
        expected = (("boxes", 3), ("scores", 3))
    if len(outputs) != len(expected):
        raise fail(name, f"the model returned {len(outputs)} outputs, expected {len(expected)}")
    for (what, ndim), out in zip(expected, outputs):
        shape = tuple(np.shape(out))
        if len(shape) != ndim or shape[0] != n:
            raise fail(name, f"output '{what}' has shape {shape} for {n} images; expected {ndim} dimensions "
                             f"starting with {n}")
    if backend.layout == "end2end":
        k = outputs[1].shape[1]
        if outputs[1].shape[2] != 4 or outputs[2].shape[1] != k or outputs[3].shape[1] != k:
            raise fail(name, "end-to-end outputs disagree: det_boxes " + str(outputs[1].shape) + ", det_scores "
                             f"{outputs[2].shape}, det_classes {outputs[3].shape}")
        counts = np.asarray(outputs[0]).reshape(-1)
        if counts.size != n or (counts < 0).any() or (counts > k).any():
            raise fail(name, f"num_dets {counts.tolist()[:8]} is not a count in [0, {k}] per image")
    else:
        boxes, scores = outputs
        if boxes.shape[2] != 4 or scores.shape[1] != boxes.shape[1]:
            raise fail(name, f"outputs disagree: boxes {tuple(boxes.shape)} and scores {tuple(scores.shape)}; "
                             "expected [B, N, 4] and [B, N, C]")
    return outputs


class Detector:
    """Detect objects with any backend.

    conf, iou, max_det, center, multi_label, agnostic, max_candidates: the fields of a DetectionSettings
    (runtime/settings.py), defaults PREDICT's; `Detector(path, **EVAL.kwargs())` measures as `eval` does.
    conf/iou/max_det: NMS settings (for end-to-end files, the ones baked into the file apply and these only
    filter further by conf and max_det). multi_label: keep a box for every class above conf (evaluation);
    agnostic: class-agnostic NMS. center: centred letterbox (the models were trained with it).
    img_size: only for .pt/.param/nn.Module models, which have no fixed input size.
    backend: a registered backend's name (backends/base.py; default: the registry's choice for the file,
    base.choose_backend: "openvino" for an INT8 .onnx placed for OpenVINO where it is installed, else
    "onnxruntime" for .onnx, with one FallbackWarning where OpenVINO is missing); threads: inference threads
    of ONNX Runtime or OpenVINO (0: the runtime decides); backend_options: e.g. {"inference_precision": "bf16"}
    for OpenVINO.
    """

    def __init__(self, model, conf: float = PREDICT.conf, iou: float = PREDICT.iou, max_det: int = PREDICT.max_det,
                 center: bool = PREDICT.center, multi_label: bool = PREDICT.multi_label,
                 agnostic: bool = PREDICT.agnostic, img_size=None, providers=None, backend=None, threads: int = 0,
                 backend_options=None, max_candidates: int = PREDICT.max_candidates):
        name = model_label(model)
        self.settings = DetectionSettings.checked(name, conf=conf, iou=iou, max_det=max_det, center=center,
                                                  multi_label=multi_label, agnostic=agnostic,
                                                  max_candidates=max_candidates)
        img_size = check_img_size(name, img_size)
        threads = arguments.integer(threads, "threads", 0, MAX_THREADS, where=name)
        # as_backend: whatever opened it (a patched open_backend, say), the Detector holds a declared Backend
        self.backend = as_backend(open_backend(model, img_size=img_size, providers=providers, backend=backend,
                                               threads=threads, **(backend_options or {})))
        self.names = list(self.backend.names)
        self.input_size = tuple(self.backend.input_size)
        self.dtype = self.backend.dtype
        self.timing = {}  # seconds spent in the last call: pre, infer, post

    # the settings' fields, read-only: a Detector's settings are fixed; per call, postprocess() takes overrides
    conf = property(lambda self: self.settings.conf)
    iou = property(lambda self: self.settings.iou)
    max_det = property(lambda self: self.settings.max_det)
    center = property(lambda self: self.settings.center)
    multi_label = property(lambda self: self.settings.multi_label)
    agnostic = property(lambda self: self.settings.agnostic)

    def __call__(self, source):
        single = isinstance(source, (str, Path, np.ndarray))
        if not single and not isinstance(source, (list, tuple)):
            raise fail(model_label(source), "expected an image path, an HxWx3 uint8 BGR array or a list of them, "
                                            f"got {type(source).__name__}")
        items = [source] if single else list(source)
        if not items:
            return []
        results = []
        step = max(1, int(self.backend.max_batch))
        timing = {"pre": 0.0, "infer": 0.0, "post": 0.0}
        for start in range(0, len(items), step):
            chunk = [image_io.load(it, start + i) for i, it in enumerate(items[start:start + step])]
            results.extend(self._run([img for img, _ in chunk], [name for _, name in chunk], timing))
        self.timing = timing
        return results[0] if single else results

    def stream(self, source, batch: int = 1, queue: int = 4, policy: str = "auto", vid_stride: int = 1,
               reconnect: int = 0, timeout: float = 10.0, keep_frames: bool = False, decoder: str = "auto",
               track=None):
        """Detections for every frame of a video, camera, URL, folder, glob, image list or iterable of arrays,
        with decoding, letterbox, inference and NMS overlapped (runtime/stream.py, docs/STREAMS.md).

        source: a path, glob, folder, camera index (0 or "0"), URL, image array, iterable of arrays, or a list
        (several videos or cameras read side by side, batched together; a list of images is one image list).
        batch: frames per model call; queue: frames buffered per source (at least batch); policy: what a full
        buffer does: "block", "drop-oldest" or "drop-newest" ("auto": drop-oldest for cameras and live URLs,
        block otherwise); vid_stride: keep every N-th frame; reconnect: attempts to reopen a camera or URL that
        stops; timeout: seconds to wait for a URL to answer; keep_frames: attach each BGR frame to its result
        (`.frame`); decoder: "opencv", "pyav" or "auto" (PyAV where installed); track: True, "bytetrack" or a
        TrackerConfig gives each detection a `track_ids` entry, one tracker per source (the optional extra
        `[track]`; docs/TRACKING.md).
        Returns a Stream: iterate it for Detections with frame_index, timestamp, source; stats() after.
        """
        from .stream import Stream

        return Stream(self, source, batch=batch, queue=queue, policy=policy, vid_stride=vid_stride,
                      reconnect=reconnect, timeout=timeout, keep_frames=keep_frames, decoder=decoder, track=track)

    # ---- the three stages, public so that streams and servers can run them apart -----------------------------
    def preprocess(self, images) -> Prepared:
        """Letterbox a list of HxWx3 uint8 BGR arrays into the model's input blob.

        Where the backend letterboxes on its own device (TensorRT: straight into the input binding), the blob
        never exists on the host: `Prepared.blob` is None and infer() does the letterbox.
        """
        from .. import ops

        images = list(images)
        if self.backend.letterboxes_on_device:
            return Prepared(images, None, None)
        blob, params = ops.letterbox(images, size=self.input_size, center=self.center, dtype=self.dtype)
        return Prepared(images, blob, params)

    def infer(self, prepared: Prepared) -> Inferred:
        """Run the model on a prepared batch; outputs are checked against the ONNX contract."""
        n = len(prepared.images)
        if prepared.blob is None:
            outputs, params = self.backend.infer_images(prepared.images, center=self.center)
            outputs = check_outputs(self.backend, outputs, n)
        else:
            outputs, params = self._run_backend(prepared.blob, n), prepared.params
        return Inferred(outputs, np.asarray(params, np.float32), [img.shape[:2] for img in prepared.images])

    def postprocess(self, inferred: Inferred, sources=None, conf=None, iou=None, max_det=None) -> list:
        """NMS and the map back to original pixels: one Detections per image.

        sources: a name per image (Detections.source); conf/iou/max_det override the detector's settings for
        this call only (a server takes them per request).
        """
        dets = self.nms(inferred.outputs, conf=conf, iou=iou, max_det=max_det)
        sources = sources if sources is not None else [""] * len(dets)
        return [self._to_detections(d, p, shape, name)
                for d, p, shape, name in zip(dets, inferred.params, inferred.shapes, sources)]

    def _run(self, imgs, names, timing) -> list:
        t0 = time.perf_counter()
        prepared = self.preprocess(imgs)
        t1 = time.perf_counter()
        inferred = self.infer(prepared)
        t2 = time.perf_counter()
        results = self.postprocess(inferred, names)
        t3 = time.perf_counter()
        # a backend that letterboxes on its device counts the letterbox as inference
        timing["pre"] += t1 - t0
        timing["infer"] += t2 - t1
        timing["post"] += t3 - t2
        return results

    def _run_backend(self, blob, n):
        if self.backend.fixed_batch and n < self.backend.max_batch:
            # zero images fill the batch; their outputs are dropped below
            fill = np.zeros((self.backend.max_batch - n, *blob.shape[1:]), blob.dtype)
            outputs = self.backend(np.concatenate([blob, fill]))
            check_outputs(self.backend, outputs, self.backend.max_batch)
            return tuple(o[:n] for o in outputs)
        return check_outputs(self.backend, self.backend(blob), n)

    def nms(self, outputs, conf=None, iou=None, max_det=None) -> list:
        """Backend outputs -> per-image [K, 6] arrays in letterboxed input pixels."""
        s = self.settings.override(model_label(self.backend), conf=conf, iou=iou, max_det=max_det)
        if self.backend.layout == "end2end":
            dets = end2end_to_dets(*outputs)
            return [d[d[:, 4] >= s.conf][:s.max_det] for d in dets]
        from .. import ops

        boxes, scores = outputs
        return ops.batched_nms(np.ascontiguousarray(boxes, np.float32), np.ascontiguousarray(scores, np.float32),
                               conf_thres=s.conf, iou_thres=s.iou, max_det=s.max_det, multi_label=s.multi_label,
                               agnostic=s.agnostic, max_candidates=s.max_candidates)

    def _to_detections(self, dets, params, shape, name) -> Detections:
        dets = to_original(dets, params, shape)
        cls = dets[:, 5].astype(np.int64)
        labels = [self.names[c] if 0 <= c < len(self.names) else str(c) for c in cls]
        return Detections(boxes=dets[:, :4].copy(), scores=dets[:, 4].copy(), class_ids=cls, names=labels,
                          image_shape=tuple(shape), source=name)

    def __repr__(self):
        return f"Detector({self.backend!r}, conf={self.conf}, iou={self.iou}, max_det={self.max_det})"
