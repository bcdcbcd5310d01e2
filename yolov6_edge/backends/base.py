"""What every inference backend offers (`Backend`, a typing.Protocol) and the registry that opens one.

A backend is one folder under backends/ plus one `register(BackendSpec(...))` (the built-in ones are listed in
backends/__init__.py). Detector, bench, `info --system` and the CLI's --backend choices all ask the registry,
and read only the members declared below: the optional capabilities are declared too, with their defaults, so
no caller has to probe a backend with hasattr.

The registry is standard library only (no numpy, no runtime): the CLI reads it to build its --help.
"""
from __future__ import annotations

import importlib
import importlib.util
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Protocol, Sequence, Union, runtime_checkable

from ..errors import fail

LAYOUTS = ("boxes_xyxy+scores", "end2end")


@runtime_checkable
class Backend(Protocol):
    """One opened model behind one call: `outputs = backend(blob)`.

    Required:
      name         the runtime ("onnxruntime", "openvino", "tensorrt", "torch", ...)
      path         the model file (for an in-memory model: a Path naming its type); `label` is how messages
                   name the backend
      input_size   (H, W) the blob must have
      names        class names, one per score column
      max_batch    the most images one call takes (callers chunk by it)
      layout       "boxes_xyxy+scores" (outputs boxes [B, N, 4] xyxy input pixels, scores [B, N, C]) or
                   "end2end" (num_dets [B, 1], det_boxes [B, K, 4], det_scores [B, K], det_classes [B, K])
      dtype        the numpy dtype of the input blob (float32, or float16 for a float16 graph input)
      metadata     what the file says about itself (ONNX metadata_props decoded, the engine's sidecar), or {}
      __call__(blob [B, 3, H, W] RGB /255 of `dtype`) -> the layout's outputs, as numpy arrays

    Optional capabilities, declared with the defaults a backend that lacks them has:
      fixed_batch            the model takes exactly max_batch images a call (Detector pads with zero images)
      letterboxes_on_device  infer_images(images, center) letterboxes uint8 BGR images on the device and runs
                             the model; returns (outputs, params [B, 3]); Detector hands it images, not blobs
      stop_spinning()        let idle inference threads sleep (ONNX Runtime); Detector.stream() calls it
      close()                release device memory now
      precision              "fp32", "fp16", "int8-qdq" (the file's), or None where unknown
      threads                inference threads asked for (0: the runtime decides), None where not applicable
      inference_precision    OpenVINO's precision for the float parts ("f32", "bf16", "f16"), else None
      providers              the execution providers / devices in use (for reports)
      cuda_graph             TensorRT replays captured CUDA graphs
    """

    name: str
    path: Optional[Path]
    input_size: tuple
    names: list
    max_batch: int
    layout: str
    dtype: Any
    metadata: dict

    fixed_batch: bool = False
    letterboxes_on_device: bool = False
    precision: Optional[str] = None
    threads: Optional[int] = None
    inference_precision: Optional[str] = None
    providers: Sequence[str] = ()
    cuda_graph: bool = False

    def __call__(self, blob): ...

    @property
    def label(self) -> str:
        return str(self.path) if self.path is not None else type(self).__name__

    def infer_images(self, images, center: bool = True):
        # two statements: a Protocol method whose body is one `raise NotImplementedError` counts as abstract for
        # type checkers, and every backend without the capability would then be an abstract class
        message = f"{type(self).__name__} does not letterbox on its device"
        raise NotImplementedError(message)

    def stop_spinning(self) -> None:
        return None

    def close(self) -> None:
        return None


# What an object needs to be taken as a backend without subclassing Backend (the interface documented before
# the Protocol existed; tests and users pass such stand-ins). The rest is filled in by AdaptedBackend.
MINIMUM = ("input_size", "names", "max_batch", "layout")
OPTIONAL = ("fixed_batch", "precision", "threads", "inference_precision", "providers", "cuda_graph")


def is_backend(obj) -> bool:
    """Declared a Backend (a subclass): everything the Protocol lists is there."""
    return Backend in type(obj).__mro__


def looks_like_backend(obj) -> bool:
    """A Backend, or an object with the minimum interface (a layout and a call) that as_backend can adapt."""
    return is_backend(obj) or (callable(obj) and all(hasattr(obj, a) for a in MINIMUM))


