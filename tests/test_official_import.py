"""Official YOLOv6 checkpoints (../shared/weights/official-format/): every one imports without being named,
matches the official fused model's output through PyTorch and through the exported ONNX on ONNX Runtime, and
says which variant it is and what it dropped. Plus fused == unfused parity for the block types these files bring
(ConvBNReLU / RealVGG basic blocks) and the refusals (a class off the allow-list, shapes that fit nothing).

The shared files were saved with the official head's initial prediction convs (weights zero: only their biases
reach the output), so their `output` checks the head, the decode and the anchor grid but not the layers below.
The tests here therefore also give the imported model random prediction weights and check it, fused and as
ONNX, against its own unfused form: that part runs every layer. The check against the official code itself
with random prediction weights was made outside the repo (docs/OFFICIAL_CHECKPOINTS.md).
"""
import numpy as np
import pytest
import torch
from torch import nn

from conftest import shared_path
from standin_models import randomize_
from yolov6_edge.models import build_from_arch
from yolov6_edge.weights import load_model
from yolov6_edge.weights.checkpoint import load_checkpoint, save_checkpoint

# file -> (model name it is recognised as, what it must report as dropped)
FIXTURES = {
    "yolov6n": ("yolov6n", "anchor-aided training branch"),
    "yolov6n_base": ("yolov6n-base", None),
    "yolov6n_opt": ("yolov6n-opt", None),
    "yolov6lite_s": ("yolov6lite-s", None),
}
BOX_TOL, SCORE_TOL = 1e-2, 1e-3
# Exports with random prediction weights (a few seconds each): one per family of ops (plain-ReLU + DFL, Lite).
ONNX_BODY_CHECK = ("yolov6n_base", "yolov6lite_s")


def _fixture(name):
    path = shared_path("weights", "official-format", f"{name}.pt")
    ref = np.load(path.with_suffix(".ref.npz"))
    x = torch.from_numpy(ref["image"]).permute(2, 0, 1)[None].float() / 255
    return path, x, ref["output"]


def _as_official(boxes, scores):
    """Our (xyxy, scores) -> the official eval layout cx, cy, w, h, 1, scores."""
    b = np.asarray(boxes, dtype=np.float64)
    cxcywh = np.concatenate([(b[..., :2] + b[..., 2:]) / 2, b[..., 2:] - b[..., :2]], -1)
    return cxcywh, np.asarray(scores)


def _assert_matches(boxes, scores, out):
    cxcywh, scores = _as_official(boxes, scores)
    assert cxcywh.shape == out[..., :4].shape and scores.shape == out[..., 5:].shape
    assert np.abs(cxcywh - out[..., :4]).max() <= BOX_TOL
    assert np.abs(scores - out[..., 5:]).max() <= SCORE_TOL


def _ort(onnx_path, x):
    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    return sess.run(["boxes", "scores"], {"images": x.numpy()})


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_official_fixture_imports_and_matches(name, tmp_path, one_torch_thread):
    from yolov6_edge.export.onnx import export_onnx

    path, x, out = _fixture(name)
    model, info = load_model(path)
    expected_name, dropped = FIXTURES[name]
    assert info["model_name"] == expected_name and model.model_name == expected_name
    assert info["variant"].startswith(expected_name)
    assert any(dropped in d for d in info["dropped"]) if dropped else not any("anchor" in d for d in info["dropped"])
    with torch.no_grad():
        _assert_matches(*model(x), out)
    onnx_path = export_onnx(model, tmp_path / f"{name}.onnx", img_size=tuple(x.shape[2:]), simplify=False)
    _assert_matches(*_ort(onnx_path, x), out)


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_official_fixture_every_layer_fused_and_onnx(name, tmp_path, one_torch_thread):
    # The fixtures' zero prediction weights hide the body; random ones make every layer count.
    from yolov6_edge.export.onnx import export_onnx

    path, x, _ = _fixture(name)
    model = _random_predictors_(load_model(path)[0])
    with torch.no_grad():
        boxes, scores = model(x)
    assert scores.std() > 1e-2, "the outputs should now depend on the image"
    fused = load_model(path)[0]
    fused.load_state_dict(model.state_dict())
    fused.fuse()
    with torch.no_grad():
        fb, fs = fused(x)
    assert (fb - boxes).abs().max() <= BOX_TOL and (fs - scores).abs().max() <= SCORE_TOL
    if name not in ONNX_BODY_CHECK:
        return
    onnx_path = export_onnx(model, tmp_path / "m.onnx", img_size=tuple(x.shape[2:]), simplify=False)
    ob, os_ = _ort(onnx_path, x)
    assert np.abs(ob - boxes.numpy()).max() <= BOX_TOL and np.abs(os_ - scores.numpy()).max() <= SCORE_TOL


