"""export-triton: a Triton model repository that serves one detector (docs/SERVING.md).

Flavours (--model-backend):
- "python" (default): one Python-backend model NAME whose model.py runs the Detector pipeline (native
  letterbox, the network on the backend the file opens on by default in the server's Python: OpenVINO for an
  INT8 file placed for it where installed, else ONNX Runtime, for .onnx; TensorRT for .engine; native NMS),
  with dynamic batching across requests.
- "onnxruntime", "openvino", "tensorrt": an ensemble NAME of NAME_pre (Python: decode + letterbox), NAME_net
  (the network on Triton's own backend: onnxruntime_onnx, openvino, tensorrt_plan) and NAME_post (Python: NMS
  + map back, per-request thresholds).
- "python-ensemble": the same ensemble with NAME_net on the Python backend (serve/models/network.py): what runs
  where Triton's own backends are absent (the nvidia-pytriton wheel), so the ensemble's wiring is tested with
  only the network step's backend differing from production.

Every Python model's model.py is one import of a class in yolov6_edge.serve.models: yolov6-edge must be
installed in the Python that Triton's Python backend runs. The repository needs nothing else from here.
"""
import re
import shutil
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from ..backends.base import FallbackWarning
from ..errors import fail
from ..onnx_contract import qdq_target
from ..runtime.settings import PREDICT
from . import configs, protocol

FLAVOURS = ("python", "onnxruntime", "openvino", "tensorrt", "python-ensemble")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
MODEL_PY = '''# Written by `yolov6-edge export-triton`. The model's code is {module}, from the yolov6-edge package
# installed in the Python that Triton's Python backend runs (docs/SERVING.md).
from {module} import {cls} as TritonPythonModel  # noqa: F401
'''
PIPELINE, PRE, POST, NETWORK = (("yolov6_edge.serve.models.pipeline", "PipelineModel"),
                                ("yolov6_edge.serve.models.pre", "PreprocessModel"),
                                ("yolov6_edge.serve.models.post", "PostprocessModel"),
                                ("yolov6_edge.serve.models.network", "NetworkModel"))


@dataclass
class Network:
    """The network file that goes into the repository and what it says about itself."""

    path: Path
    kind: str  # "onnx" or "engine"
    input_size: tuple
    names: list
    layout: str
    max_batch: int  # the most images one call takes
    fixed_batch: bool
    model_name: str
    extra: list = field(default_factory=list)  # files that travel with it (an engine's .json sidecar)


@dataclass
class ExportSettings:
    name: str = protocol.DEFAULT_MODEL
    flavour: str = "python"
    max_batch: int = 16
    instances: int = 1
    conf: float = PREDICT.conf
    iou: float = PREDICT.iou
    max_det: int = PREDICT.max_det
    threads: int = 0  # ONNX Runtime / OpenVINO intra-op threads per instance of the python flavour (0: default)
    queue_delay_us: int = 2000
    device: str = "auto"  # instance kind: cpu, gpu, auto (gpu for TensorRT, cpu otherwise)
    img_size: tuple | None = None  # for .pt/.param models
    center: bool = True


