"""The training loop on the stand-in model (see test_trainer_standin_model.py) and synthetic data:
the loss falls, resume continues exactly, BN-free models train, schedules and EMA follow their formulas."""
import math

import pytest
import torch

from standin_models import TinyDetector
from yolov6_edge.datasets.synthetic import generate_splits
from yolov6_edge.errors import Yolov6EdgeError
from yolov6_edge.datasets.spec import load_data_spec
from yolov6_edge.trainer.ema import ModelEMA
from yolov6_edge.trainer.loop import Trainer, TrainArgs
from yolov6_edge.trainer.optim import Scheduler, build_optimizer, param_groups


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("syn")
    y = generate_splits(root, train=16, val=4, size=(64, 64), seed=1, min_size=14, max_size=30, max_objects=3)
    return load_data_spec(y)


def _args(tmp, **kw):
    base = dict(model="standin", epochs=2, img_size=64, batch=8, workers=0, output=str(tmp), eval_interval=0,
                atss_epochs=1, no_mosaic_epochs=1, min_warmup_iters=2, warmup_epochs=0.5)
    return TrainArgs(**{**base, **kw})


def _fixed_batch(trainer):
    trainer.sampler.set_epoch(0, mosaic=False)
    return next(iter(trainer.train_loader))


@pytest.mark.parametrize("reg_max,bn", [(4, True), (0, False)])
def test_a_few_steps_on_one_batch_decrease_the_loss_standin_model(tmp_path, data, reg_max, bn):
    torch.manual_seed(0)
    # a long schedule and no warm-up so lr stays at lr0. The first steps may rise a little: with TAL the
    # soft targets grow with the IoU of the predicted boxes, so the cls term chases a moving target.
    t = Trainer(_args(tmp_path, lr0=0.02, atss_epochs=0, epochs=100, warmup_epochs=0, min_warmup_iters=0),
                model=TinyDetector(5, reg_max, bn=bn), data=data)
    imgs, labels, _ = _fixed_batch(t)
    losses = [t.train_step(imgs, labels, epoch=1)[0] for _ in range(40)]
    assert all(math.isfinite(v) for v in losses)
    assert sum(losses[-5:]) / 5 < 0.85 * sum(losses[:5]) / 5, losses


def test_resume_restores_state_exactly_standin_model(tmp_path, data):
    torch.manual_seed(0)
    straight = Trainer(_args(tmp_path / "a"), model=TinyDetector(5, 4), data=data)
    straight.fit()
    torch.manual_seed(0)
    first = Trainer(_args(tmp_path / "b", max_steps=2), model=TinyDetector(5, 4), data=data)  # 2 steps = 1 epoch
    first.fit()
    ckpt = torch.load(tmp_path / "b" / "last.pt", weights_only=True)
    assert ckpt["epoch"] == 0 and {"optimizer", "scheduler", "ema", "train_args"} <= set(ckpt)
    torch.manual_seed(123)  # a different fresh model: everything must come from the checkpoint
    resumed = Trainer(_args(tmp_path / "c", resume=str(tmp_path / "b" / "last.pt")), model=TinyDetector(5, 4),
                      data=data)
    assert resumed.start_epoch == 1
    resumed.fit()
    for (k, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), k
    for a, b in zip(straight.ema.ema.state_dict().values(), resumed.ema.ema.state_dict().values()):
        assert torch.equal(a, b)
    assert straight.ema.updates == resumed.ema.updates == 4
    assert straight.scheduler.step_num == resumed.scheduler.step_num


def test_resume_from_a_weights_only_file_is_refused(tmp_path, data):
    p = tmp_path / "w.pt"
    torch.save({"state_dict": {}}, p)
    with pytest.raises(Yolov6EdgeError, match="w.pt: not a resumable"):
        Trainer(_args(tmp_path, resume=str(p)), model=TinyDetector(5, 4), data=data)


