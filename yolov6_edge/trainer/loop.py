"""The training loop: data, model, loss, SGD + warm-up + schedule, EMA, AMP, validation, checkpoints, logs.

One Trainer drives single-process and DDP runs alike (ddp.py sets up the process group; only rank 0
validates, logs and saves). Checkpoints are atomic; resume restores model, optimizer, scheduler, EMA, epoch.
"""
import dataclasses
import math
import time
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from ..errors import fail
from ..runtime.settings import EVAL
from . import checkpoint_io
from ..datasets.loader import DetectionDataset, build_loader, targets_to_padded
from ..datasets.sampler import EpochSampler
from .ema import ModelEMA
from ..losses.detection import DetectionLoss
from ..losses.distill import distill_loss, frozen_teacher
from ..losses.iou_loss import paper_iou_type
from .optim import Scheduler, build_optimizer


@dataclasses.dataclass
class TrainArgs:
    model: str = "yolov6n"          # a model name (build_model) or a weights file (load_model)
    data: str = "synthetic"         # data.yaml or 'synthetic'
    epochs: int = 100
    img_size: int = 640
    batch: int = 16
    workers: int = 2
    device: str = "cpu"
    output: str = "runs/train"
    seed: int = 0
    optimizer: str = "sgd"
    lr0: float = 0.01
    lrf: float = 0.01
    momentum: float = 0.937
    weight_decay: float = 5e-4
    schedule: str = "cosine"
    warmup_epochs: float = 3.0
    min_warmup_iters: int = 100
    warmup_bias_lr: float = 0.1
    warmup_momentum: float = 0.8
    atss_epochs: int = 4             # ATSS assignment for the first epochs, TAL after
    iou_type: str = ""               # '' = the paper's choice for the model size
    no_mosaic_epochs: int = 15       # mosaic/mixup off for the last N epochs
    mosaic: float = 1.0
    mixup: float = 0.0
    hsv_h: float = 0.015
    hsv_s: float = 0.7
    hsv_v: float = 0.4
    translate: float = 0.1
    scale: float = 0.5
    fliplr: float = 0.5
    ema: bool = True
    amp: bool = True                 # only on CUDA
    grad_clip: float = 0.0           # max grad norm, 0 = off
    eval_interval: int = 1
    eval_conf: float = EVAL.conf     # validation: `yolov6-edge eval`'s settings (runtime/settings.py: EVAL)
    eval_iou: float = EVAL.iou
    teacher: str = ""                # self-distillation teacher (name or weights); '' = off
    distill_temperature: float = 20.0
    distill_weight: float = 1.0
    resume: str = ""                 # a last.pt to continue from
    max_minutes: float = 0.0         # stop after this wall time (then validate and save), 0 = off
    max_steps: int = 0               # stop after this many optimizer steps (tests, DDP smoke run)
    repopt_scales: str = ""          # RepOptimizer: train the plain form with these searched scales
    repopt_search: bool = False      # RepOptimizer step 1: train the search form, write <output>/repopt_scales.pt


