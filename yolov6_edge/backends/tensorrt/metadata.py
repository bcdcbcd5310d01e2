"""The JSON sidecar beside every engine we build: `s.engine` -> `s.engine.json`.

Why a sidecar and not a header prepended to the plan: the engine file stays a plain TensorRT plan that
trtexec, Triton, our C++ Detector and any other TensorRT program load unchanged. The sidecar records the
engine's sha256, so a sidecar that belongs to another engine is caught instead of trusted.

An engine runs only on the TensorRT version that built it and on GPUs of the same compute capability (we
never build hardware- or version-compatible plans: they are slower). Loading checks both and, on a mismatch,
prints the exact command that rebuilds the engine here.
"""
import hashlib
import json
import shlex
from pathlib import Path

from ...atomic import atomic_write_text
from ...errors import fail

FORMAT = "yolov6-edge-engine"
FORMAT_VERSION = 1
REQUIRED = ("tensorrt_version", "compute_capability", "gpu_name", "precision", "input_size", "names",
            "layout", "max_batch", "engine_sha256", "build_command")


def sidecar_path(engine_path) -> Path:
    return Path(str(engine_path) + ".json")


def sha256_file(path, chunk=1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def build_command(onnx_path, engine_path, precision, batch, workspace_mib, timing_cache=None) -> str:
    """The command line that rebuilds this engine (recorded, and shown when an engine no longer loads)."""
    args = ["yolov6-edge", "build", str(onnx_path), "-o", str(engine_path)]
    if precision == "fp16":
        args.append("--fp16")
    elif precision == "int8-qdq":
        args.append("--int8")
    args += ["--min-batch", str(batch[0]), "--opt-batch", str(batch[1]), "--max-batch", str(batch[2]),
             "--workspace", str(workspace_mib)]
    if timing_cache:
        args += ["--timing-cache", str(timing_cache)]
    return shlex.join(args)


def write(engine_path, meta: dict, engine_file=None) -> None:
    """Write the sidecar of `engine_path`; its sha256 is taken from `engine_file` (default: the engine), so
    the sidecar can be written while the engine is still a temporary file."""
    digest = sha256_file(engine_file or engine_path)
    meta = dict(meta, format=FORMAT, format_version=FORMAT_VERSION, engine_sha256=digest)
    atomic_write_text(sidecar_path(engine_path), json.dumps(meta, indent=2, sort_keys=True) + "\n")


def read(engine_path) -> dict:
    """Read and validate the sidecar of `engine_path`."""
    side = sidecar_path(engine_path)
    if not side.is_file():
        raise fail(engine_path, f"no metadata file {side.name} beside it; engines must be built with "
                                "`yolov6-edge build MODEL.onnx -o ENGINE`")
    try:
        meta = json.loads(side.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise fail(side, f"not valid JSON ({e.__class__.__name__})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise fail(side, f"not a yolov6-edge engine metadata file (format != {FORMAT!r})")
    if meta.get("format_version") != FORMAT_VERSION:
        raise fail(side, f"metadata format_version {meta.get('format_version')!r} is not supported "
                         f"(this yolov6-edge reads {FORMAT_VERSION})")
    missing = [k for k in REQUIRED if k not in meta]
    if missing:
        raise fail(side, f"metadata lacks {', '.join(missing)}")
    return meta


def check_compatible(engine_path, meta: dict, trt_version: str, compute_capability: str,
                     check_hash: bool = True) -> None:
    """Refuse an engine built by another TensorRT or for another GPU, saying which and how to rebuild."""
    rebuild = f"rebuild it here with: {meta['build_command']}"
    if meta["tensorrt_version"] != trt_version:
        raise fail(engine_path, f"built with TensorRT {meta['tensorrt_version']} but TensorRT {trt_version} is "
                                f"installed; engines are tied to the exact version; {rebuild}")
    if meta["compute_capability"] != compute_capability:
        raise fail(engine_path, f"built for compute capability {meta['compute_capability']} "
                                f"({meta['gpu_name']}) but this GPU is {compute_capability}; {rebuild}")
    if check_hash and sha256_file(engine_path) != meta["engine_sha256"]:
        raise fail(engine_path, f"does not match its metadata {sidecar_path(engine_path).name} (sha256 differs: "
                                f"the engine or the sidecar was replaced); {rebuild}")
