"""Build a TensorRT 10.x/11.x engine from a yolov6-edge ONNX: always a strongly typed network.

Precision comes from the ONNX, never from builder flags (TensorRT 11 removed BuilderFlag.FP16/INT8 and the
implicit INT8 calibrators; 10.x forbids them on strongly typed networks):
- fp32: the ONNX as exported;
- fp16: the ONNX converted by export/fp16.py (fp16 inside, float32 I/O);
- int8: an ONNX with QuantizeLinear/DequantizeLinear pairs (`yolov6-edge calibrate` makes it), so TensorRT
  runs INT8 exactly where the scales say (explicit quantization).
The batch is dynamic through one optimization profile on `images`; H and W are fixed by the ONNX.
"""
import json
import sys
import tempfile
from pathlib import Path

import onnx

from ... import __version__
from ...atomic import atomic_path, atomic_write_bytes
from ...errors import fail
from ...onnx_contract import E2E_OUTPUTS, LAYOUT_E2E, LAYOUT_RAW, QDQ_TARGET_KEY, RAW_OUTPUTS, read_props
from . import metadata
from .version import import_tensorrt

PRECISIONS = ("fp32", "fp16", "int8")
METADATA_PRECISION = {"fp32": "fp32", "fp16": "fp16", "int8": "int8-qdq"}  # the ONNX contract's names
QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")
MAX_PARSER_ERRORS_SHOWN = 5


def read_onnx_contract(path) -> dict:
    """Check the ONNX contract (docs/ARCHITECTURE.md) and return what the engine metadata needs."""
    path = Path(path)
    if not path.is_file():
        raise fail(path, "file not found")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # noqa: BLE001 - onnx raises DecodeError, ValueError... for foreign or truncated files
        raise fail(path, f"not a readable ONNX file ({e.__class__.__name__})") from None
    g = model.graph
    inputs = {i.name: i for i in g.input}
    if "images" not in inputs:
        raise fail(path, f"has no input named 'images' (inputs: {', '.join(inputs) or 'none'})")
    dims = inputs["images"].type.tensor_type.shape.dim
    if len(dims) != 4 or any(not d.dim_value for d in dims[1:]) or dims[1].dim_value != 3:
        raise fail(path, "input 'images' must be [batch, 3, H, W] with H and W fixed")
    outputs = [o.name for o in g.output]
    if set(RAW_OUTPUTS) <= set(outputs):
        layout = LAYOUT_RAW
    elif set(E2E_OUTPUTS) <= set(outputs):
        layout = LAYOUT_E2E
    else:
        raise fail(path, f"outputs {outputs} are neither boxes/scores nor the end-to-end outputs")
    meta = read_props(model)
    has_qdq = any(n.op_type in QDQ_OPS for n in g.node)
    return {
        "input_size": [dims[2].dim_value, dims[3].dim_value],
        "layout": layout,  # from the outputs themselves: they are what the runtime binds
        "names": json.loads(meta["names"]) if "names" in meta else [],
        "strides": json.loads(meta["strides"]) if "strides" in meta else [],
        "model_name": meta.get("model_name", path.stem),
        "onnx_precision": "int8-qdq" if has_qdq else meta.get("precision", "fp32"),
        "has_qdq": has_qdq,
        "qdq_target": meta.get(QDQ_TARGET_KEY),
    }


def _check_precision(path, precision, info):
    if precision not in PRECISIONS:
        raise fail(path, f"unknown precision {precision!r} (choose one of {', '.join(PRECISIONS)})")
    if precision == "int8" and not info["has_qdq"]:
        raise fail(path, "--int8 needs a QDQ ONNX (QuantizeLinear/DequantizeLinear nodes); make one with "
                         "`yolov6-edge calibrate`")
    if precision == "int8" and info.get("qdq_target") not in (None, "tensorrt"):
        raise fail(path, f"its Q/DQ placement is for {info['qdq_target']} (uint8 activations, which TensorRT's "
                         "ONNX parser refuses); write a TensorRT one from the same calibration cache with "
                         "`yolov6-edge calibrate ... --target tensorrt`")
    if precision != "int8" and info["has_qdq"]:
        raise fail(path, "has QuantizeLinear/DequantizeLinear nodes: it is an INT8 model, build it with --int8")
    if precision == "fp32" and info["onnx_precision"] == "fp16":
        raise fail(path, "is a float16 ONNX; build it with --fp16")


def _check_batch(path, batch):
    lo, opt, hi = batch
    if not (1 <= lo <= opt <= hi):
        raise fail(path, f"batch sizes must satisfy 1 <= min <= opt <= max, got {lo}/{opt}/{hi}")


