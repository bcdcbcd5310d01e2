"""The ensemble's last step: NMS and the map back to original pixels (Detector.postprocess) with each request's
own thresholds, into the padded outputs of the protocol."""
from ...runtime.detector import Inferred
from .. import protocol
from .requests import detections_outputs, execute_each, input_array, thresholds
from .settings import ModelSettings


class PostprocessModel:
    def initialize(self, args):
        import triton_python_backend_utils as pb_utils

        self.pb = pb_utils
        self.settings = ModelSettings.from_args(args)
        self.detector = self.settings.detector()

    def execute(self, requests):
        k = self.settings.max_det

        def read(request):
            boxes, scores, params, shapes = (input_array(self.pb, request, n) for n in (
                protocol.NET_BOXES, protocol.NET_SCORES, protocol.PRE_LETTERBOX, protocol.IMAGE_SHAPE))
            inferred = Inferred((boxes, scores), params, [tuple(int(v) for v in s) for s in shapes])
            return inferred, thresholds(request, k)

        def run(items):
            return [detections_outputs(self.pb, self.detector.postprocess(inferred, **limits), k)
                    for inferred, limits in items]

        return execute_each(self.pb, requests, read, run)
