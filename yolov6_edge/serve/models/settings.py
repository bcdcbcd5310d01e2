"""What a served model reads from its configuration (the string parameters export-triton writes) and the
Detector it builds from them: the same class, thresholds and letterbox as a local Detector, so a served
model's detections are the local ones."""
import json
from dataclasses import dataclass
from pathlib import Path

from .. import protocol


@dataclass
class ModelSettings:
    folder: Path  # the model's version folder (where its files are)
    names: list
    input_size: tuple
    conf: float
    iou: float
    max_det: int  # K: the padded size of the outputs and the largest max_det a request may ask for
    center: bool
    max_batch: int
    params: dict

    @classmethod
    def from_args(cls, args: dict) -> "ModelSettings":
        """From the `args` Triton hands to initialize()."""
        config = json.loads(args["model_config"])
        params = protocol.config_parameters(config)
        folder = Path(args["model_repository"]) / str(args["model_version"])
        return cls(folder=folder, names=list(protocol.decode_json(params, "names", [])),
                   input_size=tuple(protocol.decode_json(params, "input_size")),
                   conf=float(params.get("conf", 0.25)), iou=float(params.get("iou", 0.45)),
                   max_det=int(params.get("max_det", 300)), center=params.get("center", "true") == "true",
                   max_batch=max(1, int(config.get("max_batch_size", 1))), params=params)

    def detector(self, model=None, **kwargs):
        """A Detector on `model` (a file in the version folder), or on a network that runs in another step."""
        from ...runtime.detector import Detector

        network = self.folder / model if model else ServedNetwork(self.names, self.input_size, self.max_batch)
        return Detector(network, conf=self.conf, iou=self.iou, max_det=self.max_det, center=self.center, **kwargs)


class ServedNetwork:
    """The network of an ensemble as the pre- and post-processing steps see it: its input size, class names and
    output layout, for Detector.preprocess() and Detector.postprocess(); it never runs here."""

    layout = "boxes_xyxy+scores"

    def __init__(self, names, input_size, max_batch):
        self.names, self.input_size, self.max_batch = list(names), tuple(input_size), max_batch
        self.path = "ensemble network step"

    def __call__(self, blob):
        raise RuntimeError("the network runs in the ensemble's network step, not in pre/post-processing")