def check_settings(out, s: ExportSettings) -> None:
    from ..runtime.settings import check_count, check_threshold

    if not NAME.match(s.name):
        raise fail(out, f"model name {s.name!r} must be letters, digits, '_', '.' or '-' (at most 100)")
    if s.flavour not in FLAVOURS:
        raise fail(out, f"unknown --model-backend {s.flavour!r} (expected one of {', '.join(FLAVOURS)})")
    for what, value, low in (("max batch", s.max_batch, 1), ("instances", s.instances, 1),
                             ("threads", s.threads, 0), ("queue delay", s.queue_delay_us, 0)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise fail(out, f"{what} must be an integer >= {low}, got {value!r}")
    if s.device not in ("auto", "cpu", "gpu"):
        raise fail(out, f"device must be auto, cpu or gpu, got {s.device!r}")
    check_threshold(out, "conf", s.conf), check_threshold(out, "iou", s.iou), check_count(out, "max_det", s.max_det)


def model_folders(s: ExportSettings) -> list:
    if s.flavour == "python":
        return [s.name]
    return [s.name, f"{s.name}_pre", f"{s.name}_net", f"{s.name}_post"]


def check_repository(out, s: ExportSettings) -> None:
    """The repository may hold other models; the ones we write must not exist yet (nothing is overwritten)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise fail(out, "exists and is not a folder (a model repository is a folder)")
    for folder in model_folders(s):
        if (out / folder).exists():
            raise fail(out / folder, "already exists; choose another --name or another repository folder")


def read_network(path, s: ExportSettings, work: Path) -> Network:
    """The network of MODEL: an .onnx or .engine as given, a .pt/.param exported to ONNX (dynamic batch)."""
    path = Path(path)
    if not path.exists():
        raise fail(path, "no such file")
    suffix = path.suffix.lower()
    if suffix == ".engine":
        from ..backends.tensorrt import metadata

        meta = metadata.read(path)
        return Network(path, "engine", tuple(meta["input_size"]), list(meta["names"]), meta["layout"],
                       int(meta["max_batch"]), False, str(meta.get("model_name", path.stem)),
                       [metadata.sidecar_path(path)])
    if suffix in (".pt", ".pth", ".ckpt", ".param"):
        from ..export.onnx import export_onnx
        from ..models import default_input_size
        from ..weights import load_model

        model, _ = load_model(path)
        size = s.img_size or default_input_size(model.model_name)
        path = export_onnx(model, work / "model.onnx", img_size=size, batch="dynamic")
    elif suffix != ".onnx":
        raise fail(path, f"unknown model file type '{path.suffix}' (expected .onnx, .engine, .pt or .param)")
    from ..backends.onnxruntime.runtime import OnnxRuntimeBackend

    b = OnnxRuntimeBackend(path, threads=1)
    return Network(path, "onnx", tuple(b.input_size), list(b.names), b.layout, int(b.max_batch),
                   bool(b.fixed_batch), b.model_name)


def _say_placement(model, net: Network, s: ExportSettings) -> None:
    """One warning line when the chosen ensemble runs an OpenVINO-placed INT8 file on Triton's ONNX Runtime:
    right, but without INT8 speed (the python flavour picks the runtime itself, backends/base.choose_backend)."""
    if s.flavour == "onnxruntime" and net.kind == "onnx" and qdq_target(net.path) == "openvino":
        warnings.warn(f"{model}: its INT8 Q/DQ placement is for OpenVINO; Triton's ONNX Runtime backend serves it "
                      "correctly but without INT8 speed (--model-backend openvino serves it on OpenVINO)",
                      FallbackWarning, stacklevel=3)


def check_network(model, net: Network, s: ExportSettings) -> None:
    ensemble = s.flavour != "python"
    if s.flavour == "tensorrt" and net.kind != "engine":
        raise fail(model, "the tensorrt flavour serves a TensorRT engine, which must be built on the serving GPU "
                          "model: run `yolov6-edge build m.onnx -o m.engine --max-batch N` there, then "
                          "export-triton m.engine")
    if s.flavour in ("onnxruntime", "openvino", "python-ensemble") and net.kind != "onnx":
        raise fail(model, f"the {s.flavour} flavour serves an ONNX file, not a TensorRT engine")
    if ensemble and net.layout != "boxes_xyxy+scores":
        raise fail(model, "the ensemble flavours run NMS in their post-processing step and need the boxes+scores "
                          "ONNX (export without --end2end), not an end-to-end file")
    if ensemble and net.fixed_batch and net.max_batch != s.max_batch:
        raise fail(model, f"the file has a fixed batch of {net.max_batch}; Triton's dynamic batching needs a "
                          "dynamic-batch ONNX (yolov6-edge export --batch dynamic)")
    if net.kind == "engine" and s.max_batch > net.max_batch:
        raise fail(model, f"--max-batch {s.max_batch} exceeds the engine's largest batch {net.max_batch}; "
                          f"rebuild it with --max-batch {s.max_batch} or lower --max-batch")


def _write_model(stage: Path, folder: str, config: dict, files=(), code=None) -> None:
    version = stage / folder / "1"
    version.mkdir(parents=True)
    (stage / folder / "config.pbtxt").write_text(configs.to_pbtxt(config))
    for src, dst in files:
        shutil.copyfile(src, version / dst)
    if code:
        (version / "model.py").write_text(MODEL_PY.format(module=code[0], cls=code[1]))


def export_triton(model, out, settings: ExportSettings | None = None) -> dict:
    """Write the repository; returns a summary (models written, flavour, input size, classes)."""
    from ..atomic import staged_folder

    s = settings or ExportSettings()
    out = Path(out)
    check_settings(out, s)
    check_repository(out, s)
    with tempfile.TemporaryDirectory(prefix="yolov6-edge-export-triton-") as work:
        net = read_network(model, s, Path(work))
        check_network(model, net, s)
        _say_placement(model, net, s)
        kind = s.device if s.device != "auto" else ("gpu" if net.kind == "engine" else "cpu")
        common = {"names": _json(net.names), "input_size": _json(list(net.input_size)), "conf": s.conf,
                  "iou": s.iou, "max_det": s.max_det, "center": "true" if s.center else "false"}
        top = {protocol.FORMAT_KEY: protocol.FORMAT_VERSION, "flavour": s.flavour, "model_name": net.model_name,
               **common}
        inputs, outputs = configs.image_inputs(), configs.detection_outputs(s.max_det)
        files = [(net.path, "model" + net.path.suffix)] + [(p, "model" + net.path.suffix + ".json")
                                                            for p in net.extra]
        with staged_folder(out) as stage:
            if s.flavour == "python":
                # no runtime for an .onnx: the served file opens where the registry opens it in the server's
                # Python (an OpenVINO-placed INT8 file on OpenVINO where that Python has it)
                params = {**top, "model_file": "model" + net.path.suffix, "threads": s.threads,
                          **({"runtime": "tensorrt"} if net.kind == "engine" else {})}
                _write_model(stage, s.name, configs.python_model(s.name, s.max_batch, inputs, outputs, params,
                                                                 s.instances, kind, s.queue_delay_us),
                             files, PIPELINE)
            else:
                _write_ensemble(stage, s, net, common, top, files, kind)
    return {"models": model_folders(s), "flavour": s.flavour, "input_size": net.input_size,
            "classes": len(net.names), "model_name": net.model_name, "kind": kind}


def _write_ensemble(stage, s: ExportSettings, net: Network, common, top, files, kind) -> None:
    pre, network, post = (f"{s.name}_pre", f"{s.name}_net", f"{s.name}_post")
    h, w = net.input_size
    n_cls = len(net.names)
    # Pre and post are light (letterbox, NMS) and run on CPU; they batch what the clients send, and the
    # network step forms its own batches across requests.
    _write_model(stage, pre, configs.python_model(
        pre, s.max_batch, configs.image_inputs(),
        [configs.tensor(protocol.PRE_BLOB, "FP32", [3, h, w]), configs.tensor(protocol.PRE_LETTERBOX, "FP32", [3]),
         configs.tensor(protocol.IMAGE_SHAPE, "INT32", [2])], common, s.instances, "cpu", s.queue_delay_us),
        code=PRE)
    backend = "python" if s.flavour == "python-ensemble" else s.flavour
    net_params = {**common, "model_file": "model.onnx", "threads": s.threads} if backend == "python" else None
    net_file = configs.NETWORK_BACKENDS[backend][2]
    _write_model(stage, network, configs.network_model(network, backend, s.max_batch, (h, w), n_cls, s.instances,
                                                       kind, s.queue_delay_us, net_params),
                 [(files[0][0], net_file)], NETWORK if backend == "python" else None)
    _write_model(stage, post, configs.python_model(
        post, s.max_batch,
        [configs.tensor(protocol.NET_BOXES, "FP32", [-1, 4]), configs.tensor(protocol.NET_SCORES, "FP32", [-1, n_cls]),
         configs.tensor(protocol.PRE_LETTERBOX, "FP32", [3]), configs.tensor(protocol.IMAGE_SHAPE, "INT32", [2])],
        configs.detection_outputs(s.max_det), common, s.instances, "cpu", s.queue_delay_us), code=POST)
    steps = [
        (pre, {protocol.INPUT_ENCODED: protocol.INPUT_ENCODED, protocol.INPUT_RAW: protocol.INPUT_RAW},
         {protocol.PRE_BLOB: "_blob", protocol.PRE_LETTERBOX: "_letterbox", protocol.IMAGE_SHAPE: "_image_shape"}),
        (network, {protocol.NET_INPUT: "_blob"}, {protocol.NET_BOXES: "_boxes", protocol.NET_SCORES: "_scores"}),
        (post, {protocol.NET_BOXES: "_boxes", protocol.NET_SCORES: "_scores", protocol.PRE_LETTERBOX: "_letterbox",
                protocol.IMAGE_SHAPE: "_image_shape"},
         {name: name for name in protocol.OUTPUTS}),
    ]
    _write_model(stage, s.name, configs.ensemble_model(s.name, s.max_batch, s.max_det, steps, top))


def _json(value) -> str:
    import json

    return json.dumps(value, separators=(",", ":"))


def is_repository(path) -> bool:
    """A folder that holds at least one model (a subfolder with config.pbtxt)."""
    path = Path(path)
    return path.is_dir() and any((p / "config.pbtxt").is_file() for p in path.iterdir() if p.is_dir())
