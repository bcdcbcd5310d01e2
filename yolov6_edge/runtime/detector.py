"""Detector: construct from a model file, call on images, get Detections back (no torch for .onnx/.engine).

    det = Detector("yolov6n.onnx", conf=0.25)
    result = det("bus.jpg")            # one Detections
    results = det([img1, "b.jpg"])     # a list

Pre-processing is yolov6_edge.ops.letterbox, NMS is yolov6_edge.ops.batched_nms (end-to-end models carry NMS
inside and skip it); boxes come back in original-image pixels, clipped to the image.
"""
import time
from pathlib import Path

import numpy as np

from ..errors import fail
from . import images as image_io
from .postprocess import end2end_to_dets, to_original
from .results import Detections

MODEL_SUFFIXES = (".onnx", ".engine", ".pt", ".pth", ".ckpt", ".param")


# which backends can run which files; the first is the default
BACKENDS = {".onnx": ("onnxruntime", "openvino"), ".engine": ("tensorrt",)}
BACKEND_NAMES = ("onnxruntime", "openvino", "tensorrt", "torch")


def open_backend(model, img_size=None, providers=None, backend=None, threads: int = 0, **options):
    """A Backend for a model path (by suffix and `backend`), an nn.Module, or an object that already is one.

    backend: "onnxruntime" (the default for .onnx) or "openvino" for .onnx files, "tensorrt" for .engine,
    "torch" for .pt/.param; None picks the default. threads: inference threads of ONNX Runtime or OpenVINO
    (0: the runtime decides). options: backend-specific (OpenVINO: inference_precision).
    """
    if hasattr(model, "layout") and callable(model):
        return model
    if not isinstance(model, (str, Path)):
        if hasattr(model, "strides") and hasattr(model, "names"):  # an nn.Module following the model contract
            from ..backends.torch.runtime import TorchBackend

            return TorchBackend(model, img_size=img_size)
        raise fail(type(model).__name__, "expected a model path, a YOLOv6 nn.Module or a Backend")
    path = Path(model)
    suffix = path.suffix.lower()
    if suffix not in MODEL_SUFFIXES:
        raise fail(path, f"unknown model file type '{path.suffix}' (expected one of {', '.join(MODEL_SUFFIXES)})")
    allowed = BACKENDS.get(suffix, ("torch",))
    if backend is not None and backend not in allowed:
        known = f"unknown backend {backend!r} (expected one of {', '.join(BACKEND_NAMES)})"
        raise fail(path, known if backend not in BACKEND_NAMES else
                   f"a {suffix} file runs on {' or '.join(allowed)}, not {backend}")
    backend = backend or allowed[0]
    if options and backend != "openvino":
        raise fail(path, f"options {sorted(options)} apply to the openvino backend only")
    if not path.exists():
        raise fail(path, "no such file")
    if backend == "onnxruntime":
        from ..backends.onnxruntime.runtime import OnnxRuntimeBackend

        return OnnxRuntimeBackend(path, providers=providers, threads=threads)
    if backend == "openvino":
        from ..backends.openvino.runtime import OpenVINOBackend

        return OpenVINOBackend(path, threads=threads, **options)
    if backend == "tensorrt":
        from ..backends.tensorrt.runtime import TensorRTBackend

        return TensorRTBackend(path)
    from ..backends.torch.runtime import TorchBackend

    return TorchBackend(path, img_size=img_size)


