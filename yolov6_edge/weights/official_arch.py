"""Which model an official YOLOv6 checkpoint holds, read from the checkpoint itself: the block type from the
classes in its tree, widths and repeats from its tensor shapes, the head from the Detect attributes and shapes.

Returns a plain arch dict (models.build_from_arch builds it), a model name (a known one when the layout is
exactly one of ours, else one that says what it is: yolov6n-base, yolov6n-opt, ...) and a one-line description.
Anything the layout cannot be read as is refused with one line naming the official module at fault.
"""
import re

import torch

from ..errors import fail
from .official_tree import child, class_name
from .state import check_class_count

BACKBONES = {"EfficientRep": "efficientrep", "CSPBepBackbone": "cspbep",
             "EfficientRep6": "efficientrep", "CSPBepBackbone_P6": "cspbep"}
NECKS = {"RepPANNeck": "reppan", "CSPRepPANNeck": "csprep_pan", "RepBiFPANNeck": "repbifpan",
         "CSPRepBiFPANNeck": "csprep_bifpan", "RepBiFPANNeck6": "repbifpan6", "CSPRepBiFPANNeck_P6": "csprep_bifpan6"}
P6_BACKBONES = ("EfficientRep6", "CSPBepBackbone_P6")
NECK_STAGES = ("Rep_p4", "Rep_p3", "Rep_n3", "Rep_n4")
P6_NECK_STAGES = ("Rep_p5", "Rep_p4", "Rep_p3", "Rep_n4", "Rep_n5", "Rep_n6")
# Official basic block class (training_mode) -> ours. RealVGGBlock (RepOptimizer-trained) and ConvBNReLU (base
# models) are both conv + BN + ReLU.
BLOCKS = {"RepVGGBlock": "repvgg", "ConvBNSiLU": "conv_silu", "ConvBNReLU": "conv_relu", "RealVGGBlock": "conv_relu",
          "QARepVGGBlock": "qarepvgg", "QARepVGGBlockV2": "qarepvgg2",
          "ConvWrapper": "conv_silu_bias", "SimConvWrapper": "conv_relu_bias"}  # the last two: release 0.2.0
# Name suffix for a layout that is none of our named configs, by its basic block.
BLOCK_LABEL = {"ConvBNReLU": "base model (ConvBNReLU blocks)",
               "RealVGGBlock": "RepOptimizer-trained (RealVGGBlock plain blocks)",
               "RepVGGBlock": "RepVGG blocks", "ConvBNSiLU": "ConvBNSiLU blocks",
               "QARepVGGBlock": "QARepVGG blocks", "QARepVGGBlockV2": "QARepVGG-V2 blocks",
               "ConvWrapper": "release 0.2.0 ConvWrapper blocks (SiLU, conv bias)",
               "SimConvWrapper": "release 0.2.0 SimConvWrapper blocks (ReLU, conv bias)"}
BLOCK_SUFFIX = {"ConvBNReLU": "base", "RealVGGBlock": "opt", "ConvBNSiLU": "silu", "RepVGGBlock": "custom",
                "QARepVGGBlock": "qa1", "QARepVGGBlockV2": "qa", "ConvWrapper": "v2.0", "SimConvWrapper": "v2.0-relu"}


def _weight_shape(sd, prefix, path, what):
    """Shape of the first 4-D weight under `prefix` (our names): the first conv of that module."""
    for k, v in sd.items():
        if k.startswith(prefix + ".") and k.endswith("weight") and v.dim() == 4:
            return tuple(v.shape)
    raise fail(path, f"module '{prefix}' has no convolution weight: the layout does not fit {what}")


def _indices(sd, prefix):
    pat = re.compile(re.escape(prefix) + r"\.(\d+)\.")
    return {int(m.group(1)) for k in sd for m in [pat.match(k)] if m}


def _need(node, dotted, classes, path):
    """The official child at `dotted`, refused unless its class is one of `classes`."""
    sub = child(node, dotted)
    got = class_name(sub) if sub is not None else "nothing"
    if got not in classes:
        raise fail(path, f"module '{dotted}' is {got}, expected {' or '.join(sorted(classes))}: not a layout this "
                         f"importer can build")
    return sub


def _stage_repeats(root, sd, dotted, kind, path):
    """Blocks in one stage, in the official count (a BepC3 of n holds n // 2 BottleReps: count them twice)."""
    _need(root, dotted, {kind}, path)
    if kind == "RepBlock":
        return 1 + len(_indices(sd, dotted + ".block"))
    if kind == "MBLABlock":  # n // 2 BottleRep3s in its longest branch (models.blocks.mbla_branch_depths)
        branches = _indices(sd, dotted + ".m")
        return 2 * len(_indices(sd, f"{dotted}.m.{max(branches)}")) if branches else 0
    return 2 * (1 + len(_indices(sd, dotted + ".m.block")))


