"""The ONNX contract (docs/ARCHITECTURE.md): what our ONNX files hold and how it is read back, in one place.

Writers (export/onnx.py, quant/export.py, export/fp16.py, quant/choose_target.py) build and store the
metadata through standard_metadata / write_props / update_props; readers (the ONNX Runtime and OpenVINO
backends, the TensorRT build, `info`, the runtime comparison) read it through read_props / decode_metadata and
the checks below. Neither onnx nor a runtime is imported here: props are read from and written to whatever
ModelProto-like object the caller holds (its `metadata_props`).
"""
import json
import os

from .errors import fail

FORMAT_VERSION = "1"
RAW_OUTPUTS = ("boxes", "scores")
E2E_OUTPUTS = ("num_dets", "det_boxes", "det_scores", "det_classes")
LAYOUT_RAW, LAYOUT_E2E = "boxes_xyxy+scores", "end2end"
# metadata keys beyond the plain ones (model_name, names, input_size, strides, layout, precision, batch, nms)
FORMAT_KEY = "yolov6_edge.format_version"
QDQ_TARGET_KEY = "yolov6_edge.qdq_target"      # INT8 files: the runtime whose fusion the Q/DQ placement follows
WEIGHT_BITS_KEY = "yolov6_edge.weight_bits"    # INT8 files: 8, 7, or mixed (per-channel levels, quant/weight_levels.py)
WEIGHT_PAIRING_KEY = "yolov6_edge.weight_pairing"  # mixed levels: the runtime whose int16 weight pairs they respect
FLOAT_LAYERS_KEY = "yolov6_edge.float_layers"  # INT8 files: layers left in float (JSON list)
CPU_CHOICE_KEY = "yolov6_edge.cpu_choice"      # calibrate --target cpu: what was measured to choose the target
# A dynamic-batch file accepts any batch; we still feed it in chunks so memory stays bounded.
DYNAMIC_MAX_BATCH = 32


def standard_metadata(model_name, names, input_size, strides, end2end: bool = False, precision: str = "fp32",
                      **extra) -> dict:
    """The metadata every exported file carries (values as Python objects; write_props stores lists as JSON)."""
    meta = {FORMAT_KEY: FORMAT_VERSION, "model_name": str(model_name), "names": [str(n) for n in names],
            "input_size": [int(v) for v in input_size], "strides": [int(s) for s in strides],
            "layout": LAYOUT_E2E if end2end else LAYOUT_RAW, "precision": precision}
    meta.update(extra)
    return meta


def read_props(proto) -> dict:
    """metadata_props of a ModelProto as {key: string}."""
    return {p.key: p.value for p in proto.metadata_props}


def write_props(proto, meta: dict) -> None:
    """Replace the metadata_props of a ModelProto with `meta` (strings as they are, anything else as JSON)."""
    del proto.metadata_props[:]
    for key, value in meta.items():
        proto.metadata_props.add(key=key, value=value if isinstance(value, str) else json.dumps(value))


def update_props(proto, changes: dict) -> None:
    """Set some metadata_props, keeping the others (and their order)."""
    write_props(proto, {**read_props(proto), **changes})


def decode_metadata(raw: dict) -> dict:
    """metadata_props as a dict, JSON values decoded where they parse."""
    meta = {}
    for key, value in raw.items():
        try:
            meta[key] = json.loads(value)
        except (json.JSONDecodeError, TypeError):
            meta[key] = value
    return meta


def output_layout(path, output_names) -> str:
    names = set(output_names)
    if names >= set(E2E_OUTPUTS):
        return LAYOUT_E2E
    if names >= set(RAW_OUTPUTS):
        return LAYOUT_RAW
    missing = [n for n in RAW_OUTPUTS if n not in names]
    raise fail(path, f"not a YOLOv6 detector ONNX: outputs {sorted(names)} lack {', '.join(missing)} "
                     f"(expected boxes+scores or {'/'.join(E2E_OUTPUTS)})")


def outputs_for(layout) -> list:
    return list(E2E_OUTPUTS if layout == LAYOUT_E2E else RAW_OUTPUTS)


# Larger inputs are refused as damaged metadata: one 16384x16384 float32 image is already 3 GiB.
MAX_INPUT_SIDE = 16384
MAX_INPUT_VALUES = 2**31  # one call's input blob: 8 GiB of float32


def input_size(path, meta: dict, shape) -> tuple:
    """(H, W) from the 'input_size' metadata or the graph's fixed input shape, checked against each other."""
    shape = list(shape) if shape is not None else []
    if len(shape) != 4:
        raise fail(path, f"input shape {shape} has {len(shape)} dimensions; a detector takes [B, 3, H, W]")
    fixed = [d if isinstance(d, int) and not isinstance(d, bool) and d > 0 else None for d in shape]
    if fixed[1] is not None and fixed[1] != 3:
        raise fail(path, f"input shape {shape}: expected 3 channels ([B, 3, H, W])")
    meta_size = meta.get("input_size")
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


