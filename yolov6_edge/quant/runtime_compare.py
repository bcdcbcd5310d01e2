"""Where does a runtime depart from the ONNX meaning of a QDQ graph? Layer by layer, against reference.py
(the ONNX project's own reference evaluator, onnx.reference).

Making every conv output a graph output would change what a runtime fuses (an output must exist in float),
so each layer is checked in a graph of its own:
- isolated (default): the subgraph that computes one unit (a Conv and the activations fused into it) from
  the nearest float tensors upstream, walking back through its Q/DQ pairs and through the ops a runtime
  folds into its input quantization (Concat, layout ops, a constant Mul); those float tensors are fed with
  the reference's values. A departure is then that layer's own, not noise carried from earlier layers
  (in INT8 a last-bit difference flips whole quantization steps, and the flips compound);
- prefix: the whole graph from the image to the unit, for the error accumulated up to there.
In isolated mode the fed tensors are first moved onto the grid of the Q that reads them (snap_feeds), so no
input lies near a rounding tie that a runtime's own arithmetic (OpenVINO folds Q/DQ into FakeQuantize)
could break the other way; the reference then recomputes the unit on those feeds. Ties can still arise
inside a unit (a quantized Concat times a channel scale), so a right runtime is not always bit-exact. A unit
departs when its relative L2 error exceeds `tol`, 1e-3 by default. Measured on YOLOv6Lite-S: right
runtimes land below 4e-7 (ONNX Runtime) and 7e-4 (OpenVINO, a few elements at internal ties);
the faults this found land at 1.2e-3 to 3.3e-3 (one weight code rounded the other way: a whole channel
off), 8e-2 to 1.1 (saturated INT8 products) and 0.15 to 0.7 (the signed-INT8 Concat of OpenVINO 2026.4).
`frac_off` (elements off by more than 1e-3 of the layer's largest value) tells a channel-wide fault from
scattered ties. Inputs are the runtime's own preprocessed images.
"""
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper
from tqdm import tqdm

from .. import arguments
from ..backends.openvino.signal_stack import keep_signal_stack
from ..errors import fail
from ..onnx_contract import read_props
from .reference import ReferenceEvaluator, quantize_dequantize

ACTIVATIONS = ("Relu", "HardSwish", "Sigmoid", "HardSigmoid", "Clip", "LeakyRelu")
# ops a runtime folds into the quantization of its consumer's input: the isolated subgraph walks through them
TRANSPARENT = ("QuantizeLinear", "DequantizeLinear", "Concat", "Reshape", "Transpose", "Slice", "Split", "Squeeze",
               "Unsqueeze", "Flatten", "Identity", "Shape", "Gather", "Constant", "Cast", "Div", "Mod", "Expand")
DEFAULT_TOL = 1e-3


@dataclass
class Unit:
    name: str  # the conv's weight name without ".weight", e.g. neck.reduce4.conv
    conv: str  # the Conv node's name
    output: str  # the tensor checked: the conv output, or the end of its single-reader activation chain
    next_scale: float | None = None  # scale of the QuantizeLinear that reads `output`, if one does
    next_zero_point: int = 0


@dataclass
class LayerResult:
    unit: str
    backend: str
    rel_err: float
    max_abs: float
    max_steps: float | None = None  # max |error| in quantization steps of the next QuantizeLinear
    codes_differ: float | None = None  # fraction of elements whose next-layer INT8 code differs
    frac_off: float | None = None  # fraction of elements off by more than 1e-3 of the largest |reference|
    departs: bool = False

    def to_dict(self):
        return {k: v for k, v in self.__dict__.items()}


@dataclass
class Report:
    model: str
    mode: str
    tol: float
    images: list
    backends: list
    layers: list = field(default_factory=list)
    outputs: dict = field(default_factory=dict)  # backend -> {output: {rel_err, max_abs}}

    def departing(self, backend):
        return [r for r in self.layers if r.backend == backend and r.departs]

    def to_dict(self):
        summary = {}
        for b in self.backends:
            rows = [r for r in self.layers if r.backend == b]
            bad = self.departing(b)
            worst = max(rows, key=lambda r: r.rel_err) if rows else None
            summary[b] = {"layers": len(rows), "departing": len(bad), "first_departing": bad[0].unit if bad else None,
                          "worst": worst.unit if worst else None, "worst_rel_err": worst.rel_err if worst else None}
        return {"model": self.model, "mode": self.mode, "tol": self.tol, "images": self.images,
                "backends": self.backends, "summary": summary, "outputs": self.outputs,
                "layers": [r.to_dict() for r in self.layers]}


