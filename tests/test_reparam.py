"""Re-parameterization: fused (deploy) form equals the training form, block by block and whole models.

Independent reference: the unfused module itself, evaluated with random weights AND random BatchNorm
running statistics / affine parameters (defaults would make BN an identity and hide folding mistakes).
"""
import copy

import pytest
import torch
from torch import nn

from standin_models import randomize_
from yolov6_edge.models import blocks as B
from yolov6_edge.models.head import EfficientDecoupledHead
from yolov6_edge.models.yolov6 import build_yolov6


def _max_diff(a, b):
    if isinstance(a, torch.Tensor):
        return (a - b).abs().max().item()
    return max(_max_diff(x, y) for x, y in zip(a, b))


def _check(module, x, tol64=1e-4, tol32=1e-3):
    module = randomize_(module).eval()
    fused = copy.deepcopy(module).fuse()
    n_bn = sum(isinstance(m, nn.BatchNorm2d) for m in fused.modules())
    assert n_bn == 0, f"{n_bn} BatchNorm layers left after fuse()"
    for dtype, tol in ((torch.float64, tol64), (torch.float32, tol32)):
        a, b = module.to(dtype), fused.to(dtype)
        with torch.no_grad():
            ya, yb = a(x.to(dtype)), b(x.to(dtype))
        first = ya if isinstance(ya, torch.Tensor) else ya[0]
        assert first.abs().max() > 1e-2, "output is ~0: the comparison would be vacuous"
        assert _max_diff(ya, yb) < tol, f"{type(module).__name__} {dtype}: max abs diff {_max_diff(ya, yb)}"


X = torch.randn(2, 8, 16, 20, generator=torch.Generator().manual_seed(1))

BLOCKS = {
    "convbnact_relu": lambda: B.ConvBNAct(8, 12, 3, 1),
    "convbnact_silu_s2": lambda: B.ConvBNAct(8, 12, 3, 2, act="silu"),
    "repvgg_identity": lambda: B.RepVGGBlock(8, 8),
    "repvgg_s2": lambda: B.RepVGGBlock(8, 16, 3, 2),
    "repblock": lambda: B.RepBlock(8, 16, 3),
    "bottlerep_weighted": lambda: B.BottleRep(8, 8, weight=True),
    "bepc3_repvgg": lambda: B.BepC3(8, 16, 4, 2 / 3),
    "bepc3_conv_silu": lambda: B.BepC3(8, 16, 4, 0.5, B.conv_silu_block),
    "simsppf": lambda: B.SimSPPF(8, 16),
    "sppf": lambda: B.SPPF(8, 16),
    "simcspsppf": lambda: B.SimCSPSPPF(8, 16),
    "cspsppf": lambda: B.CSPSPPF(8, 16),
    "transpose": lambda: B.Transpose(8, 4),
}


@pytest.mark.parametrize("name", sorted(BLOCKS))
def test_block_fused_equals_unfused(name):
    _check(BLOCKS[name](), X)


def test_bifusion_fused_equals_unfused():
    g = torch.Generator().manual_seed(2)
    coarse, same, fine = (torch.randn(1, c, h, w, generator=g) for c, h, w in ((6, 4, 5), (8, 8, 10), (4, 16, 20)))

    class Wrap(nn.Module):  # BiFusion takes a list; the checker passes one tensor
        def __init__(self):
            super().__init__()
            self.b = B.BiFusion([8, 4], 6)

        def forward(self, _):
            return self.b([coarse.to(_.dtype), same.to(_.dtype), fine.to(_.dtype)])

        def fuse(self):
            self.b.fuse()
            return self

    _check(Wrap(), X)


@pytest.mark.parametrize("reg_max", [0, 16])
def test_head_fused_equals_unfused(reg_max):
    head = EfficientDecoupledHead([8, 16, 32], num_classes=5, reg_max=reg_max)

    class Wrap(nn.Module):
        def __init__(self):
            super().__init__()
            self.h = head

        def forward(self, x):
            feats = [torch.randn(2, c, 64 // s, 80 // s, generator=torch.Generator().manual_seed(c), dtype=x.dtype)
                     for c, s in ((8, 8), (16, 16), (32, 32))]
            return self.h(feats)

        def fuse(self):
            self.h.fuse()
            return self

    _check(Wrap(), X)


def test_repvgg_fuse_is_a_single_conv():
    block = B.RepVGGBlock(8, 8).fuse()
    convs = [m for m in block.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 1 and convs[0].kernel_size == (3, 3) and convs[0].bias is not None


@pytest.mark.parametrize("name", ["yolov6n", "yolov6s"])
def test_whole_model_fused_equals_unfused(name):
    torch.set_num_threads(2)
    model = build_yolov6(name, num_classes=80)
    x = torch.rand(2, 3, 128, 160, generator=torch.Generator().manual_seed(3))
    _check(model, x)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["yolov6n-v1", "yolov6m", "yolov6l-v1"])
def test_csp_dfl_model_fused_equals_unfused(name):
    model = build_yolov6(name, num_classes=3)
    _check(model, torch.rand(1, 3, 64, 96, generator=torch.Generator().manual_seed(4)))


def test_fuse_sets_is_fused_and_is_idempotent():
    model = build_yolov6("yolov6n-v1", num_classes=2).eval()
    assert not model.is_fused
    n1 = sum(p.numel() for p in model.fuse().parameters())
    assert model.is_fused
    assert sum(p.numel() for p in model.fuse().parameters()) == n1
