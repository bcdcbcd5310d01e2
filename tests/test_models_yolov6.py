"""YOLOv6 family: published parameter / FLOP counts, the model contract, decoding against numpy."""
import io

import numpy as np
import pytest
import torch

from standin_models import randomize_

from yolov6_edge.models import build_model, model_names
from yolov6_edge.models.configs import YOLOV6_CONFIGS
from yolov6_edge.models.flops import count_params, gflops
from yolov6_edge.models.head import DFL, EfficientDecoupledHead, HeadOutput
from yolov6_edge.models.yolov6 import build_yolov6

# Published figures (meituan/YOLOv6 README: 3.0 release table; v1 = release 0.2.0 table / v1 paper).
# FLOPs there are 2 x conv multiply-accumulates at 640x640 on the deployed (fused) model.
PUBLISHED = {
    "yolov6n": (4.7, 11.4), "yolov6s": (18.5, 45.3), "yolov6m": (34.9, 85.8), "yolov6l": (59.6, 150.7),
    "yolov6n-v1": (4.3, 11.1), "yolov6t-v1": (15.0, 36.7), "yolov6s-v1": (17.2, 44.2),
    "yolov6m-v1": (34.3, 82.2), "yolov6l-v1": (58.5, 144.0),
}


def _meta_fused(name):
    # Counting needs shapes only: build on the meta device (no memory, no init cost).
    with torch.device("meta"):
        return build_yolov6(name, num_classes=80).fuse()


def _aat_params(model):
    """Parameters of the 3.0 anchor-aided branch (3 anchors/cell) that the released checkpoints carry."""
    r, nc = model.reg_max, model.num_classes
    return sum(c.in_channels * nc * 3 + nc * 3 + c.in_channels * 4 * (r + 3) + 4 * (r + 3)
               for c in model.detect.cls_preds)


def test_all_configs_are_listed():
    assert set(PUBLISHED) == set(YOLOV6_CONFIGS)
    assert set(PUBLISHED) <= set(model_names())


@pytest.mark.parametrize("name", [n for n in PUBLISHED if n != "yolov6n"])
def test_fused_params_match_published_within_1pct(name):
    got = count_params(_meta_fused(name)) / 1e6
    assert abs(got / PUBLISHED[name][0] - 1) < 0.01, f"{name}: {got:.3f}M vs {PUBLISHED[name][0]}M"


@pytest.mark.parametrize("name", ["yolov6n", "yolov6s", "yolov6m", "yolov6l"])
def test_v3_params_with_aat_branch_match_published_within_1pct(name):
    # Our deploy-time 3.0 N has 4.647M (-1.1% of 4.7M); the published figure is met when the AAT
    # branch of the released checkpoints is counted (4.704M). S/M/L are within 1% either way.
    model = _meta_fused(name)
    got = (count_params(model) + _aat_params(model)) / 1e6
    assert abs(got / PUBLISHED[name][0] - 1) < 0.01, f"{name}: {got:.3f}M vs {PUBLISHED[name][0]}M"


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_flops_match_published_within_3pct(name):
    got = gflops(_meta_fused(name), (640, 640))
    assert abs(got / PUBLISHED[name][1] - 1) < 0.03, f"{name}: {got:.2f}G vs {PUBLISHED[name][1]}G"


@pytest.mark.parametrize("name", ["yolov6n", "yolov6m-v1"])
def test_model_contract(name):
    model = build_model(name, num_classes=5)
    assert model.model_name == name and model.num_classes == 5 and len(model.names) == 5
    assert model.strides == [8, 16, 32] and model.reg_max == YOLOV6_CONFIGS[name].reg_max
    x = torch.rand(2, 3, 64, 96)
    n = sum((64 // s) * (96 // s) for s in (8, 16, 32))
    model.train()
    out = model(x)
    assert isinstance(out, HeadOutput)
    nreg = 4 * (model.reg_max + 1) if model.reg_max else 4
    assert out.cls_logits.shape == (2, n, 5) and out.reg.shape == (2, n, nreg)
    assert out.anchor_points.shape == (n, 2) and out.stride_tensor.shape == (n, 1) and len(out.feats) == 3
    model.eval()
    with torch.no_grad():
        boxes, scores = model(x)
        feats = model.forward_features(x)
    assert boxes.shape == (2, n, 4) and scores.shape == (2, n, 5)
    assert float(scores.min()) >= 0 and float(scores.max()) <= 1
    assert [f.shape[2:] for f in feats] == [(64 // s, 96 // s) for s in (8, 16, 32)]


def _numpy_anchors(sizes, strides):
    pts, st = [], []
    for (h, w), s in zip(sizes, strides):
        for y in range(h):
            for x in range(w):
                pts.append(((x + 0.5) * s, (y + 0.5) * s))
                st.append(s)
    return np.array(pts), np.array(st)[:, None]


def test_head_decodes_ltrb_like_numpy():
    head = EfficientDecoupledHead([4, 4, 4], num_classes=2, reg_max=0).eval()
    ltrb = torch.tensor([1.0, 2.0, 3.0, 4.0])
    with torch.no_grad():
        for conv in head.reg_preds:
            conv.bias.copy_(ltrb)  # weights are zero at init: every cell predicts these distances
        sizes = [(4, 6), (2, 3), (1, 2)]
        boxes, scores = head([torch.rand(1, 4, h, w) for h, w in sizes])
    pts, st = _numpy_anchors(sizes, [8, 16, 32])
    d = ltrb.numpy()[None] * st
    ref = np.concatenate([pts - d[:, :2], pts + d[:, 2:]], 1)
    np.testing.assert_allclose(boxes[0].numpy(), ref, atol=1e-4)
    np.testing.assert_allclose(scores.numpy(), 0.01, atol=1e-6)  # prior-probability init


def test_dfl_matches_numpy_expectation():
    logits = torch.randn(2, 4 * 17, 10, dtype=torch.float64)
    got = DFL(16)(logits).numpy()
    z = logits.numpy().reshape(2, 4, 17, 10)
    p = np.exp(z - z.max(2, keepdims=True))
    p /= p.sum(2, keepdims=True)
    ref = (p * np.arange(17)[None, None, :, None]).sum(2)
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-10)


def test_unknown_name_is_refused():
    with pytest.raises(ValueError, match="unknown model 'yolov6x'"):
        build_yolov6("yolov6x")


@pytest.mark.slow
def test_fused_dfl_model_exports_to_onnx_and_matches_onnxruntime():
    ort = pytest.importorskip("onnxruntime")
    model = randomize_(build_yolov6("yolov6m-v1", num_classes=80)).eval().fuse()
    x = torch.rand(2, 3, 64, 96)
    f = io.BytesIO()
    torch.onnx.export(model, (x,), f, input_names=["images"], output_names=["boxes", "scores"],
                      opset_version=17, dynamo=False, dynamic_axes={"images": {0: "batch"}})
    sess = ort.InferenceSession(f.getvalue(), providers=["CPUExecutionProvider"])
    boxes, scores = sess.run(None, {"images": x[:1].numpy()})  # another batch size than traced
    with torch.no_grad():
        ref_boxes, ref_scores = model(x[:1])
    # float32 through ~100 layers: compare relative to the box scale (pixels).
    assert np.abs(boxes - ref_boxes.numpy()).max() < 1e-5 * max(1.0, float(ref_boxes.abs().max())) * 10
    assert np.abs(scores - ref_scores.numpy()).max() < 1e-4