def _head(root, sd, path, levels):
    det = _need(root, "detect", {"Detect"}, path)
    if child(det, "obj_preds") is not None:
        raise fail(path, "module 'detect.obj_preds': the release 0.1.0 head (objectness branch) decodes boxes "
                         "differently from every later release; not supported")
    attrs = det.__dict__
    n_cls = check_class_count(_weight_shape(sd, "detect.cls_preds.0", path, "a YOLOv6 head")[0], path)
    nc = attrs.get("nc")
    if nc is not None and (isinstance(nc, bool) or not isinstance(nc, int)):
        raise fail(path, f"module 'detect' has nc {nc!r:.40}, not a whole number: a damaged file")
    if isinstance(nc, int) and nc != n_cls:
        raise fail(path, f"module 'detect' says nc={nc} but detect.cls_preds.0 predicts {n_cls} classes")
    for key, kind in (("use_dfl", bool), ("reg_max", int)):
        if attrs.get(key) is not None and not isinstance(attrs[key], kind):
            raise fail(path, f"module 'detect' has {key} {attrs[key]!r:.40}, not a {kind.__name__}: a damaged file")
    n_reg = _weight_shape(sd, "detect.reg_preds.0", path, "a YOLOv6 head")[0]
    if n_reg == 4:
        reg_max = 0
    elif n_reg % 4 == 0 and n_reg > 4:
        reg_max = n_reg // 4 - 1
    else:
        raise fail(path, f"module 'detect.reg_preds.0' predicts {n_reg} values per cell: neither 4 distances nor "
                         f"4 DFL distributions")
    if attrs.get("use_dfl") is True and reg_max and attrs.get("reg_max") not in (None, reg_max):
        raise fail(path, f"module 'detect' says reg_max={attrs.get('reg_max')} but detect.reg_preds.0 holds "
                         f"{reg_max + 1} bins")
    proj = det.__dict__.get("_modules", {}).get("proj_conv")
    if reg_max and proj is not None:
        w = (proj.__dict__.get("_parameters") or {}).get("weight")
        # The official head decodes DFL with these fixed bin values; ours always uses 0..reg_max.
        if w is not None and (w.numel() != reg_max + 1 or
                              (w.float().flatten() - torch.arange(reg_max + 1.0)).abs().max() > 1e-3):
            raise fail(path, "module 'detect.proj_conv' holds DFL bin values other than 0..reg_max: not a head the "
                             "official code trains; not loaded")
    stride = attrs.get("stride")
    if stride is not None and not (isinstance(stride, torch.Tensor) and stride.dim() == 1 and 0 < stride.numel() <= 8
                                   and bool(torch.isfinite(stride.float()).all())
                                   and bool(((stride > 0) & (stride <= 1024) & (stride == stride.round())).all())):
        raise fail(path, f"module 'detect' has stride {str(stride)[:60]!r}, not a list of strides (8, 16, 32...): "
                         "a damaged file")
    strides = [int(s) for s in stride.tolist()] if isinstance(stride, torch.Tensor) else [8, 16, 32, 64][:levels]
    nl = len(_indices(sd, "detect.cls_preds"))
    if nl != levels or len(strides) != levels:
        raise fail(path, f"module 'detect' has {nl} levels and strides {strides}; this layout builds {levels}-level "
                         f"heads here")
    return n_cls, reg_max, strides


