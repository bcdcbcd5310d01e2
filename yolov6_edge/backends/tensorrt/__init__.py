"""TensorRT 10.x/11.x: build.py makes engines, runtime.py runs them, metadata.py and version.py check them.

Nothing here imports tensorrt or libcudart at import time; both load when an engine is built or opened.
"""
__all__ = ["TensorRTBackend", "build_engine"]


def __getattr__(name):
    if name == "TensorRTBackend":
        from .runtime import TensorRTBackend

        return TensorRTBackend
    if name == "build_engine":
        from .build import build_engine

        return build_engine
    raise AttributeError(name)
