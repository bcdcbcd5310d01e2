"""The wire contract of a served detector: tensor names, types and shapes, request parameters and the model
configuration parameters. The repository writer, the Triton models and RemoteDetector all read it from here.

Every flavour exposes one model (default name "yolov6") with the same interface (docs/SERVING.md):

  inputs (send exactly one; max_batch_size > 0, so each has a leading batch dimension B):
    images  BYTES [B, 1]        encoded images (JPEG, PNG, BMP, TIFF, WebP: what OpenCV decodes), one per row
    raw     UINT8 [B, H, W, 3]  decoded BGR images, all of one size in a request
  outputs (fixed size, padded, the convention of TensorRT's EfficientNMS plugin):
    num_dets     INT32 [B, 1]     detections per image (k)
    det_boxes    FP32  [B, K, 4]  x1, y1, x2, y2 in original-image pixels (rows >= k are 0)
    det_scores   FP32  [B, K]     (rows >= k are 0)
    det_classes  INT32 [B, K]     class ids (rows >= k are -1)
    image_shape  INT32 [B, 2]     height, width of each decoded image
  request parameters (optional; the model's defaults apply where absent): conf, iou (numbers in [0, 1]),
    max_det (an integer in [1, K])
"""
import json

DEFAULT_MODEL = "yolov6"

INPUT_ENCODED = "images"
INPUT_RAW = "raw"
NUM_DETS, DET_BOXES, DET_SCORES, DET_CLASSES, IMAGE_SHAPE = (
    "num_dets", "det_boxes", "det_scores", "det_classes", "image_shape")
OUTPUTS = (NUM_DETS, DET_BOXES, DET_SCORES, DET_CLASSES, IMAGE_SHAPE)
CLASS_PAD = -1
REQUEST_PARAMETERS = ("conf", "iou", "max_det")

# Between the steps of the ensemble flavour (names inside the ensemble only; clients never see them).
# The network step keeps the ONNX contract's names: input "images", outputs "boxes" and "scores".
PRE_BLOB, PRE_LETTERBOX = "blob", "letterbox"
NET_INPUT, NET_BOXES, NET_SCORES = "images", "boxes", "scores"

# Model-configuration parameters (config.pbtxt `parameters`, string values) that the Python models and the
# client read. FORMAT_KEY tells a repository of ours from any other model.
FORMAT_KEY = "yolov6_edge.format_version"
FORMAT_VERSION = "1"


def config_parameters(model_config: dict) -> dict:
    """The string parameters of a model configuration as Triton reports it (JSON, as the Python backend's
    `args["model_config"]` and the client's get_model_config(as_json=True) give it)."""
    return {k: v.get("string_value", "") for k, v in (model_config.get("parameters") or {}).items()}


def decode_json(params: dict, key: str, default=None):
    text = params.get(key)
    return default if text is None else json.loads(text)
