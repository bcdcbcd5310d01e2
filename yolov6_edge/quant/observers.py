"""Calibration observers: turn the activations seen on calibration images into one amax per tensor.

All four work on |x| because our activation quantization is symmetric (zero point 0, scale = amax / 127).
`max` keeps the running maximum; `percentile`, `mse` and `entropy` keep a histogram of |x| and choose the
clipping point from it, trading the rare outliers for finer steps on the bulk of the values.
"""
import numpy as np

METHODS = ("max", "percentile", "mse", "entropy")
NUM_BINS = 2048

# bump when an observer's arithmetic changes: calibration caches made by another version are then refused
# (3: activations are observed with float weights, so one cache serves 7- and 8-bit weights alike)
VERSION = 3

class MaxObserver:
    def __init__(self):
        self.amax = 0.0

    def update(self, x: np.ndarray) -> None:
        if x.size:
            self.amax = max(self.amax, float(np.abs(x).max()))

    def compute(self) -> float:
        return self.amax


class HistogramObserver:
    """Histogram of |x| over [0, width * NUM_BINS); the range doubles (merging bin pairs, exactly) as needed."""

    def __init__(self, method: str = "percentile", percentile: float = 99.99):
        if method not in ("percentile", "mse", "entropy"):
            raise ValueError(f"unknown histogram method {method!r}")
        self.method, self.percentile = method, percentile
        self.hist = np.zeros(NUM_BINS, np.float64)
        self.width = 0.0
        self.max = 0.0

    def update(self, x: np.ndarray) -> None:
        a = np.abs(np.asarray(x, np.float32)).ravel()
        if not a.size:
            return
        m = float(a.max())
        self.max = max(self.max, m)
        if self.width == 0.0:
            if m == 0.0:
                self.hist[0] += a.size
                return
            self.width = m / NUM_BINS * 1.0001
        while self.width * NUM_BINS < m:
            # doubling the bin width merges neighbours exactly, so earlier batches keep their counts
            self.hist = np.concatenate([self.hist.reshape(-1, 2).sum(1), np.zeros(NUM_BINS // 2)])
            self.width *= 2
        idx = np.minimum((a / self.width).astype(np.int64), NUM_BINS - 1)
        self.hist += np.bincount(idx, minlength=NUM_BINS)

    def compute(self) -> float:
        if self.width == 0.0:
            return 0.0
        if self.method == "percentile":
            return percentile_amax(self.hist, self.width, self.percentile)
        if self.method == "mse":
            return mse_amax(self.hist, self.width)
        return entropy_amax(self.hist, self.width)


def make_observer(method: str, percentile: float = 99.99):
    if method == "max":
        return MaxObserver()
    if method in METHODS:
        return HistogramObserver(method, percentile)
    raise ValueError(f"unknown calibration method {method!r} (expected one of {', '.join(METHODS)})")


def percentile_amax(hist: np.ndarray, width: float, percentile: float) -> float:
    cdf = np.cumsum(hist) / hist.sum()
    i = int(np.searchsorted(cdf, percentile / 100.0))
    return float((min(i, len(hist) - 1) + 1) * width)


def mse_amax(hist: np.ndarray, width: float, num_levels: int = 127) -> float:
    """amax minimising the expected squared quantization error of the histogram (values at bin centres)."""
    centers = (np.arange(len(hist)) + 0.5) * width
    last = int(np.nonzero(hist)[0].max())
    candidates = np.unique(np.linspace(max(last // 16, 1), last + 1, 256).astype(np.int64)) * width
    best, best_err = candidates[-1], np.inf
    nz = hist > 0
    c, h = centers[nz], hist[nz]
    for amax in candidates:
        scale = amax / num_levels
        q = np.minimum(np.round(c / scale), num_levels) * scale
        err = float((h * (c - q) ** 2).sum())
        if err < best_err:
            best, best_err = amax, err
    return float(best)


def entropy_amax(hist: np.ndarray, width: float, num_levels: int = 128, stride: int = 16) -> float:
    """TensorRT-style entropy calibration: the clip minimising KL(P || Q) between the clipped histogram and
    its num_levels-level quantized version."""
    last = int(np.nonzero(hist)[0].max()) + 1
    if last <= num_levels:
        return float(last * width)
    # After a ReLU most values are exactly 0. That spike, smeared over the first quantization level by Q,
    # dominates the KL and drives the clip far into the bulk (measured: below the 99th percentile of the
    # non-zero values); counting bin 0 like its neighbour keeps the divergence about the shape of the rest.
    hist = hist.copy()
    hist[0] = hist[1]
    best_i, best_kl = last, np.inf
    for i in range(num_levels, last + 1, stride):
        p = hist[:i].copy()
        p[i - 1] += hist[i:].sum()  # outliers collapse into the last kept bin
        q = _quantize_hist(hist[:i], num_levels)
        kl = _kl(p, q)
        if kl < best_kl:
            best_i, best_kl = i, kl
    return float(best_i * width)


def _quantize_hist(p: np.ndarray, num_levels: int) -> np.ndarray:
    """Merge p into num_levels groups and spread each group's mass evenly over its non-empty bins."""
    q = np.zeros_like(p)
    edges = np.linspace(0, len(p), num_levels + 1).astype(np.int64)
    for lo, hi in zip(edges[:-1], edges[1:]):
        seg = p[lo:hi]
        nz = seg > 0
        if nz.any():
            q[lo:hi][nz] = seg.sum() / nz.sum()
    return q


def _kl(p: np.ndarray, q: np.ndarray) -> float:
    if q.sum() == 0:  # every kept bin empty (all the mass was folded in as outliers): never the best clip
        return float("inf")
    p = p / p.sum()
    q = q / q.sum()
    m = p > 0
    # q can be 0 where p is not (outliers folded into an empty last bin): a tiny floor makes that a large,
    # finite penalty instead of inf
    return float((p[m] * np.log(p[m] / np.maximum(q[m], 1e-12))).sum())
