"""How many levels each conv's weights get on a CPU placement: as many as its runtime's int16 pairs allow.

On x86 CPUs without VNNI the CPU runtimes sum two u8 x s8 products in int16 (saturation.py), so a file for
them used to take 7-bit weights everywhere. Most of that is not needed: depthwise convs have no pairs at
all, and the pairs that can saturate are those of two large same-sign weights. The modes (recipe
`weight_bits`):
- 8, 7: every quantized conv alike;
- "layer": 8 bits for every conv none of whose pairs can saturate (all depthwise convs, a few others), 7 for
  the rest;
- "channel": per output channel, the most levels (qmax from 127 down to 63) at which no pair of that channel
  can saturate; 7-bit channels only where even 127 levels would.
Both mixed modes are right on CPUs with and without VNNI for the runtime whose pairing they were computed
for (the pairing is recorded in the file's metadata) and need nothing of the runtime on VNNI CPUs.
"""
import numpy as np

from .fake_quant import quant_layers
from .saturation import SAFE_PAIR_SUM, pair_sums, weight_codes

MODES = ("layer", "channel")
QMAX8, QMAX7 = 127, 63


def _codes(m, qmax):
    w = m.effective_weight().detach().cpu().numpy()
    amax = np.abs(w).reshape(w.shape[0], -1).max(1)
    return weight_codes(w, amax, qmax)


def channel_levels(m, pairing: str) -> np.ndarray:
    """Per output channel, the largest qmax in [63, 127] whose codes keep every pair within the safe sum."""
    group = m.conv.groups
    out = np.full(m.conv.out_channels, QMAX7, np.int64)
    todo = np.ones(m.conv.out_channels, bool)
    for q in range(QMAX8, QMAX7 - 1, -1):  # few steps: most channels settle within the first 20
        ok = pair_sums(_codes(m, q), group, pairing) <= SAFE_PAIR_SUM
        out[todo & ok] = q
        todo &= ~ok
        if not todo.any():
            break
    return out


def pair_safe_levels(qmodel, pairing: str, mode: str = "layer") -> dict:
    """{layer: qmax (int, or an array per output channel)} for the quantized convs of `qmodel`."""
    if mode not in MODES:
        raise ValueError(f"unknown weight level mode {mode!r} (expected one of {', '.join(MODES)})")
    levels = {}
    for name, m in quant_layers(qmodel).items():
        if not m.quantized:
            continue
        if mode == "layer":
            safe = (pair_sums(_codes(m, QMAX8), m.conv.groups, pairing) <= SAFE_PAIR_SUM).all()
            levels[name] = QMAX8 if safe else QMAX7
        else:
            levels[name] = channel_levels(m, pairing)
    return levels


def set_weight_levels(qmodel, levels) -> None:
    """Give each named layer its qmax (int or per-channel array) and re-derive its weight scales."""
    layers = quant_layers(qmodel)
    for name, q in levels.items():
        m = layers[name]
        m.weight_quantizer.set_qmax(q)
        m._wq = None
        m.calibrate_weight()


def apply_weight_bits(qmodel, bits, pairing: str = None) -> dict:
    """Set the weight levels for `bits` (7, 8, "layer" or "channel"); returns a summary for the report."""
    layers = {n: m for n, m in quant_layers(qmodel).items() if m.quantized}
    if bits in (7, 8):
        set_weight_levels(qmodel, {n: QMAX8 if bits == 8 else QMAX7 for n in layers})
        qmodel.weight_pairing = None
        return {"weight_bits": bits}
    if pairing is None:
        raise ValueError(f"weight bits {bits!r} need the runtime whose pairing they follow")
    levels = pair_safe_levels(qmodel, pairing, bits)
    set_weight_levels(qmodel, levels)
    qmodel.weight_pairing = pairing  # export records it: the levels are safe for this runtime's pairs
    return {"weight_bits": bits, "weight_pairing": pairing, **summary(levels, qmodel)}


def summary(levels: dict, qmodel=None) -> dict:
    """How many layers / output channels got 8 bits, 7 bits or in between."""
    layers = quant_layers(qmodel) if qmodel is not None else {}
    per = [np.broadcast_to(np.asarray(q), (layers[n].conv.out_channels,) if n in layers else np.shape(q))
           for n, q in levels.items()]
    flat = np.concatenate([np.atleast_1d(q).reshape(-1) for q in per]) if per else np.zeros(0)
    eight = sum(bool(np.all(q == QMAX8)) for q in per)
    seven = sum(bool(np.all(q == QMAX7)) for q in per)
    return {"layers_8bit": eight, "layers_7bit": seven, "layers_mixed": len(per) - eight - seven,
            "channels_8bit": int((flat == QMAX8).sum()), "channels_7bit": int((flat == QMAX7).sum()),
            "channels": int(flat.size), "mean_qmax": round(float(flat.mean()), 2) if flat.size else 0.0}


def file_weight_bits(qmodel) -> str:
    """The metadata value: "8" or "7" when every quantized conv has that many bits, else "mixed"."""
    qs = [np.asarray(m.weight_quantizer.qmax) for m in quant_layers(qmodel).values() if m.quantized]
    if qs and all(np.all(q == QMAX8) for q in qs):
        return "8"
    if qs and all(np.all(q == QMAX7) for q in qs):
        return "7"
    return "mixed" if qs else "8"
