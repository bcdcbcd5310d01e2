"""Import NCNN models (.param text graph + .bin weights) into our fused YOLOv6Lite, with numpy only.

Reading: the .param lists layers with their input/output blobs and key=value parameters; the .bin holds the
weights of the layers that have any, in layer order, with no index. So the .bin can only be walked by knowing
each layer type's weight layout, and a walk that does not end on the last byte means the pair does not match.

Mapping: NCNN emits layers in its own topological order, which differs from ours (the head levels come out
reversed and interleaved). Both graphs are therefore walked the same way, depth-first from the outputs,
inputs in operand order, listing convolutions as they are finished; identical graphs give identical lists.
Every pair is checked (kind, shape, stride, groups) and every parameter of our model must be filled once.
"""
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..datasets.coco_names import COCO_NAMES
from ..errors import fail

MAGIC = 7767517
FP16_TAG = 0x01306B47
# Array-valued parameters are written with key -23300 - id.
ARRAY_KEY_BASE = -23300
CONV_TYPES = ("Convolution", "ConvolutionDepthWise")
# Convolution parameters that are counts or sizes (num_output, kernel, dilation, stride, bias_term, weight count,
# groups, and their _h forms): a float or negative one would only fail later, deep in the .bin walk.
CONV_COUNT_KEYS = (0, 1, 2, 3, 5, 6, 7, 11, 12, 13)
# Layer types that store nothing in the .bin; any other type would make the walk guess, so it is refused.
WEIGHTLESS_TYPES = {
    "Input", "Split", "Concat", "Slice", "Crop", "Interp", "Pooling", "BinaryOp", "UnaryOp", "Eltwise",
    "HardSwish", "HardSigmoid", "Swish", "Sigmoid", "ReLU", "Clip", "TanH", "Mish", "ShuffleChannel",
    "Reshape", "Permute", "Flatten", "Softmax", "Dropout", "Noop",
}


@dataclass
class NcnnLayer:
    type: str
    name: str
    inputs: list
    outputs: list
    params: dict
    line: int
    weights: dict = field(default_factory=dict)

    def get(self, key: int, default=0):
        return self.params.get(key, default)


@dataclass
class NcnnGraph:
    param_path: Path
    bin_path: Path
    layers: list

    def producers(self) -> dict:
        """blob name -> layer that writes it."""
        return {blob: layer for layer in self.layers for blob in layer.outputs}

    def output_blobs(self) -> list:
        """Blobs no layer reads, sorted by name (out0, out1, ...)."""
        consumed = {blob for layer in self.layers for blob in layer.inputs}
        return sorted(blob for layer in self.layers for blob in layer.outputs if blob not in consumed)


def _parse_value(text: str):
    # NCNN's own rule: a value with '.' or an exponent is a float, anything else an int.
    is_float = any(ch in text for ch in ".eE")
    return float(text) if is_float else int(text)


