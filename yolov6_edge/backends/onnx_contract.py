"""What a runtime reads from one of our ONNX files (docs/ARCHITECTURE.md, ONNX contract), for every runtime
that loads the ONNX itself (ONNX Runtime, OpenVINO): the output layout, the metadata, the input size and
the class names. No runtime is imported here.
"""
import json

from ..errors import fail

RAW_OUTPUTS = ("boxes", "scores")
E2E_OUTPUTS = ("num_dets", "det_boxes", "det_scores", "det_classes")
# A dynamic-batch file accepts any batch; we still feed it in chunks so memory stays bounded.
DYNAMIC_MAX_BATCH = 32


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
        return "end2end"
    if names >= set(RAW_OUTPUTS):
        return "boxes_xyxy+scores"
    missing = [n for n in RAW_OUTPUTS if n not in names]
    raise fail(path, f"not a YOLOv6 detector ONNX: outputs {sorted(names)} lack {', '.join(missing)} "
                     f"(expected boxes+scores or {'/'.join(E2E_OUTPUTS)})")


def outputs_for(layout) -> list:
    return list(E2E_OUTPUTS if layout == "end2end" else RAW_OUTPUTS)


def input_size(path, meta: dict, shape) -> tuple:
    """(H, W) from the 'input_size' metadata, else from a fixed input shape."""
    size = meta.get("input_size")
    if size is None:
        if not (isinstance(shape[2], int) and isinstance(shape[3], int)):
            raise fail(path, "input height/width are dynamic and the file has no 'input_size' metadata")
        size = [shape[2], shape[3]]
    return int(size[0]), int(size[1])


def fixed_batch(shape) -> tuple:
    """(fixed, max_batch): a fixed-batch file must be fed exactly max_batch images (the Detector pads)."""
    fixed = isinstance(shape[0], int) and shape[0] > 0
    return fixed, (shape[0] if fixed else DYNAMIC_MAX_BATCH)


def class_names(meta: dict, num_scores) -> list:
    """The 'names' metadata, else class0..classN-1 from the scores output's last dimension."""
    names = meta.get("names")
    if not isinstance(names, list):
        names = [f"class{i}" for i in range(num_scores)] if isinstance(num_scores, int) else []
    return [str(n) for n in names]
