"""The module tree of an official YOLOv6 checkpoint, as the restricted unpickler leaves it (inert placeholders):
which classes it may hold, how to walk it, and how its weights map onto our module names.

Every module must be of a class on the allow-list below (what the official repo's model code builds); the first
one that is not is named, by its path in the tree, in a one-line refusal. Weights are renamed per official class
(a wrapper level such as ConvBNReLU.block collapses; the YOLOv6Lite blocks name their layers differently from
ours), and training-only branches of the head are set aside and reported rather than loaded.
"""
from collections import OrderedDict

from ..errors import fail

# Official model classes (yolov6.*) and torch.nn classes a YOLOv6 / YOLOv6Lite model is made of.
YOLOV6_CLASSES = frozenset({
    "Model", "EfficientRep", "CSPBepBackbone", "Lite_EffiBackbone", "EfficientRep6", "CSPBepBackbone_P6",
    "RepPANNeck", "CSPRepPANNeck", "RepBiFPANNeck", "CSPRepBiFPANNeck", "Lite_EffiNeck", "Detect",
    "RepBiFPANNeck6", "CSPRepBiFPANNeck_P6",
    "ConvModule", "ConvBNReLU", "ConvBNSiLU", "ConvBN", "ConvBNHS", "SiLU",
    "SPPFModule", "SimSPPF", "SPPF", "CSPSPPFModule", "SimCSPSPPF", "CSPSPPF", "Transpose",
    "RepVGGBlock", "RealVGGBlock", "QARepVGGBlock", "QARepVGGBlockV2", "RepBlock", "BottleRep", "BottleRep3", "BepC3",
    "MBLABlock", "BiFusion",
    "Conv", "SimConv", "ConvWrapper", "SimConvWrapper", "Conv_C3",  # release 0.1.0 / 0.2.0 names
    "SEBlock", "Lite_EffiBlockS1", "Lite_EffiBlockS2", "DPBlock", "DarknetBlock", "CSPBlock",
})
TORCH_CLASSES = frozenset({
    "Conv2d", "ConvTranspose2d", "BatchNorm2d", "ReLU", "SiLU", "Hardswish", "Hardsigmoid", "Identity",
    "MaxPool2d", "AvgPool2d", "Upsample", "AdaptiveAvgPool2d", "Sequential", "ModuleList",
})

# Per official class: child name -> our path ("" drops the level: the child's contents belong to the parent).
CHILD_RENAMES = {
    "ConvBNReLU": {"block": ""}, "ConvBNSiLU": {"block": ""}, "ConvBN": {"block": ""}, "ConvBNHS": {"block": ""},
    "ConvWrapper": {"block": ""}, "SimConvWrapper": {"block": ""},
    "SimSPPF": {"sppf": ""}, "SPPF": {"sppf": ""}, "SimCSPSPPF": {"cspsppf": ""}, "CSPSPPF": {"cspsppf": ""},
    "Lite_EffiBackbone": {"conv_0": "stem", "lite_effiblock_1": "stages.0", "lite_effiblock_2": "stages.1",
                          "lite_effiblock_3": "stages.2", "lite_effiblock_4": "stages.3"},
    "Lite_EffiBlockS2": {"conv_dw_1": "short_dw", "conv_1": "short_pw", "conv_pw_2": "main_pw_in",
                         "conv_dw_2": "main_dw", "se": "main_se", "conv_2": "main_pw_out", "conv_dw_3": "mix_dw",
                         "conv_pw_3": "mix_pw"},
    "Lite_EffiBlockS1": {"conv_pw_1": "pw_in", "conv_dw_1": "dw", "conv_1": "pw_out"},
    "SEBlock": {"conv1": "reduce", "conv2": "expand"},
    "DPBlock": {"conv_dw_1": "dw.conv", "bn_1": "dw.bn", "conv_pw_1": "pw.conv", "bn_2": "pw.bn"},
    "DarknetBlock": {"conv_1": "pw", "conv_2": "dp"},
    "CSPBlock": {"conv_1": "pw_main", "conv_2": "pw_short", "conv_3": "pw_merge", "blocks": "block"},
    "Lite_EffiNeck": {"reduce_layer0": "reduce5", "reduce_layer1": "reduce4", "reduce_layer2": "reduce3",
                      "Csp_p4": "top_down4", "Csp_p3": "top_down3", "downsample2": "down3", "Csp_n3": "bottom_up4",
                      "downsample1": "down4", "Csp_n4": "bottom_up5", "p6_conv_1": "p6_from_top",
                      "p6_conv_2": "p6_from_p5"},
}

# Children of the official Detect that the deployed model does not use: (name, what the user is told).
TRAINING_ONLY = {
    "cls_preds_ab": "anchor-aided training branch (cls_preds_ab, reg_preds_ab)",
    "reg_preds_ab": "anchor-aided training branch (cls_preds_ab, reg_preds_ab)",
    "reg_preds_dist": "self-distillation DFL branch (reg_preds_dist)",
    "proj_conv": None,  # DFL bin values 0..reg_max: fixed, ours computes them (official_arch checks them)
    "proj": None,
}


def qualname(node) -> str:
    return getattr(type(node), "qualname", f"{type(node).__module__}.{type(node).__name__}")


