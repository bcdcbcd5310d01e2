"""Necks: RepPAN and CSPRepPAN (v1), RepBiFPAN and CSPRepBiFPAN (3.0 release).

`channels` is the 11-entry list (5 backbone + 6 neck widths) and `repeats` the 9-entry list of the official
configs after width/depth scaling; indices below follow them. Outputs: [P3, P4, P5] (strides 8, 16, 32).
Attribute names follow the official layout so official checkpoints map onto ours.
"""
import torch
from torch import nn

from .blocks import BiFusion, ConvBNAct, RepBlock, Transpose, csp_stage
from .fuse import fuse_children


def _stage_factory(basic_block, csp_e, stage_block="bepc3"):
    if csp_e is None:
        return lambda c_in, c_out, n: RepBlock(c_in, c_out, n, basic_block)
    return lambda c_in, c_out, n: csp_stage(stage_block)(c_in, c_out, n, csp_e, basic_block)


class RepPAN(nn.Module):
    """Top-down path with transposed-conv upsampling, then a bottom-up path with stride-2 convs.

    csp_e=None uses RepBlock stages (RepPANNeck); a float uses BepC3 stages (CSPRepPANNeck).
    """

    def __init__(self, channels, repeats, basic_block, csp_e=None, stage_block="bepc3"):
        super().__init__()
        c, n = channels, repeats
        stage = _stage_factory(basic_block, csp_e, stage_block)
        self.Rep_p4 = stage(c[3] + c[5], c[5], n[5])
        self.Rep_p3 = stage(c[2] + c[6], c[6], n[6])
        self.Rep_n3 = stage(c[6] + c[7], c[8], n[7])
        self.Rep_n4 = stage(c[5] + c[9], c[10], n[8])
        self.reduce_layer0 = ConvBNAct(c[4], c[5], 1, 1)
        self.upsample0 = Transpose(c[5], c[5])
        self.reduce_layer1 = ConvBNAct(c[5], c[6], 1, 1)
        self.upsample1 = Transpose(c[6], c[6])
        self.downsample2 = ConvBNAct(c[6], c[7], 3, 2)
        self.downsample1 = ConvBNAct(c[8], c[9], 3, 2)

    def forward(self, feats):
        x2, x1, x0 = feats
        fpn_out0 = self.reduce_layer0(x0)
        f_out0 = self.Rep_p4(torch.cat((self.upsample0(fpn_out0), x1), 1))
        fpn_out1 = self.reduce_layer1(f_out0)
        pan_out2 = self.Rep_p3(torch.cat((self.upsample1(fpn_out1), x2), 1))
        pan_out1 = self.Rep_n3(torch.cat((self.downsample2(pan_out2), fpn_out1), 1))
        pan_out0 = self.Rep_n4(torch.cat((self.downsample1(pan_out1), fpn_out0), 1))
        return [pan_out2, pan_out1, pan_out0]

    def fuse(self):
        return fuse_children(self)


class CSPRepPAN(RepPAN):
    """RepPAN with BepC3 stages (v1 M/L)."""

    def __init__(self, channels, repeats, basic_block, csp_e=0.5, stage_block="bepc3"):
        super().__init__(channels, repeats, basic_block, csp_e, stage_block)


class RepBiFPAN(nn.Module):
    """RepPAN whose top-down fusions also take the finer backbone map (BiFusion); needs P2 from the backbone.

    csp_e=None uses RepBlock stages (RepBiFPANNeck); a float uses BepC3 stages (CSPRepBiFPANNeck).
    """

    def __init__(self, channels, repeats, basic_block, csp_e=None, stage_block="bepc3"):
        super().__init__()
        c, n = channels, repeats
        stage = _stage_factory(basic_block, csp_e, stage_block)
        self.reduce_layer0 = ConvBNAct(c[4], c[5], 1, 1)
        self.Bifusion0 = BiFusion([c[3], c[2]], c[5])
        self.Rep_p4 = stage(c[5], c[5], n[5])
        self.reduce_layer1 = ConvBNAct(c[5], c[6], 1, 1)
        self.Bifusion1 = BiFusion([c[2], c[1]], c[6])
        self.Rep_p3 = stage(c[6], c[6], n[6])
        self.downsample2 = ConvBNAct(c[6], c[7], 3, 2)
        self.Rep_n3 = stage(c[6] + c[7], c[8], n[7])
        self.downsample1 = ConvBNAct(c[8], c[9], 3, 2)
        self.Rep_n4 = stage(c[5] + c[9], c[10], n[8])

    def forward(self, feats):
        x3, x2, x1, x0 = feats
        fpn_out0 = self.reduce_layer0(x0)
        f_out0 = self.Rep_p4(self.Bifusion0([fpn_out0, x1, x2]))
        fpn_out1 = self.reduce_layer1(f_out0)
        pan_out2 = self.Rep_p3(self.Bifusion1([fpn_out1, x2, x3]))
        pan_out1 = self.Rep_n3(torch.cat((self.downsample2(pan_out2), fpn_out1), 1))
        pan_out0 = self.Rep_n4(torch.cat((self.downsample1(pan_out1), fpn_out0), 1))
        return [pan_out2, pan_out1, pan_out0]

    def fuse(self):
        return fuse_children(self)


