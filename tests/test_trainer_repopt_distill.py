"""RepOptimizer's gradient re-parameterization equals training the two-branch block; self-distillation runs."""
import pytest
import torch
from torch import nn

from standin_models import TinyDetector
from yolov6_edge.losses.distill import distill_loss
from yolov6_edge.trainer.repopt import RepOptimizer, ScaledBranches, hyper_search_scales, save_scales


pytestmark = pytest.mark.usefixtures("one_torch_thread")


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
    from yolov6_edge.datasets.spec import load_data_spec
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


def test_repopt_model_forms_round_trip_to_a_standard_checkpoint(tmp_path):
    """search form -> scales -> plain form -> back to RepVGG blocks: same function, loadable by name."""
    from yolov6_edge.models import build_model
    from yolov6_edge.models.blocks import RepVGGBlock
    from yolov6_edge.trainer.repopt import (RepOptSearchBlock, RepOptVGGBlock, search_scales, to_plain_model,
                                            to_repvgg, to_search_model)
    from yolov6_edge.weights import load_model
    from yolov6_edge.weights.checkpoint import save_checkpoint

    torch.manual_seed(0)
    search = to_search_model(build_model("yolov6n", num_classes=3))
    n_blocks = sum(isinstance(m, RepOptSearchBlock) for m in search.modules())
    assert n_blocks > 10 and not any(isinstance(m, RepVGGBlock) for m in search.modules())
    scales = search_scales(search)
    assert len(scales) == n_blocks
    plain = to_plain_model(build_model("yolov6n", num_classes=3), scales)
    opt = RepOptimizer.from_scales(plain, torch.optim.SGD(plain.parameters(), lr=0.01), scales)
    assert len(opt.masks) == n_blocks  # every plain 3x3 conv gets its multipliers
    with torch.no_grad():  # non-trivial BN statistics, so the fold is really tested
        for m in plain.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
    plain.eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        ref = plain(x)
        back = to_repvgg(plain)
        assert not any(isinstance(m, RepOptVGGBlock) for m in back.modules())
        back.fuse()
        got = back(x)
    for r, g in zip(ref, got):
        assert torch.allclose(r, g, atol=1e-4, rtol=1e-4)
    save_checkpoint(back, tmp_path / "n.pt")
    loaded, _ = load_model(tmp_path / "n.pt", fuse=True)
    with torch.no_grad():
        for r, g in zip(ref, loaded.eval()(x)):
            assert torch.allclose(r, g, atol=1e-4, rtol=1e-4)


def test_repopt_plain_model_rejects_scales_of_another_architecture():
    from yolov6_edge.models import build_model
    from yolov6_edge.trainer.repopt import search_scales, to_plain_model, to_search_model

    scales = search_scales(to_search_model(build_model("yolov6n", num_classes=3)))
    scales.pop(next(iter(scales)))
    with pytest.raises(ValueError, match="do not cover"):
        to_plain_model(build_model("yolov6n", num_classes=3), scales)


def test_trainer_repopt_search_then_plain_training_gives_a_standard_checkpoint(tmp_path):
    """The two RepOptimizer runs through the Trainer: the search writes scales, the plain run's checkpoint
    loads by name as an ordinary YOLOv6-N and computes what the trained plain model computes."""
    from yolov6_edge.datasets.synthetic import generate_splits
    from yolov6_edge.errors import Yolov6EdgeError
    from yolov6_edge.models import build_model
    from yolov6_edge.datasets.spec import load_data_spec
    from yolov6_edge.trainer.loop import Trainer, TrainArgs
    from yolov6_edge.trainer.repopt import RepOptVGGBlock, standard_form
    from yolov6_edge.weights import load_model

    data = load_data_spec(generate_splits(tmp_path / "syn", train=8, val=2, size=(64, 64), seed=3,
                                          min_size=14, max_size=30, max_objects=2))
    nc = len(data["names"])

    def args(out, **kw):
        return TrainArgs(model="yolov6n", epochs=1, img_size=64, batch=4, workers=0, output=str(tmp_path / out),
                         eval_interval=0, atss_epochs=1, no_mosaic_epochs=1, min_warmup_iters=1,
                         warmup_epochs=0.5, max_steps=2, **kw)
    Trainer(args("search", repopt_search=True), model=build_model("yolov6n", nc), data=data).fit()
    scales = tmp_path / "search" / "repopt_scales.pt"
    assert scales.is_file()
    t = Trainer(args("plain", repopt_scales=str(scales)), model=build_model("yolov6n", nc), data=data)
    assert any(isinstance(m, RepOptVGGBlock) for m in t.model.modules())
    assert len(t.optimizer.masks) > 10
    t.fit()
    loaded, _ = load_model(tmp_path / "plain" / "last.pt", fuse=True)
    ref = standard_form((t.ema.ema if t.ema else t.model))
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        for r, g in zip(ref.eval()(x), loaded.eval()(x)):
            assert torch.allclose(r, g, atol=1e-5)
    with pytest.raises(Yolov6EdgeError, match="RepVGGBlock"):
        Trainer(args("lite", repopt_search=True), model=build_model("yolov6lite-s", nc), data=data)
