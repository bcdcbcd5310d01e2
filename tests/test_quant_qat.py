"""QAT with channel-wise distillation: the losses against numpy references, and QAT lowering them."""
import json

import numpy as np
import onnx
import pytest
import torch

from yolov6_edge.cli.main import main
from yolov6_edge.quant.recipe import QatRecipe
from yolov6_edge.quant.distill import channel_wise_distillation
from yolov6_edge.quant.fake_quant import TensorQuantizer


def _np_cwd(s, t, temp):
    b, c = s.shape[:2]
    s = s.reshape(b * c, -1) / temp
    t = t.reshape(b * c, -1) / temp
    ps = np.exp(s - s.max(1, keepdims=True))
    ps /= ps.sum(1, keepdims=True)
    pt = np.exp(t - t.max(1, keepdims=True))
    pt /= pt.sum(1, keepdims=True)
    return float((pt * (np.log(pt) - np.log(ps))).sum() / (b * c) * temp ** 2)


@pytest.mark.parametrize("temp", [1.0, 4.0])
def test_channel_wise_distillation_matches_numpy(temp):
    rng = np.random.default_rng(0)
    s, t = rng.normal(size=(2, 3, 4, 5)), rng.normal(size=(2, 3, 4, 5))
    got = float(channel_wise_distillation(torch.tensor(s), torch.tensor(t), temp))
    assert got == pytest.approx(_np_cwd(s, t, temp), rel=1e-9)
    assert float(channel_wise_distillation(torch.tensor(t), torch.tensor(t), temp)) == pytest.approx(0, abs=1e-12)


def test_learnable_amax_forward_equals_fixed_and_gradient_is_lsq():
    x = torch.tensor([-3.0, -0.26, 0.0, 0.24, 0.5, 0.74, 1.9, 5.0], requires_grad=True)
    q = TensorQuantizer()
    q.set_amax(2.0)
    fixed = q(x.detach())
    q.set_learnable(True)
    assert q.learnable and "amax" in dict(q.named_parameters())
    y = q(x)
    assert torch.allclose(y, fixed, atol=1e-6)
    y.sum().backward()
    s = 2.0 / 127
    v = np.clip(x.detach().numpy() / s, -128, 127)
    inside = (x.detach().numpy() / s > -128) & (x.detach().numpy() / s < 127)
    # numpy reference of the LSQ gradients: d/dx 1 inside the range, d/damax (round(v) - v) / 127 inside,
    # clipped value / 127 outside
    np.testing.assert_allclose(x.grad.numpy(), inside.astype(np.float32))
    ref = np.where(inside, np.round(v) - v, v).sum() / 127
    assert float(q.amax.grad) == pytest.approx(ref, rel=1e-4)
    q.set_learnable(False)
    assert not q.learnable and float(q.amax) == 2.0 and "amax" in dict(q.named_buffers())


@pytest.mark.parametrize("labelled", [False, True])
def test_qat_cli_lowers_the_loss_and_writes_qdq(tmp_path, random_lite_checkpoint, labelled_images, labelled):
    from yolov6_edge.quant.qdq import check_placement

    model = random_lite_checkpoint
    imgs, ann = labelled_images
    out = tmp_path / "m_qat.onnx"
    args = ["qat", str(model), "--images", str(imgs), "--img", "64", "64", "--epochs", "10", "--lr", "3e-4",
            "--batch", "4", "-o", str(out)]
    if labelled:
        args += ["--labels", str(ann), "--augment", "--no-learn-channel-scale", "--seed", "3", "--weight-bound", "0.5"]
    assert main(args) == 0
    report = json.loads(out.with_suffix(".qat.json").read_text())
    assert (report["seed"], report["learn_channel_scale"]) == ((3, False) if labelled else (0, True))
    assert report["weight_bound"] == ("0.5" if labelled else f"{QatRecipe().weight_bound:g}")
    hist = report["history"]
    assert len(hist) == 10
    assert ("det" in hist[0]) == labelled
    assert "layer" in hist[0]  # the CLI's default recipe includes the layer-wise term
    assert all(np.isfinite(h["loss"]) for h in hist)
    if labelled:
        # the ground truth pulls the student away from its random-weight teacher, so neither the distillation
        # terms nor the (assignment-driven) total must fall here; the detection term must be live
        assert all(h["det"] > 0 for h in hist)
        assert len({round(h["det"], 6) for h in hist}) > 1
    else:
        distill = [h["cwd"] + h["out"] + h["layer"] for h in hist]
        assert np.mean(distill[-3:]) < np.mean(distill[:3])
    m = onnx.load(str(out))
    onnx.checker.check_model(m)
    assert check_placement(m) == []
    assert {p.key: p.value for p in m.metadata_props}["precision"] == "int8-qdq"
    # the exported Muls carry 1/a: learned by default, so none is the calibrated one; fixed ones stay exact
    cached = json.loads(out.with_suffix(".calib.json").read_text())["channel_scales"]
    assert cached
    muls = _channel_scale_muls(m)
    assert len(muls) == len(cached)
    same = [any(v.shape == (len(a),) and np.allclose(v, 1 / np.asarray(a, np.float32), rtol=1e-6) for v in muls)
            for a in cached.values()]
    assert all(same) if labelled else not any(same)
    assert all(bool((v <= 1 / 1e-3 * (1 + 1e-6)).all()) for v in muls)  # a stays above the floor