class Detector:
    """Detect objects with any backend.

    conf/iou/max_det: NMS settings (for end-to-end files, the ones baked into the file apply and these only
    filter further by conf and max_det). multi_label: keep a box for every class above conf (evaluation);
    agnostic: class-agnostic NMS. center: centred letterbox (the models were trained with it).
    img_size: only for .pt/.param/nn.Module models, which have no fixed input size.
    backend: "onnxruntime" (default) or "openvino" for .onnx files (see open_backend); threads: inference
    threads of ONNX Runtime or OpenVINO (0: the runtime decides); backend_options: e.g.
    {"inference_precision": "bf16"} for OpenVINO.
    """

    def __init__(self, model, conf: float = 0.25, iou: float = 0.45, max_det: int = 300, center: bool = True,
                 multi_label: bool = False, agnostic: bool = False, img_size=None, providers=None,
                 backend=None, threads: int = 0, backend_options=None):
        if not 0.0 <= conf <= 1.0 or not 0.0 <= iou <= 1.0:
            raise fail(model, f"conf ({conf}) and iou ({iou}) must lie in [0, 1]")
        if max_det < 1:
            raise fail(model, f"max_det must be at least 1, got {max_det}")
        self.backend = open_backend(model, img_size=img_size, providers=providers, backend=backend,
                                    threads=threads, **(backend_options or {}))
        self.conf, self.iou, self.max_det = float(conf), float(iou), int(max_det)
        self.center, self.multi_label, self.agnostic = center, multi_label, agnostic
        self.names = list(self.backend.names)
        self.input_size = tuple(self.backend.input_size)
        self.dtype = getattr(self.backend, "dtype", np.float32)
        self.timing = {}  # seconds spent in the last call: pre, infer, post

    def __call__(self, source):
        single = isinstance(source, (str, Path, np.ndarray))
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

    def _run(self, imgs, names, timing) -> list:
        from .. import ops

        t0 = time.perf_counter()
        n = len(imgs)
        if hasattr(self.backend, "infer_images"):
            # The TensorRT backend letterboxes on the GPU straight into its input binding, so the blob never
            # exists on the host; its time is counted as inference.
            t1 = time.perf_counter()
            outputs, params = self.backend.infer_images(imgs, center=self.center)
        else:
            blob, params = ops.letterbox(imgs, size=self.input_size, center=self.center, dtype=self.dtype)
            t1 = time.perf_counter()
            outputs = self._infer(blob, n)
        t2 = time.perf_counter()
        dets = self.nms(outputs)
        results = [self._to_detections(d, p, img.shape[:2], name) for d, p, img, name in zip(dets, params, imgs, names)]
        t3 = time.perf_counter()
        timing["pre"] += t1 - t0
        timing["infer"] += t2 - t1
        timing["post"] += t3 - t2
        return results

    def _infer(self, blob, n):
        if getattr(self.backend, "fixed_batch", False) and n < self.backend.max_batch:
            # zero images fill the batch; their outputs are dropped below
            fill = np.zeros((self.backend.max_batch - n, *blob.shape[1:]), blob.dtype)
            return tuple(o[:n] for o in self.backend(np.concatenate([blob, fill])))
        return self.backend(blob)

    def nms(self, outputs) -> list:
        """Backend outputs -> per-image [K, 6] arrays in letterboxed input pixels."""
        if self.backend.layout == "end2end":
            dets = end2end_to_dets(*outputs)
            return [d[d[:, 4] >= self.conf][: self.max_det] for d in dets]
        from .. import ops

        boxes, scores = outputs
        return ops.batched_nms(np.ascontiguousarray(boxes, np.float32), np.ascontiguousarray(scores, np.float32),
                               conf_thres=self.conf, iou_thres=self.iou, max_det=self.max_det,
                               multi_label=self.multi_label, agnostic=self.agnostic)

    def _to_detections(self, dets, params, shape, name) -> Detections:
        dets = to_original(dets, params, shape)
        cls = dets[:, 5].astype(np.int64)
        labels = [self.names[c] if 0 <= c < len(self.names) else str(c) for c in cls]
        return Detections(boxes=dets[:, :4].copy(), scores=dets[:, 4].copy(), class_ids=cls, names=labels,
                          image_shape=tuple(shape), source=name)

    def __repr__(self):
        return f"Detector({self.backend!r}, conf={self.conf}, iou={self.iou}, max_det={self.max_det})"
