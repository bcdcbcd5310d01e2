"""The code behind the Triton Python-backend models that export-triton writes (each model.py imports one class
from here): pipeline (the `python` flavour: letterbox, network, NMS in one model), pre and post (the ensemble's
first and last steps) and network (the ensemble's network step on the Python backend, for testing the ensemble
where Triton's own ONNX Runtime / OpenVINO / TensorRT backends are absent).

These modules import triton_python_backend_utils only inside the methods Triton calls: it exists only in
Triton's Python-backend stub process.
"""