def _channel_scale_muls(m):
    """1/a of every Mul that feeds a QuantizeLinear (the depthwise channel scales)."""
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in m.graph.initializer}
    q_inputs = {n.input[0] for n in m.graph.node if n.op_type == "QuantizeLinear"}
    return [inits[n.input[1]].ravel() for n in m.graph.node
            if n.op_type == "Mul" and n.output[0] in q_inputs and n.input[1] in inits]


def test_qat_skip_report_errors_name_the_file(tmp_path, random_lite_checkpoint, labelled_images, capsys):
    model = random_lite_checkpoint
    imgs, _ = labelled_images
    bad = tmp_path / "report.json"
    bad.write_text("{}")
    rc = main(["qat", str(model), "--images", str(imgs), "--img", "64", "64", "--skip", str(bad),
               "-o", str(tmp_path / "o.onnx")])
    assert rc != 0
    assert "report.json" in capsys.readouterr().err
    rc = main(["qat", str(model), "--images", str(imgs), "--img", "64", "64", "--weight-bound", "-1",
               "-o", str(tmp_path / "o.onnx")])
    assert rc != 0
    err = capsys.readouterr().err
    assert model.name in err and "--weight-bound must be >= 0" in err


@pytest.mark.parametrize("name,want", [("yolov6n", "siou"), ("yolov6s", "giou"), ("yolov6m", "ciou"),
                                       ("yolov6l-v1", "ciou"), ("yolov6lite-s", "siou")])
def test_qat_detection_loss_uses_the_trainers_iou_for_the_model(name, want):
    import types

    from yolov6_edge.quant.qat import QATLoss

    model = types.SimpleNamespace(model_name=name, num_classes=3, reg_max=0)
    assert QATLoss(model, detection_weight=1.0).det.iou_type == want


def test_normalized_mse_matches_numpy():
    from yolov6_edge.quant.distill import normalized_mse

    rng = np.random.default_rng(1)
    # channels of very different scales: each must count alike after the division by its variance
    scale = np.array([0.1, 1.0, 100.0])[None, :, None, None]
    t = rng.normal(size=(4, 3, 16, 16)) * scale
    s = t + rng.normal(size=t.shape) * 0.1 * scale
    ref = np.mean([((s[:, c] - t[:, c]) ** 2).mean() / (t[:, c].var() + 1e-6) for c in range(3)])
    got = float(normalized_mse(torch.tensor(s), torch.tensor(t)))
    assert got == pytest.approx(ref, rel=1e-9)
    assert got == pytest.approx(0.01, rel=0.3)  # noise at a tenth of each channel's spread
    assert float(normalized_mse(torch.tensor(t), torch.tensor(t))) == 0.0
    with pytest.raises(ValueError, match="shapes differ"):
        normalized_mse(torch.zeros(1, 2, 3, 3), torch.zeros(1, 3, 3, 3))


def test_layer_taps_compare_same_named_convs_and_detach():
    from yolov6_edge.quant.distill import LayerTaps, normalized_mse

    torch.manual_seed(0)
    teacher = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Conv2d(4, 2, 1))
    student = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Conv2d(4, 2, 1))
    taps = LayerTaps(student, teacher, ["0", "2"])
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        teacher(x)
    student(x)
    got = taps.loss()
    with pytest.raises(RuntimeError, match="no layer outputs"):
        taps.loss()  # each loss consumes one forward's outputs: a stale pair is never compared twice
    taps.remove()
    student(x)
    assert taps.student == {}
    with torch.no_grad():
        t0, s0 = teacher[0](x), student[0](x)
        t2, s2 = teacher[2](teacher[1](t0)), student[2](student[1](s0))
    ref = (normalized_mse(s0, t0) + normalized_mse(s2, t2)) / 2
    assert float(got) == pytest.approx(float(ref), rel=1e-6)
    got.backward()
    assert student[0].weight.grad is not None and teacher[0].weight.grad is None
    with pytest.raises(ValueError, match="teacher has no layer 'nope'"):
        LayerTaps(student, teacher, ["nope"])


def _calibrated(checkpoint):
    """(float model, its max-calibrated fake-quant copy, two random batches, the generator that drew them)."""
    from yolov6_edge.quant.calibrate import load_float_model
    from yolov6_edge.quant.interface import QuantConfig, calibrate, quantize

    model, _ = load_float_model(checkpoint)
    q = quantize(model, QuantConfig())
    g = torch.Generator().manual_seed(0)
    batches = [torch.rand(2, 3, 64, 64, generator=g) for _ in range(2)]
    calibrate(q, batches, "max")
    return model, q, batches, g


