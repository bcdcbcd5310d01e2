"""RepOptimizer (RepOpt-VGG, used by YOLOv6 for quantization-friendly models): gradient re-parameterization.

A RepVGG-style block y = a * conv3x3(x) + b * conv1x1(x) [+ x] is linear in its weights, so it equals one
3x3 conv W = a*W3 + b*pad(W1) [+ I]. Training W directly with SGD whose gradient is multiplied by
M = a^2 (all taps) + b^2 (centre tap) reproduces exactly the updates the two-branch block would make:
the model trains as a plain VGG (one conv per block, nothing to fuse, no BN-induced outliers for INT8).

The per-channel scales a, b come from a short hyper-search: train a model of ScaledBranches blocks, read
their scales (hyper_search_scales), save them; then training with RepOptimizer.from_scales_file(...).
"""
import torch
from torch import nn

from ..atomic import atomic_path
from ..errors import fail


class ScaledBranches(nn.Module):
    """The hyper-search block: a*conv3x3 + b*conv1x1 (+ identity), a and b learnable per output channel."""

    def __init__(self, c1, c2, stride=1, identity=True):
        super().__init__()
        self.conv3 = nn.Conv2d(c1, c2, 3, stride, 1, bias=False)
        self.conv1 = nn.Conv2d(c1, c2, 1, stride, 0, bias=False)
        self.scale3 = nn.Parameter(torch.ones(c2))
        self.scale1 = nn.Parameter(torch.ones(c2))
        self.identity = identity and c1 == c2 and stride == 1

    def forward(self, x):
        y = self.conv3(x) * self.scale3.view(1, -1, 1, 1) + self.conv1(x) * self.scale1.view(1, -1, 1, 1)
        return y + x if self.identity else y

    def equivalent_weight(self):
        """The single 3x3 kernel computing the same function."""
        w = self.conv3.weight * self.scale3.view(-1, 1, 1, 1)
        w = w.clone()
        w[:, :, 1, 1] += self.conv1.weight[:, :, 0, 0] * self.scale1.view(-1, 1)
        if self.identity:
            w[:, :, 1, 1] += torch.eye(w.shape[0], dtype=w.dtype, device=w.device)
        return w


def hyper_search_scales(model):
    """{module name: {'scale3', 'scale1', 'identity'}} for every ScaledBranches in a (trained) model."""
    return {name: {"scale3": m.scale3.detach().cpu(), "scale1": m.scale1.detach().cpu(), "identity": m.identity}
            for name, m in model.named_modules() if isinstance(m, ScaledBranches)}


def save_scales(scales, path):
    with atomic_path(path) as tmp:
        torch.save(scales, tmp)