class AdaptedBackend(Backend):
    """A duck-typed backend (MINIMUM + __call__, maybe some optional members) seen as a declared Backend.

    The optional members it has are kept, the rest take the Protocol's defaults, once, here; any other
    attribute is the wrapped object's (a stand-in's call log, say).
    """

    def __init__(self, obj):
        missing = [a for a in MINIMUM if not hasattr(obj, a)]
        if missing or not callable(obj):
            raise fail(type(obj).__name__, f"not a Backend: it lacks {', '.join(missing) or '__call__'}")
        import numpy as np  # here, not at the top: the registry stays importable without numpy

        self.wrapped = obj
        self.name = getattr(obj, "name", type(obj).__name__)
        path = getattr(obj, "path", None)
        self.path = Path(path) if isinstance(path, (str, Path)) else None
        self.dtype = getattr(obj, "dtype", np.float32)
        self.metadata = dict(getattr(obj, "metadata", None) or {})
        for attr in OPTIONAL:
            setattr(self, attr, getattr(obj, attr, getattr(Backend, attr)))
        # an infer_images without the flag: what TensorRT-like stand-ins wrote before the flag existed
        self.letterboxes_on_device = bool(getattr(obj, "letterboxes_on_device", callable(getattr(obj, "infer_images",
                                                                                                None))))

    @property
    def label(self) -> str:
        return str(self.path) if self.path is not None else type(self.wrapped).__name__

    def __getattr__(self, attr):  # only reached for what is not set above: the required members, the rest
        if attr == "wrapped":
            raise AttributeError(attr)
        return getattr(self.wrapped, attr)

    def __call__(self, blob):
        return self.wrapped(blob)

    def infer_images(self, images, center: bool = True):
        return self.wrapped.infer_images(images, center=center)

    def stop_spinning(self) -> None:
        fn = getattr(self.wrapped, "stop_spinning", None)
        if callable(fn):
            fn()

    def close(self) -> None:
        fn = getattr(self.wrapped, "close", None)
        if callable(fn):
            fn()

    def __repr__(self):
        return repr(self.wrapped)


def as_backend(obj) -> Backend:
    """`obj` itself if it is a declared Backend, else adapted (AdaptedBackend)."""
    # the required members it does not set are the wrapped object's (__getattr__), which mypy cannot see
    return obj if is_backend(obj) else AdaptedBackend(obj)  # type: ignore[abstract]


def type_name(backend) -> str:
    """The class that implements `backend` (the wrapped one for an adapted stand-in), for reports."""
    return type(backend.wrapped if isinstance(backend, AdaptedBackend) else backend).__name__


# ---- the registry ----------------------------------------------------------------------------------------------
# Options every caller may pass: a backend gets those its spec lists and the others are dropped (threads mean
# nothing to TensorRT, an input size nothing to a file with a fixed one). Any other option must be one the
# chosen backend takes.
HINTS = ("img_size", "providers", "threads", "cuda_graph")


@dataclass(frozen=True)
class BackendSpec:
    """How to open one kind of backend.

    name: what --backend and Detector(backend=) say; suffixes: the model files it runs (lower case, with the
    dot); factory: callable(path, **options) -> Backend, or "package.module:attr" imported on first use (keeps
    a runtime's import cost out of everything that does not open it); options: the keyword options the
    factory takes; requires: modules that must be importable for it to run here (checked without importing
    them); install: what to install when they are missing; check: a further test of this machine, called
    only when availability is asked (None: usable, else why not); prefers: callable(path) -> bool, files this
    backend should open by default although another is registered first for their suffix (read cheaply: it is
    asked on every open); prefers_why: what such a file is, and fallback_cost: what it loses on the first
    backend of its suffix, for the one warning line given when this backend cannot run here.
    """

    name: str
    suffixes: tuple
    factory: Union[str, Callable[..., Any]]
    options: tuple = ()
    requires: tuple = ()
    install: str = ""
    check: Optional[Callable[[], Optional[str]]] = None
    prefers: Optional[Callable[[Path], bool]] = None
    prefers_why: str = ""
    fallback_cost: str = ""
    description: str = ""

    def load(self) -> Callable[..., Any]:
        if callable(self.factory):
            return self.factory
        module, _, attr = self.factory.partition(":")
        return getattr(importlib.import_module(module), attr)

    def availability(self) -> Optional[str]:
        """None when this backend can run here, else one line saying why not."""
        for module in self.requires:
            try:
                found = importlib.util.find_spec(module) is not None
            except (ImportError, ValueError):
                found = False
            if not found:
                return f"{module} is not installed" + (f" ({self.install})" if self.install else "")
        return self.check() if self.check is not None else None


_REGISTRY: dict = {}


