"""export/fp16.py: float32 -> float16 ONNX conversion (ONNX Runtime's converter with our rules), checked against
the float32 graph in ONNX Runtime and for the types our rules fix."""
import collections

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto

from yolov6_edge.errors import Yolov6EdgeError
from yolov6_edge.export.fp16 import convert_file, convert_float_to_float16

torch = pytest.importorskip("torch")
# torch.onnx's TorchScript exporter warns that it is legacy; export/onnx.py uses it on purpose.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


class TinyDetector(torch.nn.Module):
    """A random-weight stand-in with the detector's ONNX contract: conv stem, upsample + concat (Resize with
    float scales), sigmoid scores, a DFL-like softmax and a box decode against anchor points."""

    def __init__(self, nc=3):
        super().__init__()
        self.stem = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, 2, 1), torch.nn.SiLU())
        self.down = torch.nn.Sequential(torch.nn.Conv2d(8, 16, 3, 2, 1), torch.nn.SiLU())
        self.cls = torch.nn.Conv2d(24, nc, 1)
        self.reg = torch.nn.Conv2d(24, 4 * 8, 1)
        self.register_buffer("proj", torch.arange(8, dtype=torch.float32))

    def forward(self, x):
        a = self.stem(x)
        b = torch.nn.functional.interpolate(self.down(a), scale_factor=2.0, mode="nearest")
        f = torch.cat([a, b], 1)
        bsz, _, h, w = f.shape
        scores = self.cls(f).sigmoid().flatten(2).permute(0, 2, 1)
        dist = self.reg(f).reshape(bsz, 4, 8, h * w).softmax(2)
        dist = (dist * self.proj.view(1, 1, 8, 1)).sum(2).permute(0, 2, 1)
        ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
        pts = (torch.stack([xs, ys], -1).reshape(-1, 2).float() + 0.5) * 2.0
        boxes = torch.cat([pts - dist[..., :2] * 2.0, pts + dist[..., 2:] * 2.0], -1)
        return boxes, scores


def export_tiny(path, size=64):
    torch.manual_seed(0)
    model = TinyDetector().eval()
    torch.onnx.export(model, torch.rand(1, 3, size, size), str(path), input_names=["images"],
                      output_names=["boxes", "scores"], dynamic_axes={"images": {0: "batch"}},
                      opset_version=17, dynamo=False)
    m = onnx.load(str(path))
    m.metadata_props.add(key="precision", value="fp32")
    onnx.save(m, str(path))
    return path


def elem_types(m) -> dict:
    """Element type of every tensor of a model, as ONNX type inference (strict) gives it."""
    g = onnx.shape_inference.infer_shapes(m, strict_mode=True).graph
    types = {v.name: v.type.tensor_type.elem_type for v in list(g.input) + list(g.output) + list(g.value_info)}
    types.update({i.name: i.data_type for i in g.initializer})
    return types


def casts(m) -> collections.Counter:
    """(source type, target type) -> number of Cast nodes."""
    types = elem_types(m)
    return collections.Counter((types.get(n.input[0]), n.attribute[0].i) for n in m.graph.node if n.op_type == "Cast")


def run(path, x):
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(["boxes", "scores"], {"images": x})


def test_fp16_keeps_float32_io_and_matches_float32_outputs(tmp_path):
    src = export_tiny(tmp_path / "tiny.onnx")
    dst = tmp_path / "tiny_fp16.onnx"
    convert_file(src, dst)
    m = onnx.load(str(dst))
    io_types = {v.name: v.type.tensor_type.elem_type for v in list(m.graph.input) + list(m.graph.output)}
    assert io_types == {"images": TensorProto.FLOAT, "boxes": TensorProto.FLOAT, "scores": TensorProto.FLOAT}
    meta, meta32 = ({p.key: p.value for p in mm.metadata_props} for mm in (m, onnx.load(str(src))))
    assert meta == {**meta32, "precision": "fp16"}
    onnx.checker.check_model(m, full_check=True)
    # Casts: one at the input, one per output, and the float32 island of the int -> float anchor arithmetic
    # (the Cast from int64 stays float32, one Cast takes its result to fp16); the int64 -> int64 Casts of the
    # torch export are untouched. The same seven as the converter this one replaced wrote.
    assert casts(m) == {(TensorProto.FLOAT, TensorProto.FLOAT16): 2, (TensorProto.FLOAT16, TensorProto.FLOAT): 2,
                        (TensorProto.INT64, TensorProto.FLOAT): 1, (TensorProto.INT64, TensorProto.INT64): 2}
    conv_weights = [i for i in m.graph.initializer if i.dims and len(i.dims) == 4]
    assert conv_weights and all(i.data_type == TensorProto.FLOAT16 for i in conv_weights)

    x = np.random.default_rng(0).random((2, 3, 64, 64), dtype=np.float32)
    (b32, s32), (b16, s16) = run(src, x), run(dst, x)
    assert b16.dtype == np.float32 and b16.shape == b32.shape
    # Tolerances: fp16 has 11 significant bits; scores are in [0, 1] (step <= 2^-11), boxes reach 64 px
    # (step 2^-5 there) after a few layers of accumulated rounding.
    np.testing.assert_allclose(s16, s32, atol=5e-3)
    np.testing.assert_allclose(b16, b32, atol=0.25)
    assert not np.array_equal(s16, s32), "outputs identical: the graph was not converted"


