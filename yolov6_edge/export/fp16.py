"""Convert a float32 ONNX detector to float16 for a strongly typed TensorRT FP16 engine.

A strongly typed network runs each layer in the type the ONNX gives it, so FP16 is decided here, not by a
builder flag (TensorRT 11 has none). The conversion is ONNX Runtime's own tool (`onnxruntime.transformers.
float16`, the maintained fork of onnxconverter-common's converter; onnxruntime is already a dependency), with
our rules as its options:
- keep_io_types: the graph inputs and outputs stay float32, with Cast nodes at the boundary, so the engine's
  I/O and every caller are the same for FP32 and FP16 engines;
- op_block_list: ops whose float inputs are indices, thresholds or coordinates that fp16 cannot hold stay
  float32 (the tool's defaults: NonMaxSuppression, TopK, RoiAlign, Range, ...), and so does ConstantOfShape
  (shape arithmetic); the tool keeps the `scales` input of Resize float32 (the ONNX spec types it float);
- node_block_list: a Cast from an integer type to float (shape arithmetic) stays float32: those values can
  exceed fp16's exact-integer range (2048);
- constants beyond fp16's range are clipped to +-65504 instead of overflowing to inf (a saturated weight is
  wrong by little, an inf poisons the output); a constant read by both float32 and fp16 nodes is converted
  and the float32 readers get a Cast (none of our exports has one: tests/test_fp16_onnx.py).
Not onnxconverter-common itself: measured with 1.16.0 on our exports, its output does not load in ONNX
Runtime for YOLOv6Lite (its Resize block leaves a float32 tensor typed float16) nor for any end-to-end export
(it names the Casts it adds after the nodes they follow, and our NMS nodes have no names: duplicate names).
"""
import onnx
from onnx import TensorProto

from ..atomic import atomic_path
from ..errors import fail
from ..onnx_contract import read_props, update_props

FLOAT, HALF = TensorProto.FLOAT, TensorProto.FLOAT16
FLOAT_TYPES = (FLOAT, HALF, TensorProto.DOUBLE, TensorProto.BFLOAT16)
EXTRA_FP32_OPS = ("ConstantOfShape",)


def _int_to_float_casts(model) -> list:
    """Cast nodes that turn an integer tensor into float (shape arithmetic), named so a block list can hold
    them (a name is given where the exporter left none)."""
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False)
    g = inferred.graph
    types = {v.name: v.type.tensor_type.elem_type for v in list(g.input) + list(g.output) + list(g.value_info)}
    types.update({i.name: i.data_type for i in g.initializer})
    names = {n.name for n in model.graph.node}
    casts = []
    for i, node in enumerate(model.graph.node):
        to = next((a.i for a in node.attribute if a.name == "to"), None)
        if node.op_type != "Cast" or to != FLOAT or types.get(node.input[0]) in (*FLOAT_TYPES, None):
            continue
        if not node.name:
            node.name = f"Cast_int_to_float_{i}"
            while node.name in names:
                node.name += "_"
            names.add(node.name)
        casts.append(node.name)
    return casts


def _constants_to_initializers(model) -> None:
    """Constant nodes holding a tensor become initializers (the same graph): the converter decides the type of
    an initializer by its readers (float32 where every reader is float32, e.g. Resize scales), but converts
    every Constant node's tensor and casts it back where a reader needs float32."""
    g = model.graph
    outputs = {o.name for o in g.output}
    keep = []
    for node in g.node:
        value = next((a.t for a in node.attribute if a.name == "value"), None) if node.op_type == "Constant" else None
        if value is None or node.domain not in ("", "ai.onnx") or node.output[0] in outputs:
            keep.append(node)
            continue
        init = g.initializer.add()
        init.CopyFrom(value)
        init.name = node.output[0]
    del g.node[:]
    g.node.extend(keep)


def convert_float_to_float16(model: onnx.ModelProto) -> onnx.ModelProto:
    """Return a new ModelProto computing in fp16 inside, float32 at its inputs and outputs."""
    # onnxruntime.transformers appends its own folder to sys.path when imported; only this function needs it
    from onnxruntime.transformers import float16
    from onnxruntime.transformers.onnx_model import OnnxModel

    model = onnx.ModelProto.FromString(model.SerializeToString())
    _constants_to_initializers(model)
    block = _int_to_float_casts(model)
    converted = float16.convert_float_to_float16(
        model, keep_io_types=True, op_block_list=[*float16.DEFAULT_OP_BLOCK_LIST, *EXTRA_FP32_OPS],
        node_block_list=block, max_finite_val=65504.0)
    OnnxModel.graph_topological_sort(converted.graph)  # the tool appends its Casts at the end of the node list
    update_props(converted, {"precision": "fp16"})
    onnx.checker.check_model(converted)
    return converted


def convert_file(src, dst) -> None:
    """Convert `src` (float32 ONNX) to float16 and write `dst` atomically."""
    try:
        model = onnx.load(str(src))
    except Exception as e:  # noqa: BLE001 - onnx raises several types for truncated or foreign files
        raise fail(src, f"not a readable ONNX file ({e.__class__.__name__})") from None
    precision = read_props(model).get("precision", "fp32")
    if precision != "fp32":
        raise fail(src, f"precision is {precision!r}; fp16 conversion needs a float32 ONNX")
    if any(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in model.graph.node):
        raise fail(src, "has QuantizeLinear/DequantizeLinear nodes; build it with --int8, not --fp16")
    converted = convert_float_to_float16(model)
    with atomic_path(dst) as tmp:
        onnx.save(converted, str(tmp))
