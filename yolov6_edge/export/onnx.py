"""Export a YOLOv6 / YOLOv6Lite model to ONNX following the contract in docs/ARCHITECTURE.md.

The model is fused first (re-parameterized branches and BatchNorm folded), so the ONNX holds only the deploy
graph. We use torch's TorchScript-based exporter (`dynamo=False`): the torch.export-based exporter, default
since torch 2.9, needs the extra `onnxscript` package and gives nothing this static, loop-free graph needs;
the TorchScript tracer handles the dynamic batch axis through `dynamic_axes` with no extra dependency.

The end-to-end variant appends ONNX NonMaxSuppression (per class, so a box may be kept for several classes:
multi-label) and a fixed-size top-K that turns NMS's flat index list into padded per-image outputs.
"""
import io
import warnings
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ..atomic import atomic_path
from ..errors import fail
from ..onnx_contract import MAX_INPUT_VALUES, RAW_OUTPUTS, standard_metadata, write_props
# 13: Squeeze/Unsqueeze with axes inputs (the end-to-end tail) and unflatten (YOLOv6Lite); 23: the newest the
# TorchScript exporter of torch 2.13 writes. Every opset in between exports and runs on ONNX Runtime 1.32.
MIN_OPSET, MAX_OPSET = 13, 23
MAX_SIDE = 16384  # backends/onnxruntime refuses larger input_size metadata as damaged


def _load(model):
    """Accept an nn.Module or a path to a model file; return (module, source description)."""
    if isinstance(model, (str, Path)):
        from ..weights import load_model

        module, _ = load_model(model)
        return module, str(model)
    return model, type(model).__name__


# A fixed batch is traced with a zero input of that batch: beyond this it is a typo that would allocate terabytes.
MAX_FIXED_BATCH = 4096


def _check_size(img_size, strides, path):
    h, w = (img_size, img_size) if isinstance(img_size, int) else tuple(int(v) for v in img_size)
    step = max(strides)
    if h <= 0 or w <= 0 or h % step or w % step:
        raise fail(path, f"image size {h}x{w} must be positive multiples of the largest stride {step}")
    if max(h, w) > MAX_SIDE:
        raise fail(path, f"image size {h}x{w} is larger than {MAX_SIDE} (the runtime refuses such files)")
    return h, w


def _trace(model, img_size, batch, opset) -> onnx.ModelProto:
    import torch

    n = 1 if batch == "dynamic" else int(batch)
    x = torch.zeros(n, 3, *img_size)
    dynamic = None
    if batch == "dynamic":
        dynamic = {name: {0: "batch"} for name in ("images", *RAW_OUTPUTS)}
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice and tracer warnings
        torch.onnx.export(model, (x,), buf, dynamo=False, input_names=["images"], output_names=list(RAW_OUTPUTS),
                          dynamic_axes=dynamic, opset_version=opset, do_constant_folding=True)
    return onnx.load_from_string(buf.getvalue())


def _simplify(proto: onnx.ModelProto) -> onnx.ModelProto:
    import onnxslim

    return onnxslim.slim(proto)


