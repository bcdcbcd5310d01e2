"""What every served model does with a request: read its images, its thresholds and answer it.

A problem with one request (a corrupt image, both inputs or none, a threshold out of range) becomes an error
response for that request only, naming the input and the problem; the other requests of the same batch are
served. An exception escaping execute() would make Triton fail the whole batch (and the Python backend stub
restart), so execute_each() turns every exception into per-request errors.
"""
import json

import numpy as np

from ...errors import Yolov6EdgeError
from .. import protocol


class RequestError(Yolov6EdgeError):
    """A problem with one request, sent back to its client as an INVALID_ARG error."""


def input_array(pb_utils, request, name):
    tensor = pb_utils.get_input_tensor_by_name(request, name)
    return None if tensor is None else tensor.as_numpy()


def read_images(pb_utils, request) -> list:
    """The request's images as HxWx3 uint8 BGR arrays, from exactly one of the two inputs."""
    from ...runtime.images import check_array, image_from_bytes

    encoded = input_array(pb_utils, request, protocol.INPUT_ENCODED)
    raw = input_array(pb_utils, request, protocol.INPUT_RAW)
    if (encoded is None) == (raw is None):
        raise RequestError(f"send exactly one of the inputs '{protocol.INPUT_ENCODED}' (encoded images, BYTES "
                           f"[B, 1]) and '{protocol.INPUT_RAW}' (UINT8 [B, H, W, 3]); this request has "
                           + ("both" if encoded is not None else "neither"))
    if raw is not None:
        if raw.ndim != 4 or raw.shape[-1] != 3 or raw.dtype != np.uint8:
            raise RequestError(f"input '{protocol.INPUT_RAW}' is {raw.dtype} {list(raw.shape)}; expected UINT8 "
                               "[B, H, W, 3] (BGR)")
        return [check_array(img, f"{protocol.INPUT_RAW}[{i}]") for i, img in enumerate(raw)]
    images = []
    for i, data in enumerate(encoded.reshape(-1)):
        if not isinstance(data, (bytes, bytearray, np.bytes_)):
            raise RequestError(f"{protocol.INPUT_ENCODED}[{i}]: expected encoded image bytes, got "
                               f"{type(data).__name__}")
        # corrupt="error": a server never serves a damaged picture as if it were whole
        images.append(image_from_bytes(bytes(data), f"{protocol.INPUT_ENCODED}[{i}]", corrupt="error"))
    return images


def _number(name, value, low, high, integer=False):
    ok_type = (isinstance(value, int) if integer else isinstance(value, (int, float))) and not isinstance(value, bool)
    if not ok_type or not low <= value <= high:  # NaN fails too
        kind = "an integer" if integer else "a number"
        raise RequestError(f"request parameter {name}={value!r} must be {kind} in [{low}, {high}]")
    return value


def thresholds(request, max_k: int) -> dict:
    """conf / iou / max_det from the request's parameters (absent ones are left to the model's defaults).

    Other parameters are ignored: Triton and proxies add their own (priority, timeout, sequence ids), and an
    ensemble forwards every request parameter to each of its steps.
    """
    try:
        params = json.loads(request.parameters() or "{}")
    except (json.JSONDecodeError, TypeError):
        params = {}
    out = {}
    for key in ("conf", "iou"):
        if key in params:
            out[key] = float(_number(key, params[key], 0.0, 1.0))
    if "max_det" in params:
        out["max_det"] = int(_number("max_det", params["max_det"], 1, max_k, integer=True))
    return out


def detections_outputs(pb_utils, dets, k: int) -> list:
    """Detections of one request's images -> the padded output tensors of the protocol."""
    n = len(dets)
    count = np.zeros((n, 1), np.int32)
    boxes = np.zeros((n, k, 4), np.float32)
    scores = np.zeros((n, k), np.float32)
    classes = np.full((n, k), protocol.CLASS_PAD, np.int32)
    shapes = np.zeros((n, 2), np.int32)
    for i, d in enumerate(dets):
        m = min(len(d), k)
        count[i, 0] = m
        boxes[i, :m], scores[i, :m], classes[i, :m] = d.boxes[:m], d.scores[:m], d.class_ids[:m]
        shapes[i] = d.image_shape
    arrays = {protocol.NUM_DETS: count, protocol.DET_BOXES: boxes, protocol.DET_SCORES: scores,
              protocol.DET_CLASSES: classes, protocol.IMAGE_SHAPE: shapes}
    return [pb_utils.Tensor(name, arrays[name]) for name in protocol.OUTPUTS]


def error_response(pb_utils, error: BaseException):
    if isinstance(error, Yolov6EdgeError):
        return pb_utils.InferenceResponse(error=pb_utils.TritonError(str(error), pb_utils.TritonError.INVALID_ARG))
    text = str(error).strip().splitlines()
    message = f"{type(error).__name__}: {text[0][:300] if text else ''}"
    return pb_utils.InferenceResponse(error=pb_utils.TritonError(message, pb_utils.TritonError.INTERNAL))


def execute_each(pb_utils, requests, read, run) -> list:
    """One response per request: read(request) -> item or an error for that request; run(items) -> one list of
    output tensors (or an exception) per item, for all the readable requests at once (that is the batch)."""
    items, responses = {}, [None] * len(requests)
    for i, request in enumerate(requests):
        try:
            items[i] = read(request)
        except Exception as e:  # noqa: BLE001 - becomes this request's error response
            responses[i] = error_response(pb_utils, e)
    if items:
        try:
            results = run(list(items.values()))
        except Exception as e:  # noqa: BLE001 - the batch failed: each of its requests gets the error
            results = [e] * len(items)
        for i, result in zip(items, results):
            responses[i] = (error_response(pb_utils, result) if isinstance(result, BaseException)
                            else pb_utils.InferenceResponse(output_tensors=result))
    return responses
