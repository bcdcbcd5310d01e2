"""`yolov6-edge info FILE`: what a model file holds (model, classes, input size, layout, precision)."""
import json
from pathlib import Path

from ..errors import fail


def register(subparsers, name):
    p = subparsers.add_parser(name, help="describe an .onnx / .pt / .param / .engine file",
                              description=__doc__.splitlines()[0])
    p.add_argument("file", type=Path)
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    return p


def onnx_info(path) -> dict:
    import onnx

    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # protobuf raises DecodeError and friends for anything that is not an ONNX
        raise fail(path, f"not a readable ONNX model ({type(e).__name__})") from None
    if not proto.graph.node and not proto.graph.output:  # protobuf parses many non-ONNX bytes as an empty model
        raise fail(path, "not an ONNX model (no graph)")
    meta = {}
    for p in proto.metadata_props:
        try:
            meta[p.key] = json.loads(p.value)
        except json.JSONDecodeError:
            meta[p.key] = p.value

    def dims(vi):
        return [d.dim_param or d.dim_value for d in vi.type.tensor_type.shape.dim]

    names = meta.get("names", [])
    return {
        "file": str(path), "type": "onnx", "ours": "yolov6_edge.format_version" in meta,
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
        "input_size": f"any multiple of {max(model.strides)} (chosen at export)", "layout": "boxes_xyxy+scores (PyTorch)", "precision": "fp32",
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
    if not path.is_file():
        raise fail(path, "no such file")
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
    info = describe(args.file)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    for key, value in info.items():
        if key == "names":
            value = ", ".join(value[:8]) + (f", ... ({len(value)})" if len(value) > 8 else "")
        print(f"{key:>18}: {value}")
    return 0
