"""Run an exported YOLOv6 ONNX file with ONNX Runtime behind the Backend interface (no torch)."""
from pathlib import Path

import numpy as np

from ... import onnx_contract as contract
from ...errors import fail
from ..base import Backend

INPUT_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16}


class OnnxRuntimeBackend(Backend):
    """An ONNX Runtime session for one of our ONNX files.

    providers: ORT execution providers in order of preference (default CPU only); threads: intra-op threads
    (0 lets ORT decide).
    """

    name = "onnxruntime"

    def __init__(self, path, providers=None, threads: int = 0):
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise fail(path, "no such file")
        if path.stat().st_size == 0:
            raise fail(path, "file is empty (zero bytes)")
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        if threads:
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
        self._options, self._providers = opts, providers or ["CPUExecutionProvider"]
        self.spinning = True  # ORT's default: pool threads spin between calls
        try:
            self.session = ort.InferenceSession(str(path), opts, providers=self._providers)
        except Exception as e:  # noqa: BLE001 - ORT raises its own exception types for every malformed file
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise fail(path, f"not a readable ONNX model ({first[:200]})") from None
        self.path = path
        self.threads = threads
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.layout = contract.output_layout(path, self.output_names)
        inputs = self.session.get_inputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4:
            raise fail(path, f"not a YOLOv6 detector ONNX: expected one [B,3,H,W] input, found "
                             f"{[(i.name, i.shape) for i in inputs]}")
        self.input_name = inputs[0].name
        self.outputs = contract.outputs_for(self.layout)
        self.metadata = contract.decode_metadata(self.session.get_modelmeta().custom_metadata_map)
        shape = inputs[0].shape
        self.input_size = contract.input_size(path, self.metadata, shape)
        self.fixed_batch, self.max_batch = contract.fixed_batch(path, shape, self.input_size)
        if inputs[0].type not in INPUT_TYPES:
            raise fail(path, f"input '{self.input_name}' is {inputs[0].type}; expected float32 or float16 images")
        self.dtype = INPUT_TYPES[inputs[0].type]
        n = self.session.get_outputs()[self.output_names.index("scores")].shape[-1] \
            if "scores" in self.output_names else None
        self.names = contract.class_names(self.metadata, n, path)
        self.model_name = str(self.metadata.get("model_name", path.stem))
        self.precision = str(self.metadata.get("precision", "fp32"))
        self.providers = self.session.get_providers()

    def stop_spinning(self) -> None:
        """Let ORT's pool threads sleep between calls instead of spinning (the session is rebuilt once).

        Detector.stream() calls it: there decoding and letterbox run beside inference, and threads that spin
        while waiting for the next call take the cores they need (measured: benchmarks/stream_throughput.py).
        One intra-op thread has no pool, so nothing changes then.
        """
        import onnxruntime as ort

        if not self.spinning or self.threads == 1:
            return
        self._options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(self.path), self._options, providers=self._providers)
        self.spinning = False

    def __call__(self, blob: np.ndarray):
        if blob.ndim != 4 or blob.shape[1] != 3 or tuple(blob.shape[2:]) != self.input_size:
            raise fail(self.path, f"input blob shape {tuple(blob.shape)} does not match [B,3,{self.input_size[0]},"
                                  f"{self.input_size[1]}]")
        if self.fixed_batch and blob.shape[0] != self.max_batch:
            raise fail(self.path, f"the model takes exactly {self.max_batch} images a call (fixed batch), "
                                  f"got {blob.shape[0]}")
        try:
            out = self.session.run(self.outputs, {self.input_name: np.ascontiguousarray(blob, self.dtype)})
        except Exception as e:  # noqa: BLE001 - ORT's own exception types; the model file is what failed
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise fail(self.path, f"ONNX Runtime failed to run the model: {first[:300]}") from None
        return tuple(out)

    def __repr__(self):
        return (f"OnnxRuntimeBackend({self.path}, model={self.model_name}, input={self.input_size}, "
                f"layout={self.layout}, providers={self.providers})")
