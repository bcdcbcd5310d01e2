"""Quantization-aware training: fine-tune the calibrated fake-quant model against its float self.

Loss = channel-wise distillation on the neck outputs (teacher: the float model)
     + layer-wise distillation: every quantized conv's output vs the float conv's, MSE per channel divided
       by the teacher channel's variance (layer_weight; 0 turns it off)
     + output distillation (the teacher's sigmoid scores as soft targets, L1 on its ltrb in stride units)
     + optionally the trainer's detection loss (TAL + VariFocal + IoU [+ DFL]) when labels are given.
The output term lets QAT run on unlabelled images; labels add the ground truth the paper's recipe uses.
The layer-wise term is what makes QAT work on the depthwise Lite models: with only the neck and outputs to
match, 160 images barely move an all-INT8 YOLOv6Lite-S (docs/QUANTIZATION.md has the measurements).

Both models run in training form (raw head outputs); a fused model has no BatchNorm left, so nothing else
changes between the forms. Weight scales follow the weights (per-channel max, re-derived every step) and the
activation amax are learned with the LSQ gradient unless learn_amax=False, as are the depthwise channel
scales (per-channel input steps) unless learn_channel_scale=False; the exported QDQ ONNX carries the final
values.
"""
import copy
import math

import torch
import torch.nn.functional as F
from tqdm import tqdm

from .distill import LayerTaps, feature_distillation


def output_distillation(student, teacher, reg_max: int) -> torch.Tensor:
    """Head outputs in training form (HeadOutput): BCE to the teacher's scores + L1 on ltrb (stride units)."""
    cls = F.binary_cross_entropy_with_logits(student.cls_logits, teacher.cls_logits.detach().sigmoid())
    s_reg, t_reg = student.reg, teacher.reg.detach()
    if reg_max > 0:
        from ..losses.dfl import dfl_decode

        s_reg, t_reg = dfl_decode(s_reg, reg_max), dfl_decode(t_reg, reg_max)
    return cls + F.l1_loss(s_reg, t_reg)


class QATLoss:
    def __init__(self, model, temperature=1.0, feature_weight=1.0, output_weight=1.0, detection_weight=0.0,
                 layer_weight=0.0):
        self.reg_max = int(getattr(model, "reg_max", 0))
        self.temperature = temperature
        self.w = {"cwd": feature_weight, "out": output_weight, "det": detection_weight, "layer": layer_weight}
        self.det = None
        if detection_weight > 0:
            from ..losses.detection import DetectionLoss
            from ..losses.iou_loss import paper_iou_type

            self.det = DetectionLoss(model.num_classes, self.reg_max,
                                     paper_iou_type(getattr(model, "model_name", "")),
                                     warmup_epochs=0)  # TAL from the start: the model is already trained

    def __call__(self, s_out, t_out, labels=None, taps=None):
        parts = {"cwd": feature_distillation(s_out.feats, t_out.feats, self.temperature),
                 "out": output_distillation(s_out, t_out, self.reg_max)}
        if taps is not None:
            parts["layer"] = taps.loss()
        if self.det is not None:
            if labels is None:
                raise ValueError("the detection loss needs labels (give COCO annotations for the images)")
            from ..datasets.loader import targets_to_padded

            gt_labels, gt_boxes, mask = targets_to_padded(labels, s_out.cls_logits.shape[0])
            parts["det"], _ = self.det(s_out, gt_labels, gt_boxes, mask, epoch=1)
        total = sum(self.w[k] * v for k, v in parts.items())
        return total, {k: float(v.detach()) for k, v in parts.items()}


def check_qat_values(**values) -> None:
    """The numeric settings of qat(), checked before the teacher is copied (the checks the CLI and recipes run)."""
    from .. import arguments

    arguments.integer(values["epochs"], "epochs", 1, 100_000)
    arguments.number(values["lr"], "lr", above=0.0)
    arguments.number(values["temperature"], "temperature", above=0.0)
    for name in ("amax_lr", "feature_weight", "output_weight", "detection_weight", "layer_weight"):
        arguments.number(values[name], name, minimum=0.0)
    arguments.number(values["weight_bound"], "weight_bound", minimum=0.0, allow_inf=True)
    arguments.seed(values["seed"])
    arguments.integer(values["score_every"], "score_every", 1)
    arguments.choice(values["optimizer"], "optimizer", ("adam", "sgd"))