def _random_predictors_(model, seed=0):
    head = model.head if hasattr(model, "head") else model.detect
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for conv in list(head.cls_preds) + list(head.reg_preds):
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=g) * 0.05)
    return model


@pytest.mark.parametrize("name", ["yolov6n", "yolov6n_base"])
def test_official_import_round_trips_through_our_checkpoint(name, tmp_path):
    # A named (yolov6n) and an unnamed (yolov6n-base: its arch travels) import survive save/load unchanged,
    # BatchNorm eps 1e-3 included.
    path, x, out = _fixture(name)
    model, _ = load_model(path)
    with torch.no_grad():
        _assert_matches(*load_checkpoint(save_checkpoint(model, tmp_path / "a.pt"))[0].eval()(x), out)
    _random_predictors_(model)
    loaded, info = load_checkpoint(save_checkpoint(model, tmp_path / "ours.pt"))
    assert info["model_name"] == FIXTURES[name][0] and loaded.arch == model.arch
    with torch.no_grad():
        for a, b in zip(model(x), loaded.eval()(x)):
            assert torch.equal(a, b)


def test_info_says_variant_and_dropped():
    from yolov6_edge.cli.info import describe

    info = describe(shared_path("weights", "official-format", "yolov6n_opt.pt"))
    assert info["variant"].startswith("yolov6n-opt: RepOptimizer-trained") and info["dropped"] == "nothing"
    info = describe(shared_path("weights", "official-format", "yolov6n.pt"))
    assert info["model_name"] == "yolov6n" and "anchor-aided training branch" in info["dropped"]


# ---------------------------------------------------------------- fused == unfused for the new block types

SMALL = {"family": "yolov6", "fuse_p2": True, "cspsppf": True, "reg_max": 16, "strides": [8, 16, 32],
         "channels": [8, 16, 16, 32, 32, 16, 8, 8, 16, 16, 32]}
SMALL6 = dict(SMALL, p6=True, strides=[8, 16, 32, 64], channels=[8, 16, 16, 32, 32, 48, 32, 16, 16, 16, 32, 48])


