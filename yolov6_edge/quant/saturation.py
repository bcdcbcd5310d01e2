"""Which INT8 weights can saturate on an x86 CPU without VNNI, given the order the runtime pairs them in.

Without VNNI (AVX2, AVX-512 without AVX512_VNNI) x86 INT8 kernels multiply uint8 activation codes by int8
weight codes with `vpmaddubsw`: it adds the two products of each adjacent byte pair into an int16 with
saturation, and only then widens to int32 (oneDNN, "Nuances of int8 computations"; MLAS's U8S8 AVX2
kernels). With activation codes u in [0, 255] (every CPU placement: uint8, zero point 128 or, after a Relu
on the onnxruntime placement, 0) the pair sum of weight codes a, b ranges over
    [-255 * (a- + b-), 255 * (a+ + b+)]        (x+ = max(x, 0), x- = max(-x, 0))
so it saturates for some input iff 255 * (a+ + b+) > 32767 or 255 * (a- + b-) > 32768, i.e. iff the
same-sign magnitudes of the pair sum to 129 or more (a pair of mixed signs never does: its sum lies between
its two products, each within +-255 * 128). 7-bit weights (|code| <= 63) can never; 8-bit ones can.

Which weights form a pair is the runtime's packing, measured here with `compare-runtimes`-style probes under
`ONEDNN_MAX_CPU_ISA=AVX2` and `=AVX512_CORE` (docs/QUANTIZATION.md, "Weight bits per layer"):
- openvino (oneDNN jit_avx2 / brgconv_avx512 INT8 convolutions, 1x1 and 3x3, weights blocked ..4i): input
  channels 2j and 2j+1 of the same kernel tap; channels padded with zeros to a multiple of 4 (the stem's
  3 channels pair as (0, 1), (2, pad)); taps never pair. Depthwise convs widen to 16/32 bits: no pairs.
- onnxruntime (MLAS, read from its source, not measured: this machine has VNNI and MLAS has no ISA cap):
  MlasConvSym (group 1, input channels % 4 == 0, output channels % 8 == 0 and >= 16) packs 4 input channels
  of one tap together: pairs as oneDNN. Other convs go through im2col and the U8S8 GEMM, whose K index is
  tap * C + c: pairs (2m, 2m + 1) of that flattened index, which cross taps when C is odd. Depthwise convs
  (MlasConvSymDepthwise / MlasConvDepthwise) widen first: no pairs.
"""
import numpy as np

PAIRINGS = ("openvino", "onnxruntime")
# largest same-sign |a| + |b| of a pair that cannot saturate: 255 * 128 = 32640 <= 32767
SAFE_PAIR_SUM = 128


def _pairs_by_channel(codes: np.ndarray) -> np.ndarray:
    """[O, C, T] codes -> [O, T, ceil(C/2), 2]: input channels 2j, 2j+1 of one tap (C padded with 0)."""
    o, c, t = codes.shape
    padded = np.zeros((o, c + (c % 2), t), codes.dtype)
    padded[:, :c] = codes
    return padded.transpose(0, 2, 1).reshape(o, t, -1, 2)


def _pairs_flat(codes: np.ndarray) -> np.ndarray:
    """[O, C, T] codes -> [O, ceil(T*C/2), 2]: index tap * C + c paired as (2m, 2m + 1)."""
    o, c, t = codes.shape
    flat = codes.transpose(0, 2, 1).reshape(o, t * c)
    if flat.shape[1] % 2:
        flat = np.concatenate([flat, np.zeros((o, 1), flat.dtype)], 1)
    return flat.reshape(o, -1, 2)


def mlas_conv_sym(out_channels: int, in_channels: int, group: int) -> bool:
    """Whether ORT's QLinearConv takes MlasConvSym (AVX2/AVX-512 dispatch) for a non-depthwise conv."""
    return group == 1 and in_channels % 4 == 0 and out_channels % 8 == 0 and out_channels >= 16


def pair_sums(codes, group: int = 1, pairing: str = "openvino") -> np.ndarray:
    """Per output channel, the largest same-sign |a| + |b| over the weight pairs the runtime sums in int16.

    codes: integer weight codes [O, C/group, kh, kw] (ONNX layout). Depthwise convs have no pairs (0).
    """
    if pairing not in PAIRINGS:
        raise ValueError(f"unknown pairing {pairing!r} (expected one of {', '.join(PAIRINGS)})")
    codes = np.asarray(codes)
    if codes.ndim != 4:
        raise ValueError(f"expected [O, C, kh, kw] weight codes, got shape {codes.shape}")
    codes = np.rint(codes).astype(np.int64)
    o, cg = codes.shape[:2]
    if cg == 1 and o == group:  # depthwise: widened products, no pair sums
        return np.zeros(o, np.int64)
    og = o // group
    out = np.zeros(o, np.int64)
    for g in range(group):
        w = codes[g * og:(g + 1) * og].reshape(og, cg, -1)
        by_channel = pairing == "openvino" or mlas_conv_sym(o, cg, group)
        pairs = _pairs_by_channel(w) if by_channel else _pairs_flat(w)
        pos = np.clip(pairs, 0, None).sum(-1)
        neg = np.clip(-pairs, 0, None).sum(-1)
        out[g * og:(g + 1) * og] = np.maximum(pos, neg).reshape(og, -1).max(1)
    return out


def can_saturate(codes, group: int = 1, pairing: str = "openvino") -> np.ndarray:
    """Per output channel: True where some input in [0, 255] saturates a pair sum (see module doc)."""
    return pair_sums(codes, group, pairing) > SAFE_PAIR_SUM


def weight_codes(weight, amax, qmax: int = 127) -> np.ndarray:
    """Symmetric per-output-channel codes of `weight` [O, ...] for per-channel `amax` (as QuantizeLinear)."""
    w = np.asarray(weight, np.float32)
    scale = (np.maximum(np.asarray(amax, np.float32), np.float32(1e-8)) / np.float32(qmax)).reshape(
        -1, *([1] * (w.ndim - 1)))
    return np.clip(np.rint(w / scale), -qmax - 1, qmax).astype(np.int64)


def onnx_pair_sums(model, pairing: str = "openvino") -> dict:
    """{unit name: largest same-sign pair sum of its codes} for every Conv of a QDQ ONNX (ModelProto) whose
    weight is read through a per-channel DequantizeLinear; units named as compare-runtimes names them."""
    from onnx import numpy_helper

    g = model.graph
    inits = {i.name: i for i in g.initializer}
    producer = {o: n for n in g.node for o in n.output}
    out = {}
    for n in g.node:
        if n.op_type != "Conv":
            continue
        dq = producer.get(n.input[1])
        if dq is None or dq.op_type != "DequantizeLinear":
            continue
        q = producer.get(dq.input[0])
        w_name = q.input[0] if q is not None and q.op_type == "QuantizeLinear" else dq.input[0]
        if w_name not in inits or dq.input[1] not in inits:
            continue
        w = numpy_helper.to_array(inits[w_name]).astype(np.float64)
        scale = numpy_helper.to_array(inits[dq.input[1]]).astype(np.float64).reshape(-1, *([1] * (w.ndim - 1)))
        codes = np.rint(w / scale) if q is not None else w  # a DQ straight from int8 codes: w holds them
        group = next((a.i for a in n.attribute if a.name == "group"), 1)
        name = w_name[:-len(".weight")] if w_name.endswith(".weight") else (n.name or w_name)
        out[name] = int(pair_sums(codes, group, pairing).max())
    return out
