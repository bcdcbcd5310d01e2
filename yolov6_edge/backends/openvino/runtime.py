"""Run one of our ONNX files with OpenVINO's CPU plugin behind the Backend interface (no torch, no onnx).

OpenVINO reads a QDQ ONNX and fuses each QuantizeLinear/DequantizeLinear pair into its INT8 kernels the
way an INT8 engine does, so it is both an optional fast CPU backend and our stand-in for a fusing runtime
in tests. Write the file with `calibrate --target openvino` (or `cpu`): OpenVINO 2026.4 mis-computes a
signed-INT8 Concat that feeds an INT8 conv (docs/QUANTIZATION.md, "Runtimes that fuse Q/DQ").
"""
from pathlib import Path

import numpy as np

from ... import onnx_contract as contract
from ...errors import fail
from ..base import Backend
from .signal_stack import keep_signal_stack

INFERENCE_PRECISIONS = ("f32", "bf16", "f16")


def _import_openvino(path):
    try:
        import openvino
    except ImportError:
        raise fail(path, "the OpenVINO backend needs the openvino package: pip install 'yolov6-edge[openvino]'") \
            from None
    return openvino


def _framework_metadata(model) -> dict:
    """The ONNX metadata_props, which OpenVINO's ONNX reader keeps in rt_info['framework']."""
    try:
        if not model.has_rt_info(["framework"]):
            return {}
        keys = list(model.get_rt_info()["framework"].keys())
        return {str(k): model.get_rt_info(["framework", str(k)]).astype(str) for k in keys}
    except Exception:  # noqa: BLE001 - older releases keep it elsewhere or not at all: the defaults then apply
        return {}


def _static(dim):
    return dim.get_length() if dim.is_static else None


class OpenVINOBackend(Backend):
    """An OpenVINO compiled model for one of our ONNX files.

    threads: inference threads (0 lets OpenVINO decide); inference_precision: "f32" (default), "bf16" or "f16"
    for the float parts of the graph; the INT8 parts of a QDQ file run INT8 whatever this says.
    f32 by default although OpenVINO's CPU plugin itself defaults to bf16 on CPUs with AVX512_BF16 or AMX: a
    file should compute what it computes on ONNX Runtime (and what its AP was measured with) unless the user
    asks for less precision.
    """

    name = "openvino"

    def __init__(self, path, threads: int = 0, inference_precision="f32", device: str = "CPU"):
        ov = _import_openvino(path)
        path = Path(path)
        if not path.is_file():
            raise fail(path, "no such file")
        if path.stat().st_size == 0:
            raise fail(path, "file is empty (zero bytes)")
        inference_precision = inference_precision or "f32"
        if inference_precision not in INFERENCE_PRECISIONS:
            raise fail(path, f"unknown OpenVINO inference precision {inference_precision!r} "
                             f"(expected one of {', '.join(INFERENCE_PRECISIONS)})")
        core = ov.Core()
        if inference_precision in ("bf16", "f16"):
            caps = core.get_property(device, "OPTIMIZATION_CAPABILITIES")
            if {"bf16": "BF16", "f16": "FP16"}[inference_precision] not in caps:
                raise fail(path, f"OpenVINO {device} cannot run {inference_precision} on this machine "
                                 f"(its capabilities: {', '.join(caps)})")
        try:
            model = core.read_model(str(path))
        except Exception as e:  # noqa: BLE001 - OpenVINO raises RuntimeError with a multi-line report for malformed files
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise fail(path, f"not a model OpenVINO can read ({first[:200]})") from None
        self.path = path
        self.output_names = [o.get_any_name() for o in model.outputs]
        self.layout = contract.output_layout(path, self.output_names)
        if len(model.inputs) != 1 or model.inputs[0].get_partial_shape().rank.get_length() != 4:
            raise fail(path, "not a YOLOv6 detector ONNX: expected one [B,3,H,W] input")
        self.metadata = contract.decode_metadata(_framework_metadata(model))
        shape = [_static(d) for d in model.inputs[0].get_partial_shape()]
        self.input_size = contract.input_size(path, self.metadata, shape)
        self.fixed_batch, self.max_batch = contract.fixed_batch(path, shape, self.input_size)
        scores = [o for o in model.outputs if o.get_any_name() == "scores"]
        self.names = contract.class_names(self.metadata, _static(scores[0].get_partial_shape()[-1])
                                          if scores else None, path)
        self.outputs = contract.outputs_for(self.layout)
        self.dtype = np.float32
        self.model_name = str(self.metadata.get("model_name", path.stem))
        self.precision = str(self.metadata.get("precision", "fp32"))
        config = {"PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1}
        if threads:
            config["INFERENCE_NUM_THREADS"] = int(threads)
        if inference_precision:
            config["INFERENCE_PRECISION_HINT"] = inference_precision
        try:
            with keep_signal_stack():  # the plugin's own signal stack outlives models dropped out of order
                self.compiled = core.compile_model(model, device, config)
        except Exception as e:  # noqa: BLE001 - the plugin's own types; the message names the file and device
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise fail(path, f"OpenVINO could not compile it for {device} ({first[:200]})") from None
        self.request = self.compiled.create_infer_request()
        self.threads = threads
        hint = self.compiled.get_property("INFERENCE_PRECISION_HINT")
        self.inference_precision = hint.to_string() if hasattr(hint, "to_string") else str(hint)
        self.providers = [f"OpenVINO {ov.get_version().split('-')[0]} {device}"]
        self._ports = [self.compiled.output(n) for n in self.outputs]

    def __call__(self, blob: np.ndarray):
        if blob.ndim != 4 or blob.shape[1] != 3 or tuple(blob.shape[2:]) != self.input_size:
            raise fail(self.path, f"input blob shape {tuple(blob.shape)} does not match [B,3,{self.input_size[0]},"
                                  f"{self.input_size[1]}]")
        res = self.request.infer({0: np.ascontiguousarray(blob, np.float32)})
        # copies: the request reuses its output buffers on the next call
        return tuple(np.array(res[p]) for p in self._ports)

    def __repr__(self):
        return (f"OpenVINOBackend({self.path}, model={self.model_name}, input={self.input_size}, "
                f"layout={self.layout}, inference_precision={self.inference_precision})")