def _graph_maps(g):
    producer = {o: n for n in g.node for o in n.output}
    readers = {}
    for n in g.node:
        for i in n.input:
            readers.setdefault(i, []).append(n)
    return producer, readers


def _scalar(inits, name):
    return float(numpy_helper.to_array(inits[name]).reshape(-1)[0]) if name in inits else None


def find_units(model: onnx.ModelProto, pattern=None) -> list:
    """Every Conv (in graph order) whose name or weight matches `pattern` (a substring; None: all)."""
    g = model.graph
    producer, readers = _graph_maps(g)
    inits = {i.name: i for i in g.initializer}
    outputs = {o.name for o in g.output}
    units = []
    for n in g.node:
        if n.op_type != "Conv":
            continue
        w = n.input[1]
        while w in producer and producer[w].op_type in ("DequantizeLinear", "QuantizeLinear"):
            w = producer[w].input[0]
        name = w[:-len(".weight")] if w.endswith(".weight") else (n.name or w)
        if pattern and pattern not in name and pattern not in n.name:
            continue
        out = n.output[0]
        while out not in outputs and len(readers.get(out, [])) == 1 and readers[out][0].op_type in ACTIVATIONS:
            out = readers[out][0].output[0]
        unit = Unit(name, n.name, out)
        qs = [r for r in readers.get(out, []) if r.op_type == "QuantizeLinear"]
        if qs and qs[0].input[1] in inits:
            unit.next_scale = _scalar(inits, qs[0].input[1])
            unit.next_zero_point = int(_scalar(inits, qs[0].input[2]) or 0) if len(qs[0].input) > 2 else 0
        units.append(unit)
    return units


def _float_tensors(model: onnx.ModelProto) -> set:
    """Names of the float tensors (activations); the rest (shape arithmetic) is always recomputed inside."""
    inferred = onnx.shape_inference.infer_shapes(model)
    g = inferred.graph
    floats = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE}
    return {v.name for v in list(g.value_info) + list(g.input) + list(g.output)
            if v.type.tensor_type.elem_type in floats}


def _ancestors(g, output, isolated, floats=None, producer=None):
    """(nodes in graph order, float tensors fed from outside) that compute `output`.

    producer: _graph_maps(g)[0], when the caller walks many units of one graph (it costs more than the walk).
    """
    producer = producer if producer is not None else _graph_maps(g)[0]
    inits = {i.name for i in g.initializer}
    graph_inputs = {i.name for i in g.input}
    need, cut, seen = set(), set(), set()
    stack = [(output, True)]
    while stack:
        t, first = stack.pop()
        if t in seen or t in inits or not t:
            continue
        seen.add(t)
        if t in graph_inputs:
            cut.add(t)
            continue
        node = producer[t]
        inside = first or not isolated or node.op_type in TRANSPARENT
        if node.op_type == "Mul" and any(i in inits for i in node.input):
            inside = True  # a channel scale: folded into the quantization of the conv input
        if floats is not None and t not in floats:
            inside = True  # shape arithmetic
        if not inside:
            cut.add(t)
            continue
        need.add(id(node))
        # the unit itself: its conv and the activations behind it are inside; upstream convs are not
        into_unit = first and node.op_type in ACTIVATIONS
        for i in node.input:
            stack.append((i, into_unit))
    nodes = [n for n in g.node if id(n) in need]
    return nodes, sorted(cut)


def extract(model: onnx.ModelProto, output: str, values: dict, isolated=True, floats=None, producer=None) -> tuple:
    """A standalone ModelProto computing `output` and the feeds it needs (from `values`, the reference's).

    floats: the model's float tensor names (_float_tensors), so shape arithmetic is never cut; producer: as
    in _ancestors.
    """
    g = model.graph
    nodes, cut = _ancestors(g, output, isolated, floats if floats is not None else _float_tensors(model), producer)
    used = {i for n in nodes for i in n.input}
    inits = [i for i in g.initializer if i.name in used]
    feeds = {t: values[t] for t in cut}
    inputs = [helper.make_tensor_value_info(t, helper.np_dtype_to_tensor_dtype(v.dtype), list(v.shape))
              for t, v in feeds.items()]
    out = helper.make_tensor_value_info(output, onnx.TensorProto.FLOAT, None)
    sub = helper.make_graph(nodes, f"unit_{output}", inputs, [out], inits)
    m = helper.make_model(sub, opset_imports=model.opset_import, ir_version=model.ir_version)
    return m, feeds