def read_param(path) -> list:
    """Parse an NCNN text .param into NcnnLayer records (no weights)."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except UnicodeDecodeError:
        raise fail(path, "not an NCNN text .param (binary content; only the text .param format is supported)")
    except OSError as e:
        raise fail(path, f"cannot read: {e.strerror}")
    if not lines or lines[0].strip() != str(MAGIC):
        first = lines[0].strip()[:40] if lines else ""
        raise fail(path, f"not an NCNN text .param (first line must be the magic {MAGIC}, found '{first}')")
    try:
        layer_count, blob_count = (int(v) for v in lines[1].split())
    except (IndexError, ValueError):
        raise fail(path, "line 2: expected '<layer count> <blob count>'")
    layers = []
    for lineno, line in enumerate(lines[2:], start=3):
        if not line.strip():
            continue
        layers.append(_parse_layer_line(path, lineno, line.split()))
    if len(layers) != layer_count:
        raise fail(path, f"header announces {layer_count} layers but the file has {len(layers)}")
    written = set()
    for layer in layers:
        unknown = [blob for blob in layer.inputs if blob not in written]
        if unknown:
            raise fail(path, f"line {layer.line}: layer {layer.name} reads blob '{unknown[0]}' "
                             "that no earlier layer writes")
        written.update(layer.outputs)
    blobs = written
    if len(blobs) != blob_count:
        raise fail(path, f"header announces {blob_count} blobs but the layers produce {len(blobs)}")
    return layers


def _parse_layer_line(path, lineno: int, tokens: list) -> NcnnLayer:
    try:
        type_, name, n_in, n_out = tokens[0], tokens[1], int(tokens[2]), int(tokens[3])
    except (IndexError, ValueError):
        raise fail(path, f"line {lineno}: expected '<type> <name> <inputs> <outputs> ...'")
    blob_tokens = tokens[4:4 + n_in + n_out]
    if len(blob_tokens) != n_in + n_out:
        raise fail(path, f"line {lineno}: layer {name} lists fewer blobs than its counts {n_in} {n_out}")
    params = {}
    for token in tokens[4 + n_in + n_out:]:
        key, sep, value = token.partition("=")
        try:
            key = int(key)
            if not sep:
                raise ValueError
            if key <= ARRAY_KEY_BASE:
                count, *items = value.split(",")
                if int(count) != len(items):
                    raise ValueError
                params[ARRAY_KEY_BASE - key] = [_parse_value(v) for v in items]
            else:
                params[key] = _parse_value(value)
        except ValueError:
            raise fail(path, f"line {lineno}: layer {name}: bad parameter '{token}'")
    if type_ not in CONV_TYPES and type_ not in WEIGHTLESS_TYPES:
        raise fail(path, f"line {lineno}: layer type '{type_}' is not supported by this reader")
    for key in CONV_COUNT_KEYS if type_ in CONV_TYPES else ():
        if key in params and (not isinstance(params[key], int) or params[key] < 0):
            raise fail(path, f"line {lineno}: layer {name}: parameter {key}={params[key]} must be a whole "
                             "number >= 0")
    return NcnnLayer(type_, name, blob_tokens[:n_in], blob_tokens[n_in:], params, lineno)


class _BinReader:
    """Sequential reader over the .bin bytes that reports running past the end with the file name."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.data = path.read_bytes()
        except OSError as e:
            raise fail(path, f"cannot read: {e.strerror}")
        self.pos = 0

    def take(self, nbytes: int, what: str) -> bytes:
        if self.pos + nbytes > len(self.data):
            raise fail(self.path, f"truncated: ends at byte {len(self.data)} while reading {what} "
                                  f"({self.pos + nbytes - len(self.data)} bytes missing)")
        chunk = self.data[self.pos:self.pos + nbytes]
        self.pos += nbytes
        return chunk

    def tagged_array(self, count: int, what: str) -> np.ndarray:
        """Weights stored with a 4-byte storage tag: fp16 (padded to 4 bytes) or plain fp32 (tag 0)."""
        tag = struct.unpack("<I", self.take(4, what))[0]
        if tag == FP16_TAG:
            raw = self.take(count * 2, what)
            self.take((-count * 2) % 4, what)  # fp16 data is padded to a 4-byte boundary
            return np.frombuffer(raw, "<f2").astype(np.float32)
        if tag == 0:
            return np.frombuffer(self.take(count * 4, what), "<f4").copy()
        raise fail(self.path, f"{what}: unsupported weight storage tag 0x{tag:08X} at byte {self.pos - 4} "
                              "(only fp16 and fp32 are supported, not int8 or quantized tables)")

    def raw_fp32(self, count: int, what: str) -> np.ndarray:
        return np.frombuffer(self.take(count * 4, what), "<f4").copy()


