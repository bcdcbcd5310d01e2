"""The `python` flavour: one Python-backend model runs the whole Detector (letterbox, the network on ONNX
Runtime, OpenVINO or TensorRT, NMS) on every request Triton's dynamic batcher hands it at once."""
import numpy as np

from ...runtime.detector import Inferred
from .requests import detections_outputs, execute_each, read_images, thresholds
from .settings import ModelSettings


def run_batched(detector, images: list) -> Inferred:
    """preprocess + infer for any number of images, in chunks the backend accepts; one Inferred for all."""
    step = max(1, int(detector.backend.max_batch))
    parts = [detector.infer(detector.preprocess(images[i:i + step])) for i in range(0, len(images), step)]
    outputs = tuple(np.concatenate([p.outputs[j] for p in parts]) for j in range(len(parts[0].outputs)))
    return Inferred(outputs, np.concatenate([p.params for p in parts]), [s for p in parts for s in p.shapes])


def split(inferred: Inferred, start: int, stop: int) -> Inferred:
    return Inferred(tuple(o[start:stop] for o in inferred.outputs), inferred.params[start:stop],
                    inferred.shapes[start:stop])


class PipelineModel:
    def initialize(self, args):
        import triton_python_backend_utils as pb_utils

        self.pb = pb_utils
        self.settings = s = ModelSettings.from_args(args)
        backend = s.params.get("runtime") or None
        self.detector = s.detector(s.params["model_file"], backend=backend, threads=int(s.params.get("threads", 0)))
        # ORT's pool threads spin between calls by default; in a server they would take the cores that Triton's
        # request threads and the other instances need (as Detector.stream does, runtime/stream.py)
        self.detector.backend.stop_spinning()

    def execute(self, requests):
        k = self.settings.max_det

        def read(request):
            return read_images(self.pb, request), thresholds(request, k)

        def run(items):
            inferred = run_batched(self.detector, [img for images, _ in items for img in images])
            results, start = [], 0
            for images, limits in items:
                stop = start + len(images)
                try:
                    dets = self.detector.postprocess(split(inferred, start, stop), **limits)
                    results.append(detections_outputs(self.pb, dets, k))
                except Exception as e:  # noqa: BLE001 - this request's error
                    results.append(e)
                start = stop
            return results

        return execute_each(self.pb, requests, read, run)
