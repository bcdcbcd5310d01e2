"""Convert a float32 ONNX detector to float16 for a strongly typed TensorRT FP16 engine.

A strongly typed network runs each layer in the type the ONNX gives it, so FP16 is decided here, not by a
builder flag (TensorRT 11 has none). Rules:
- the graph inputs and outputs stay float32, with Cast nodes at the boundary, so the engine's I/O and every
  caller are the same for FP32 and FP16 engines;
- ops whose float inputs are indices, thresholds or coordinates that fp16 cannot hold (NMS, TopK, RoiAlign,
  Range) stay float32, as do the `roi` and `scales` inputs of Resize (the ONNX spec types them float);
- a node that turns integers into floats (shape arithmetic: Cast from int, ConstantOfShape, Range) stays
  float32: those values can exceed fp16's exact-integer range (2048);
- a constant (initializer or Constant node) is converted only where every consumer runs in fp16; otherwise a
  float32 copy is kept and the fp16 consumers read a converted twin.
"""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ..atomic import atomic_path
from ..errors import fail

FLOAT, HALF = TensorProto.FLOAT, TensorProto.FLOAT16
KEEP_FP32_OPS = {"NonMaxSuppression", "TopK", "RoiAlign", "Range", "ConstantOfShape"}
# op -> input positions that must stay float32 even when the op runs in fp16
FP32_INPUT_POSITIONS = {"Resize": {1, 2}, "Upsample": {1}}
FP16_MAX = float(np.finfo(np.float16).max)


def _elem_types(model) -> dict:
    """Element type of every tensor name we can know: inputs, outputs, initializers, inferred values."""
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False)
    types = {}
    g = inferred.graph
    for vi in list(g.input) + list(g.output) + list(g.value_info):
        types[vi.name] = vi.type.tensor_type.elem_type
    for init in g.initializer:
        types[init.name] = init.data_type
    for node in g.node:
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value":
                    types[node.output[0]] = a.t.data_type
    return types


def _keeps_fp32(node, types) -> bool:
    if node.op_type in KEEP_FP32_OPS:
        return True
    if node.op_type == "Cast":
        src = types.get(node.input[0])
        return src not in (FLOAT, HALF, None)  # int -> float: shape arithmetic
    return False


def _to_fp16_array(arr: np.ndarray) -> np.ndarray:
    # Clip instead of overflowing to inf: a saturated weight is wrong by little, an inf poisons the output.
    return np.clip(arr, -FP16_MAX, FP16_MAX).astype(np.float16)


def convert_float_to_float16(model: onnx.ModelProto) -> onnx.ModelProto:
    """Return a new ModelProto computing in fp16 inside, float32 at its inputs and outputs."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    g = model.graph
    types = _elem_types(model)
    is_float = lambda name: types.get(name) == FLOAT  # noqa: E731

    constants = {i.name: i for i in g.initializer}
    const_nodes = {n.output[0]: n for n in g.node if n.op_type == "Constant"}
    fp16_nodes = [n for n in g.node if n.op_type != "Constant" and not _keeps_fp32(n, types)]
    fp16_ids = {id(n) for n in fp16_nodes}

    def wanted(node, pos):
        if id(node) not in fp16_ids or pos in FP32_INPUT_POSITIONS.get(node.op_type, ()):
            return FLOAT
        return HALF

    # What each consumer wants for each float tensor it reads.
    wants = {}
    for node in g.node:
        if node.op_type == "Constant":
            continue
        for pos, name in enumerate(node.input):
            if name and is_float(name):
                wants.setdefault(name, set()).add(wanted(node, pos))
    graph_outputs = {o.name for o in g.output}
    for name in graph_outputs:
        wants.setdefault(name, set()).add(FLOAT)

    # Decide the produced type of every float tensor.
    produced = {i.name: FLOAT for i in g.input}
    for name in list(constants) + list(const_nodes):
        if is_float(name):
            produced[name] = HALF if wants.get(name) == {HALF} else FLOAT
    for node in g.node:
        if node.op_type == "Constant":
            continue
        for name in node.output:
            if is_float(name):
                produced[name] = HALF if id(node) in fp16_ids else FLOAT

    # Convert constants that only fp16 consumers read.
    for name, init in constants.items():
        if produced.get(name) == HALF:
            init.CopyFrom(numpy_helper.from_array(_to_fp16_array(numpy_helper.to_array(init)), name))
    for name, node in const_nodes.items():
        if produced.get(name) == HALF:
            for a in node.attribute:
                if a.name == "value":
                    a.t.CopyFrom(numpy_helper.from_array(_to_fp16_array(numpy_helper.to_array(a.t)), name))

    # fp16 nodes whose attributes name a float type.
    for node in fp16_nodes:
        for a in node.attribute:
            if node.op_type == "Cast" and a.name == "to" and a.i == FLOAT:
                a.i = HALF

    # Graph outputs produced in fp16: the producer writes a renamed tensor, a Cast restores the name.
    new_nodes, renamed = [], {}
    for name in graph_outputs:
        if produced.get(name) == HALF:
            renamed[name] = f"{name}__fp16"
    for node in g.node:
        for i, name in enumerate(node.output):
            if name in renamed:
                node.output[i] = renamed[name]

    # Insert one Cast per (tensor, target type) where producer and consumer disagree.
    casts = {}

    def cast_of(name, src_name, to):
        key = (name, to)
        if key not in casts:
            out = f"{name}__to_{'fp16' if to == HALF else 'fp32'}"
            casts[key] = out
            new_nodes.append(helper.make_node("Cast", [src_name], [out], to=to, name=f"{out}_cast"))
        return casts[key]

    body = []
    for node in g.node:
        if node.op_type != "Constant":
            for pos, name in enumerate(node.input):
                if not name or not is_float(name):
                    continue
                have, want = produced.get(name, FLOAT), wanted(node, pos)
                if have != want:
                    src = renamed.get(name, name)
                    node.input[pos] = cast_of(name, src, want)
                elif name in renamed:
                    node.input[pos] = renamed[name]
        body.extend(new_nodes)  # casts go before their consumer to keep the graph topologically sorted
        new_nodes.clear()
        body.append(node)
    for name, src in renamed.items():
        body.append(helper.make_node("Cast", [src], [name], to=FLOAT, name=f"{name}_to_fp32"))

    del g.node[:]
    g.node.extend(body)
    del g.value_info[:]  # stale element types; TensorRT and ORT re-infer them
    _set_precision(model, "fp16")
    onnx.checker.check_model(model)
    return model


def _set_precision(model, precision: str) -> None:
    for p in model.metadata_props:
        if p.key == "precision":
            p.value = precision
            return
    model.metadata_props.add(key="precision", value=precision)


def read_metadata(model) -> dict:
    return {p.key: p.value for p in model.metadata_props}


def convert_file(src, dst) -> None:
    """Convert `src` (float32 ONNX) to float16 and write `dst` atomically."""
    try:
        model = onnx.load(str(src))
    except Exception as e:  # onnx raises several types for truncated or foreign files
        raise fail(src, f"not a readable ONNX file ({e.__class__.__name__})") from None
    precision = read_metadata(model).get("precision", "fp32")
    if precision != "fp32":
        raise fail(src, f"precision is {precision!r}; fp16 conversion needs a float32 ONNX")
    if any(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in model.graph.node):
        raise fail(src, "has QuantizeLinear/DequantizeLinear nodes; build it with --int8, not --fp16")
    converted = convert_float_to_float16(model)
    with atomic_path(dst) as tmp:
        onnx.save(converted, str(tmp))
