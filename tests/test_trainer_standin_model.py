"""The trainer tests' stand-in detector (tests/standin_models.py: TinyDetector) follows the model contract
(docs/ARCHITECTURE.md): training outputs, eval outputs, shapes."""
import torch

from standin_models import TinyDetector


def test_standin_model_follows_the_contract():
    m = TinyDetector(reg_max=4).train()
    out = m(torch.zeros(2, 3, 64, 96))
    n = 8 * 12 + 4 * 6
    assert out.cls_logits.shape == (2, n, 5) and out.reg.shape == (2, n, 20)
    assert out.anchor_points.shape == (n, 2) and out.stride_tensor.shape == (n, 1)
    boxes, scores = m.eval()(torch.zeros(1, 3, 64, 96))
    assert boxes.shape == (1, n, 4) and scores.shape == (1, n, 5)
    assert (scores >= 0).all() and (scores <= 1).all()
