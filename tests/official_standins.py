"""Official-layout YOLOv6 .pt stand-ins: the official YOLOv6 .pt files are not available here, so tests save
our models pickled the way the official train script pickles them: whole module objects of classes living in a
`yolov6.*` module namespace (registered in sys.modules only while saving) with the official attribute names and
wrappers, saved as {'model': ..half(), 'ema': ..half(), 'epoch': ...}.
"""
import contextlib
import copy
import sys
import types

import numpy as np
import torch
from torch import nn

from yolov6_edge.models import blocks as B
from yolov6_edge.models.efficientrep import CSPBepBackbone, EfficientRep
from yolov6_edge.models.head import EfficientDecoupledHead
from yolov6_edge.models.reppan import CSPRepBiFPAN, CSPRepBiFPAN6, CSPRepPAN, RepBiFPAN, RepBiFPAN6, RepPAN
from yolov6_edge.models.yolov6 import YOLOv6


OFFICIAL_MODULES = ("yolov6", "yolov6.models", "yolov6.models.yolo", "yolov6.models.efficientrep",
                    "yolov6.models.reppan", "yolov6.models.effidehead", "yolov6.layers", "yolov6.layers.common")


@contextlib.contextmanager
def fake_yolov6_package():
    """Register an empty `yolov6` package whose classes are made on demand; removed on exit."""
    saved = {m: sys.modules.get(m) for m in OFFICIAL_MODULES}
    mods = {m: types.ModuleType(m) for m in OFFICIAL_MODULES}
    sys.modules.update(mods)

    def cls(module, name):
        mod = mods[module]
        if not hasattr(mod, name):
            setattr(mod, name, type(name, (nn.Module,), {"__module__": module}))
        return getattr(mod, name)

    try:
        yield cls
    finally:
        for m, old in saved.items():
            if old is None:
                sys.modules.pop(m, None)
            else:
                sys.modules[m] = old


def new_instance(cls):
    """An nn.Module of `cls` without running its __init__ (the official classes here are empty)."""
    obj = cls.__new__(cls)
    nn.Module.__init__(obj)
    return obj


COMMON = "yolov6.layers.common"
# Our class -> (official module, official class); from meituan/YOLOv6 yolov6/layers/common.py and models/.
OFFICIAL_NAMES = {
    B.RepVGGBlock: (COMMON, "RepVGGBlock"), B.QARepVGGBlock: (COMMON, "QARepVGGBlockV2"),
    B.MBLABlock: (COMMON, "MBLABlock"), B.BottleRep3: (COMMON, "BottleRep3"), B.RepBlock: (COMMON, "RepBlock"),
    B.BottleRep: (COMMON, "BottleRep"),
    B.BepC3: (COMMON, "BepC3"), B.Transpose: (COMMON, "Transpose"), B.BiFusion: (COMMON, "BiFusion"),
    EfficientRep: ("yolov6.models.efficientrep", "EfficientRep"),
    CSPBepBackbone: ("yolov6.models.efficientrep", "CSPBepBackbone"),
    RepPAN: ("yolov6.models.reppan", "RepPANNeck"), CSPRepPAN: ("yolov6.models.reppan", "CSPRepPANNeck"),
    RepBiFPAN: ("yolov6.models.reppan", "RepBiFPANNeck"), CSPRepBiFPAN: ("yolov6.models.reppan", "CSPRepBiFPANNeck"),
    RepBiFPAN6: ("yolov6.models.reppan", "RepBiFPANNeck6"),
    CSPRepBiFPAN6: ("yolov6.models.reppan", "CSPRepBiFPANNeck_P6"),
    EfficientDecoupledHead: ("yolov6.models.effidehead", "Detect"), YOLOv6: ("yolov6.models.yolo", "Model"),
}
# Pooling blocks are wrappers around an inner module in the official code.
OFFICIAL_WRAPPED = {B.SimSPPF: ("SimSPPF", "SPPFModule", "sppf"), B.SPPF: ("SPPF", "SPPFModule", "sppf"),
                    B.SimCSPSPPF: ("SimCSPSPPF", "CSPSPPFModule", "cspsppf"),
                    B.CSPSPPF: ("CSPSPPF", "CSPSPPFModule", "cspsppf")}


