"""The ensemble's network step on the Python backend: the ONNX file on the backend it opens on by default (ONNX
Runtime; OpenVINO for an INT8 file placed for it where installed: backends/base.choose_backend), with the
config, tensor names and batching of the `onnxruntime_onnx` step it stands in for. export-triton writes it
with `--model-backend python-network` only: it lets the ensemble's wiring run where Triton's own ONNX Runtime,
OpenVINO and TensorRT backends are absent (the nvidia-pytriton wheel has only the Python backend)."""
import numpy as np

from .. import protocol
from .requests import execute_each, input_array
from .settings import ModelSettings


class NetworkModel:
    def initialize(self, args):
        import triton_python_backend_utils as pb_utils

        from ...backends.base import open_backend
        from ...runtime.detector import check_outputs

        self.pb = pb_utils
        s = ModelSettings.from_args(args)
        self.backend = open_backend(s.folder / s.params["model_file"], threads=int(s.params.get("threads", 0)))
        self.check = check_outputs
        self.backend.stop_spinning()  # as in pipeline.py: no spinning pool threads in a server

    def execute(self, requests):
        def run(blobs):
            blob = np.concatenate(blobs)
            step = max(1, int(self.backend.max_batch))
            parts = [self.check(self.backend, self.backend(blob[i:i + step]), len(blob[i:i + step]))
                     for i in range(0, len(blob), step)]
            boxes = np.concatenate([p[0] for p in parts])
            scores = np.concatenate([p[1] for p in parts])
            out, start = [], 0
            for b in blobs:
                stop = start + len(b)
                out.append([self.pb.Tensor(protocol.NET_BOXES, np.ascontiguousarray(boxes[start:stop])),
                            self.pb.Tensor(protocol.NET_SCORES, np.ascontiguousarray(scores[start:stop]))])
                start = stop
            return out

        return execute_each(self.pb, requests, lambda r: input_array(self.pb, r, protocol.NET_INPUT), run)
