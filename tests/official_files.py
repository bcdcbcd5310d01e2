"""Official-format .pt files with chosen damage, made from a real one (../shared/weights/official-format).

The restricted unpickler (yolov6_edge/weights/official.py) reads a file into inert placeholders; `clone` turns
that tree back into objects of the official class names (registered for the time of a `torch.save` as empty
`yolov6.*` modules), so a test or the fuzz harness can change any field -- a tensor's shape, a dict that
becomes a number -- and write a file the importer reads exactly as it would read one from the official code.
"""
import contextlib
import sys
import types
from pathlib import Path

import torch


@contextlib.contextmanager
def official_modules():
    """Empty yolov6.* modules in sys.modules whose classes are made on demand: (module, name) -> class."""
    made = {}

    def cls(module, name):
        if module not in made:
            parts = module.split(".")
            for i in range(1, len(parts) + 1):
                m = ".".join(parts[:i])
                if m not in made:
                    made[m] = sys.modules[m] = types.ModuleType(m)
        mod = made[module]
        if not hasattr(mod, name):
            setattr(mod, name, type(name, (), {"__module__": module}))
        return getattr(mod, name)

    saved = {k: v for k, v in sys.modules.items() if k == "yolov6" or k.startswith("yolov6.")}
    try:
        yield cls
    finally:
        for m in made:
            sys.modules.pop(m, None)
        sys.modules.update(saved)


def read_tree(path):
    """The top-level dict of an official file, modules as placeholders (weights/official.read_official)."""
    from yolov6_edge.weights.official import read_official

    return read_official(Path(path))


def clone(node, cls):
    """Placeholders -> objects of the official classes (torch.nn ones are real torch classes); other values kept."""
    from yolov6_edge.weights.official import _Placeholder

    if isinstance(node, _Placeholder):
        module, name = type(node).qualname.rsplit(".", 1)
        if module.startswith("torch.nn"):
            import importlib

            target = getattr(importlib.import_module(module), name)
        else:
            target = cls(module, name)
        obj = target.__new__(target)
        obj.__dict__.update({k: clone(v, cls) for k, v in node.__dict__.items() if k != "args"})
        return obj
    if isinstance(node, dict):
        return type(node)((k, clone(v, cls)) for k, v in node.items())
    if isinstance(node, (list, tuple)):
        return type(node)(clone(v, cls) for v in node)
    return node


def node_at(root, dotted):
    """The placeholder at a dotted module path ('detect.cls_preds.0')."""
    for part in dotted.split("."):
        root = root.__dict__["_modules"][part]
    return root


def save_tree(top, path):
    """Write a (possibly edited) placeholder tree as an official .pt."""
    with official_modules() as cls:
        torch.save({k: clone(v, cls) for k, v in top.items() if k in ("model", "ema", "epoch")}, path)
    return Path(path)