def test_fit_writes_checkpoints_csv_and_plot(tmp_path, data):
    t = Trainer(_args(tmp_path, epochs=1, eval_interval=1), model=TinyDetector(5, 4), data=data)
    hist = t.fit()
    assert {"AP", "AP50", "loss", "cls", "iou", "dfl", "lr"} <= set(hist[-1])
    for f in ("last.pt", "best.pt", "results.csv", "results.png"):
        assert (tmp_path / f).stat().st_size > 0, f
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temporaries


def test_class_count_mismatch_is_a_clear_error(tmp_path, data):
    with pytest.raises(Yolov6EdgeError, match="model has 3 classes, the data has 5"):
        Trainer(_args(tmp_path), model=TinyDetector(3, 4), data=data)


def test_param_groups_leave_bn_and_bias_undecayed():
    m = TinyDetector(5, 4, bn=True)
    groups = {g["name"]: g for g in param_groups(m, 5e-4)}
    bn_ids = {id(p) for mod in m.modules() if isinstance(mod, torch.nn.BatchNorm2d) for p in mod.parameters()}
    assert {id(p) for p in groups["norm"]["params"]} | {id(p) for p in groups["bias"]["params"]} >= bn_ids
    assert groups["weight"]["weight_decay"] == 5e-4 and groups["norm"]["weight_decay"] == 0
    assert all(p.ndim == 4 for p in groups["weight"]["params"])
    n = sum(len(g["params"]) for g in groups.values())
    assert n == len(list(m.parameters()))
    opt = build_optimizer(m)
    assert opt.defaults["nesterov"] is True


def test_warmup_then_cosine_schedule():
    m = TinyDetector(5, 4)
    opt = build_optimizer(m, lr0=0.1)
    s = Scheduler(opt, epochs=10, iters_per_epoch=10, lr0=0.1, lrf=0.01, warmup_epochs=1, min_warmup_iters=10,
                  warmup_bias_lr=0.2, warmup_momentum=0.5, momentum=0.9)
    s.step()  # iteration 0: bias lr at warm-up start, others at 0, momentum at warm-up start
    lr = {g["name"]: g["lr"] for g in opt.param_groups}
    assert lr["bias"] == pytest.approx(0.2) and lr["weight"] == 0.0
    assert opt.param_groups[0]["momentum"] == pytest.approx(0.5)
    for _ in range(4):
        s.step()  # iteration 4 of 10: 40% of the way to lr0 * lf(0) = 0.1
    assert opt.param_groups[1]["lr"] == pytest.approx(0.04)
    for _ in range(51):
        s.step()  # iteration 55 -> epoch 5: cosine half way: 0.1 * (1 + 0.01) / 2
    assert opt.param_groups[1]["lr"] == pytest.approx(0.1 * 1.01 / 2)
    assert opt.param_groups[0]["momentum"] == pytest.approx(0.9)


def test_ema_follows_its_formula():
    m = torch.nn.Linear(2, 1)
    ema = ModelEMA(m, decay=0.9, tau=1)
    w0 = m.weight.detach().clone()
    with torch.no_grad():
        m.weight.add_(1.0)
    ema.update(m)
    d = 0.9 * (1 - math.exp(-1))
    assert torch.allclose(ema.ema.weight, w0 * d + (w0 + 1) * (1 - d))


@pytest.mark.parametrize("name", ["yolov6n", "yolov6lite-s"])
def test_real_models_take_training_steps(tmp_path, data, name):
    from yolov6_edge.models import build_model

    torch.manual_seed(0)
    model = build_model(name, 5)
    t = Trainer(_args(tmp_path, epochs=100, warmup_epochs=0, min_warmup_iters=0, atss_epochs=1), model=model,
                data=data)
    before = [p.detach().clone() for p in model.parameters()]
    imgs, labels, _ = _fixed_batch(t)
    for epoch in (0, 1):  # one ATSS step, one TAL step
        loss, parts = t.train_step(imgs, labels, epoch=epoch)
        assert math.isfinite(loss) and parts["iou"] > 0
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