def load_scales(path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch.load raises several unrelated types for a bad file
        raise fail(path, f"cannot read RepOptimizer scales ({type(e).__name__})")


def grad_mult(scale3, scale1, kernel_shape):
    """M: a^2 on every tap, + b^2 on the centre tap (per output channel)."""
    c2, c1, kh, kw = kernel_shape
    m = (scale3 ** 2).view(-1, 1, 1, 1).expand(c2, c1, kh, kw).clone()
    m[:, :, kh // 2, kw // 2] += (scale1 ** 2).view(-1, 1)
    return m


def init_plain_conv(conv, scale3, scale1, identity):
    """Start the plain conv at the kernel the searched block would have with fresh branches."""
    w3 = torch.empty_like(conv.weight)
    nn.init.kaiming_uniform_(w3, a=5 ** 0.5)
    w1 = torch.empty_like(conv.weight[:, :, :1, :1])
    nn.init.kaiming_uniform_(w1, a=5 ** 0.5)
    with torch.no_grad():
        w = w3 * scale3.view(-1, 1, 1, 1)
        w[:, :, 1, 1] += w1[:, :, 0, 0] * scale1.view(-1, 1)
        if identity:
            w[:, :, 1, 1] += torch.eye(w.shape[0], dtype=w.dtype)
        conv.weight.copy_(w)


class RepOptimizer:
    """Wraps an optimizer: before each step multiplies the gradient of each listed conv weight by its M."""

    def __init__(self, optimizer, masks):
        self.optimizer, self.masks = optimizer, masks  # masks: {parameter: M}

    @classmethod
    def from_scales(cls, model, optimizer, scales, init=False):
        masks = {}
        modules = dict(model.named_modules())
        for name, s in scales.items():
            conv = modules.get(name)
            conv = getattr(conv, "conv", conv)  # a block holding its plain conv as .conv
            if not isinstance(conv, nn.Conv2d) or conv.weight.shape[-1] != 3:
                raise ValueError(f"RepOptimizer: '{name}' is not a 3x3 conv (or a block with one as .conv)")
            if init:
                init_plain_conv(conv, s["scale3"], s["scale1"], s["identity"])
            masks[conv.weight] = grad_mult(s["scale3"], s["scale1"], conv.weight.shape).to(conv.weight.device)
        return cls(optimizer, masks)

    @classmethod
    def from_scales_file(cls, model, optimizer, path):
        scales = load_scales(path)
        try:
            return cls.from_scales(model, optimizer, scales)
        except ValueError as e:
            raise fail(path, str(e))

    @torch.no_grad()
    def step(self, closure=None):
        for p, m in self.masks.items():
            if p.grad is not None:
                p.grad.mul_(m)
        return self.optimizer.step(closure)

    def __getattr__(self, name):  # zero_grad, param_groups, state_dict ... of the wrapped optimizer
        return getattr(self.optimizer, name)


# ---- whole models: the three forms of a RepVGG-style YOLOv6 under RepOptimizer --------------------------
class RepOptSearchBlock(nn.Module):
    """Hyper-search form of a RepVGGBlock: a*conv3x3 + b*conv1x1 (+ x), then BN and ReLU.

    The BN sits after the sum, so the searched function stays linear in the branch weights up to it and the
    plain form (one 3x3 conv, BN, ReLU) can reproduce it exactly.
    """

    def __init__(self, c_in, c_out, s=1):
        super().__init__()
        self.branches = ScaledBranches(c_in, c_out, s)
        self.bn = nn.BatchNorm2d(c_out)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.act(self.bn(self.branches(x)))


class RepOptVGGBlock(nn.Module):
    """Training form of a RepVGGBlock under RepOptimizer: one 3x3 conv, BN, ReLU (a plain VGG layer)."""

    def __init__(self, c_in, c_out, s=1):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, s, 1, bias=False)
        self.bn = nn.BatchNorm2d(c_out)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


def _replace_repvgg(model, make) -> list:
    from ..models.blocks import RepVGGBlock

    names = [n for n, m in model.named_modules() if isinstance(m, RepVGGBlock)]
    if not names:
        raise ValueError(f"{type(model).__name__} has no RepVGGBlock: RepOptimizer applies to EfficientRep models")
    for name in names:
        old = model.get_submodule(name)
        if old.rbr_reparam is not None:
            raise ValueError(f"'{name}' is already fused: build the model afresh")
        model.set_submodule(name, make(old.in_channels, old.out_channels, old.stride))
    return names


def to_search_model(model):
    """Every RepVGGBlock -> RepOptSearchBlock, in place (step 1: train this briefly, then read the scales)."""
    _replace_repvgg(model, RepOptSearchBlock)
    return model


def search_scales(model) -> dict:
    """{block name: scales} of a trained search model, keyed like the blocks of the plain model."""
    return {name.removesuffix(".branches"): s for name, s in hyper_search_scales(model).items()}


def to_plain_model(model, scales):
    """Every RepVGGBlock -> RepOptVGGBlock initialised from the searched scales, in place (step 2: train it
    with RepOptimizer.from_scales / TrainArgs.repopt_scales)."""
    names = _replace_repvgg(model, RepOptVGGBlock)
    missing = [n for n in names if n not in scales]
    if missing:
        raise ValueError(f"the scales do not cover block '{missing[0]}' (searched on another architecture?)")
    for n in names:
        s = scales[n]
        init_plain_conv(model.get_submodule(n).conv, s["scale3"], s["scale1"], s["identity"])
    return model


@torch.no_grad()
def to_repvgg(model):
    """The trained plain model back in the standard architecture, in place: each RepOptVGGBlock becomes a
    fused RepVGGBlock (conv+BN folded), so fuse(), export, checkpoints and quantization treat it like any
    other YOLOv6. Call model.fuse() afterwards for the rest of the network."""
    from ..models.blocks import RepVGGBlock
    from ..models.fuse import fuse_conv_bn

    for name, m in [(n, m) for n, m in model.named_modules() if isinstance(m, RepOptVGGBlock)]:
        block = RepVGGBlock(m.conv.in_channels, m.conv.out_channels, 3, m.conv.stride[0])
        block.rbr_reparam = fuse_conv_bn(m.conv, m.bn)
        block.rbr_dense = block.rbr_1x1 = block.rbr_identity = None
        model.set_submodule(name, block)
    return model


def standard_form(model):
    """What checkpoints of a RepOptimizer run hold: a folded copy in the standard architecture (or `model`
    itself when it has no RepOptVGGBlock)."""
    if not any(isinstance(m, RepOptVGGBlock) for m in model.modules()):
        return model
    import copy

    return to_repvgg(copy.deepcopy(model).eval()).fuse()
