"""A PyTorch model behind the Backend interface: evaluate .pt / .param files without exporting them.

The only backend that imports torch; the Detector reaches it only for .pt/.param paths or nn.Modules.
"""
from pathlib import Path

import numpy as np
import torch

from ...errors import fail
from ...models import default_input_size
from ..base import Backend

# Batches are chunked like the other backends so memory stays bounded on CPU.
MAX_BATCH = 16


class TorchBackend(Backend):
    """Wrap an nn.Module that follows the model contract (or load one from a .pt/.param path).

    img_size: (H, W) the caller will letterbox to; a model has no fixed input size, so it defaults to 640x640
    (320x320 for YOLOv6Lite, its published setting). fuse: fold BatchNorm/branches first (same outputs, faster).
    """

    name = "torch"

    def __init__(self, model, img_size=None, fuse: bool = True, device: str = "cpu"):
        if isinstance(model, (str, Path)):
            from ...weights import load_model

            self.path = Path(model)
            model, _ = load_model(model)
        else:
            self.path = Path(type(model).__name__)
        for attr in ("names", "strides", "model_name"):
            if not hasattr(model, attr):
                raise fail(self.path, f"not a YOLOv6 model: it has no '{attr}' (see the model contract)")
        if fuse and not getattr(model, "is_fused", True):
            model.fuse()
        self.model = model.eval().to(device)
        self.device = device
        if img_size is None:
            img_size = default_input_size(model.model_name)
        h, w = (img_size, img_size) if isinstance(img_size, int) else img_size
        step = max(model.strides)
        if h % step or w % step:
            raise fail(self.path, f"image size {h}x{w} must be a multiple of the largest stride {step}")
        self.input_size = (int(h), int(w))
        self.names = list(model.names)
        self.model_name = str(model.model_name)
        self.max_batch = MAX_BATCH
        self.layout = "boxes_xyxy+scores"
        self.precision = "fp32"
        self.dtype = np.float32
        self.metadata = {}
        self.providers = (f"torch {device}",)

    @torch.no_grad()
    def __call__(self, blob: np.ndarray):
        x = torch.from_numpy(np.ascontiguousarray(blob, np.float32)).to(self.device)
        boxes, scores = self.model(x)
        return boxes.float().cpu().numpy(), scores.float().cpu().numpy()

    def __repr__(self):
        return f"TorchBackend({self.model_name}, input={self.input_size}, device={self.device})"
