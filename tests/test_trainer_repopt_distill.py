"""RepOptimizer's gradient re-parameterization equals training the two-branch block; self-distillation runs."""
import pytest
import torch
from torch import nn

from test_trainer_standin_model import TinyDetector
from yolov6_edge.trainer.losses.distill import distill_loss
from yolov6_edge.trainer.repopt import RepOptimizer, ScaledBranches, hyper_search_scales, save_scales


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # on a shared, oversubscribed CPU one torch thread is several times faster than two (no OpenMP spinning)
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


class _Plain(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.block = nn.Conv2d(c, c, 3, 1, 1, bias=False)

    def forward(self, x):
        return self.block(x)


def test_repopt_step_equals_two_branch_sgd_step(tmp_path):
    torch.manual_seed(0)
    c = 4
    branchy = ScaledBranches(c, c)
    with torch.no_grad():
        branchy.scale3.uniform_(0.5, 1.5)
        branchy.scale1.uniform_(0.5, 1.5)
    scales = hyper_search_scales(nn.Sequential(branchy))
    save_scales(scales, tmp_path / "scales.pt")
    # the searched scales stay fixed in the target recipe: train only the two conv branches
    branch_params = [branchy.conv3.weight, branchy.conv1.weight]
    plain = _Plain(c)
    with torch.no_grad():
        plain.block.weight.copy_(branchy.equivalent_weight())
    x, y = torch.randn(2, c, 6, 6), torch.randn(2, c, 6, 6)
    assert torch.allclose(plain(x), branchy(x), atol=1e-5)  # same function before training

    opt_a = torch.optim.SGD(branch_params, lr=0.1, momentum=0.9)
    plain_scales = {"block": scales["0"]}
    opt_b = RepOptimizer.from_scales(plain, torch.optim.SGD(plain.parameters(), lr=0.1, momentum=0.9), plain_scales)
    for _ in range(3):
        for model, opt in ((branchy, opt_a), (plain, opt_b)):
            opt.zero_grad()
            nn.functional.mse_loss(model(x), y).backward()
            opt.step()
    # after three momentum steps the plain conv is still exactly the two-branch block, folded
    assert torch.allclose(plain.block.weight, branchy.equivalent_weight(), atol=1e-5)



def test_plain_sgd_without_multipliers_departs_from_the_block():
    # the control for the test above: the equality comes from the multipliers, not from the setup
    torch.manual_seed(0)
    branchy = ScaledBranches(4, 4)
    with torch.no_grad():
        branchy.scale3.fill_(1.3)
        branchy.scale1.fill_(0.7)
    plain = _Plain(4)
    with torch.no_grad():
        plain.block.weight.copy_(branchy.equivalent_weight())
    x, y = torch.randn(2, 4, 6, 6), torch.randn(2, 4, 6, 6)
    opt_a = torch.optim.SGD([branchy.conv3.weight, branchy.conv1.weight], lr=0.1)
    opt_b = torch.optim.SGD(plain.parameters(), lr=0.1)
    for model, opt in ((branchy, opt_a), (plain, opt_b)):
        opt.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        opt.step()
    assert not torch.allclose(plain.block.weight, branchy.equivalent_weight(), atol=1e-4)


def test_repopt_scales_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "s.pt"
    bad.write_bytes(b"junk")
    from yolov6_edge.errors import Yolov6EdgeError

    with pytest.raises(Yolov6EdgeError, match="s.pt: cannot read"):
        RepOptimizer.from_scales_file(_Plain(2), torch.optim.SGD(_Plain(2).parameters(), lr=0.1), bad)


def test_distillation_loss_is_zero_against_itself_and_trains_towards_teacher_standin_model():
    torch.manual_seed(0)
    student, teacher = TinyDetector(5, 4).train(), TinyDetector(5, 4).train()
    x = torch.rand(2, 3, 64, 64)
    s = student(x)
    zero, _ = distill_loss(s, s, 4, epoch=0, epochs=10)
    assert zero.item() < 1e-4  # float32 rounding, amplified by T^2 = 400
    t_out = teacher(x)
    opt = torch.optim.SGD(student.parameters(), lr=0.5)
    first = None
    for _ in range(20):
        loss, parts = distill_loss(student(x), t_out, 4, epoch=0, epochs=10, temperature=1.0)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.7 * first and parts["d_dfl"] > 0


def test_trainer_step_with_a_teacher_adds_distillation_terms_standin_model(tmp_path):
    from yolov6_edge.datasets.synthetic import generate_splits
    from yolov6_edge.trainer.data.build import load_data_spec
    from yolov6_edge.trainer.loop import Trainer, TrainArgs

    data = load_data_spec(generate_splits(tmp_path, train=4, val=2, size=(64, 64), seed=4, min_size=14,
                                          max_size=30))
    args = TrainArgs(model="standin", epochs=2, img_size=64, batch=4, workers=0, output=str(tmp_path / "r"),
                     eval_interval=0)
    teacher = TinyDetector(5, 4)
    t = Trainer(args, model=TinyDetector(5, 4), data=data, teacher=teacher)
    assert not any(p.requires_grad for p in teacher.parameters())
    assert all(not m.training for m in teacher.modules() if isinstance(m, nn.BatchNorm2d))
    imgs, labels, _ = next(iter(t.train_loader))
    loss, parts = t.train_step(imgs, labels, epoch=0)
    assert parts["d_cls"] > 0 and parts["d_dfl"] > 0