def register(spec: BackendSpec, replace: bool = False) -> BackendSpec:
    """Add a backend; later registrations come after earlier ones in the default order for a suffix."""
    if spec.name in _REGISTRY and not replace:
        raise ValueError(f"a backend named {spec.name!r} is registered already")
    if not all(s.startswith(".") and s == s.lower() for s in spec.suffixes):
        raise ValueError(f"suffixes must be lower case with the dot, got {spec.suffixes}")
    _REGISTRY[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    _REGISTRY.pop(name, None)


def specs() -> list:
    """Every registered backend, in registration order."""
    return list(_REGISTRY.values())


def names() -> tuple:
    return tuple(_REGISTRY)


def get(name: str, where="backend") -> BackendSpec:
    if name not in _REGISTRY:
        raise fail(where, f"unknown backend {name!r} (expected one of {', '.join(_REGISTRY)})")
    return _REGISTRY[name]


def model_suffixes() -> tuple:
    """Every model file suffix some backend runs, in registration order."""
    return tuple(dict.fromkeys(s for spec in _REGISTRY.values() for s in spec.suffixes))


def backends_for(suffix: str) -> tuple:
    """Names of the backends that run files with `suffix` (".onnx"), in registration order."""
    suffix = suffix.lower()
    return tuple(spec.name for spec in _REGISTRY.values() if suffix in spec.suffixes)


class FallbackWarning(UserWarning):
    """A file opens on another backend than the one it was made for, which cannot run here: right, but slower
    (an OpenVINO-placed INT8 file on ONNX Runtime). `warnings.filterwarnings("ignore", category=...)` hides it."""


def choose_backend(path) -> tuple:
    """(name, note): the backend a file opens on when none is named, and None, or one line saying that the
    backend the file prefers cannot run here and what opening it on `name` instead costs.

    The first backend registered for the suffix that prefers this file (its `prefers`) and can run here; else
    the first registered for the suffix. A function of the file, so a backend claims files by what they hold
    (an INT8 file placed for OpenVINO) in its registration, not in every caller.
    """
    path = Path(path)
    candidates = [get(n) for n in backends_for(path.suffix)]
    if not candidates:
        raise fail(path, f"unknown model file type '{path.suffix}' (expected one of {', '.join(model_suffixes())})")
    fallback = candidates[0]
    note = None
    for spec in candidates:
        if spec is fallback or spec.prefers is None or not spec.prefers(path):
            continue
        why = spec.availability()
        if why is None:
            return spec.name, None
        note = note or (f"{path}: {spec.prefers_why or f'made for {spec.name}'}, but {why}; opening it on "
                        f"{fallback.name}: correct, but {spec.fallback_cost or f'not as it runs on {spec.name}'}")
    return fallback.name, note


def default_backend(path) -> str:
    """The backend a file opens on when none is named (choose_backend), without the note."""
    return choose_backend(path)[0]


def availability() -> dict:
    """{backend name: None where it runs here, else why not}."""
    return {spec.name: spec.availability() for spec in _REGISTRY.values()}


def open_backend(model, backend: Optional[str] = None, img_size=None, providers=None, threads: int = 0,
                 cuda_graph: bool = False, **options) -> Backend:
    """A Backend for a model file (on `backend`, default: default_backend(file)), a YOLOv6 nn.Module (on
    "torch"), or an object that already is one (as_backend).

    img_size/providers/threads/cuda_graph go to the backends that take them (HINTS); options (e.g. OpenVINO's
    inference_precision) must be ones the chosen backend takes.
    """
    if looks_like_backend(model):
        return as_backend(model)
    if not isinstance(model, (str, Path)):
        if hasattr(model, "strides") and hasattr(model, "names"):  # an nn.Module following the model contract
            return as_backend(get("torch").load()(model, img_size=img_size))
        raise fail(type(model).__name__, "expected a model path, a YOLOv6 nn.Module or a Backend")
    path = Path(model)
    suffix = path.suffix.lower()
    if suffix not in model_suffixes():
        raise fail(path, f"unknown model file type '{path.suffix}' (expected one of {', '.join(model_suffixes())})")
    allowed = backends_for(suffix)
    if backend is not None and backend not in allowed:
        if backend not in _REGISTRY:
            raise fail(path, f"unknown backend {backend!r} (expected one of {', '.join(_REGISTRY)})")
        raise fail(path, f"a {suffix} file runs on {' or '.join(allowed)}, not {backend}")
    if not path.exists():
        raise fail(path, "no such file")
    from ..files import regular_file

    regular_file(path, "model file")  # a fifo would block the runtime's read, /dev/zero exhaust memory
    if backend is None:
        backend, note = choose_backend(path)
        if note:
            # once per open (the caller opens a file once, then runs it per frame); stacklevel: the opener
            warnings.warn(note, FallbackWarning, stacklevel=2)
    spec = get(backend)
    bad = sorted(k for k in options if k not in spec.options)
    if bad:
        takers = [s.name for s in _REGISTRY.values() if all(k in s.options for k in bad)]
        raise fail(path, f"options {bad} apply to the {' or '.join(takers) or 'no'} backend only")
    hints = {"img_size": img_size, "providers": providers, "threads": threads, "cuda_graph": cuda_graph}
    kwargs = {k: v for k, v in hints.items() if k in spec.options and v}
    return as_backend(spec.load()(path, **kwargs, **options))