def read_yolov6(root, sd, path):
    """(arch, num_classes, model_name, description) of an EfficientRep / CSPBep + Rep-PAN model."""
    from ..models.configs import YOLOV6_CONFIGS

    bb_cls = class_name(_need(root, "backbone", set(BACKBONES), path))
    neck_cls = class_name(_need(root, "neck", set(NECKS), path))
    stem_cls = class_name(_need(root, "backbone.stem", set(BLOCKS), path))
    block = BLOCKS[stem_cls]
    p6 = bb_cls in P6_BACKBONES
    if p6 != neck_cls.endswith(("6", "_P6")):
        raise fail(path, f"module 'neck' is {neck_cls}, which does not pair with a {bb_cls} backbone")
    last = 6 if p6 else 5  # ERBlock_2..last: the stride-2 stages
    for i in range(2, last + 1):  # every stride-2 block is the same basic block as the stem
        _need(root, f"backbone.ERBlock_{i}.0", {stem_cls}, path)
    pool = class_name(_need(root, f"backbone.ERBlock_{last}.2", {"SimSPPF", "SPPF", "SimCSPSPPF", "CSPSPPF"}, path))
    if pool.startswith("Sim") == block.startswith("conv_silu"):
        raise fail(path, f"module 'backbone.ERBlock_{last}.2' is {pool}, whose activation does not match the "
                         f"{stem_cls} blocks around it")
    neck_stages = P6_NECK_STAGES if p6 else NECK_STAGES
    stage = "RepBlock" if bb_cls in ("EfficientRep", "EfficientRep6") else class_name(
        _need(root, "backbone.ERBlock_2.1", {"BepC3", "MBLABlock"}, path))
    neck_stage = stage if neck_cls.startswith("CSP") else "RepBlock"
    if neck_stage != stage:
        raise fail(path, f"module 'neck' is {neck_cls}, which does not pair with a {bb_cls} backbone here")

    what = "an EfficientRep / Rep-PAN model"
    ch = [_weight_shape(sd, "backbone.stem", path, what)[0]]
    ch += [_weight_shape(sd, f"backbone.ERBlock_{i}.0", path, what)[0] for i in range(2, last + 1)]
    if p6:
        ch += [_weight_shape(sd, f"neck.reduce_layer{i}", path, what)[0] for i in range(3)]
        ch += [_weight_shape(sd, f"detect.stems.{i}", path, what)[1] for i in range(1, 4)]
    else:
        ch += [_weight_shape(sd, "neck.reduce_layer0", path, what)[0],
               _weight_shape(sd, "neck.reduce_layer1", path, what)[0],
               _weight_shape(sd, "neck.downsample2", path, what)[0], _weight_shape(sd, "detect.stems.1", path, what)[1],
               _weight_shape(sd, "neck.downsample1", path, what)[0], _weight_shape(sd, "detect.stems.2", path, what)[1]]
    for i, (mine, theirs) in enumerate(((6, 3), (7, 2), (8, 1)) if p6 else ()):
        # The official P6 neck sizes each BiFusion's finer input by its own width: it only runs when they agree.
        if ch[mine] != ch[theirs]:
            raise fail(path, f"module 'neck.Bifusion{i}' takes {ch[mine]} channels from a {ch[theirs]}-channel "
                             f"backbone stage: a P6 layout that cannot run")
    reps = [1] + [_stage_repeats(root, sd, f"backbone.ERBlock_{i}.1", stage, path) for i in range(2, last + 1)]
    reps += [_stage_repeats(root, sd, f"neck.{n}", neck_stage, path) for n in neck_stages]
    stage_paths = [f"backbone.ERBlock_{i}.1" for i in range(2, last + 1)] + [f"neck.{n}" for n in neck_stages]
    csp_e = _csp_ratio(sd, path, stage, stage_paths) if stage != "RepBlock" else 0.5
    n_cls, reg_max, strides = _head(root, sd, path, 4 if p6 else 3)
    arch = {"family": "yolov6", "backbone": BACKBONES[bb_cls], "neck": NECKS[neck_cls], "block": block,
            "csp_e": csp_e, "fuse_p2": "BiFPAN" in neck_cls, "cspsppf": "CSP" in pool, "reg_max": reg_max,
            "strides": strides, "channels": ch, "repeats": reps,
            "stage_block": "mbla" if stage == "MBLABlock" else "bepc3", "p6": p6}
    name = _known_name(arch, YOLOV6_CONFIGS)
    if name is None and p6:
        letter = _size_letter(ch, p6)
        standard = block == ("conv_silu" if letter == "l" else "repvgg")  # as configs/yolov6*6.py train them
        name = (f"yolov6{letter}6" if letter else "yolov6-p6") + ("" if standard else f"-{BLOCK_SUFFIX[stem_cls]}")
    elif name is None:
        name = f"yolov6{_size_letter(ch)}-{'mbla' if stage == 'MBLABlock' else BLOCK_SUFFIX[stem_cls]}"
    head = "DFL reg_max %d" % reg_max if reg_max else "ltrb"
    desc = (f"{'P6 (4 levels to stride 64), ' if p6 else ''}{BLOCK_LABEL[stem_cls]}"
            f"{' in MBLA stages' if stage == 'MBLABlock' else ''}, {bb_cls} + {neck_cls} + Detect ({head}, strides "
            f"{'/'.join(map(str, strides))}), widths {ch}, repeats {reps}")
    return arch, n_cls, name, desc


# Split ratios of the official CSP configs (0.5, float(2)/3), then others a custom config might use.
CSP_RATIOS = (0.5, 2 / 3, 0.75, 1 / 3, 0.25, 1.0)


