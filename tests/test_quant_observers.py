"""Calibration observers against plain numpy references on raw samples."""
import numpy as np
import pytest

from yolov6_edge.quant.observers import NUM_BINS, HistogramObserver, MaxObserver, make_observer


def samples(seed=0):
    rng = np.random.default_rng(seed)
    # a growing range across batches exercises the histogram's bin merging
    return [rng.standard_normal(20000).astype(np.float32) * s for s in (0.5, 1.0, 3.0)]


def test_max_is_running_abs_max():
    xs = samples()
    o = MaxObserver()
    for x in xs:
        o.update(x)
    assert o.compute() == pytest.approx(float(np.abs(np.concatenate(xs)).max()))


@pytest.mark.parametrize("pct", [99.0, 99.9, 99.99])
def test_percentile_matches_numpy_within_a_bin(pct):
    xs = samples()
    o = HistogramObserver("percentile", pct)
    for x in xs:
        o.update(x)
    a = np.abs(np.concatenate(xs))
    amax = o.compute()
    # the answer is the upper edge of the first bin whose cumulative share reaches pct: at least pct of the
    # samples lie below it and fewer than pct below one bin lower (numpy's interpolated percentile can sit
    # further off in the sparse tail, so the definition is checked instead)
    assert np.mean(a <= amax * (1 + 1e-6)) >= pct / 100
    assert np.mean(a < amax - o.width) < pct / 100
    assert abs(amax - np.percentile(a, pct)) < 0.01 * a.max()
    assert o.hist.sum() == sum(x.size for x in xs)


def _mse(a, amax):
    s = amax / 127
    return np.mean((a - np.minimum(np.round(a / s), 127) * s) ** 2)


def test_mse_amax_is_near_the_bruteforce_optimum():
    a = np.abs(np.concatenate(samples()))
    o = HistogramObserver("mse")
    o.update(a)
    grid = np.linspace(a.max() / 16, a.max(), 400)
    errs = [_mse(a, g) for g in grid]
    best = grid[int(np.argmin(errs))]
    # the error near the optimum is flat: compare the errors, not the clip points
    assert _mse(a, o.compute()) <= 1.02 * min(errs)
    assert o.compute() < a.max() and abs(o.compute() - best) < 0.2 * a.max()


def test_entropy_clips_outliers_but_keeps_the_bulk():
    rng = np.random.default_rng(1)
    a = np.concatenate([rng.standard_normal(100000), [60.0, -80.0]]).astype(np.float32)
    o = make_observer("entropy")
    o.update(a)
    amax = o.compute()
    assert np.percentile(np.abs(a), 99.9) < amax < 0.5 * np.abs(a).max()


def test_entropy_is_not_dragged_into_the_bulk_by_relu_zeros():
    # half the values exactly 0 (a ReLU output): the clip must still keep the non-zero bulk
    rng = np.random.default_rng(0)
    a = np.concatenate([np.maximum(rng.standard_normal(200000) * 2, 0), [40.0]]).astype(np.float32)
    o = make_observer("entropy")
    o.update(a)
    amax = o.compute()
    assert np.percentile(a[a > 0], 99.9) < amax < 0.5 * a.max()


def test_all_zero_tensor_gives_zero_amax():
    for m in ("max", "percentile", "mse", "entropy"):
        o = make_observer(m)
        o.update(np.zeros(100, np.float32))
        assert o.compute() == 0.0
    assert NUM_BINS >= 1024


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="unknown calibration method"):
        make_observer("minmax")


def test_cli_offers_exactly_the_observer_methods():
    # the CLI keeps its own list so that `--help` need not import torch; it must not drift from observers.py
    from yolov6_edge.cli.quant_args import CALIBRATION_METHODS
    from yolov6_edge.quant.observers import METHODS

    assert sorted(CALIBRATION_METHODS) == sorted(METHODS)
