"""Building blocks of the EfficientRep / CSPBep / Rep-PAN family; each block fuses itself."""
import torch
from torch import nn

from .fuse import fuse_children, fuse_conv_bn


def make_act(act: str) -> nn.Module:
    if act == "relu":
        return nn.ReLU(inplace=True)
    if act == "silu":
        return nn.SiLU(inplace=True)
    if act in ("none", None):
        return nn.Identity()
    raise ValueError(f"unknown activation '{act}'")


class ConvBNAct(nn.Module):
    """Conv2d (no bias) + BatchNorm2d + activation; fuse() folds the BN into the conv."""

    def __init__(self, c_in, c_out, k=3, s=1, p=None, g=1, act="relu", bias=False):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, k, s, k // 2 if p is None else p, groups=g, bias=bias)
        self.bn = nn.BatchNorm2d(c_out)
        self.act = make_act(act)

    def forward(self, x):
        if self.bn is None:
            return self.act(self.conv(x))
        return self.act(self.bn(self.conv(x)))

    def fuse(self):
        if self.bn is not None:
            self.conv = fuse_conv_bn(self.conv, self.bn)
            self.bn = None
        return self


def conv_silu_block(c_in, c_out, k=3, s=1):
    """The basic block of models trained with training_mode='conv_silu' (3.0 L, v1 L)."""
    return ConvBNAct(c_in, c_out, k, s, act="silu")


def conv_relu_block(c_in, c_out, k=3, s=1):
    """The basic block of the base models (ConvBNReLU) and of RepOpt-trained ones (RealVGGBlock): both are a
    plain conv + BN + ReLU."""
    return ConvBNAct(c_in, c_out, k, s, act="relu")


def conv_silu_bias_block(c_in, c_out, k=3, s=1):
    """conv_silu as release 0.2.0 built it (ConvWrapper): the conv keeps a bias in front of its BN."""
    return ConvBNAct(c_in, c_out, k, s, act="silu", bias=True)


def conv_relu_bias_block(c_in, c_out, k=3, s=1):
    """The ReLU form of release 0.2.0 (SimConvWrapper), bias included."""
    return ConvBNAct(c_in, c_out, k, s, act="relu", bias=True)


# Activation of the 1x1 convs around a stage (BepC3, MBLA, SPPF) follows the basic block's.
conv_silu_block.act = conv_silu_bias_block.act = "silu"


def block_act(basic_block) -> str:
    return getattr(basic_block, "act", "relu")


class RepVGGBlock(nn.Module):
    """3x3 conv-BN + 1x1 conv-BN (+ identity BN) summed, then ReLU; fuse() makes one 3x3 conv with bias."""

    def __init__(self, c_in, c_out, k=3, s=1):
        super().__init__()
        if k != 3:
            raise ValueError("RepVGGBlock is defined for 3x3 kernels only")
        self.in_channels, self.out_channels, self.stride = c_in, c_out, s
        self.rbr_dense = ConvBNAct(c_in, c_out, 3, s, 1, act="none")
        self.rbr_1x1 = ConvBNAct(c_in, c_out, 1, s, 0, act="none")
        self.rbr_identity = nn.BatchNorm2d(c_in) if c_in == c_out and s == 1 else None
        self.rbr_reparam = None
        self.nonlinearity = nn.ReLU(inplace=True)

    def forward(self, x):
        if self.rbr_reparam is not None:
            return self.nonlinearity(self.rbr_reparam(x))
        y = self.rbr_dense(x) + self.rbr_1x1(x)
        if self.rbr_identity is not None:
            y = y + self.rbr_identity(x)
        return self.nonlinearity(y)

    def _identity_kernel_bias(self):
        bn = self.rbr_identity
        w = bn.running_mean.new_zeros(self.in_channels, self.in_channels, 3, 3)
        idx = torch.arange(self.in_channels, device=w.device)
        w[idx, idx, 1, 1] = 1.0
        std = (bn.running_var + bn.eps).sqrt()
        return w * (bn.weight / std).reshape(-1, 1, 1, 1), bn.bias - bn.running_mean * bn.weight / std

    def fuse(self):
        if self.rbr_reparam is not None:
            return self
        dense = fuse_conv_bn(self.rbr_dense.conv, self.rbr_dense.bn)
        one = fuse_conv_bn(self.rbr_1x1.conv, self.rbr_1x1.bn)
        with torch.no_grad():
            # A 1x1 kernel is a 3x3 kernel that is zero off-centre; identity is a 3x3 delta kernel scaled by BN.
            dense.weight += nn.functional.pad(one.weight, [1, 1, 1, 1])
            dense.bias += one.bias
            if self.rbr_identity is not None:
                w, b = self._identity_kernel_bias()
                dense.weight += w
                dense.bias += b
        self.rbr_reparam = dense
        self.rbr_dense = self.rbr_1x1 = self.rbr_identity = None
        return self


