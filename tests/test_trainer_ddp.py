"""DDP: two gloo processes on CPU take one synchronised step (the stand-in model; NCCL needs GPUs)."""
import os
import socket

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from standin_models import TinyDetector
from yolov6_edge.datasets.synthetic import generate_splits
from yolov6_edge.datasets.spec import load_data_spec
from yolov6_edge.datasets.sampler import EpochSampler
from yolov6_edge.trainer.loop import Trainer, TrainArgs


def _worker(rank, world, port, data, out_dir, q):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        torch.manual_seed(0)  # same initial weights on both ranks, as DDP expects
        model = TinyDetector(5, 4)
        before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
        args = TrainArgs(model="standin", epochs=1, img_size=64, batch=4, workers=0, output=out_dir, eval_interval=0,
                         max_steps=1, atss_epochs=1, min_warmup_iters=1)
        t = Trainer(args, model=model, data=data, rank=rank, world_size=world)
        t.fit()
        after = torch.cat([p.detach().flatten() for p in model.parameters()])
        # numpy, not tensors: tensors cross a queue as shared memory that dies with this process
        q.put((rank, before.numpy(), after.numpy(), [i for i, _, _ in t.sampler]))
    finally:
        dist.destroy_process_group()


def test_two_gloo_processes_one_step_stay_in_sync(tmp_path):
    y = generate_splits(tmp_path / "d", train=8, val=2, size=(64, 64), seed=2, min_size=14, max_size=30)
    data = load_data_spec(y)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(r, 2, port, data, str(tmp_path / "run"), q)) for r in range(2)]
    for p in procs:
        p.start()
    results = dict((r, (b, a, idx)) for r, b, a, idx in (q.get(timeout=120) for _ in procs))
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    (b0, a0, i0), (b1, a1, i1) = results[0], results[1]
    assert (a0 == a1).all()  # gradients were averaged: both ranks hold the same weights
    assert (b0 == b1).all() and not (a0 == b0).all()  # and a step was taken
    assert sorted(i0 + i1) == list(range(8)) and not set(i0) & set(i1)  # each rank its own half
    assert (tmp_path / "run" / "last.pt").exists()  # rank 0 saved


def test_epoch_sampler_pads_uneven_splits():
    a = [i for i, _, _ in EpochSampler(5, shuffle=False, rank=0, world_size=2)]
    b = [i for i, _, _ in EpochSampler(5, shuffle=False, rank=1, world_size=2)]
    assert len(a) == len(b) == 3 and set(a) | set(b) == set(range(5))
    s = EpochSampler(6, seed=1)
    s.set_epoch(3, mosaic=False)
    assert {m for _, _, m in s} == {False} and {e for _, e, _ in s} == {3}
