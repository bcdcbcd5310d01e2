"""`yolov6-edge info FILE`: what a model file holds (model, classes, input size, layout, precision).
`yolov6-edge info --system`: what this install can run here (CUDA kernels built, GPU, TensorRT, ORT, OpenVINO)."""
import json
from pathlib import Path

from ..errors import Yolov6EdgeError, fail
from ..onnx_contract import FORMAT_KEY, decode_metadata, read_props


def register(subparsers, name):
    p = subparsers.add_parser(name, help="describe an .onnx / .pt / .param / .engine file, or this install (--system)",
                              description=__doc__)
    p.add_argument("file", type=Path, nargs="?")
    p.add_argument("--system", action="store_true",
                   help="report this install instead: CUDA kernels built, GPU and driver, TensorRT, ORT, OpenVINO")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    return p


def _onnx_info_from_onnxruntime(path) -> dict:
    # The runtime-only install has no `onnx` package; ONNX Runtime reads the same metadata and I/O (not the opset).
    import onnxruntime as ort

    try:
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as e:  # noqa: BLE001 - ORT raises its own exception types for every malformed file
        raise fail(path, f"not a readable ONNX model ({type(e).__name__})") from None
    meta = decode_metadata(sess.get_modelmeta().custom_metadata_map)
    names = meta.get("names", [])
    return {
        "file": str(path), "type": "onnx", "ours": FORMAT_KEY in meta,
        "model_name": meta.get("model_name"), "num_classes": len(names), "names": names,
        "input_size": meta.get("input_size"), "layout": meta.get("layout"), "precision": meta.get("precision"),
        "opset": None,
        "inputs": {i.name: list(i.shape) for i in sess.get_inputs()},
        "outputs": {o.name: list(o.shape) for o in sess.get_outputs()},
        "metadata": {k: v for k, v in meta.items() if k != "names"},
    }


def onnx_info(path) -> dict:
    try:
        import onnx
    except ImportError:
        return _onnx_info_from_onnxruntime(path)

    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # noqa: BLE001 - protobuf raises DecodeError and friends for anything that is not an ONNX
        raise fail(path, f"not a readable ONNX model ({type(e).__name__})") from None
    if not proto.graph.node and not proto.graph.output:  # protobuf parses many non-ONNX bytes as an empty model
        raise fail(path, "not an ONNX model (no graph)")
    meta = decode_metadata(read_props(proto))

    def dims(vi):
        return [d.dim_param or d.dim_value for d in vi.type.tensor_type.shape.dim]

    names = meta.get("names", [])
    return {
        "file": str(path), "type": "onnx", "ours": FORMAT_KEY in meta,
        "model_name": meta.get("model_name"), "num_classes": len(names), "names": names,
        "input_size": meta.get("input_size"), "layout": meta.get("layout"), "precision": meta.get("precision"),
        "opset": max((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), default=None),
        "inputs": {i.name: dims(i) for i in proto.graph.input},
        "outputs": {o.name: dims(o) for o in proto.graph.output},
        "metadata": {k: v for k, v in meta.items() if k != "names"},
    }


def model_info(path) -> dict:
    from ..weights import load_model

    model, info = load_model(path)
    out = {
        "file": str(path), "type": path.suffix.lstrip("."), "model_name": model.model_name,
        "num_classes": len(model.names), "names": list(model.names), "strides": list(model.strides),
        "input_size": f"any multiple of {max(model.strides)} (chosen at export)",
        "layout": "boxes_xyxy+scores (PyTorch)", "precision": "fp32",
        "fused": bool(getattr(model, "is_fused", info.get("fused"))),
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    if str(info.get("format", "")).startswith("yolov6-official"):
        # An official checkpoint: what it was recognised as, and what of it the model leaves out.
        out["official"] = f"{info['format']} ({info.get('source')} weights, epoch {info.get('epoch')})"
        out["variant"] = info.get("variant", info["model_name"])
        out["dropped"] = ", ".join(info.get("dropped") or []) or "nothing"
    return out


def engine_info(path) -> dict:
    from ..backends.tensorrt.metadata import read

    meta = read(path)
    return {
        "file": str(path), "type": "engine", "model_name": meta.get("model_name"),
        "num_classes": len(meta["names"]), "names": meta["names"], "input_size": meta["input_size"],
        "layout": meta["layout"], "precision": meta["precision"], "max_batch": meta["max_batch"],
        "tensorrt_version": meta["tensorrt_version"], "compute_capability": meta["compute_capability"],
        "gpu_name": meta["gpu_name"],
    }


def describe(path) -> dict:
    path = Path(path)
    if path.is_dir():
        raise fail(path, "is a folder, not a model file")
    from ..files import regular_file

    regular_file(path, "model file")
    if path.stat().st_size == 0:
        raise fail(path, "file is empty (zero bytes)")
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        return onnx_info(path)
    if suffix == ".engine":
        return engine_info(path)
    if suffix in (".pt", ".pth", ".ckpt", ".param"):
        return model_info(path)
    raise fail(path, f"unknown model file type '{path.suffix}' (expected .onnx, .engine, .pt or .param)")


def run(args) -> int:
    if args.system == (args.file is not None):
        raise Yolov6EdgeError("give a model FILE or --system (one of them)")
    if args.system:
        from ..system_info import system_report

        info = system_report()
    else:
        info = describe(args.file)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    for key, value in info.items():
        if key == "names" or (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            value = ", ".join(value[:8]) + (f", ... ({len(value)})" if len(value) > 8 else "")
        print(f"{key:>18}: {value}")
    return 0