class QARepVGGBlock(nn.Module):
    """Quantization-aware RepVGG (QARepVGG, V2 with avg=True): 3x3 conv-BN + bare 1x1 conv + identity
    (+ 3x3 average pool), summed, then one BatchNorm and ReLU. Only the 3x3 branch has its own BN, so the folded
    kernel's range stays close to the branches' (what makes it quantize well); fuse() folds it all, the last BN
    included, into one 3x3 conv with bias."""

    def __init__(self, c_in, c_out, k=3, s=1, avg=True):
        super().__init__()
        if k != 3:
            raise ValueError("QARepVGGBlock is defined for 3x3 kernels only")
        self.in_channels, self.out_channels, self.stride = c_in, c_out, s
        self.rbr_dense = ConvBNAct(c_in, c_out, 3, s, 1, act="none")
        self.rbr_1x1 = nn.Conv2d(c_in, c_out, 1, s, 0, bias=False)
        self.identity = c_in == c_out and s == 1
        self.rbr_avg = nn.AvgPool2d(3, s, 1) if avg and self.identity else None
        self.bn = nn.BatchNorm2d(c_out)
        self.rbr_reparam = None
        self.nonlinearity = nn.ReLU(inplace=True)

    def forward(self, x):
        if self.rbr_reparam is not None:
            return self.nonlinearity(self.rbr_reparam(x))
        y = self.rbr_dense(x) + self.rbr_1x1(x)
        if self.identity:
            y = y + x
        if self.rbr_avg is not None:
            y = y + self.rbr_avg(x)
        return self.nonlinearity(self.bn(y))

    def fuse(self):
        if self.rbr_reparam is not None:
            return self
        conv = fuse_conv_bn(self.rbr_dense.conv, self.rbr_dense.bn)
        with torch.no_grad():
            conv.weight += nn.functional.pad(self.rbr_1x1.weight, [1, 1, 1, 1])
            idx = torch.arange(self.in_channels, device=conv.weight.device)
            if self.identity:
                conv.weight[idx, idx, 1, 1] += 1.0
            if self.rbr_avg is not None:  # zero-padded 3x3 mean (count_include_pad): a 1/9 per-channel kernel
                conv.weight[idx, idx] += 1.0 / 9
        self.rbr_reparam = fuse_conv_bn(conv, self.bn)
        self.rbr_dense = self.rbr_1x1 = self.rbr_avg = self.bn = None
        return self


def qarepvgg_v1_block(c_in, c_out, k=3, s=1):
    """QARepVGGBlock without the average-pool branch (training_mode='qarepvgg')."""
    return QARepVGGBlock(c_in, c_out, k, s, avg=False)


class BottleRep(nn.Module):
    """Two basic blocks with a (learnably weighted) residual connection when shapes allow."""

    def __init__(self, c_in, c_out, basic_block=RepVGGBlock, weight=False):
        super().__init__()
        self.conv1 = basic_block(c_in, c_out)
        self.conv2 = basic_block(c_out, c_out)
        self.shortcut = c_in == c_out
        self.alpha = nn.Parameter(torch.ones(1)) if weight else 1.0

    def forward(self, x):
        y = self.conv2(self.conv1(x))
        return y + self.alpha * x if self.shortcut else y

    def fuse(self):
        return fuse_children(self)


