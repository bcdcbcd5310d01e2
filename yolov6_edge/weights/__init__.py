"""Load any model file we accept into a PyTorch model: our checkpoints, official .pt, NCNN .param."""
from pathlib import Path

from ..errors import fail


def load_model(path, fuse: bool = False, model_name=None):
    """Return (model, info) where info is a dict with at least model_name, names, fused.

    `model_name` names the architecture of an official YOLOv6 .pt, which does not record it; without it
    the architecture is inferred from the state dict's keys and shapes.
    """
    from ..files import regular_file

    path = Path(path)
    if not path.exists():
        raise fail(path, "no such file")
    regular_file(path, "model file")
    if path.suffix == ".param":
        from .ncnn import load_ncnn_model

        model, info = load_ncnn_model(path)
    elif path.suffix in (".pt", ".pth", ".ckpt"):
        from .checkpoint import load_checkpoint

        model, info = load_checkpoint(path, model_name)
    else:
        raise fail(path, f"unknown model file type '{path.suffix}' (expected .pt, .pth or an NCNN .param)")
    if fuse and not info.get("fused", False):
        model.fuse()
        info["fused"] = True
    return model.eval(), info
