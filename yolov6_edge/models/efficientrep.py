"""Backbones: EfficientRep (RepVGG stages, N/T/S) and CSPBepBackbone (BepC3 stages, M/L).

Attribute names (stem, ERBlock_2..5) follow the official layout so official checkpoints map onto ours.
Both return the stage outputs at strides 8, 16, 32 (and 4 first when fuse_p2, for the RepBiFPAN necks).
"""
from torch import nn

from .blocks import CSPSPPF, SPPF, RepBlock, SimCSPSPPF, SimSPPF, block_act, csp_stage
from .fuse import fuse_children


def _pool_layer(basic_block, cspsppf):
    silu = block_act(basic_block) == "silu"
    if cspsppf:
        return CSPSPPF if silu else SimCSPSPPF
    return SPPF if silu else SimSPPF


class _Backbone(nn.Module):
    """Stem + four stride-2 stages; subclasses choose the stage block."""

    def __init__(self, channels, repeats, basic_block, fuse_p2, cspsppf, stage):
        super().__init__()
        self.fuse_p2 = fuse_p2
        self.stem = basic_block(3, channels[0], 3, 2)
        # Four stride-2 stages (strides 4..32), or five for P6 models (to 64): channels has one width per stage.
        n_stages = 5 if len(channels) == 12 else 4
        stages = []
        for i in range(1, n_stages + 1):
            down = basic_block(channels[i - 1], channels[i], 3, 2)
            stages.append([down, stage(channels[i], channels[i], repeats[i])])
        stages[-1].append(_pool_layer(basic_block, cspsppf)(channels[n_stages], channels[n_stages], 5))
        for i, s in enumerate(stages):
            setattr(self, f"ERBlock_{i + 2}", nn.Sequential(*s))
        self.n_stages = n_stages

    def forward(self, x):
        x = self.ERBlock_2(self.stem(x))
        outputs = [x] if self.fuse_p2 else []
        for i in range(3, self.n_stages + 2):
            x = getattr(self, f"ERBlock_{i}")(x)
            outputs.append(x)
        return outputs

    def fuse(self):
        return fuse_children(self)


class EfficientRep(_Backbone):
    """EfficientRep: each stage is a stride-2 block followed by a RepBlock of basic blocks."""

    def __init__(self, channels, repeats, basic_block, fuse_p2=False, cspsppf=False):
        def stage(c_in, c_out, n):
            return RepBlock(c_in, c_out, n, basic_block)

        super().__init__(channels, repeats, basic_block, fuse_p2, cspsppf, stage)


class CSPBepBackbone(_Backbone):
    """CSPBep: each stage is a stride-2 block followed by a BepC3 (CSP stack of BottleReps)."""

    def __init__(self, channels, repeats, basic_block, csp_e=0.5, fuse_p2=False, cspsppf=False, stage_block="bepc3"):
        def stage(c_in, c_out, n):
            return csp_stage(stage_block)(c_in, c_out, n, csp_e, basic_block)

        super().__init__(channels, repeats, basic_block, fuse_p2, cspsppf, stage)