def append_nms(proto: onnx.ModelProto, conf: float, iou: float, max_det: int) -> onnx.ModelProto:
    """Append NonMaxSuppression + padding so the graph outputs num_dets/det_boxes/det_scores/det_classes.

    NonMaxSuppression returns selected (batch, class, box) triples for the whole batch, M of them. To give
    every image exactly max_det rows we score an [B, M + max_det] table (score where the triple belongs to that
    image, -1 elsewhere and in the max_det padding columns) and take its top max_det per row: the padding
    guarantees TopK always has enough columns, and padded rows read zero boxes/classes and a zero score.
    """
    g = proto.graph
    k = int(max_det)
    consts = {
        "nms_max_out": np.array([k], np.int64), "nms_iou": np.array([iou], np.float32),
        "nms_conf": np.array([conf], np.float32), "nms_k": np.array([k], np.int64),
        "nms_zero": np.array(0, np.int64), "nms_one": np.array(1, np.int64),
        "nms_neg": np.array(-1.0, np.float32), "nms_axis1": np.array([1], np.int64),
        "nms_pad_boxes": np.zeros((k, 4), np.float32), "nms_pad_idx": np.zeros((k,), np.int64),
        "nms_col0": np.array([0], np.int64), "nms_col1": np.array([1], np.int64), "nms_col2": np.array([2], np.int64),
        "nms_thresh": np.array(0.0, np.float32), "nms_zero_f": np.array(0.0, np.float32),
    }
    g.initializer.extend(numpy_helper.from_array(v, n) for n, v in consts.items())
    N = helper.make_node
    nodes = [
        N("Transpose", ["scores"], ["nms_scores_bcn"], perm=[0, 2, 1]),
        N("NonMaxSuppression", ["boxes", "nms_scores_bcn", "nms_max_out", "nms_iou", "nms_conf"], ["nms_sel"],
          center_point_box=0),
        # selected [M, 3] -> batch, class, box columns [M]
        N("Gather", ["nms_sel", "nms_col0"], ["nms_b2"], axis=1),
        N("Gather", ["nms_sel", "nms_col1"], ["nms_c2"], axis=1),
        N("Gather", ["nms_sel", "nms_col2"], ["nms_i2"], axis=1),
        N("Squeeze", ["nms_b2", "nms_axis1"], ["nms_b"]),
        N("Squeeze", ["nms_c2", "nms_axis1"], ["nms_c"]),
        N("Squeeze", ["nms_i2", "nms_axis1"], ["nms_i"]),
        # score of each selected triple and its box, both flat over the batch
        N("GatherND", ["nms_scores_bcn", "nms_sel"], ["nms_s"]),
        N("Concat", ["nms_b2", "nms_i2"], ["nms_bi"], axis=1),
        N("GatherND", ["boxes", "nms_bi"], ["nms_boxes_m"]),
        # [B, M] table: score where the triple belongs to image b, else -1
        N("Shape", ["scores"], ["nms_shape"]),
        N("Gather", ["nms_shape", "nms_zero"], ["nms_B"], axis=0),
        N("Range", ["nms_zero", "nms_B", "nms_one"], ["nms_brange"]),
        N("Unsqueeze", ["nms_brange", "nms_axis1"], ["nms_brange2"]),
        N("Unsqueeze", ["nms_b", "nms_col0"], ["nms_brow"]),
        N("Equal", ["nms_brange2", "nms_brow"], ["nms_mask"]),
        N("Unsqueeze", ["nms_s", "nms_col0"], ["nms_srow"]),
        N("Where", ["nms_mask", "nms_srow", "nms_neg"], ["nms_table"]),
        # pad with max_det columns of -1 so TopK(max_det) is always possible
        N("Shape", ["nms_table"], ["nms_tshape"]),
        N("Gather", ["nms_tshape", "nms_col0"], ["nms_B1"], axis=0),
        N("Concat", ["nms_B1", "nms_k"], ["nms_pad_shape"], axis=0),
        N("ConstantOfShape", ["nms_pad_shape"], ["nms_pad"],
          value=numpy_helper.from_array(np.array([-1.0], np.float32))),
        N("Concat", ["nms_table", "nms_pad"], ["nms_table_p"], axis=1),
        N("TopK", ["nms_table_p", "nms_k"], ["nms_top_s", "nms_top_i"], axis=1, largest=1, sorted=1),
        N("Concat", ["nms_boxes_m", "nms_pad_boxes"], ["nms_boxes_p"], axis=0),
        N("Concat", ["nms_c", "nms_pad_idx"], ["nms_c_p"], axis=0),
        N("Gather", ["nms_boxes_p", "nms_top_i"], ["nms_top_boxes"], axis=0),
        N("Gather", ["nms_c_p", "nms_top_i"], ["nms_top_c"], axis=0),
        N("Greater", ["nms_top_s", "nms_thresh"], ["nms_valid"]),
        N("Cast", ["nms_valid"], ["nms_valid_i"], to=TensorProto.INT64),
        N("ReduceSum", ["nms_valid_i", "nms_axis1"], ["num_dets"], keepdims=1),
        N("Where", ["nms_valid", "nms_top_s", "nms_zero_f"], ["det_scores"]),
        N("Unsqueeze", ["nms_valid", "nms_col2"], ["nms_valid3"]),
        N("Where", ["nms_valid3", "nms_top_boxes", "nms_zero_f"], ["det_boxes"]),
        N("Where", ["nms_valid", "nms_top_c", "nms_zero"], ["det_classes"]),
    ]
    g.node.extend(nodes)
    batch = g.input[0].type.tensor_type.shape.dim[0]
    b = batch.dim_param or batch.dim_value
    del g.output[:]
    g.output.extend([
        helper.make_tensor_value_info("num_dets", TensorProto.INT64, [b, 1]),
        helper.make_tensor_value_info("det_boxes", TensorProto.FLOAT, [b, k, 4]),
        helper.make_tensor_value_info("det_scores", TensorProto.FLOAT, [b, k]),
        helper.make_tensor_value_info("det_classes", TensorProto.INT64, [b, k]),
    ])
    return proto