def fixed_batch(path, shape, size) -> tuple:
    """(fixed, max_batch): a fixed-batch file must be fed exactly max_batch images (the Detector pads)."""
    fixed = isinstance(shape[0], int) and shape[0] > 0
    max_batch = shape[0] if fixed else DYNAMIC_MAX_BATCH
    if max_batch * 3 * size[0] * size[1] > MAX_INPUT_VALUES:
        raise fail(path, f"a fixed batch of {max_batch} at {size[0]}x{size[1]} is more than {MAX_INPUT_VALUES:,} "
                         "input values (damaged shape?)")
    return fixed, max_batch


MAX_CLASSES = 100_000  # as weights.state.MAX_CLASSES: a longer list is damaged metadata


def class_names(meta: dict, num_scores, path="model") -> list:
    """The 'names' metadata, else class0..classN-1 from the scores output's last dimension.

    Names that disagree with the scores' width would label detections with other classes' names (and make eval
    map them to the wrong categories): refused, as is a list too long to be one."""
    names = meta.get("names")
    known = isinstance(num_scores, int) and not isinstance(num_scores, bool) and num_scores > 0
    if known and num_scores > MAX_CLASSES:
        raise fail(path, f"the scores output has {num_scores:,} classes; a model has at most {MAX_CLASSES:,}")
    if names is None:
        return [f"class{i}" for i in range(num_scores)] if known else []
    if not isinstance(names, list) or not all(isinstance(n, (str, int)) and not isinstance(n, bool) for n in names):
        raise fail(path, f"'names' metadata is not a list of class names ({str(names)[:60]!r})")
    if len(names) > MAX_CLASSES or (known and len(names) != num_scores):
        raise fail(path, f"'names' metadata lists {len(names):,} classes but the scores output has "
                         f"{num_scores if known else 'an unknown number of'} classes")
    return [str(n) for n in names]


# ---- the metadata of a file, without onnx and without its graph ----------------------------------------------
# ModelProto (onnx.proto3) field numbers: metadata_props is field 14, each a StringStringEntryProto of key (1)
# and value (2). The graph (field 7, the weights with it) comes before it and is skipped with a seek.
_METADATA_PROPS, _ENTRY_KEY, _ENTRY_VALUE = 14, 1, 2
_MAX_ENTRY_BYTES = 64 << 20  # a names list of MAX_CLASSES long names is a few MB; more is a damaged file
_VARINT, _FIXED64, _BYTES, _FIXED32 = 0, 1, 2, 5


def _varint(f) -> int:
    value = 0
    for shift in range(0, 70, 7):
        byte = f.read(1)
        if not byte:
            raise ValueError("truncated varint")
        value |= (byte[0] & 0x7F) << shift
        if not byte[0] & 0x80:
            return value
    raise ValueError("varint longer than 10 bytes")


def _walk(f, size: int, wanted: int) -> list:
    """The payloads of every length-delimited field number `wanted` of the message in f up to `size`; every
    other field is skipped without being read."""
    found = []
    while f.tell() < size:
        tag = _varint(f)
        field, wire = tag >> 3, tag & 7
        if field == 0:
            raise ValueError("field number 0")
        if wire == _VARINT:
            _varint(f)
        elif wire in (_FIXED64, _FIXED32):
            f.seek(8 if wire == _FIXED64 else 4, os.SEEK_CUR)
        elif wire == _BYTES:
            length = _varint(f)
            if f.tell() + length > size:
                raise ValueError("a field runs past the end")
            if field != wanted:
                f.seek(length, os.SEEK_CUR)
            elif length > _MAX_ENTRY_BYTES:
                raise ValueError("metadata entry too large")
            else:
                found.append(f.read(length))
        else:  # groups (3, 4) and the unused 6, 7: not an ONNX file
            raise ValueError(f"wire type {wire}")
    if f.tell() != size:
        raise ValueError("a field runs past the end")
    return found


def read_file_props(path) -> dict:
    """metadata_props of an ONNX file as {key: string}, read with neither onnx nor a runtime and without reading
    the graph: the top-level fields of the protobuf are walked and all but metadata_props skipped with a seek,
    so it costs a few small reads whatever the model's size (the registry asks it on every open).

    {} for a file that is not a readable ModelProto: opening it on a runtime says what is wrong with it.
    """
    import io
    import stat

    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a fifo would block the read, a device never end
            return {}
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            props = {}
            for entry in _walk(f, size, _METADATA_PROPS):
                e = io.BytesIO(entry)
                # a string field given twice is its last value (protobuf's rule); absent, the empty string
                key = ([b""] + _walk(e, len(entry), _ENTRY_KEY))[-1]
                e.seek(0)
                props[key.decode("utf-8")] = ([b""] + _walk(e, len(entry), _ENTRY_VALUE))[-1].decode("utf-8")
            return props
    except (OSError, ValueError):  # UnicodeDecodeError is a ValueError
        return {}


def qdq_target(path):
    """The runtime an INT8 file's Q/DQ placement was made for ("openvino", "onnxruntime", "tensorrt"), None for a
    float file or one that is not ONNX."""
    return read_file_props(path).get(QDQ_TARGET_KEY)