def test_resize_scales_stay_float32(tmp_path):
    src = export_tiny(tmp_path / "tiny.onnx")
    m = convert_float_to_float16(onnx.load(str(src)))
    inits = {i.name: i for i in m.graph.initializer}
    consts = {n.output[0]: n for n in m.graph.node if n.op_type == "Constant"}
    resizes = [n for n in m.graph.node if n.op_type == "Resize"]
    assert resizes
    for n in resizes:
        scales = n.input[2]
        if scales in inits:
            assert inits[scales].data_type == TensorProto.FLOAT
        elif scales in consts:
            assert consts[scales].attribute[0].t.data_type == TensorProto.FLOAT
        else:  # produced by a node: it must not be a cast to fp16
            producer = next(p for p in m.graph.node if scales in p.output)
            assert not (producer.op_type == "Cast" and producer.attribute[0].i == TensorProto.FLOAT16)


def test_fp16_refuses_qdq_and_non_onnx_files(tmp_path):
    bad = tmp_path / "junk.onnx"
    bad.write_bytes(b"not an onnx file")
    with pytest.raises(Yolov6EdgeError, match="junk.onnx: not a readable ONNX"):
        convert_file(bad, tmp_path / "out.onnx")
    assert not (tmp_path / "out.onnx").exists()

    src = export_tiny(tmp_path / "tiny.onnx")
    m = onnx.load(str(src))
    m.metadata_props[0].value = "int8-qdq"
    onnx.save(m, str(tmp_path / "q.onnx"))
    with pytest.raises(Yolov6EdgeError, match="q.onnx: precision is 'int8-qdq'"):
        convert_file(tmp_path / "q.onnx", tmp_path / "out.onnx")


def test_fp16_on_exported_yolov6n_plain_and_end2end(tmp_path):
    """A random-weight YOLOv6-N exported by export/onnx.py (conv weights re-drawn so the head is not at its
    constant prior), float32 vs float16 in ONNX Runtime."""
    pytest.importorskip("yolov6_edge.models.yolov6")
    from yolov6_edge.export.onnx import export_onnx
    from yolov6_edge.models import build_model

    torch.manual_seed(0)
    model = build_model("yolov6n", num_classes=3)
    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d):
            m.reset_parameters()
    x = np.random.default_rng(0).random((2, 3, 96, 96), dtype=np.float32)

    src = export_onnx(model, tmp_path / "n.onnx", img_size=(96, 96))
    convert_file(src, tmp_path / "n16.onnx")
    (b32, s32), (b16, s16) = run(src, x), run(tmp_path / "n16.onnx", x)
    # Boxes reach ~96 px (fp16 step 2^-4 there); scores sit near 0.5 (step 2^-11).
    np.testing.assert_allclose(s16, s32, atol=2e-3)
    np.testing.assert_allclose(b16, b32, atol=0.25)

    e2e = export_onnx(model, tmp_path / "e.onnx", img_size=(96, 96), end2end=True, conf=0.3, max_det=50)
    convert_file(e2e, tmp_path / "e16.onnx")
    m16 = onnx.load(str(tmp_path / "e16.onnx"))
    nms = [n for n in m16.graph.node if n.op_type == "NonMaxSuppression"]
    assert nms
    producers = {o: n for n in m16.graph.node for o in n.output}
    for n in nms:  # NMS reads float32: its inputs come from casts back to fp32 (or stayed fp32)
        for name in n.input[:2]:
            p = producers.get(name)
            assert p is None or not (p.op_type == "Cast" and p.attribute[0].i == TensorProto.FLOAT16)
    # NMS, TopK and ConstantOfShape (the padding of the detection table) compute in float32, everything else
    # in fp16; no constant is read in both types (it would be converted and cast back for its float32 reader)
    onnx.checker.check_model(m16, full_check=True)
    types = elem_types(m16)
    float_out = collections.defaultdict(set)
    for n in m16.graph.node:
        if n.op_type != "Cast":
            float_out[n.op_type] |= {types[o] for o in n.output if types[o] in (TensorProto.FLOAT, TensorProto.FLOAT16)}
    assert {op for op, t in float_out.items() if TensorProto.FLOAT in t} == {"TopK", "ConstantOfShape"}
    assert float_out["Conv"] == {TensorProto.FLOAT16}
    inits = {i.name for i in m16.graph.initializer}
    assert not [n.name for n in m16.graph.node if n.op_type == "Cast" and n.input[0] in inits]
    assert casts(m16) == {(TensorProto.FLOAT, TensorProto.FLOAT16): 3, (TensorProto.FLOAT16, TensorProto.FLOAT): 5,
                          (TensorProto.BOOL, TensorProto.INT64): 1}
    names = ["num_dets", "det_boxes", "det_scores", "det_classes"]
    sess32 = ort.InferenceSession(str(e2e), providers=["CPUExecutionProvider"])
    sess16 = ort.InferenceSession(str(tmp_path / "e16.onnx"), providers=["CPUExecutionProvider"])
    (n32, _, d32, _), (n16, _, d16, _) = sess32.run(names, {"images": x}), sess16.run(names, {"images": x})
    # Near-tied scores may swap order under fp16 rounding, so compare counts and the sorted score lists.
    np.testing.assert_array_equal(n16, n32)
    np.testing.assert_allclose(np.sort(d16, 1), np.sort(d32, 1), atol=2e-3)