def check_export_args(path, batch="dynamic", opset: int = 17, end2end: bool = False, conf: float = 0.25,
                      iou: float = 0.45, max_det: int = 100) -> None:
    """Refuse settings that would give a file that fails on every inference or never detects, before any work."""
    path = Path(path)
    if path.suffix != ".onnx":
        raise fail(path, "the output of an ONNX export must end in .onnx")
    if batch != "dynamic" and (not str(batch).isdigit() or not 1 <= int(batch) <= MAX_FIXED_BATCH):
        raise fail(path, f"batch must be 'dynamic' or a whole number in 1..{MAX_FIXED_BATCH}, got {batch!r}")
    if isinstance(opset, bool) or not isinstance(opset, int) or not MIN_OPSET <= opset <= MAX_OPSET:
        raise fail(path, f"opset {opset!r} is not supported (use {MIN_OPSET}..{MAX_OPSET}; default 17)")
    if end2end:
        for what, v in (("conf", conf), ("iou", iou)):
            if isinstance(v, (bool, str)) or not isinstance(v, (int, float)) or not 0.0 <= v <= 1.0:
                raise fail(path, f"end-to-end {what} must lie in [0, 1], got {v!r}")
        if isinstance(max_det, bool) or not isinstance(max_det, int) or not 1 <= max_det <= 100000:
            raise fail(path, f"end-to-end max_det must be an integer in 1..100000, got {max_det!r}")


def export_onnx(model, path, img_size=(640, 640), batch="dynamic", opset: int = 17, simplify: bool = True,
                end2end: bool = False, conf: float = 0.25, iou: float = 0.45, max_det: int = 100,
                metadata: dict | None = None) -> Path:
    """Export `model` (an nn.Module following the model contract, or a .pt/.param path) to `path`.

    batch: "dynamic" or a fixed int. end2end: put NMS inside the graph (conf/iou/max_det are then fixed in
    the file). metadata: extra metadata_props (strings or JSON-able values) added to the standard ones.
    Returns the written path; nothing is left at `path` if any step fails.
    """
    path = Path(path)
    check_export_args(path, batch, opset, end2end, conf, iou, max_det)
    module, source = _load(model)
    for attr in ("names", "strides", "model_name", "fuse"):
        if not hasattr(module, attr):
            raise fail(source, f"not a YOLOv6 model: it has no '{attr}' (see the model contract)")
    size = _check_size(img_size, module.strides, path)
    if batch != "dynamic" and int(batch) * 3 * size[0] * size[1] > MAX_INPUT_VALUES:
        raise fail(path, f"a fixed batch of {batch} at {size[0]}x{size[1]} is more than {MAX_INPUT_VALUES:,} input "
                         "values (the runtime refuses such files)")
    if not module.is_fused:
        module.fuse()
    module.eval()

    proto = _trace(module, size, batch, opset)
    if simplify:
        proto = _simplify(proto)
    if end2end:
        proto = append_nms(proto, conf, iou, max_det)
    meta = standard_metadata(module.model_name, module.names, size, module.strides, end2end=end2end,
                             batch=batch if batch == "dynamic" else str(int(batch)))
    if end2end:
        meta["nms"] = {"conf": conf, "iou": iou, "max_det": int(max_det), "multi_label": True}
    meta.update(metadata or {})
    write_props(proto, meta)
    proto.producer_name = "yolov6-edge"
    onnx.checker.check_model(proto, full_check=True)
    with atomic_path(path) as tmp:
        onnx.save(proto, tmp)
    return path
