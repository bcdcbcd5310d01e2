"""The config.pbtxt of each model in a repository (Triton's ModelConfig in protobuf text format).

One function per kind of model; every flavour is assembled from them in repository.py, so the ensemble that
runs in the tests and the one deployed with Triton's ONNX Runtime / OpenVINO / TensorRT backend come from the
same code and differ only in the network step's `backend`/`platform` and its model file.
"""
import json

from . import protocol

# network step: --model-backend -> (config key, value, model file name in the version folder)
NETWORK_BACKENDS = {
    "onnxruntime": ("platform", "onnxruntime_onnx", "model.onnx"),
    "openvino": ("backend", "openvino", "model.onnx"),
    "tensorrt": ("platform", "tensorrt_plan", "model.plan"),
    "python": ("backend", "python", "model.onnx"),  # the stand-in: serve/models/network.py
}


class Enum(str):
    """A protobuf enum value (written bare, not quoted)."""


def to_pbtxt(config: dict, indent: int = 0) -> str:
    """A dict of fields -> protobuf text: dicts are messages, lists of dicts repeated messages, Enum bare."""
    pad, lines = "  " * indent, []
    for key, value in config.items():
        if isinstance(value, dict):
            lines.append(f"{pad}{key} {{\n{to_pbtxt(value, indent + 1)}{pad}}}")
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            items = ",\n".join(f"{pad}  {{\n{to_pbtxt(v, indent + 2)}{pad}  }}" for v in value)
            lines.append(f"{pad}{key} [\n{items}\n{pad}]")
        elif isinstance(value, list):
            lines.append(f"{pad}{key}: [ {', '.join(_scalar(v) for v in value)} ]")
        else:
            lines.append(f"{pad}{key}: {_scalar(value)}")
    return "".join(line + "\n" for line in lines)


def _scalar(v) -> str:
    if isinstance(v, Enum):
        return str(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    return json.dumps(str(v), ensure_ascii=False)  # quoted; \" \\ \n escapes read the same in protobuf text


def tensor(name, dtype, dims, optional=False, ragged=False) -> dict:
    t = {"name": name, "data_type": Enum(f"TYPE_{dtype}"), "dims": list(dims)}
    if optional:
        t["optional"] = True
    if ragged:
        t["allow_ragged_batch"] = True
    return t


def parameters(values: dict) -> list:
    return [{"key": k, "value": {"string_value": str(v)}} for k, v in values.items()]


def image_inputs() -> list:
    return [tensor(protocol.INPUT_ENCODED, "STRING", [1], optional=True),
            # ragged: Triton's batcher only joins requests whose inputs have one shape unless told otherwise, and
            # cameras of different resolutions (or COCO's images) then ran one request per execution; our
            # Python models read each request's tensor on its own, so any mix of frame sizes can share a batch
            tensor(protocol.INPUT_RAW, "UINT8", [-1, -1, 3], optional=True, ragged=True)]


def detection_outputs(k: int) -> list:
    return [tensor(protocol.NUM_DETS, "INT32", [1]), tensor(protocol.DET_BOXES, "FP32", [k, 4]),
            tensor(protocol.DET_SCORES, "FP32", [k]), tensor(protocol.DET_CLASSES, "INT32", [k]),
            tensor(protocol.IMAGE_SHAPE, "INT32", [2])]


def batching(max_batch: int, queue_delay_us: int) -> dict:
    # Requests wait at most queue_delay_us for others to fill a batch; a full batch goes at once.
    return {"max_queue_delay_microseconds": int(queue_delay_us)}


def instances(count: int, kind: str) -> list:
    return [{"count": int(count), "kind": Enum(f"KIND_{kind.upper()}")}]


def python_model(name, max_batch, inputs, outputs, params, count, kind="cpu", queue_delay_us=None) -> dict:
    config = {"name": name, "backend": "python", "max_batch_size": int(max_batch), "input": inputs,
              "output": outputs}
    if queue_delay_us is not None:
        config["dynamic_batching"] = batching(max_batch, queue_delay_us)
    config["instance_group"] = instances(count, kind)
    config["parameters"] = parameters(params)
    return config


def network_model(name, network_backend, max_batch, input_size, num_classes, count, kind, queue_delay_us,
                  params) -> dict:
    key, value, filename = NETWORK_BACKENDS[network_backend]
    h, w = input_size
    config = {"name": name, key: value, "max_batch_size": int(max_batch)}
    if network_backend != "python":
        config["default_model_filename"] = filename
    config["input"] = [tensor(protocol.NET_INPUT, "FP32", [3, h, w])]
    config["output"] = [tensor(protocol.NET_BOXES, "FP32", [-1, 4]),
                        tensor(protocol.NET_SCORES, "FP32", [-1, num_classes])]
    config["dynamic_batching"] = batching(max_batch, queue_delay_us)
    config["instance_group"] = instances(count, kind)
    if params:
        config["parameters"] = parameters(params)
    return config


def ensemble_model(name, max_batch, k, steps, params) -> dict:
    """steps: (model name, {step input: ensemble tensor}, {step output: ensemble tensor}) in order."""
    return {"name": name, "platform": "ensemble", "max_batch_size": int(max_batch), "input": image_inputs(),
            "output": detection_outputs(k),
            "ensemble_scheduling": {"step": [
                {"model_name": m, "model_version": -1,
                 "input_map": [{"key": a, "value": b} for a, b in ins.items()],
                 "output_map": [{"key": a, "value": b} for a, b in outs.items()]}
                for m, ins, outs in steps]},
            "parameters": parameters(params)}