def _parser_errors(parser) -> list:
    errors = []
    for i in range(parser.num_errors):
        e = parser.get_error(i)
        where = f"node {e.node()} ({e.node_operator()} {e.node_name()})".replace(" )", ")") if e.node() >= 0 else ""
        errors.append(f"{where}: {e.desc()}" if where else e.desc())
    return errors


def _read_timing_cache(path):
    if path is None or not Path(path).is_file():
        return b""
    return Path(path).read_bytes()


def build_engine(onnx_path, engine_path, precision="fp32", batch=(1, 1, 32), workspace_mib=4096,
                 timing_cache=None, verbose=False, cuda=None) -> dict:
    """Build `engine_path` (+ its .json sidecar) from `onnx_path`; returns the metadata written.

    A failed build leaves neither file behind. `cuda` (a cuda.Cuda) is for tests; by default libcudart is
    loaded to read the GPU's name and compute capability.
    """
    onnx_path, engine_path = Path(onnx_path), Path(engine_path)
    info = read_onnx_contract(onnx_path)
    _check_precision(onnx_path, precision, info)
    _check_batch(onnx_path, batch)
    trt, _ = import_tensorrt()
    from .cuda import Cuda, gpu_info

    gpu_name, cc = gpu_info(cuda if cuda is not None else Cuda(), onnx_path)

    with tempfile.TemporaryDirectory(prefix="yolov6_edge_build_") as tmpdir:
        src = onnx_path
        if precision == "fp16" and info["onnx_precision"] != "fp16":
            from ...export.fp16 import convert_file

            src = Path(tmpdir) / f"{onnx_path.stem}_fp16.onnx"
            convert_file(onnx_path, src)
        plan, serialized_cache = _build_plan(trt, src, onnx_path, info, batch, workspace_mib,
                                             _read_timing_cache(timing_cache), verbose)

    meta = {
        "tensorrt_version": trt.__version__,
        "gpu_name": gpu_name,
        "compute_capability": cc,
        "precision": METADATA_PRECISION[precision],
        "input_size": info["input_size"],
        "input_name": "images",
        "layout": info["layout"],
        "names": info["names"],
        "strides": info["strides"],
        "model_name": info["model_name"],
        "min_batch": batch[0], "opt_batch": batch[1], "max_batch": batch[2],
        "yolov6_edge_version": __version__,
        "onnx_sha256": metadata.sha256_file(onnx_path),
        "onnx_path": str(onnx_path),
        "build_command": metadata.build_command(onnx_path, engine_path, METADATA_PRECISION[precision], batch,
                                                workspace_mib, timing_cache),
    }
    with atomic_path(engine_path) as tmp:
        tmp.write_bytes(plan)
        metadata.write(engine_path, meta, engine_file=tmp)
    if timing_cache is not None and serialized_cache is not None:
        atomic_write_bytes(timing_cache, serialized_cache)
    return metadata.read(engine_path)


def _build_plan(trt, src, onnx_path, info, batch, workspace_mib, cache_bytes, verbose):
    """Parse and build in memory; returns (plan bytes, timing cache bytes or None)."""
    logger = trt.Logger(trt.Logger.INFO if verbose else trt.Logger.WARNING)
    builder = trt.Builder(logger)
    # The flag's value differs between 10.x (1) and 11.x (0): always go through the enum.
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
    parser = trt.OnnxParser(network, logger)
    # parse_from_file (not parse(bytes)) so ONNX files with external weight data resolve them.
    if not parser.parse_from_file(str(src)):
        errors = _parser_errors(parser) or ["no error reported"]
        for e in errors:
            print(f"TensorRT ONNX parser: {e}", file=sys.stderr)
        shown = "; ".join(errors[:MAX_PARSER_ERRORS_SHOWN])
        more = f" (+{len(errors) - MAX_PARSER_ERRORS_SHOWN} more)" if len(errors) > MAX_PARSER_ERRORS_SHOWN else ""
        raise fail(onnx_path, f"TensorRT's ONNX parser failed: {shown}{more}")

    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_mib) << 20)
    h, w = info["input_size"]
    profile = builder.create_optimization_profile()
    profile.set_shape("images", (batch[0], 3, h, w), (batch[1], 3, h, w), (batch[2], 3, h, w))
    config.add_optimization_profile(profile)

    cache = config.create_timing_cache(cache_bytes)
    if not config.set_timing_cache(cache, False):
        raise fail(onnx_path, "TensorRT refused the timing cache (made by another TensorRT version or GPU?); "
                              "delete it or pass another --timing-cache")

    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise fail(onnx_path, "TensorRT could not build an engine (its log above says why)")
    serialized = config.get_timing_cache()
    return bytes(memoryview(plan)), (bytes(memoryview(serialized.serialize())) if serialized is not None else None)