def qat(qmodel, teacher, batches, epochs: int = 1, lr: float = 1e-5, amax_lr: float = 1e-3,
        temperature: float = 1.0, feature_weight: float = 1.0, output_weight: float = 1.0,
        detection_weight: float = 0.0, learn_amax: bool = True, optimizer: str = "adam",
        layer_weight: float = 0.0, flip: bool = False, seed: int = 0, learn_channel_scale: bool = True,
        score=None, score_every: int = 4, score_log: list = None, weight_bound: float = math.inf) -> list:
    """Fine-tune `qmodel` in place; returns one dict of loss parts per step.

    batches: a re-iterable of float images [B,3,H,W] in 0..1, or of (images, labels [M,6]) pairs
    (labels: batch index, class, x1, y1, x2, y2 in input pixels) when detection_weight > 0.
    amax_lr is relative: each amax gets the learning rate amax_lr * its calibrated value (with Adam, about
    that fraction of its value per step). optimizer: "adam", or "sgd" (momentum 0.9, nesterov).
    flip: mirror each unlabelled image with probability 0.5 (distillation needs no labels to follow), so
    a small image set gives twice the views; labelled batches bring their own augmentations.
    learn_channel_scale: the depthwise channel scales (see QuantConv2d) train with the weights' learning
    rate, floored at CHANNEL_SCALE_FLOOR; the export then carries the learned Mul and w * a.
    weight_bound: how far each quantized conv's weight may move from where QAT found it, in quantization
    steps of its output channel at the start (inf: no bound; 0: weights frozen, only amax, channel scales
    and biases learn). With a bound of 1 a weight can change its rounding, as in AdaRound, but it cannot
    wander: on 160 images free weights fit those images (see docs/QUANTIZATION.md).
    score: callable(qmodel) -> float, higher is better (AP on labelled images that are not the test set).
    The start and every `score_every` epochs (and the last) are scored and `qmodel` ends as the best of
    them, the start included: QAT can lose AP on a model PTQ already brought to float level (Lite-M from
    mse PTQ, docs/QUANTIZATION.md), and then it should hand back what it was given. score_log, if a list,
    receives {"epoch": e, "score": s} for each (epoch 0: the start) and {"kept_epoch": e}.
    """
    from .interface import CHANNEL_SCALE_FLOOR, quant_layers

    from ..losses.distill import frozen_teacher, train_with_frozen_bn

    check_qat_values(epochs=epochs, lr=lr, amax_lr=amax_lr, temperature=temperature, feature_weight=feature_weight,
                     output_weight=output_weight, detection_weight=detection_weight, layer_weight=layer_weight,
                     seed=seed, score_every=score_every, weight_bound=weight_bound, optimizer=optimizer)
    teacher = frozen_teacher(copy.deepcopy(teacher))
    layers = quant_layers(qmodel)
    qconvs = list(layers.values())
    if learn_channel_scale:
        for m in qconvs:
            if m.quantized:
                m.set_channel_scale_learnable(True)
    # channel scales take the weights' rate: they lie in (0, 1], as normalised as the weights are
    groups = [{"params": [p for n, p in qmodel.named_parameters() if not n.endswith("amax")], "lr": lr}]
    if learn_amax:
        for m in qconvs:
            q = m.input_quantizer
            if m.quantized and q.calibrated:
                q.set_learnable(True)
                groups.append({"params": [q.amax], "lr": amax_lr * float(q.amax.detach().abs().max())})
    if optimizer == "adam":
        opt = torch.optim.Adam(groups)
    elif optimizer == "sgd":
        opt = torch.optim.SGD(groups, momentum=0.9, nesterov=True)
    else:
        raise ValueError(f"unknown QAT optimizer {optimizer!r} (adam or sgd)")
    steps = epochs * len(batches)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 0.5 * (1 + math.cos(math.pi * min(i, steps) / steps)))
    loss_fn = QATLoss(qmodel, temperature, feature_weight, output_weight, detection_weight, layer_weight)
    taps = LayerTaps(qmodel, teacher, list(layers)) if layer_weight > 0 else None
    bounds = _weight_bounds(qconvs, weight_bound)
    gen = torch.Generator().manual_seed(seed)
    best = None
    if score is not None:
        best = _scored(qmodel, qconvs, score, 0, score_log, None)
    train_with_frozen_bn(qmodel)  # an unfused model may still hold BN
    history = []
    try:
        for epoch in range(epochs):
            bar = tqdm(batches, desc=f"QAT epoch {epoch + 1}/{epochs}", unit="batch")
            for b in bar:
                x, labels = (b if isinstance(b, (tuple, list)) else (b, None))
                x = torch.as_tensor(x)
                if flip and labels is None:
                    mirror = torch.rand(x.shape[0], generator=gen) < 0.5
                    x = torch.where(mirror[:, None, None, None], x.flip(-1), x)
                with torch.no_grad():
                    t_out = teacher(x)
                total, parts = loss_fn(qmodel(x), t_out, labels, taps)
                value = float(total.detach())
                if not math.isfinite(value):
                    raise FloatingPointError(f"QAT loss is {value} at step {len(history)} ({parts})")
                opt.zero_grad(set_to_none=True)
                total.backward()
                opt.step()
                sched.step()
                with torch.no_grad():
                    for m in qconvs:
                        if m.input_quantizer.learnable:
                            m.input_quantizer.amax.clamp_(min=1e-4)
                        if m.channel_scale_learnable:
                            m.channel_scale.clamp_(min=CHANNEL_SCALE_FLOOR)
                    for w, lo, hi in bounds:
                        torch.maximum(torch.minimum(w, hi, out=w), lo, out=w)
                history.append({"loss": value, **parts})
                bar.set_postfix(loss=f"{history[-1]['loss']:.4f}")
            if score is not None and ((epoch + 1) % score_every == 0 or epoch + 1 == epochs):
                best = _scored(qmodel, qconvs, score, epoch + 1, score_log, best)
                train_with_frozen_bn(qmodel)
    finally:
        if taps is not None:
            taps.remove()
        qmodel.eval()
        for m in qconvs:
            m.input_quantizer.set_learnable(False)
            m.set_channel_scale_learnable(False)
        _refresh_weight_scales(qconvs)  # the last step moved the weights: eval and export use their final scales
    if best is not None:
        qmodel.load_state_dict(best["state"])
        _refresh_weight_scales(qconvs)
        if score_log is not None:
            score_log.append({"kept_epoch": best["epoch"]})
    return history