@pytest.mark.parametrize("arch", [
    dict(SMALL, backbone="efficientrep", neck="repbifpan", block="conv_relu", csp_e=0.5,
         repeats=[1, 2, 3, 2, 1, 2, 2, 2, 2]),                                     # base N/S, RepOpt (RealVGG)
    dict(SMALL, backbone="cspbep", neck="csprep_bifpan", block="conv_relu", csp_e=2 / 3,
         repeats=[1, 2, 4, 2, 2, 2, 2, 2, 2]),                                     # base M/L
    dict(SMALL, backbone="efficientrep", neck="reppan", block="conv_relu", csp_e=0.5, fuse_p2=False,
         cspsppf=False, reg_max=0, repeats=[1, 2, 2, 2, 1, 2, 2, 2, 2]),             # RepOpt N/S (RepPAN)
    dict(SMALL, backbone="efficientrep", neck="repbifpan", block="qarepvgg2", csp_e=0.5,
         repeats=[1, 2, 3, 2, 1, 2, 2, 2, 2]),                                     # QARepVGG-V2 N/S
    dict(SMALL, backbone="cspbep", neck="csprep_bifpan", block="qarepvgg", csp_e=2 / 3,
         repeats=[1, 2, 4, 2, 2, 2, 2, 2, 2]),                                     # QARepVGG (v1) in BepC3
    dict(SMALL, backbone="cspbep", neck="csprep_bifpan", block="conv_silu", csp_e=0.5, stage_block="mbla",
         cspsppf=False, repeats=[1, 2, 8, 4, 2, 4, 4, 4, 8]),                      # MBLA (S..X)
    dict(SMALL6, backbone="efficientrep", neck="repbifpan6", block="repvgg", csp_e=0.5, reg_max=0,
         repeats=[1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2]),                            # P6 N6/S6
    dict(SMALL6, backbone="cspbep", neck="csprep_bifpan6", block="conv_silu", csp_e=0.5, cspsppf=False,
         repeats=[1, 2, 2, 4, 2, 2, 2, 2, 2, 2, 2, 2]),                            # P6 M6/L6
    dict(SMALL, backbone="cspbep", neck="csprep_pan", block="conv_silu_bias", csp_e=0.5, fuse_p2=False,
         cspsppf=False, repeats=[1, 2, 4, 2, 2, 2, 2, 2, 2]),                      # release 0.2.0 L (ConvWrapper)
], ids=["base-ns", "base-ml", "opt", "qa2", "qa1-csp", "mbla", "p6-ns", "p6-ml", "v2.0-l"])
def test_fused_equals_unfused_for_new_block_types(arch):
    model = randomize_(build_from_arch("t", arch, num_classes=5), seed=3).eval()
    x = torch.rand(1, 3, 64, 128, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = model(x)
        model.fuse()
        got = model(x)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    for a, b in zip(ref, got):  # boxes run to hundreds of pixels here: float32 rounding scales with them
        assert (a - b).abs().max() <= 1e-4 + 1e-5 * a.abs().max()


def test_train_starts_from_an_official_checkpoint(tmp_path, capsys):
    # yolov6n-base has no name of ours (its arch travels in our checkpoint) and 80 classes against the data's 2.
    from yolov6_edge.cli.main import main
    from yolov6_edge.datasets.synthetic import generate_splits

    path = shared_path("weights", "official-format", "yolov6n_base.pt")
    official, _ = load_model(path)
    y = generate_splits(tmp_path / "d", train=4, val=2, size=(64, 64), seed=7, min_size=14, max_size=30)
    out = tmp_path / "run"
    rc = main(["train", "--weights", str(path), "--data", str(y), "--epochs", "1", "--img", "64", "--batch", "4",
               "--workers", "0", "--device", "cpu", "--output", str(out), "--no-ema"])
    assert rc == 0 and "class predictors start afresh" in capsys.readouterr().out
    model, info = load_checkpoint(out / "last.pt")
    assert info["model_name"] == "yolov6n-base" and model.num_classes == len(model.names) != 80
    # One epoch of warm-up moves the weights a little: they are the official ones, not a fresh init.
    a, b = official.neck.Rep_n4.conv1.conv.weight, model.neck.Rep_n4.conv1.conv.weight
    assert a.shape == b.shape and (a - b).abs().max() < 0.05 * a.abs().max()
    assert model.backbone.stem.bn.eps == official.backbone.stem.bn.eps == 1e-3


@pytest.mark.parametrize("arch,name,label", [
    (dict(SMALL, backbone="efficientrep", neck="repbifpan", block="qarepvgg2", csp_e=0.5, reg_max=0,
          repeats=[1, 2, 3, 2, 1, 2, 2, 2, 2], stage_block="bepc3"), "yolov6-qa", "QARepVGG-V2"),
    (dict(SMALL, backbone="cspbep", neck="csprep_bifpan", block="conv_silu", csp_e=0.5, stage_block="mbla",
          cspsppf=False, repeats=[1, 2, 8, 4, 2, 4, 4, 4, 8]), "yolov6-mbla", "MBLA"),
    (dict(SMALL6, backbone="cspbep", neck="csprep_bifpan6", block="repvgg", csp_e=2 / 3, stage_block="bepc3",
          cspsppf=False, repeats=[1, 2, 2, 4, 2, 2, 2, 2, 2, 2, 2, 2]), "yolov6-p6", "P6"),
], ids=["qarepvgg2", "mbla", "p6"])
def test_new_block_standin_is_read_from_its_tree(tmp_path, arch, name, label):
    # Official-layout stand-ins (classes named as the official code names them).
    from official_standins import half_rounded, save_official

    src = half_rounded(randomize_(build_from_arch("src", arch, num_classes=80), seed=2)).eval()
    model, info = load_checkpoint(save_official(tmp_path / "m.pt", None, src))
    assert info["model_name"] == name and label in info["variant"] and info["arch"] == src.arch
    x = torch.rand(1, 3, 64, 128, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        for a, b in zip(src(x), model.eval()(x)):
            assert (a - b).abs().max() <= 1e-4


@pytest.mark.parametrize("arch", [
    dict(SMALL, backbone="efficientrep", neck="repbifpan", block="qarepvgg2", csp_e=0.5,
         repeats=[1, 2, 3, 2, 1, 2, 2, 2, 2]),
    dict(SMALL, backbone="cspbep", neck="csprep_bifpan", block="conv_silu", csp_e=0.5, stage_block="mbla",
         cspsppf=False, repeats=[1, 2, 8, 4, 2, 4, 4, 4, 8]),
    dict(SMALL6, backbone="efficientrep", neck="repbifpan6", block="repvgg", csp_e=0.5, reg_max=0,
         repeats=[1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2]),
], ids=["qa2", "mbla", "p6"])
def test_new_block_types_export_to_onnx(arch, tmp_path):
    from yolov6_edge.export.onnx import export_onnx

    model = randomize_(build_from_arch("yolov6-test", arch, num_classes=5), seed=4).eval()
    x = torch.rand(1, 3, 128, 128, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        boxes, scores = model.fuse()(x)
    ob, os_ = _ort(export_onnx(model, tmp_path / "m.onnx", img_size=(128, 128), simplify=False), x)
    assert np.abs(ob - boxes.numpy()).max() <= 1e-3 + 1e-5 * boxes.abs().max().item()
    assert np.abs(os_ - scores.numpy()).max() <= 1e-4
