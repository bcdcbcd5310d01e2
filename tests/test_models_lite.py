"""YOLOv6Lite model family: sizes, BN folding, the eval/train output contract, names."""
import numpy as np
import pytest
import torch
from torch import nn

from yolov6_edge.datasets.coco_names import COCO_CATEGORY_IDS, COCO_NAMES
from yolov6_edge.models.head import HeadOutput
from yolov6_edge.models.lite import LITE_CONFIGS, build_lite

# The official NCNN files hold exactly these many weights (BN folded), see ../shared PROVENANCE.md.
FUSED_COUNTS = {"yolov6lite-s": 546_790, "yolov6lite-m": 778_733, "yolov6lite-l": 1_084_557}


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def randomized(model):
    """Give BN statistics/affines and the zero-initialised predictors non-trivial values, as after training."""
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.1)
        for conv in list(model.head.cls_preds) + list(model.head.reg_preds):
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=g) * 0.05)
    return model.eval()


@pytest.mark.parametrize("name", sorted(LITE_CONFIGS))
def test_fused_parameter_count_equals_official_weights(name):
    model = build_lite(name)
    unfused = n_params(model)
    assert not model.is_fused
    model.fuse()
    assert model.is_fused and n_params(model) == FUSED_COUNTS[name]
    # BN adds 2 affine parameters per channel and folding turns them into a bias (where the conv had none).
    assert unfused > FUSED_COUNTS[name]


def test_fuse_keeps_outputs():
    model = randomized(build_lite("yolov6lite-s"))
    x = torch.rand(2, 3, 128, 192, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        boxes, scores = model(x)
        model.fuse()
        fused_boxes, fused_scores = model(x)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    torch.testing.assert_close(fused_scores, scores, rtol=0, atol=1e-5)
    torch.testing.assert_close(fused_boxes, boxes, rtol=0, atol=1e-3)  # pixels, values up to ~200


def test_eval_contract_and_decoding():
    model = randomized(build_lite("yolov6lite-s", num_classes=3))
    h, w = 128, 192
    with torch.no_grad():
        x = torch.rand(1, 3, h, w)
        boxes, scores = model(x)
        levels = model.forward_levels(x)
    n = sum((h // s) * (w // s) for s in model.strides)
    assert boxes.shape == (1, n, 4) and scores.shape == (1, n, 3)
    assert model.strides == [8, 16, 32, 64] and model.reg_max == 0
    assert float(scores.min()) >= 0 and float(scores.max()) <= 1

    # Independent decode in numpy: row-major cells per level, ascending stride, anchor at the cell centre.
    ref_boxes, ref_scores = [], []
    for (cls, reg), s in zip(levels, model.strides):
        _, _, lh, lw = cls.shape
        ys, xs = np.mgrid[0:lh, 0:lw]
        ax, ay = ((xs.ravel() + 0.5) * s), ((ys.ravel() + 0.5) * s)
        d = reg[0].numpy().reshape(4, -1) * s
        ref_boxes.append(np.stack([ax - d[0], ay - d[1], ax + d[2], ay + d[3]], 1))
        ref_scores.append(1 / (1 + np.exp(-cls[0].numpy().reshape(3, -1).T)))
    np.testing.assert_allclose(boxes[0].numpy(), np.concatenate(ref_boxes), atol=1e-3)
    np.testing.assert_allclose(scores[0].numpy(), np.concatenate(ref_scores), atol=1e-6)


def test_train_mode_returns_head_output():
    model = build_lite("yolov6lite-s", num_classes=5).train()
    x = torch.rand(2, 3, 128, 128)
    out = model(x)
    assert isinstance(out, HeadOutput)
    n = sum((128 // s) ** 2 for s in model.strides)
    assert out.cls_logits.shape == (2, n, 5) and out.reg.shape == (2, n, 4)
    assert out.anchor_points.shape == (n, 2) and out.stride_tensor.shape == (n, 1)
    assert out.anchor_points[0].tolist() == [4.0, 4.0] and out.stride_tensor[-1].item() == 64
    assert [f.shape[-1] for f in out.feats] == [16, 8, 4, 2]
    out.cls_logits.sum().backward()  # trainable end to end


def test_forward_features_are_the_four_neck_levels():
    model = build_lite("yolov6lite-m").eval()
    with torch.no_grad():
        feats = model.forward_features(torch.rand(1, 3, 256, 128))
    assert [tuple(f.shape) for f in feats] == [(1, 96, 256 // s, 128 // s) for s in (8, 16, 32, 64)]


def test_names_and_attributes():
    model = build_lite("YOLOv6Lite-L")
    assert model.model_name == "yolov6lite-l" and model.num_classes == 80 and model.names == COCO_NAMES
    assert build_lite("yolov6lite-s", num_classes=2).names == ["class0", "class1"]
    assert len(set(COCO_NAMES)) == 80
    assert COCO_CATEGORY_IDS == sorted(set(COCO_CATEGORY_IDS)) and COCO_CATEGORY_IDS[-1] == 90


def test_unknown_name_is_refused():
    with pytest.raises(ValueError, match="unknown YOLOv6Lite model 'yolov6lite-x'"):
        build_lite("yolov6lite-x")
