"""Channel-wise distillation (Shu et al., 2021), the loss the YOLOv6 paper uses for QAT.

Each channel of a feature map is turned into a distribution over its spatial positions (softmax of the
activations / T); the student matches the teacher's distribution per channel with KL(teacher || student),
scaled by T^2 so the gradient size does not depend on T. Spatial distributions, unlike an L2 on raw
activations, ask the quantized student to put its responses where the float teacher does, which is what
the detection head reads.
"""
import torch

from ..trainer.losses.distill import kl_soft


def channel_wise_distillation(student, teacher, temperature: float = 1.0) -> torch.Tensor:
    """KL(teacher || student) per channel over H*W, averaged over batch and channels, times T^2."""
    if student.shape != teacher.shape:
        raise ValueError(f"student {tuple(student.shape)} and teacher {tuple(teacher.shape)} shapes differ")
    b, c = student.shape[:2]
    # one row per (image, channel): the self-distillation KL over its spatial positions is exactly CWD
    return kl_soft(student.reshape(b * c, -1), teacher.reshape(b * c, -1), temperature)


def feature_distillation(student_feats, teacher_feats, temperature: float = 1.0) -> torch.Tensor:
    """Sum of channel_wise_distillation over matching feature levels (the neck outputs)."""
    return sum(channel_wise_distillation(s, t, temperature) for s, t in zip(student_feats, teacher_feats))