def to_official(m, cls, fuse_ab=False, inside_repvgg=False):
    """A copy of our module tree with official class names, wrappers and extra head tensors."""
    if isinstance(m, B.ConvBNAct):
        inner = new_instance(cls(COMMON, "ConvModule"))
        inner.conv, inner.bn, inner.act = m.conv, m.bn, m.act
        if inside_repvgg:  # RepVGG branches are bare ConvModules
            return inner
        outer = new_instance(cls(COMMON, "ConvBNSiLU" if isinstance(m.act, nn.SiLU) else "ConvBNReLU"))
        outer.block = inner
        return outer
    if type(m) in OFFICIAL_WRAPPED:
        outer_name, inner_name, attr = OFFICIAL_WRAPPED[type(m)]
        outer, inner = new_instance(cls(COMMON, outer_name)), new_instance(cls(COMMON, inner_name))
        for name, child in m.named_children():
            setattr(inner, name, to_official(child, cls))
        setattr(outer, attr, inner)
        return outer
    if type(m) in OFFICIAL_NAMES:
        module, name = OFFICIAL_NAMES[type(m)]
        if getattr(m, "n_stages", 4) == 5:  # P6 backbones are other classes in the official code
            name = {"EfficientRep": "EfficientRep6", "CSPBepBackbone": "CSPBepBackbone_P6"}[name]
        obj = new_instance(cls(module, name))
    elif isinstance(m, (nn.Sequential, nn.ModuleList)):
        obj = type(m)()
    else:
        return copy.deepcopy(m)  # torch.nn leaves
    for name, child in m.named_children():
        if name == "dfl":
            continue  # the official head keeps proj / proj_conv instead
        if child is None:
            obj._modules[name] = None
        elif isinstance(obj, (nn.Sequential, nn.ModuleList)):
            obj.append(to_official(child, cls, fuse_ab))
        else:
            setattr(obj, name, to_official(child, cls, fuse_ab, isinstance(m, (B.RepVGGBlock, B.QARepVGGBlock))))
    for name, p in m._parameters.items():
        obj._parameters[name] = p
    if isinstance(m, EfficientDecoupledHead):
        r = m.reg_max
        obj.stride = torch.tensor(m.strides)
        obj.proj = nn.Parameter(torch.linspace(0, r, r + 1), requires_grad=False)
        obj.proj_conv = nn.Conv2d(r + 1, 1, 1, bias=False)
        obj.proj_conv.weight = nn.Parameter(obj.proj.view(1, r + 1, 1, 1).clone(), requires_grad=False)
        if fuse_ab:  # 3.0 anchor-aided branch: 3 anchors per cell, dropped by the importer
            chans = [c.in_channels for c in m.cls_preds]
            obj.cls_preds_ab = nn.ModuleList(nn.Conv2d(c, m.num_classes * 3, 1) for c in chans)
            obj.reg_preds_ab = nn.ModuleList(nn.Conv2d(c, 4 * (r + 3), 1) for c in chans)
    return obj


def save_official(path, ema_source, model_source, fuse_ab=False, epoch=299):
    """ema_source None mimics a stripped release file: {'model': ema weights, 'ema': None}."""
    with fake_yolov6_package() as cls:
        # Copies: to_official shares tensors with its source and half() works in place.
        model = to_official(copy.deepcopy(model_source), cls, fuse_ab).half()
        ema = to_official(copy.deepcopy(ema_source), cls, fuse_ab).half() if ema_source is not None else None
        assert type(model).__module__ == "yolov6.models.yolo" and type(model).__name__ == "Model"
        results = (np.float64(0.52), np.float64(0.37))  # the official script stores numpy AP values
        torch.save({"model": model, "ema": ema, "updates": 1000, "optimizer": None, "epoch": epoch,
                    "results": results}, path)
    assert "yolov6.models.yolo" not in sys.modules
    return path


def half_rounded(model):
    """Parameters and buffers rounded through float16, as an official .pt stores them."""
    with torch.no_grad():
        for t in list(model.parameters()) + list(model.buffers()):
            t.copy_(t.half().float())
    return model
