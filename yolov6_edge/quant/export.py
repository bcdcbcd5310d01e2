"""Fake-quant model -> QDQ ONNX: export the float graph, then place Q/DQ from the quantizers' amax.

Placing Q/DQ on the ONNX graph (qdq.py) rather than exporting fake-quantize ops keeps the placement rules
(shared activation pairs, Concat and residual Add inputs) in one readable place and independent of the
torch exporter in use. Conv weights are matched to the model's layers by content, so renaming exporters or
graph simplifiers do not matter.
"""
import hashlib
import tempfile
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from ..atomic import atomic_path
from ..onnx_contract import (FLOAT_LAYERS_KEY, QDQ_TARGET_KEY, WEIGHT_BITS_KEY, WEIGHT_PAIRING_KEY,
                             standard_metadata, update_props, write_props)
from .fake_quant import quant_layers, strip
from .qdq import ConvQuant, insert_qdq
from .weight_levels import file_weight_bits


def _digest(a: np.ndarray) -> str:
    a = np.ascontiguousarray(a, np.float32)
    return hashlib.sha1(a.tobytes() + str(a.shape).encode()).hexdigest()


def export_float_onnx(model, path, img_size, opset=17, simplify=False):
    """Float ONNX of `model` with the contract's I/O names and metadata (the export module's when present).

    simplify: run the graph simplifier (constant shape arithmetic folded away); it may also fold ops into
    Conv weights, which then no longer match our layers, so callers fall back to simplify=False.
    """
    from ..export.onnx import export_onnx

    if all(hasattr(model, a) for a in ("names", "strides", "model_name", "fuse")):
        return export_onnx(model, path, img_size, simplify=simplify)
    h, w = img_size
    with atomic_path(path) as tmp:
        torch.onnx.export(model.eval(), torch.zeros(1, 3, h, w), str(tmp), dynamo=False, opset_version=opset,
                          input_names=["images"], output_names=["boxes", "scores"],
                          dynamic_axes={"images": {0: "batch"}, "boxes": {0: "batch"}, "scores": {0: "batch"}})
        m = onnx.load(str(tmp))
        write_props(m, standard_metadata(getattr(model, "model_name", type(model).__name__),
                                         getattr(model, "names", []), (h, w), getattr(model, "strides", [])))
        onnx.save(m, str(tmp))
    return path


def undo_shared_initializers(onnx_model) -> None:
    """Give every weight its own initializer again.

    The torch exporter deduplicates identical parameters (zero-initialised prediction convs are all equal)
    into one initializer read through Identity nodes; each Conv needs its own weight Q/DQ and its own name
    to be matched to its layer, so the Identity outputs become initializers of their own.
    """
    g = onnx_model.graph
    inits = {i.name: i for i in g.initializer}
    keep = []
    for n in g.node:
        if n.op_type == "Identity" and n.input[0] in inits:
            copy = onnx.TensorProto()
            copy.CopyFrom(inits[n.input[0]])
            copy.name = n.output[0]
            g.initializer.append(copy)
        else:
            keep.append(n)
    if len(keep) != len(g.node):
        del g.node[:]
        g.node.extend(keep)


def qdq_specs(qmodel, onnx_model) -> tuple:
    """Map each quantized layer to its Conv weight initializer: ({init: (act amax, w amax)}, {layer: init})."""
    by_digest, by_name = {}, {}
    for init in onnx_model.graph.initializer:
        if len(init.dims) == 4:
            by_digest.setdefault(_digest(numpy_helper.to_array(init)), init.name)
            by_name[init.name] = init
    specs, names = {}, {}
    for name, m in quant_layers(qmodel).items():
        # the parameter name first: layers with identical weights (e.g. zero-initialised heads) share a
        # digest; the content match is the fallback for exporters that rename initializers
        w = m.conv.weight.detach().cpu().numpy()
        init = by_name.get(f"{name}.weight")
        if init is None or _digest(numpy_helper.to_array(init)) != _digest(w):
            init = by_digest.get(_digest(w))
        else:
            init = init.name
        if init is None:
            raise RuntimeError(f"layer {name}: its weight was not found in the exported ONNX")
        names[name] = init
        if m.quantized:
            if not m.input_quantizer.calibrated:
                raise RuntimeError(f"layer {name} is not calibrated; run calibrate() first")
            m.calibrate_weight()  # QAT moved the weights: the exported scales must cover them
            scaled = m.channel_scaled
            specs[init] = ConvQuant(float(m.input_quantizer.amax), m.weight_quantizer.amax.cpu().numpy(),
                                    m.inverse_channel_scale().detach().cpu().numpy() if scaled else None,
                                    m.effective_weight().detach().cpu().numpy() if scaled else None,
                                    _levels(m.weight_quantizer.qmax))
    return specs, names


def _levels(qmax):
    return qmax.cpu().numpy() if hasattr(qmax, "cpu") else qmax


def export_qdq_onnx(qmodel, path, img_size, residual=True, opset=17, target="tensorrt"):
    """Write the QDQ ONNX for `target` (targets.py) to `path` (atomically); return {layer name: Conv weight
    initializer name}."""
    from .targets import apply_target

    path = Path(path)
    # the simplified graph first (no shape arithmetic left to run per call); the plain export when the
    # simplifier changed a weight our layers must be matched to
    for simplify in (True, False):
        with tempfile.TemporaryDirectory() as d:
            tmp_float = Path(d) / "float.onnx"
            export_float_onnx(strip(qmodel), tmp_float, img_size, opset, simplify=simplify)
            m = onnx.load(str(tmp_float))
        undo_shared_initializers(m)
        try:
            specs, names = qdq_specs(qmodel, m)
            break
        except RuntimeError:
            if not simplify:
                raise
    insert_qdq(m, specs, residual=residual)
    apply_target(m, target)
    changes = {"precision": "int8-qdq", QDQ_TARGET_KEY: target, WEIGHT_BITS_KEY: file_weight_bits(qmodel),
               FLOAT_LAYERS_KEY: sorted(n for n, mm in quant_layers(qmodel).items() if not mm.quantized)}
    if getattr(qmodel, "weight_pairing", None):  # mixed levels: safe for this runtime's int16 pairs
        changes[WEIGHT_PAIRING_KEY] = qmodel.weight_pairing
    update_props(m, changes)
    onnx.checker.check_model(m)
    with atomic_path(path) as tmp:
        onnx.save(m, str(tmp))
    return names
