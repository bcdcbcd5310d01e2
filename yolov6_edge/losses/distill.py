"""Self-distillation: the student matches the teacher's class scores and DFL box distributions (KL).

The teacher is the pretrained model itself or a larger one with the same head layout. Its weight decays
by cosine from 1 to 0.01 over training, so the hard labels take over towards the end.
"""
import math

import torch.nn.functional as F
from torch import nn


def train_with_frozen_bn(model: nn.Module) -> nn.Module:
    """Training-form outputs (logits, DFL distributions) with BatchNorm statistics left as they are."""
    model.train()
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()
    return model


def frozen_teacher(model: nn.Module) -> nn.Module:
    """A teacher: training-form outputs, frozen BN statistics, no gradients."""
    train_with_frozen_bn(model)
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def kl_soft(student_logits, teacher_logits, temperature):
    """KL(teacher || student) of softmaxes along the last dim, times T^2 (gradient scale independent of T)."""
    s = F.log_softmax(student_logits / temperature, -1)
    t = F.softmax(teacher_logits.detach() / temperature, -1)
    return F.kl_div(s, t, reduction="batchmean") * temperature ** 2


def distill_alpha(epoch, epochs, lrf=0.01):
    return ((1 - math.cos(epoch * math.pi / max(epochs, 1))) / 2) * (lrf - 1) + 1


def distill_loss(student, teacher, reg_max, epoch, epochs, temperature=20.0, weight_cls=1.0, weight_dfl=1.0):
    """student/teacher: train-mode HeadOutputs on the same batch; returns (loss, parts)."""
    C = student.cls_logits.shape[-1]
    l_cls = kl_soft(student.cls_logits.reshape(-1, C), teacher.cls_logits.reshape(-1, C), temperature)
    l_dfl = student.cls_logits.new_zeros(())
    if reg_max > 0 and teacher.reg.shape == student.reg.shape:
        l_dfl = kl_soft(student.reg.reshape(-1, reg_max + 1), teacher.reg.reshape(-1, reg_max + 1), temperature)
    a = distill_alpha(epoch, epochs)
    return a * (weight_cls * l_cls + weight_dfl * l_dfl), {"d_cls": l_cls.detach(), "d_dfl": l_dfl.detach()}
