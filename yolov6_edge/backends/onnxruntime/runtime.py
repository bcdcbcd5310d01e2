"""Run an exported YOLOv6 ONNX file with ONNX Runtime behind the Backend interface (no torch)."""
import json
from pathlib import Path

import numpy as np

from ...errors import fail

RAW_OUTPUTS = ("boxes", "scores")
E2E_OUTPUTS = ("num_dets", "det_boxes", "det_scores", "det_classes")
# A dynamic-batch file accepts any batch; we still feed it in chunks so memory stays bounded.
DYNAMIC_MAX_BATCH = 32
# Larger inputs are refused as damaged metadata: one 16384x16384 float32 image is already 3 GiB.
MAX_INPUT_SIDE = 16384
MAX_INPUT_VALUES = 2**31  # one call's input blob: 8 GiB of float32
INPUT_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16}


def read_metadata(path, session) -> dict:
    """metadata_props as a dict, JSON values decoded where they parse."""
    raw = session.get_modelmeta().custom_metadata_map
    meta = {}
    for key, value in raw.items():
        try:
            meta[key] = json.loads(value)
        except (json.JSONDecodeError, TypeError):
            meta[key] = value
    return meta


def _layout(path, output_names) -> str:
    names = set(output_names)
    if names >= set(E2E_OUTPUTS):
        return "end2end"
    if names >= set(RAW_OUTPUTS):
        return "boxes_xyxy+scores"
    missing = [n for n in RAW_OUTPUTS if n not in names]
    raise fail(path, f"not a YOLOv6 detector ONNX: outputs {sorted(names)} lack {', '.join(missing)} "
                     f"(expected boxes+scores or {'/'.join(E2E_OUTPUTS)})")


def _input_size(path, shape, meta_size) -> tuple:
    """(H, W) from the 'input_size' metadata or the graph's fixed input shape, checked against each other."""
    fixed = [d if isinstance(d, int) and d > 0 else None for d in shape]
    if fixed[1] is not None and fixed[1] != 3:
        raise fail(path, f"input shape {shape}: expected 3 channels ([B, 3, H, W])")
    if meta_size is None:
        if fixed[2] is None or fixed[3] is None:
            raise fail(path, "input height/width are dynamic and the file has no 'input_size' metadata")
        meta_size = fixed[2:]
    if (not isinstance(meta_size, list) or len(meta_size) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in meta_size)):
        raise fail(path, f"'input_size' metadata {meta_size!r} is not [H, W]")
    h, w = meta_size
    if not (0 < h <= MAX_INPUT_SIDE and 0 < w <= MAX_INPUT_SIDE):
        raise fail(path, f"'input_size' metadata {meta_size} is out of range (1..{MAX_INPUT_SIDE})")
    if (fixed[2] is not None and fixed[2] != h) or (fixed[3] is not None and fixed[3] != w):
        raise fail(path, f"'input_size' metadata {meta_size} disagrees with the graph's input shape {shape}")
    return h, w


class OnnxRuntimeBackend:
    """An ONNX Runtime session for one of our ONNX files.

    providers: ORT execution providers in order of preference (default CPU only); threads: intra-op threads
    (0 lets ORT decide).
    """

    def __init__(self, path, providers=None, threads: int = 0):
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise fail(path, "no such file")
        if path.stat().st_size == 0:
            raise fail(path, "file is empty (zero bytes)")
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        if threads:
            opts.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(path), opts, providers=providers or ["CPUExecutionProvider"])
        except Exception as e:  # ORT raises its own exception types for every malformed file
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise fail(path, f"not a readable ONNX model ({first[:200]})") from None
        self.path = path
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.layout = _layout(path, self.output_names)
        inputs = self.session.get_inputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4:
            raise fail(path, f"not a YOLOv6 detector ONNX: expected one [B,3,H,W] input, found "
                             f"{[(i.name, i.shape) for i in inputs]}")
        self.input_name = inputs[0].name
        self.outputs = list(E2E_OUTPUTS if self.layout == "end2end" else RAW_OUTPUTS)
        self.metadata = read_metadata(path, self.session)

        shape = inputs[0].shape
        self.input_size = _input_size(path, shape, self.metadata.get("input_size"))
        # A fixed-batch file must be fed exactly max_batch images; the Detector pads the last chunk.
        self.fixed_batch = isinstance(shape[0], int) and shape[0] > 0
        self.max_batch = shape[0] if self.fixed_batch else DYNAMIC_MAX_BATCH
        if self.max_batch * 3 * self.input_size[0] * self.input_size[1] > MAX_INPUT_VALUES:
            raise fail(path, f"a fixed batch of {self.max_batch} at {self.input_size[0]}x{self.input_size[1]} is "
                             f"more than {MAX_INPUT_VALUES:,} input values (damaged shape?)")
        if inputs[0].type not in INPUT_TYPES:
            raise fail(path, f"input '{self.input_name}' is {inputs[0].type}; expected float32 or float16 images")
        self.dtype = INPUT_TYPES[inputs[0].type]
        names = self.metadata.get("names")
        if not isinstance(names, list):
            n = self.session.get_outputs()[self.output_names.index("scores")].shape[-1] \
                if "scores" in self.output_names else None
            names = [f"class{i}" for i in range(n)] if isinstance(n, int) else []
        self.names = [str(n) for n in names]
        self.model_name = str(self.metadata.get("model_name", path.stem))
        self.precision = str(self.metadata.get("precision", "fp32"))
        self.providers = self.session.get_providers()

    def __call__(self, blob: np.ndarray):
        if blob.ndim != 4 or blob.shape[1] != 3 or tuple(blob.shape[2:]) != self.input_size:
            raise fail(self.path, f"input blob shape {tuple(blob.shape)} does not match [B,3,{self.input_size[0]},"
                                  f"{self.input_size[1]}]")
        if self.fixed_batch and blob.shape[0] != self.max_batch:
            raise fail(self.path, f"the model takes exactly {self.max_batch} images a call (fixed batch), "
                                  f"got {blob.shape[0]}")
        try:
            out = self.session.run(self.outputs, {self.input_name: np.ascontiguousarray(blob, self.dtype)})
        except Exception as e:  # noqa: BLE001 - ORT's own exception types; the model file is what failed
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise fail(self.path, f"ONNX Runtime failed to run the model: {first[:300]}") from None
        return tuple(out)

    def __repr__(self):
        return (f"OnnxRuntimeBackend({self.path}, model={self.model_name}, input={self.input_size}, "
                f"layout={self.layout}, providers={self.providers})")