def class_name(node) -> str:
    return qualname(node).rsplit(".", 1)[-1]


def children(node) -> dict:
    modules = node.__dict__.get("_modules")
    return {k: v for k, v in modules.items() if v is not None} if isinstance(modules, dict) else {}


def child(node, dotted: str):
    """The node at a dotted official path below `node`, or None."""
    for part in dotted.split("."):
        node = children(node).get(part) if node is not None else None
    return node


def walk(node, path=""):
    """(official path, node) for every module, parents first, in module order."""
    yield path, node
    for name, sub in children(node).items():
        yield from walk(sub, f"{path}.{name}" if path else name)


def _check_state(node, where, file) -> None:
    """The fields every reader of the tree relies on have the types torch gives them; a damaged file is one line
    naming the module, not an AttributeError deep in the mapping."""
    import torch

    state = node.__dict__
    for key in ("_modules", "_parameters", "_buffers"):
        value = state.get(key)
        if value is None:
            continue
        if not isinstance(value, dict):
            raise fail(file, f"module '{where}' has {key} of type {type(value).__name__}, not a dict: a damaged file")
        for name, item in value.items():
            if not isinstance(name, str):
                raise fail(file, f"module '{where}' has a {key[1:]} entry named {name!r:.40}: a damaged file")
            if key != "_modules" and item is not None and not isinstance(item, torch.Tensor):
                raise fail(file, f"module '{where}' {key[1:-1]} '{name}' is of type {type(item).__name__}, "
                                 "not a tensor: a damaged file")
    skip = state.get("_non_persistent_buffers_set")
    if skip is not None and not isinstance(skip, (set, frozenset)):
        raise fail(file, f"module '{where}' has _non_persistent_buffers_set of type {type(skip).__name__}: a damaged "
                         "file")
    if class_name(node) == "BatchNorm2d":
        eps, momentum = state.get("eps", 1e-5), state.get("momentum", 0.1)
        if not (isinstance(eps, (int, float)) and not isinstance(eps, bool) and 0 < eps < 1):
            raise fail(file, f"module '{where}' has BatchNorm eps {eps!r:.40}; expected a number in (0, 1)")
        if momentum is not None and not (isinstance(momentum, (int, float)) and not isinstance(momentum, bool)
                                         and 0 <= momentum <= 1):
            raise fail(file, f"module '{where}' has BatchNorm momentum {momentum!r:.40}; expected a number in "
                             "[0, 1] or None")


def check_allowed(root, file, placeholder_type) -> None:
    """Refuse the first module whose class is not one an official YOLOv6 model is built from, or whose fields
    have the wrong types."""
    for path, node in walk(root):
        where = path or "<model>"
        if not isinstance(node, placeholder_type):
            raise fail(file, f"module '{where}' is a {type(node).__name__}, not a pickled module: not an official "
                             f"YOLOv6 model")
        _check_state(node, where, file)
        name, top = qualname(node), qualname(node).split(".")[0]
        known = ((top == "yolov6" and class_name(node) in YOLOV6_CLASSES)
                 or (name.startswith("torch.nn.") and class_name(node) in TORCH_CLASSES))
        if not known:
            raise fail(file, f"module '{where}' is {name}, a class this importer does not know (it builds "
                             f"EfficientRep / CSPBep / Rep-PAN / YOLOv6Lite models); not loaded")


def _tensors(node):
    state = node.__dict__
    skip = state.get("_non_persistent_buffers_set") or set()
    for k, v in (state.get("_parameters") or {}).items():
        if v is not None:
            yield k, v
    for k, v in (state.get("_buffers") or {}).items():
        if v is not None and k not in skip:
            yield k, v


def mapped_state_dict(root, top_renames=None):
    """Official tree -> (state dict under our names (float32), {our BN path: (eps, momentum)}, dropped).

    dropped: {what was dropped (user-facing; None for the fixed DFL bins): [official keys]}.
    """
    state, bn, dropped = OrderedDict(), {}, OrderedDict()

    def visit(node, ours, official, renames):
        if class_name(node) == "BatchNorm2d":
            bn[ours] = (node.__dict__.get("eps"), node.__dict__.get("momentum"))
        is_head = class_name(node) == "Detect"
        for k, v in _tensors(node):
            if is_head and k in TRAINING_ONLY:
                dropped.setdefault(TRAINING_ONLY[k], []).append(f"{official}.{k}")
                continue
            state[f"{ours}.{k}" if ours else k] = v.detach().float() if v.is_floating_point() else v.detach()
        table = CHILD_RENAMES.get(class_name(node), {})
        for name, sub in children(node).items():
            sub_official = f"{official}.{name}" if official else name
            if is_head and name in TRAINING_ONLY:
                dropped.setdefault(TRAINING_ONLY[name], []).extend(
                    f"{p}.{k}" for p, n in walk(sub, sub_official) for k, _ in _tensors(n))
                continue
            mine = (renames or {}).get(name, table.get(name, name))
            sub_ours = ".".join(p for p in (ours, mine) if p)
            visit(sub, sub_ours, sub_official, None)

    visit(root, "", "", top_renames)
    return state, bn, dropped