def snap_feeds(sub: onnx.ModelProto, feeds: dict) -> dict:
    """Each fed tensor moved onto the grid of the QuantizeLinear that reads it (through a constant Mul).

    An input already on its grid quantizes to the same code under any runtime's arithmetic, so what is left
    between runtime and reference is the layer itself: a right fused kernel then agrees to float rounding
    (about 1e-7), and one weight or level off shows at once.
    """
    g = sub.graph
    inits = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    _, readers = _graph_maps(g)
    out = dict(feeds)
    for t, x in feeds.items():
        if not np.issubdtype(np.asarray(x).dtype, np.floating):
            continue
        for r in readers.get(t, []):
            mult = np.float32(1)
            q = r
            if r.op_type == "Mul":
                other = [i for i in r.input if i != t]
                nxt = [n for n in readers.get(r.output[0], []) if n.op_type == "QuantizeLinear"]
                if len(other) != 1 or other[0] not in inits or not nxt:
                    continue
                mult, q = inits[other[0]], nxt[0]
            if q.op_type != "QuantizeLinear" or q.input[1] not in inits:
                continue
            axis = {a.name: a.i for a in q.attribute}.get("axis", 1)
            zp = inits.get(q.input[2]) if len(q.input) > 2 else None
            grid = quantize_dequantize(x * mult, inits[q.input[1]], zp, axis)
            out[t] = (grid / mult).astype(np.float32) if r.op_type == "Mul" else grid
            break
    return out


class _Runner:
    """Runs a ModelProto on one runtime: onnxruntime (all graph optimizations, as users run it) or openvino."""

    def __init__(self, backend, threads=1):
        if backend not in ("onnxruntime", "openvino"):
            raise ValueError(f"unknown backend {backend!r}")
        self.backend, self.threads = backend, threads
        self.tmp = tempfile.TemporaryDirectory()
        if backend == "openvino":
            from ..backends.openvino.runtime import _import_openvino

            self.core = _import_openvino("openvino backend").Core()

    def __call__(self, model: onnx.ModelProto, feeds: dict, output: str) -> np.ndarray:
        if self.backend == "onnxruntime":
            import onnxruntime as ort

            opts = ort.SessionOptions()
            opts.log_severity_level = 3
            opts.intra_op_num_threads = self.threads
            sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
            return sess.run([output], feeds)[0]
        path = Path(self.tmp.name) / "unit.onnx"
        onnx.save(model, str(path))
        # f32 for the float parts: the reference computes in f32, and OpenVINO would take bf16 on CPUs that
        # have it, which departs by ~1e-3 wherever the INT8 fusion is right
        with keep_signal_stack():  # backends/openvino/signal_stack.py: one compiled unit per layer, dropped in turn
            compiled = self.core.compile_model(str(path), "CPU", {"INFERENCE_NUM_THREADS": self.threads,
                                                                  "INFERENCE_PRECISION_HINT": "f32"})
        res = compiled.create_infer_request().infer({compiled.input(k): v for k, v in feeds.items()})
        return np.array(res[compiled.output(output)])


def _measure(unit, backend, got, ref, tol) -> LayerResult:
    got, ref = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    if got.shape != ref.shape:
        return LayerResult(unit.name, backend, float("inf"), float("inf"), departs=True)
    err = np.abs(got - ref)
    rel = float(np.linalg.norm(got - ref) / max(np.linalg.norm(ref), 1e-12))
    r = LayerResult(unit.name, backend, rel, float(err.max()) if err.size else 0.0)
    r.frac_off = float(np.mean(err > 1e-3 * np.abs(ref).max())) if err.size else 0.0
    if unit.next_scale:
        r.max_steps = r.max_abs / unit.next_scale
        r.codes_differ = float(np.mean(np.rint(got / unit.next_scale) != np.rint(ref / unit.next_scale)))
    r.departs = not rel <= tol
    return r


def _preprocess(model_path, images, num, size):
    from .. import ops
    from ..runtime.images import expand_sources, read_image

    files = expand_sources([str(images)]) if not isinstance(images, (list, tuple)) else list(images)
    if not files:
        raise fail(images, "no images found")
    files = files[:num]
    blob, _ = ops.letterbox([read_image(f) for f in files], size=size)
    return files, blob


def _input_size(path, model) -> tuple:
    """(H, W) the file takes, read as every runtime reads it (onnx_contract.py): 'input_size' metadata
    or the graph's fixed input shape; symbolic sizes without metadata, a 2-D input or metadata that is not
    [H, W] are one line naming the file."""
    from .. import onnx_contract as contract

    inputs = [i for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}]
    if not inputs:
        raise fail(path, "the graph has no input")
    dims = inputs[0].type.tensor_type.shape.dim
    shape = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in dims]
    return contract.input_size(path, contract.decode_metadata(read_props(model)), shape)