def read_bin(path, layers: list) -> None:
    """Fill layer.weights from the .bin in layer order; the walk must consume the file exactly."""
    reader = _BinReader(Path(path))
    for layer in layers:
        if layer.type not in CONV_TYPES:
            continue
        if layer.get(8) or layer.get(19):
            raise fail(path, f"layer {layer.name}: int8 or dynamic-weight convolutions are not supported")
        count = layer.get(6)
        what = f"layer {layer.name} weights"
        layer.weights["weight"] = reader.tagged_array(count, what)
        if layer.get(5):
            layer.weights["bias"] = reader.raw_fp32(layer.get(0), f"layer {layer.name} bias")
    left = len(reader.data) - reader.pos
    if left:
        raise fail(path, f"{left} bytes left after the last layer's weights: this .bin does not belong to "
                         "its .param")


def read_ncnn(param_path, bin_path=None) -> NcnnGraph:
    """Read a .param and its .bin (default: same name beside it)."""
    param_path = Path(param_path)
    bin_path = Path(bin_path) if bin_path is not None else param_path.with_suffix(".bin")
    if not param_path.exists():
        raise fail(param_path, "no such file")
    if not bin_path.exists():
        raise fail(bin_path, f"no such file (the weights for {param_path.name} are expected beside it)")
    from ..files import regular_file

    regular_file(param_path, "NCNN .param")
    regular_file(bin_path, "NCNN .bin")
    layers = read_param(param_path)
    read_bin(bin_path, layers)
    return NcnnGraph(param_path, bin_path, layers)


def ncnn_conv_order(graph: NcnnGraph) -> list:
    """Convolution layers in depth-first post-order from the outputs (inputs visited in operand order)."""
    producers, seen, order = graph.producers(), set(), []
    for blob in graph.output_blobs():
        stack = [(producers[blob], False)]
        while stack:
            layer, done = stack.pop()
            if done:
                if layer.type in CONV_TYPES:
                    order.append(layer)
                continue
            if layer.name in seen:
                continue
            seen.add(layer.name)
            stack.append((layer, True))
            stack.extend((producers[b], False) for b in reversed(layer.inputs) if b in producers)
    return order


def torch_conv_order(model) -> list:
    """(qualified name, nn.Conv2d) of the model's convolutions in the same post-order as ncnn_conv_order.

    The model is traced with torch.fx through forward_levels; the outputs are taken level by level,
    class scores before box distances, the order NCNN concatenates them into out0..out3.
    """
    import torch.fx
    from torch import nn

    class Levels(nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, x):
            return [t for level in self.model.forward_levels(x) for t in level]

    traced = torch.fx.symbolic_trace(Levels(model))
    modules = dict(traced.named_modules())
    output = next(n for n in traced.graph.nodes if n.op == "output")
    seen, order = set(), []
    stack = [(n, False) for n in reversed(output.all_input_nodes)]
    while stack:
        node, done = stack.pop()
        if done:
            if node.op == "call_module" and isinstance(modules[node.target], nn.Conv2d):
                order.append((node.target.removeprefix("model."), modules[node.target]))
            continue
        if node in seen:
            continue
        seen.add(node)
        stack.append((node, True))
        stack.extend((n, False) for n in reversed(node.all_input_nodes))
    return order


def _check_pair(graph: NcnnGraph, ours_name: str, conv, layer: NcnnLayer) -> None:
    kernel = (layer.get(11, layer.get(1)), layer.get(1))
    stride = (layer.get(13, layer.get(3)), layer.get(3))
    groups = layer.get(7, 1) if layer.type == "ConvolutionDepthWise" else 1
    expected = {
        "out channels": (conv.out_channels, layer.get(0)),
        "kernel": (tuple(conv.kernel_size), kernel),
        "stride": (tuple(conv.stride), stride),
        "groups": (conv.groups, groups),
        "weight count": (conv.weight.numel(), layer.weights["weight"].size),
        "bias": (conv.bias is not None, "bias" in layer.weights),
    }
    for what, (ours, theirs) in expected.items():
        if ours != theirs:
            raise fail(graph.param_path, f"layer {layer.name} (line {layer.line}) does not match our {ours_name}: "
                                         f"{what} {theirs} vs ours {ours}")


