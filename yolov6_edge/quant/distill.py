"""Channel-wise distillation (Shu et al., 2021), the loss the YOLOv6 paper uses for QAT.

Each channel of a feature map is turned into a distribution over its spatial positions (softmax of the
activations / T); the student matches the teacher's distribution per channel with KL(teacher || student),
scaled by T^2 so the gradient size does not depend on T. Spatial distributions, unlike an L2 on raw
activations, ask the quantized student to put its responses where the float teacher does, which is what
the detection head reads.
"""
import torch

from ..losses.distill import kl_soft


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


def normalized_mse(student, teacher, eps: float = 1e-6) -> torch.Tensor:
    """Per channel: mean squared error over (batch, H, W) divided by the teacher channel's variance; mean over channels.

    Dividing by the variance makes every channel and every layer count alike whatever its scale, so a
    depthwise layer whose channels span 0.1..100 is matched channel by channel rather than by its loudest one.
    """
    if student.shape != teacher.shape:
        raise ValueError(f"student {tuple(student.shape)} and teacher {tuple(teacher.shape)} shapes differ")
    dims = [d for d in range(teacher.dim()) if d != 1]
    err = (student - teacher).pow(2).mean(dims)
    return (err / (teacher.var(dims, unbiased=False) + eps)).mean()


class LayerTaps:
    """Forward hooks that keep the outputs of the same-named layers of a student and a teacher.

    QAT's layer-wise term compares every quantized conv's output with the float conv's output on the same
    image: the error is caught where it is made, before later layers mix it in.
    """

    def __init__(self, student, teacher, names):
        self.student, self.teacher = {}, {}
        mods_s, mods_t = dict(student.named_modules()), dict(teacher.named_modules())
        missing = [n for n in names if n not in mods_t]
        if missing:
            raise ValueError(f"teacher has no layer {missing[0]!r} ({len(missing)} missing)")
        self.handles = [mods_s[n].register_forward_hook(self._keep(self.student, n)) for n in names]
        self.handles += [mods_t[n].register_forward_hook(self._keep(self.teacher, n)) for n in names]

    @staticmethod
    def _keep(store, name):
        def hook(_module, _inputs, output):
            store[name] = output
        return hook

    def loss(self) -> torch.Tensor:
        """normalized_mse averaged over the layers seen in the last forward of both models."""
        names = [n for n in self.student if n in self.teacher]
        if not names:
            raise RuntimeError("no layer outputs recorded: run the student and the teacher first")
        total = sum(normalized_mse(self.student[n], self.teacher[n].detach()) for n in names) / len(names)
        self.student.clear()
        self.teacher.clear()
        return total

    def remove(self) -> None:
        for h in self.handles:
            h.remove()