def _scored_qat(checkpoint, scores, epochs=3):
    """QAT of a calibrated random model whose score is the next of `scores`; each scored state is kept."""
    from yolov6_edge.quant.qat import qat

    model, q, batches, g = _calibrated(checkpoint)
    x = torch.rand(1, 3, 64, 64, generator=g)
    seen = []

    def score(m):
        assert not m.training  # scored as it will be evaluated and exported
        with torch.no_grad():
            seen.append(({k: v.detach().clone() for k, v in m.state_dict().items()}, m(x)[1].clone()))
        return scores[len(seen) - 1]
    log = []
    qat(q, model, batches, epochs=epochs, lr=1e-3, layer_weight=1.0, score=score, score_every=1, score_log=log)
    with torch.no_grad():
        out = q.eval()(x)[1]
    return q, seen, log, out


@pytest.mark.parametrize("scores, kept", [([5.0, 1.0, 2.0, 3.0], 0), ([0.0, 1.0, 3.0, 2.0], 2)])
def test_qat_ends_as_the_best_scored_model_start_included(random_lite_checkpoint, scores, kept):
    q, seen, log, out = _scored_qat(random_lite_checkpoint, scores)
    assert [e["score"] for e in log[:-1]] == scores and [e["epoch"] for e in log[:-1]] == [0, 1, 2, 3]
    assert log[-1] == {"kept_epoch": kept}
    state, want = seen[kept]
    got = q.state_dict()
    assert got.keys() == state.keys()
    for k in state:
        torch.testing.assert_close(got[k], state[k], rtol=0, atol=0, msg=k)
    torch.testing.assert_close(out, want, rtol=0, atol=0)  # no stale fake-quantized weight survives
    assert not torch.equal(seen[0][1], seen[-1][1])  # training moved the model, so the choice mattered


def _bounded_qat(checkpoint, bound, lr=1e-2):
    """QAT of a calibrated random model at a large rate.

    Returns {layer: how far each weight moved, in its channel's start quantization steps} and whether any
    bias moved.
    """
    from yolov6_edge.quant.interface import quant_layers
    from yolov6_edge.quant.qat import qat

    model, q, batches, _ = _calibrated(checkpoint)
    start = {}
    for name, m in quant_layers(q).items():
        w = m.conv.weight.detach().numpy().copy()
        # numpy reference of one weight step: per output channel max |w * a| / 127, back in w's units
        a = m.channel_scale.detach().numpy() if m.channel_scaled else np.ones(w.shape[0], np.float32)
        shape = (-1,) + (1,) * (w.ndim - 1)
        step = np.abs((w * a.reshape(shape)).reshape(w.shape[0], -1)).max(1) / 127 / a
        bias = m.conv.bias.detach().clone() if m.conv.bias is not None else None
        start[name] = (w, np.maximum(step, 1e-30).reshape(shape), bias)
    qat(q, model, batches, epochs=2, lr=lr, layer_weight=1.0, weight_bound=bound)
    layers = quant_layers(q)
    moved = {n: np.abs(layers[n].conv.weight.detach().numpy() - w0) / step for n, (w0, step, _) in start.items()}
    bias_moved = any(b0 is not None and not torch.equal(layers[n].conv.bias.detach(), b0)
                     for n, (_, _, b0) in start.items())
    return moved, bias_moved


@pytest.mark.parametrize("bound", [0.0, 1.0])
def test_qat_weight_bound_keeps_each_weight_within_its_start_steps(random_lite_checkpoint, bound):
    moved, bias_moved = _bounded_qat(random_lite_checkpoint, bound)
    for name, steps in moved.items():
        assert steps.max() <= bound + 1e-4, name  # float32 rounding of w0 +- margin
        if bound == 0:
            assert steps.max() == 0, name  # frozen: bit-identical
    assert bias_moved  # biases stay free: a frozen-weight QAT still learns something
    if bound:
        # the bound is reached: at this rate free weights would go further
        assert max(s.max() for s in moved.values()) >= 0.99 * bound


def test_qat_without_bound_moves_weights_further_than_one_step(random_lite_checkpoint):
    moved, _ = _bounded_qat(random_lite_checkpoint, float("inf"))
    assert max(s.max() for s in moved.values()) > 1.01


@pytest.mark.parametrize("bound", [-1.0, float("nan")])
def test_qat_rejects_a_negative_weight_bound(random_lite_checkpoint, bound):
    from yolov6_edge.errors import Yolov6EdgeError

    with pytest.raises(Yolov6EdgeError, match="weight_bound must be a number >= 0"):
        _bounded_qat(random_lite_checkpoint, bound)