def fill_model(model, graph: NcnnGraph) -> None:
    """Copy the NCNN conv weights into a fused model; every parameter must be filled exactly once."""
    import torch

    ours, theirs = torch_conv_order(model), ncnn_conv_order(graph)
    all_convs = [layer for layer in graph.layers if layer.type in CONV_TYPES]
    if len(theirs) != len(all_convs):
        raise fail(graph.param_path, f"{len(all_convs) - len(theirs)} convolutions do not lead to any output")
    if len(ours) != len(theirs):
        raise fail(graph.param_path, f"graph has {len(theirs)} convolutions, our {model.model_name} has {len(ours)}")
    params = dict(model.named_parameters())
    filled = {}
    for (name, conv), layer in zip(ours, theirs):
        _check_pair(graph, name, conv, layer)
        for kind, array in layer.weights.items():
            key = f"{name}.{kind}"
            if key in filled:
                raise fail(graph.param_path, f"layer {layer.name} maps onto {key}, already filled by {filled[key]}")
            filled[key] = layer.name
            target = params[key]
            with torch.no_grad():
                target.copy_(torch.from_numpy(array.reshape(target.shape)))
    missing = [key for key in params if key not in filled]
    if missing:
        raise fail(graph.param_path, f"our {model.model_name} parameter {missing[0]} has no NCNN layer "
                                     f"({len(missing)} unfilled)")
    buffers = [name for name, _ in model.named_buffers()]
    if buffers:
        raise fail(graph.param_path, f"our model still has buffer {buffers[0]} after fusing: cannot fill it")


def _num_classes(graph: NcnnGraph) -> int:
    # Each output is Concat(class scores, 4 box distances); the class count is the first input's width.
    producers = graph.producers()
    outputs = graph.output_blobs()
    if len(outputs) != 4:
        raise fail(graph.param_path, f"not a YOLOv6Lite graph: expected 4 outputs (strides 8-64), found {len(outputs)}")
    concat = producers[outputs[0]]
    if concat.type != "Concat" or len(concat.inputs) != 2:
        raise fail(graph.param_path, f"not a YOLOv6Lite graph: output {outputs[0]} is not Concat(scores, boxes)")
    layer = producers.get(concat.inputs[0])
    if layer is None or layer.type != "Convolution":
        raise fail(graph.param_path, f"not a YOLOv6Lite graph: {outputs[0]}'s scores do not come from a conv")
    n, count = int(layer.get(0)), int(layer.get(6))
    # the width sizes the model built next: it must be what the layer's weights (read from the .bin) hold
    if n < 1 or count % n:
        raise fail(graph.param_path, f"line {layer.line}: layer {layer.name} declares {n:,} outputs for {count:,} "
                                     "weights: a damaged .param")
    from .state import check_class_count

    return check_class_count(n, graph.param_path)


def load_ncnn_model(param_path):
    """Build the fused YOLOv6Lite described by an NCNN .param/.bin pair and fill it with its weights.

    Returns (model in eval mode, info) with info = {model_name, names, fused: True, source: "ncnn"}.
    The size (S/M/L) is found by parameter count; the class count by the width of the score convs.
    """
    from ..models.lite import LITE_CONFIGS, build_lite

    graph = read_ncnn(param_path)
    num_classes = _num_classes(graph)
    names = list(COCO_NAMES) if num_classes == len(COCO_NAMES) else [f"class{i}" for i in range(num_classes)]
    total = sum(a.size for layer in graph.layers for a in layer.weights.values())
    model = None
    import torch

    for name in sorted(LITE_CONFIGS):
        with torch.device("meta"):  # counted without memory; only the size that matches is built
            count = sum(p.numel() for p in build_lite(name, num_classes, names).fuse().parameters())
        if count == total:
            model = build_lite(name, num_classes, names).fuse()
            break
    if model is None:
        raise fail(graph.param_path, f"{total:,} weights with {num_classes} classes match no YOLOv6Lite size "
                                     f"({', '.join(sorted(LITE_CONFIGS))})")
    fill_model(model, graph)
    info = {"model_name": model.model_name, "names": model.names, "fused": True, "source": "ncnn"}
    return model.eval(), info
