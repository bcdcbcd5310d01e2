"""The ensemble's first step: decode and letterbox each request's images (Detector.preprocess, the native
letterbox) into the network's input blob, with each image's letterbox parameters and size for the last step."""
import numpy as np

from .. import protocol
from .requests import execute_each, read_images
from .settings import ModelSettings


class PreprocessModel:
    def initialize(self, args):
        import triton_python_backend_utils as pb_utils

        self.pb = pb_utils
        self.detector = ModelSettings.from_args(args).detector()

    def execute(self, requests):
        def run(batches):
            out = []
            for images in batches:
                prepared = self.detector.preprocess(images)
                shapes = np.array([img.shape[:2] for img in images], np.int32)
                out.append([self.pb.Tensor(protocol.PRE_BLOB, np.ascontiguousarray(prepared.blob, np.float32)),
                            self.pb.Tensor(protocol.PRE_LETTERBOX, np.asarray(prepared.params, np.float32)),
                            self.pb.Tensor(protocol.IMAGE_SHAPE, shapes)])
            return out

        return execute_each(self.pb, requests, lambda r: read_images(self.pb, r), run)
