"""Inference backends: one folder each, one registration each (below), one interface (base.Backend).

A backend folder holds what runs a model (runtime.py) and, where the runtime needs one, what builds its file
(tensorrt/build.py). Registering it here makes it what Detector, bench, `info --system` and the CLI's
--backend offer; nothing else has to change. Nothing is imported until a backend is opened: the factories are
named, not imported.
"""
from ..onnx_contract import qdq_target
from .base import Backend, BackendSpec, register

__all__ = ["Backend", "BackendSpec", "register"]


def _placed_for_openvino(path) -> bool:
    """An INT8 file whose Q/DQ placement follows OpenVINO's fusion (`calibrate --target openvino`, or `--target
    cpu` where it chose OpenVINO): ONNX Runtime runs it right, but without INT8 kernels for much of it. Read
    from the metadata alone (onnx_contract.read_file_props: no onnx, no weights read)."""
    return path.suffix.lower() == ".onnx" and qdq_target(path) == "openvino"


def _tensorrt_check():
    from .tensorrt.version import availability

    return availability()


# The order is the default for a suffix: the first registered backend that runs a file opens it, unless a later
# one `prefers` that file and can run here (base.choose_backend; where it cannot, the file opens on the first
# with one FallbackWarning line).
register(BackendSpec(
    "onnxruntime", (".onnx",), "yolov6_edge.backends.onnxruntime.runtime:OnnxRuntimeBackend",
    options=("providers", "threads"), requires=("onnxruntime",), install="pip install onnxruntime",
    description="ONNX Runtime (CPU by default; other execution providers with providers=)"))
register(BackendSpec(
    "openvino", (".onnx",), "yolov6_edge.backends.openvino.runtime:OpenVINOBackend",
    options=("threads", "inference_precision"), requires=("openvino",),
    install="pip install 'yolov6-edge[openvino]'", prefers=_placed_for_openvino,
    prefers_why="its INT8 Q/DQ placement is for OpenVINO", fallback_cost="without INT8 speed",
    description="OpenVINO CPU plugin: fuses Q/DQ into INT8 kernels"))
register(BackendSpec(
    "tensorrt", (".engine",), "yolov6_edge.backends.tensorrt.runtime:TensorRTBackend",
    options=("cuda_graph",), requires=("tensorrt",), install="pip install 'yolov6-edge[trt]'",
    check=_tensorrt_check, description="TensorRT 10.x/11.x engines built by `yolov6-edge build`"))
register(BackendSpec(
    "torch", (".pt", ".pth", ".ckpt", ".param"), "yolov6_edge.backends.torch.runtime:TorchBackend",
    options=("img_size",), requires=("torch",), install="pip install 'yolov6-edge[torch]'",
    description="PyTorch: checkpoints and NCNN files evaluated without export"))