def _weight_bounds(qconvs, steps: float) -> list:
    """(weight, low, high) for each quantized conv: its start value +- `steps` of its start weight step."""
    if not steps >= 0:  # nan too
        raise ValueError(f"weight_bound must be >= 0 (quantization steps), got {steps}")
    if math.isinf(steps):
        return []
    out = []
    for m in qconvs:
        if not (m.quantized and m.weight_quantizer.enabled):
            continue
        w = m.conv.weight.detach()
        step = m.weight_quantizer.scale().detach().reshape(-1).to(w)
        if m.channel_scaled:  # the step is in w * a: back to w
            step = step / m.channel_scale.detach().reshape(-1)
        margin = (steps * step).reshape(-1, *([1] * (w.dim() - 1)))
        out.append((m.conv.weight.data, w - margin, w + margin))
    return out


def _refresh_weight_scales(qconvs) -> None:
    for m in qconvs:
        m.calibrate_weight()
        m._wq = None  # drop the fake-quantized weight cached by an eval-mode forward


def _scored(qmodel, qconvs, score, epoch: int, log, best):
    """Score qmodel as it stands, in eval mode with up-to-date weight scales; keep a copy if it is the best."""
    _refresh_weight_scales(qconvs)
    qmodel.eval()
    value = float(score(qmodel))
    if log is not None:
        log.append({"epoch": epoch, "score": value})
    if best is None or value > best["score"]:  # ties keep the earlier model: fewer steps from the start
        best = {"epoch": epoch, "score": value,
                "state": {k: v.detach().clone() for k, v in qmodel.state_dict().items()}}
    return best


def qat_batches(qmodel, img_size, batch: int, num_classes: int, images_dir=None, annotations=None,
                augment: bool = True, seed: int = 0):
    """The batches QAT trains on: labelled (annotations given), augmented, or plain letterboxed images.

    Without annotations the images are the ones calibration used (qmodel.calib_paths).
    """
    from .. import arguments

    arguments.integer(batch, "batch", 1, 4096)
    arguments.seed(seed)
    if annotations:
        return labelled_batches(images_dir, annotations, img_size, batch, num_classes, seed, augment)
    if augment:
        return augmented_batches(qmodel.calib_paths, img_size, batch, seed)
    from .data import iter_batches

    return list(iter_batches(qmodel.calib_paths, img_size, batch))


def labelled_batches(images_dir, annotations, img_size, batch: int, num_classes: int, seed: int = 0,
                     augment: bool = False):
    """(images 0..1, labels) batches from a COCO folder + JSON through the trainer's data pipeline.

    augment=False: its validation letterbox; True: its training augmentations (HSV, affine, flip, mosaic),
    drawn anew each epoch, which matters when QAT sees only a calibration-sized set.
    """
    from ..errors import fail
    from ..datasets.coco import load_coco

    records, names, _ = load_coco(images_dir, annotations)
    if len(names) != num_classes:
        raise fail(annotations, f"{len(names)} categories, the model has {num_classes} classes")
    return _batches(records, img_size, batch, seed, augment)


def augmented_batches(paths, img_size, batch: int, seed: int = 0):
    """Unlabelled images through the trainer's training augmentations, new draws each epoch.

    Distillation needs no labels, so every mosaic, affine and colour draw is a new view the student must
    match the teacher on: from 160 images this beat plain letterboxed images with flips (docs/QUANTIZATION.md).
    """
    import numpy as np

    from ..datasets.records import image_size

    empty = np.zeros((0, 5), np.float32)
    # the paths were decoded once by calibration already; the size is only for the record's bookkeeping
    records = [(str(p), empty, image_size(p), i) for i, p in enumerate(paths)]
    return _batches(records, img_size, batch, seed, True)


def _batches(records, img_size, batch, seed, augment):
    from ..datasets.loader import DetectionDataset, collate

    ds = DetectionDataset(records, img_size, augment=augment, hyp={"mosaic": 0.5, "scale": 0.3}, seed=seed)
    loader = torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=True, collate_fn=collate,
                                         generator=torch.Generator().manual_seed(seed))
    return _FloatImages(loader)


class _FloatImages:
    """Re-iterable view of a DataLoader giving (float images, labels)."""

    def __init__(self, loader):
        self.loader = loader
        self.epoch = 0

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        self.loader.dataset.epoch = self.epoch  # new augmentation draws every pass
        self.epoch += 1
        for imgs, labels, _ in self.loader:
            yield imgs.float() / 255, labels