class CSPRepBiFPAN(RepBiFPAN):
    """RepBiFPAN with BepC3 stages (3.0 M/L)."""

    def __init__(self, channels, repeats, basic_block, csp_e=0.5, stage_block="bepc3"):
        super().__init__(channels, repeats, basic_block, csp_e, stage_block)


class RepBiFPAN6(nn.Module):
    """P6 form of RepBiFPAN (RepBiFPANNeck6 / CSPRepBiFPANNeck_P6): three top-down BiFusion steps from stride 64
    to 8, then three bottom-up steps; outputs [P3, P4, P5, P6]. `channels` / `repeats` have 12 entries (6
    backbone + 6 neck); the widths each layer declares follow the official layout."""

    def __init__(self, channels, repeats, basic_block, csp_e=None, stage_block="bepc3"):
        super().__init__()
        c, n = channels, repeats
        stage = _stage_factory(basic_block, csp_e, stage_block)
        self.reduce_layer0 = ConvBNAct(c[5], c[6], 1, 1)
        self.Bifusion0 = BiFusion([c[4], c[6]], c[6])
        self.Rep_p5 = stage(c[6], c[6], n[6])
        self.reduce_layer1 = ConvBNAct(c[6], c[7], 1, 1)
        self.Bifusion1 = BiFusion([c[3], c[7]], c[7])
        self.Rep_p4 = stage(c[7], c[7], n[7])
        self.reduce_layer2 = ConvBNAct(c[7], c[8], 1, 1)
        self.Bifusion2 = BiFusion([c[2], c[8]], c[8])
        self.Rep_p3 = stage(c[8], c[8], n[8])
        self.downsample2 = ConvBNAct(c[8], c[8], 3, 2)
        self.Rep_n4 = stage(c[8] + c[8], c[9], n[9])
        self.downsample1 = ConvBNAct(c[9], c[9], 3, 2)
        self.Rep_n5 = stage(c[7] + c[9], c[10], n[10])
        self.downsample0 = ConvBNAct(c[10], c[10], 3, 2)
        self.Rep_n6 = stage(c[6] + c[10], c[11], n[11])

    def forward(self, feats):
        x4, x3, x2, x1, x0 = feats
        fpn_out0 = self.reduce_layer0(x0)
        fpn_out1 = self.reduce_layer1(self.Rep_p5(self.Bifusion0([fpn_out0, x1, x2])))
        fpn_out2 = self.reduce_layer2(self.Rep_p4(self.Bifusion1([fpn_out1, x2, x3])))
        pan_out3 = self.Rep_p3(self.Bifusion2([fpn_out2, x3, x4]))
        pan_out2 = self.Rep_n4(torch.cat((self.downsample2(pan_out3), fpn_out2), 1))
        pan_out1 = self.Rep_n5(torch.cat((self.downsample1(pan_out2), fpn_out1), 1))
        pan_out0 = self.Rep_n6(torch.cat((self.downsample0(pan_out1), fpn_out0), 1))
        return [pan_out3, pan_out2, pan_out1, pan_out0]

    def fuse(self):
        return fuse_children(self)


class CSPRepBiFPAN6(RepBiFPAN6):
    """RepBiFPAN6 with CSP stages (M6/L6)."""

    def __init__(self, channels, repeats, basic_block, csp_e=0.5, stage_block="bepc3"):
        super().__init__(channels, repeats, basic_block, csp_e, stage_block)