def _csp_ratio(sd, path, kind, stages):
    """The ratio e whose int(c_out * e) gives every CSP stage's hidden width, as the official builder computes it
    (BepC3: cv1 is the hidden width, cv3 the output; MBLABlock: cv1 is one hidden width per branch, cv2 the
    output)."""
    if kind == "MBLABlock":
        pairs = [(s, _weight_shape(sd, f"{s}.cv1", path, "an MBLABlock")[0] // (len(_indices(sd, f"{s}.m")) + 1),
                  _weight_shape(sd, f"{s}.cv2", path, "an MBLABlock")[0]) for s in stages]
    else:
        pairs = [(s, _weight_shape(sd, f"{s}.cv1", path, "a BepC3")[0],
                  _weight_shape(sd, f"{s}.cv3", path, "a BepC3")[0]) for s in stages]
    for e in CSP_RATIOS:
        if all(int(out * e) == hidden for _, hidden, out in pairs):
            return e
    s, hidden, out = pairs[0]
    raise fail(path, f"module '{s}' splits {out} channels into {hidden}: no CSP ratio this importer knows "
                     f"({', '.join('%.3g' % e for e in CSP_RATIOS)}) gives every stage's width")


# Width multipliers of the official configs and the size each names.
SIZES = {0.25: "n", 0.375: "t", 0.5: "s", 0.75: "m", 1.0: "l", 1.25: "x"}


def _size_letter(channels, p6=False):
    """n/t/s/m/l/x when every width is the official rounding of the base widths at that multiplier, else ''."""
    from ..models.configs import P6_CHANNELS, YOLOv6Config

    extra = {"base_channels": P6_CHANNELS} if p6 else {}
    for width, letter in SIZES.items():
        if YOLOv6Config("probe", 1.0, width, "efficientrep", "reppan", **extra).channels == list(channels):
            return letter
    return ""


def _canonical(arch):
    """An arch with BepC3 repeats rounded as the official builder rounds them (n and n+1 build alike)."""
    a = dict(arch)
    if a["backbone"] == "cspbep":
        a["repeats"] = [a["repeats"][0]] + [2 * max(n // 2, 1) for n in a["repeats"][1:]]
    a["csp_e"] = None
    return a


def _known_name(arch, configs):
    if arch.get("p6"):
        return None  # no named P6 configs of ours
    for name, cfg in configs.items():
        known = cfg.to_arch()
        hidden = int(known["channels"][1] * known["csp_e"]) == int(arch["channels"][1] * arch["csp_e"])
        if hidden and _canonical(known) == _canonical(arch):
            return name
    return None


def read_lite(root, sd, path):
    """(arch, num_classes, model_name, description) of a YOLOv6Lite (Lite_EffiBackbone + Lite_EffiNeck)."""
    from ..models.lite import LITE_CONFIGS, YOLOv6Lite

    _need(root, "neck", {"Lite_EffiNeck"}, path)
    what = "a YOLOv6Lite model"
    stem = _weight_shape(sd, "backbone.stem", path, what)[0]
    outs, mids, depths = [], [], []
    for i in range(4):
        blocks = sorted(_indices(sd, f"backbone.stages.{i}"))
        if blocks != list(range(len(blocks))) or not blocks:
            raise fail(path, f"module 'backbone.lite_effiblock_{i + 1}' holds no blocks in order")
        _need(root, f"backbone.lite_effiblock_{i + 1}.0", {"Lite_EffiBlockS2"}, path)
        for j in blocks[1:]:
            _need(root, f"backbone.lite_effiblock_{i + 1}.{j}", {"Lite_EffiBlockS1"}, path)
        outs.append(_weight_shape(sd, f"backbone.stages.{i}.0.mix_pw", path, what)[0])
        if len(blocks) > 1:
            mids.append(_weight_shape(sd, f"backbone.stages.{i}.1.pw_in", path, what)[0])
        else:  # the stride-2 block runs its main branch at half the stage's middle width
            mids.append(2 * _weight_shape(sd, f"backbone.stages.{i}.0.main_pw_in", path, what)[0])
        depths.append(len(blocks))
    neck = _weight_shape(sd, "neck.reduce5", path, what)[0]
    arch = {"family": "lite", "stem_channels": stem, "stage_out": outs, "stage_mid": mids, "depths": depths,
            "neck_channels": neck}
    n_cls = check_class_count(_weight_shape(sd, "head.cls_preds.0", path, what)[0], path)
    nl = len(_indices(sd, "head.cls_preds"))
    if nl != 4:
        raise fail(path, f"module 'detect' has {nl} levels; YOLOv6Lite has 4 (strides 8/16/32/64)")
    name = "yolov6lite-custom"
    with torch.device("meta"):
        for key, cfg in LITE_CONFIGS.items():
            if YOLOv6Lite(cfg, n_cls).arch == arch:
                name = key
    desc = (f"Lite_EffiBackbone + Lite_EffiNeck + Lite Detect (ltrb, strides 8/16/32/64), stem {stem}, "
            f"stage widths {outs}, depths {depths}, neck {neck}")
    return arch, n_cls, name, desc