class Trainer:
    def __init__(self, args: TrainArgs, model: nn.Module = None, data: dict = None, rank=0, world_size=1,
                 teacher: nn.Module = None):
        self.args, self.rank, self.world = args, rank, world_size
        self.device = torch.device(args.device)
        torch.manual_seed(args.seed)
        self.out = Path(args.output)
        if data is None:
            from ..datasets.spec import load_data_spec

            data = load_data_spec(args.data)
        self.data = data
        self.names = data["names"]
        self.model = (model if model is not None else self._build_model(args.model, len(self.names)))
        if args.repopt_search or args.repopt_scales:
            self.model = self._repopt_form(self.model)
        self.model = self.model.to(self.device)
        if self.model.num_classes != len(self.names):
            raise fail(args.model, f"model has {self.model.num_classes} classes, the data has {len(self.names)}")
        self.model.names = list(self.names)
        step = max(self.model.strides)
        if args.img_size % step:  # validation and export run at this size: refuse before hours of training
            raise fail(args.model, f"--img {args.img_size} must be a multiple of the model's largest stride {step}")
        self.reg_max = int(getattr(self.model, "reg_max", 0))
        hyp = {k: getattr(args, k) for k in ("hsv_h", "hsv_s", "hsv_v", "translate", "scale", "fliplr", "mosaic",
                                              "mixup")}
        self.train_set = DetectionDataset(data["train"], args.img_size, augment=True, hyp=hyp, seed=args.seed)
        self.sampler = EpochSampler(len(self.train_set), True, args.seed, rank, world_size)
        self.train_loader = build_loader(self.train_set, args.batch, self.sampler, args.workers)
        self.ipe = len(self.train_loader)
        iou_type = args.iou_type or paper_iou_type(getattr(self.model, "model_name", ""))
        self.loss_fn = DetectionLoss(len(self.names), self.reg_max, iou_type, warmup_epochs=args.atss_epochs)
        self.optimizer = self._build_optimizer()
        self.scheduler = Scheduler(self.optimizer, args.epochs, self.ipe, args.lr0, args.lrf, args.schedule,
                                   args.momentum, args.warmup_epochs, args.warmup_bias_lr, args.warmup_momentum,
                                   args.min_warmup_iters)
        self.ema = ModelEMA(self.model) if args.ema and rank == 0 else None
        self.use_amp = args.amp and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        self.teacher = self._prepare_teacher(teacher) if (teacher is not None or args.teacher) else None
        self.start_epoch, self.best_ap, self.steps = 0, -1.0, 0
        self.history = []
        if args.resume:
            self._resume(args.resume)
        self.net = self.model
        if world_size > 1:
            from .ddp import wrap

            self.net = wrap(self.model, self.device)

    # ---- construction -------------------------------------------------------------------------------------
    @staticmethod
    def _build_model(spec, num_classes):
        if Path(spec).suffix in (".pt", ".pth", ".ckpt", ".param"):
            from ..weights import load_model

            model, _ = load_model(spec)
            if model.num_classes != num_classes:
                # Starting from weights trained on other classes (an official COCO .pt, say): keep all but
                # the class predictors, which start afresh for this data's classes.
                from ..models.head import replace_class_predictors

                print(f"{spec}: {model.num_classes} classes -> {num_classes}: class predictors start afresh")
                replace_class_predictors(model, num_classes)
            return model.train()
        from ..models import build_model

        return build_model(spec, num_classes)

    def _build_optimizer(self):
        a = self.args
        opt = build_optimizer(self.model, a.lr0, a.momentum, a.weight_decay, a.optimizer)
        if a.repopt_scales:
            from .repopt import RepOptimizer

            opt = RepOptimizer.from_scales_file(self.model, opt, a.repopt_scales)
        return opt

    def _repopt_form(self, model):
        from . import repopt

        a = self.args
        if a.repopt_search and a.repopt_scales:
            raise fail(a.repopt_scales, "--repopt-search and --repopt-scales are two separate runs: search first")
        if a.resume:
            raise fail(a.resume, "a RepOptimizer run cannot be resumed: its checkpoints hold the folded model")
        try:
            if a.repopt_search:
                return repopt.to_search_model(model)
            return repopt.to_plain_model(model, repopt.load_scales(a.repopt_scales))
        except ValueError as e:
            raise fail(a.repopt_scales or a.model, str(e))

    def _prepare_teacher(self, t=None):
        t = (t if t is not None else self._build_model(self.args.teacher, len(self.names))).to(self.device)
        return frozen_teacher(t)

    # ---- state --------------------------------------------------------------------------------------------
    def _resume(self, path):
        ckpt = checkpoint_io.load(path)
        missing = [k for k in ("epoch", "optimizer", "scheduler") if k not in ckpt]
        if missing:
            raise fail(path, f"not a resumable trainer checkpoint (no {', '.join(missing)})")
        self.model.load_state_dict(ckpt["state_dict"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        if self.ema is not None and ckpt.get("ema"):
            self.ema.load_state_dict(ckpt["ema"])
        self.start_epoch = ckpt["epoch"] + 1
        self.best_ap = ckpt.get("best_ap", -1.0)
        self.steps = ckpt.get("steps", 0)
        self.history = ckpt.get("history", [])

    def save(self, path, epoch, use_ema_weights=False):
        extra = dict(epoch=epoch, optimizer=self.optimizer.state_dict(), scheduler=self.scheduler.state_dict(),
                     ema=self.ema.state_dict() if self.ema else None, train_args=dataclasses.asdict(self.args),
                     best_ap=self.best_ap, steps=self.steps, history=self.history)
        model = self.ema.ema if (use_ema_weights and self.ema) else self.model
        if self.args.repopt_search:
            from .repopt import save_scales, search_scales

            save_scales(search_scales(model), self.out / "repopt_scales.pt")
        elif self.args.repopt_scales:
            from .repopt import standard_form

            model = standard_form(model)  # plain VGG convs folded back into RepVGG blocks: loadable by name
        return checkpoint_io.save(model, path, **extra)

    # ---- one step -----------------------------------------------------------------------------------------
    def train_step(self, imgs, labels, epoch):
        imgs = imgs.to(self.device, non_blocking=True).float() / 255
        labels = labels.to(self.device)
        gt_labels, gt_boxes, mask = targets_to_padded(labels, imgs.shape[0])
        self.scheduler.step()
        with torch.autocast(device_type=self.device.type, enabled=self.use_amp):
            out = self.net(imgs)
            loss, parts = self.loss_fn(out, gt_labels, gt_boxes, mask, epoch)
            if self.teacher is not None:
                with torch.no_grad():
                    t_out = self.teacher(imgs)
                d, dparts = distill_loss(out, t_out, self.reg_max, epoch, self.args.epochs,
                                         self.args.distill_temperature)
                loss = loss + self.args.distill_weight * d
                parts.update(dparts)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.args.grad_clip > 0:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.model.parameters(), self.args.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.ema is not None:
            self.ema.update(self.model)
        self.steps += 1
        return float(loss.detach()), {k: float(v) for k, v in parts.items()}

    # ---- the loop -----------------------------------------------------------------------------------------
    def validate(self):
        """{'AP': .., 'AP50': ..} in percent of the EMA (else the live) model on the val split, measured the way
        `yolov6-edge eval` measures a checkpoint (eval.coco.evaluate_records): the same letterbox, native NMS,
        settings and scoring. The model runs as it trains (not fused, float32) and goes back to train mode."""
        from ..backends.torch.runtime import TorchBackend
        from ..eval.coco import evaluate_records

        model = self.ema.ema if self.ema else self.model
        was_training = model.training
        try:
            backend = TorchBackend(model, img_size=self.args.img_size, fuse=False, device=self.device)
            stats = evaluate_records(backend, self.data["val"], self.data["val_category_ids"], names=self.names,
                                     annotations_json=self.data.get("val_json"),
                                     settings=EVAL.override("--eval-conf/--eval-iou", conf=self.args.eval_conf,
                                                            iou=self.args.eval_iou),
                                     batch=self.args.batch)
        finally:
            model.train(was_training)
        return {"AP": stats["AP"], "AP50": stats["AP50"]}

    def fit(self):
        a, main = self.args, self.rank == 0
        if main:
            self.out.mkdir(parents=True, exist_ok=True)
        t0 = time.time()
        val_s = 0.0  # max_minutes budgets training, not validation
        tb = _tensorboard(self.out) if main else None
        stop, epoch = False, self.start_epoch - 1
        for epoch in range(self.start_epoch, a.epochs):
            self.sampler.set_epoch(epoch, mosaic=epoch < a.epochs - a.no_mosaic_epochs)
            self.model.train()
            sums, n = {}, 0
            bar = tqdm(self.train_loader, desc=f"epoch {epoch + 1}/{a.epochs}", disable=not main, leave=False)
            for imgs, labels, _ in bar:
                loss, parts = self.train_step(imgs, labels, epoch)
                if not math.isfinite(loss):
                    raise FloatingPointError(f"loss is {loss} at epoch {epoch} step {self.steps}")
                n += 1
                for k, v in {"loss": loss, **parts}.items():
                    sums[k] = sums.get(k, 0.0) + v
                bar.set_postfix(loss=f"{sums['loss'] / n:.3f}")
                stop = bool((a.max_steps and self.steps >= a.max_steps)
                            or (a.max_minutes and time.time() - t0 - val_s > a.max_minutes * 60))
                if self.world > 1 and a.max_minutes:
                    stop = _any_rank(stop, self.device)  # clocks differ: all ranks must stop at the same step
                if stop:
                    break
            if not main:
                if stop:
                    break
                continue
            row = {"epoch": epoch, **{k: v / max(n, 1) for k, v in sums.items()},
                   "lr": self.optimizer.param_groups[0]["lr"], "time_s": round(time.time() - t0, 1),
                   "train_s": round(time.time() - t0 - val_s, 1)}
            last = stop or epoch == a.epochs - 1
            if a.eval_interval and ((epoch + 1) % a.eval_interval == 0 or last):
                tv = time.time()
                m = self.validate()
                val_s += time.time() - tv
                row["val_s"] = round(time.time() - tv, 1)
                row.update(m)
                if m["AP"] > self.best_ap:
                    self.best_ap = m["AP"]
                    self.history.append(row)
                    self.save(self.out / "best.pt", epoch, use_ema_weights=True)
                    self.history.pop()
            self.history.append(row)
            self._log(row, tb)
            self.save(self.out / "last.pt", epoch)
            if stop:
                break
        if main:
            from .plots import plot_history

            plot_history(self.history, self.out / "results.png")
        return self.history

    def _log(self, row, tb):
        from ..atomic import atomic_write_text

        keys = sorted({k for r in self.history for k in r}, key=lambda k: (k != "epoch", k))
        lines = [",".join(keys)] + [",".join(str(r.get(k, "")) for k in keys) for r in self.history]
        atomic_write_text(self.out / "results.csv", "\n".join(lines) + "\n")
        if tb is not None:
            for k, v in row.items():
                if k != "epoch":
                    tb.add_scalar(k, v, row["epoch"])
        tqdm.write(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))


def _any_rank(flag, device):
    import torch.distributed as dist

    f = torch.tensor([float(flag)], device=device)
    dist.all_reduce(f, op=dist.ReduceOp.MAX)
    return bool(f.item() > 0)


def _tensorboard(out):
    try:
        from torch.utils.tensorboard import SummaryWriter

        return SummaryWriter(str(out))
    except ImportError:
        return None  # TensorBoard is optional; results.csv always has the same numbers