def compare_runtimes(onnx_path, images, backends=("onnxruntime", "openvino"), num=1, mode="isolated",
                     layers=None, tol=DEFAULT_TOL, threads=1, progress=True) -> Report:
    """Check each unit of a (QDQ) ONNX on each backend against the reference (onnx.reference); see the module doc."""
    onnx_path = Path(onnx_path)
    if mode not in ("isolated", "prefix"):
        raise fail(onnx_path, f"unknown mode {mode!r} (expected isolated or prefix)")
    where = str(onnx_path)
    num = arguments.integer(num, "num", 1, 4096, where=where)
    tol = arguments.number(tol, "tol", above=0.0, where=where)
    threads = arguments.integer(threads, "threads", 0, 1024, where=where)
    if isinstance(backends, str) or not backends:
        raise fail(where, f"backends must be a list of runtime names, got {backends!r:.60}")
    for b in backends:
        arguments.choice(b, "backend", ("onnxruntime", "openvino"), where=where)
    try:
        model = onnx.load(str(onnx_path))
    except Exception as e:  # noqa: BLE001 - onnx raises several types for truncated or foreign files
        raise fail(onnx_path, f"not a readable ONNX file ({type(e).__name__})") from None
    size = _input_size(onnx_path, model)
    files, blob = _preprocess(onnx_path, images, num, size)
    units = find_units(model, layers)
    if not units:
        raise fail(onnx_path, f"no Conv layer{' matches ' + repr(layers) if layers else ''}")
    ref = ReferenceEvaluator(model)
    input_name = ref.input_names[0]
    keep = {u.output for u in units} | {o for o in ref.output_names}
    floats = _float_tensors(model)
    producer = _graph_maps(model.graph)[0]  # once: every unit walks the same graph
    if mode == "isolated":
        for u in units:
            keep |= set(_ancestors(model.graph, u.output, True, floats, producer)[1])
    values = ref.run({input_name: blob}, keep=keep)
    values[input_name] = blob
    report = Report(str(onnx_path), mode, tol, [str(f) for f in files], list(backends))
    runners = [_Runner(b, threads) for b in backends]
    total = len(units) * len(runners)
    with tqdm(total=total, desc=f"compare ({mode})", unit="layer", disable=not progress) as bar:
        for u in units:
            sub, feeds = extract(model, u.output, values, isolated=mode == "isolated", floats=floats,
                                 producer=producer)
            expected = values[u.output]
            if mode == "isolated":
                feeds = snap_feeds(sub, feeds)
                expected = ReferenceEvaluator(sub).run(feeds)[u.output]
            for run in runners:
                got = run(sub, feeds, u.output)
                report.layers.append(_measure(u, run.backend, got, expected, tol))
                bar.update(1)
    for run in runners:
        outs = {}
        full = {input_name: blob}
        for name in ref.output_names:
            got = run(model, full, name)
            ref_v = values[name]
            outs[name] = {"rel_err": float(np.linalg.norm(got - ref_v) / max(np.linalg.norm(ref_v), 1e-12)),
                          "max_abs": float(np.abs(got - ref_v).max())}
        report.outputs[run.backend] = outs
    return report


def format_report(report: Report, top: int = 10) -> str:
    d = report.to_dict()
    lines = [f"{report.model}: {len(report.images)} image(s), mode {report.mode}, a layer departs above relative "
             f"error {report.tol:g}"]
    for b, s in d["summary"].items():
        first = f"first at {s['first_departing']}" if s["first_departing"] else "none departs"
        lines.append(f"  {b}: {s['departing']} of {s['layers']} layers depart ({first}); worst {s['worst']} "
                     f"(rel err {s['worst_rel_err']:.2e})")
        for name, o in d["outputs"].get(b, {}).items():
            lines.append(f"    whole-graph output {name}: rel err {o['rel_err']:.2e}, max abs {o['max_abs']:.3g}")
    shown = sorted(report.layers, key=lambda r: -r.rel_err)[:top]
    if shown:
        lines.append(f"{'layer':<48} {'backend':<12} {'rel err':>9} {'max abs':>9} {'steps':>7} {'codes':>7} "
                     f"{'off':>7}")
        for r in shown:
            steps = f"{r.max_steps:7.2f}" if r.max_steps is not None else f"{'-':>7}"
            codes = f"{r.codes_differ:7.1%}" if r.codes_differ is not None else f"{'-':>7}"
            lines.append(f"{r.unit[-48:]:<48} {r.backend:<12} {r.rel_err:9.2e} {r.max_abs:9.3g} {steps} {codes} "
                         f"{r.frac_off:7.2%}" + ("  DEPARTS" if r.departs else ""))
    return "\n".join(lines)