class RepBlock(nn.Module):
    """A stage of n basic blocks; with bottle=True, n//2 BottleReps (the form used inside BepC3)."""

    def __init__(self, c_in, c_out, n=1, basic_block=RepVGGBlock, bottle=False):
        super().__init__()
        if bottle:
            n = n // 2
            self.conv1 = BottleRep(c_in, c_out, basic_block, weight=True)
            rest = [BottleRep(c_out, c_out, basic_block, weight=True) for _ in range(n - 1)]
        else:
            self.conv1 = basic_block(c_in, c_out)
            rest = [basic_block(c_out, c_out) for _ in range(n - 1)]
        # Attribute name `block` matches the official layout so official state dicts map onto ours.
        self.block = nn.Sequential(*rest) if rest else None

    def forward(self, x):
        x = self.conv1(x)
        return self.block(x) if self.block is not None else x

    def fuse(self):
        return fuse_children(self)


class BepC3(nn.Module):
    """CSP stage (CSPStackRep): half the channels go through a stack of BottleReps, the rest skip it."""

    def __init__(self, c_in, c_out, n=1, e=0.5, basic_block=RepVGGBlock):
        super().__init__()
        c_ = int(c_out * e)
        act = block_act(basic_block)
        self.cv1 = ConvBNAct(c_in, c_, 1, 1, act=act)
        self.cv2 = ConvBNAct(c_in, c_, 1, 1, act=act)
        self.cv3 = ConvBNAct(2 * c_, c_out, 1, 1, act=act)
        self.m = RepBlock(c_, c_, n, basic_block, bottle=True)

    def forward(self, x):
        return self.cv3(torch.cat((self.m(self.cv1(x)), self.cv2(x)), 1))

    def fuse(self):
        return fuse_children(self)


class BottleRep3(nn.Module):
    """Three basic blocks with a learnably weighted residual (the unit inside MBLABlock)."""

    def __init__(self, c_in, c_out, basic_block=RepVGGBlock):
        super().__init__()
        self.conv1 = basic_block(c_in, c_out)
        self.conv2 = basic_block(c_out, c_out)
        self.conv3 = basic_block(c_out, c_out)
        self.shortcut = c_in == c_out
        self.alpha = nn.Parameter(torch.ones(1))

    def forward(self, x):
        y = self.conv3(self.conv2(self.conv1(x)))
        return y + self.alpha * x if self.shortcut else y

    def fuse(self):
        return fuse_children(self)


def mbla_branch_depths(n: int) -> list:
    """BottleRep3 count per branch of an MBLABlock of n blocks, as the official layout has them: n // 2 (at
    least 1) split into [1] or [largest power of two below it, n // 2]."""
    n = max(n // 2, 1)
    if n == 1:
        return [1]
    step = 1
    while step * 2 < n:
        step *= 2
    return [step, n]


class MBLABlock(nn.Module):
    """Multi-branch layer aggregation (MBLA, YOLOv6 M/L/X-mbla): a 1x1 conv split into branch_num parts; all but
    the first feed a chain of BottleRep3s; the parts and every chain output are concatenated and merged by 1x1."""

    def __init__(self, c_in, c_out, n=1, e=0.5, basic_block=RepVGGBlock):
        super().__init__()
        depths = mbla_branch_depths(n)
        self.c = int(c_out * e)
        act = block_act(basic_block)
        branches = len(depths) + 1
        self.cv1 = ConvBNAct(c_in, branches * self.c, 1, 1, act=act)
        self.cv2 = ConvBNAct((sum(depths) + branches) * self.c, c_out, 1, 1, act=act)
        self.m = nn.ModuleList(nn.Sequential(*(BottleRep3(self.c, self.c, basic_block) for _ in range(d)))
                               for d in depths)

    def forward(self, x):
        parts = list(self.cv1(x).split(self.c, 1))
        out = [parts[0]]
        for part, chain in zip(parts[1:], self.m):
            out.append(part)
            for unit in chain:
                out.append(unit(out[-1]))
        return self.cv2(torch.cat(out, 1))

    def fuse(self):
        return fuse_children(self)


def csp_stage(kind: str):
    """The CSP stage class by name: "bepc3" (BepC3) or "mbla" (MBLABlock); both take (c_in, c_out, n, e, block)."""
    if kind == "bepc3":
        return BepC3
    if kind == "mbla":
        return MBLABlock
    raise ValueError(f"unknown CSP stage block '{kind}'")


class SPPF(nn.Module):
    """Spatial pyramid pooling, fast form: three chained max-pools concatenated with their input."""

    def __init__(self, c_in, c_out, k=5, act="silu"):
        super().__init__()
        c_ = c_in // 2
        self.cv1 = ConvBNAct(c_in, c_, 1, 1, act=act)
        self.cv2 = ConvBNAct(c_ * 4, c_out, 1, 1, act=act)
        self.m = nn.MaxPool2d(k, 1, k // 2)

    def forward(self, x):
        x = self.cv1(x)
        y1 = self.m(x)
        y2 = self.m(y1)
        return self.cv2(torch.cat((x, y1, y2, self.m(y2)), 1))

    def fuse(self):
        return fuse_children(self)


class SimSPPF(SPPF):
    """SPPF with ReLU (the RepVGG-trained models)."""

    def __init__(self, c_in, c_out, k=5):
        super().__init__(c_in, c_out, k, act="relu")


class CSPSPPF(nn.Module):
    """CSP form of SPPF: pooling on one branch (with 3x3 convs around it), a 1x1 shortcut on the other."""

    def __init__(self, c_in, c_out, k=5, e=0.5, act="silu"):
        super().__init__()
        c_ = int(c_out * e)
        self.cv1 = ConvBNAct(c_in, c_, 1, 1, act=act)
        self.cv2 = ConvBNAct(c_in, c_, 1, 1, act=act)
        self.cv3 = ConvBNAct(c_, c_, 3, 1, act=act)
        self.cv4 = ConvBNAct(c_, c_, 1, 1, act=act)
        self.m = nn.MaxPool2d(k, 1, k // 2)
        self.cv5 = ConvBNAct(4 * c_, c_, 1, 1, act=act)
        self.cv6 = ConvBNAct(c_, c_, 3, 1, act=act)
        self.cv7 = ConvBNAct(2 * c_, c_out, 1, 1, act=act)

    def forward(self, x):
        x1 = self.cv4(self.cv3(self.cv1(x)))
        y1 = self.m(x1)
        y2 = self.m(y1)
        y3 = self.cv6(self.cv5(torch.cat((x1, y1, y2, self.m(y2)), 1)))
        return self.cv7(torch.cat((self.cv2(x), y3), 1))

    def fuse(self):
        return fuse_children(self)


class SimCSPSPPF(CSPSPPF):
    """CSPSPPF with ReLU (SimCSPSPPF in the 3.0 release)."""

    def __init__(self, c_in, c_out, k=5, e=0.5):
        super().__init__(c_in, c_out, k, e, act="relu")


class Transpose(nn.Module):
    """2x upsampling by a learned 2x2 stride-2 transposed convolution (already a single op: nothing to fuse)."""

    def __init__(self, c_in, c_out):
        super().__init__()
        self.upsample_transpose = nn.ConvTranspose2d(c_in, c_out, 2, 2, bias=True)

    def forward(self, x):
        return self.upsample_transpose(x)

    def fuse(self):
        return self


class BiFusion(nn.Module):
    """RepBiFPAN fusion: upsampled coarser map + 1x1 of the same level + downsampled finer map, concatenated."""

    def __init__(self, c_in, c_out):
        super().__init__()
        self.cv1 = ConvBNAct(c_in[0], c_out, 1, 1)
        self.cv2 = ConvBNAct(c_in[1], c_out, 1, 1)
        self.cv3 = ConvBNAct(c_out * 3, c_out, 1, 1)
        self.upsample = Transpose(c_out, c_out)
        self.downsample = ConvBNAct(c_out, c_out, 3, 2)

    def forward(self, x):
        coarse, same, fine = x
        y = (self.upsample(coarse), self.cv1(same), self.downsample(self.cv2(fine)))
        return self.cv3(torch.cat(y, 1))

    def fuse(self):
        return fuse_children(self)
