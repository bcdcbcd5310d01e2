"""Prove the GPU path in one short run and record it in one JSON (run through scripts/gpu_check.sh).

    scripts/gpu_check.sh [--dry-run] [--out FILE] [--budget SECONDS] [--only STEP,STEP] [--shared DIR]

Steps, each run only where what it needs is here (otherwise recorded as skipped, with the reason):
  system            yolov6-edge info --system: GPU, driver, cuda_built, TensorRT / ORT / OpenVINO versions
  native-build      rebuild the Python module with its CUDA kernels, only if the installed one lacks them
  ctest-cuda        the C++ CUDA-vs-CPU test (tests/cpp/test_cuda_ops) built for this GPU
  pytest-cuda       tests/test_ops_cuda.py: letterbox, NMS and decode on the GPU against the CPU ops
  bench-letterbox   32 frames 1080p -> 640x640 in one kernel vs a device-to-device copy of the same bytes
  bench-nms         8400 boxes x 80 classes at conf 0.001 and 0.25: CUDA vs our CPU op vs torch on this GPU
  trt-*             where TensorRT imports: Lite-S (../shared) to ONNX, FP16 and INT8 (QDQ) engines, their AP
                    on ../shared/coco/val and their latency
--dry-run lists what would run and why anything would be skipped, runs nothing. Exit status: 0 all run steps
passed, 1 a step failed, 3 no usable GPU (nothing proven; the JSON says so).
"""
import argparse
import datetime
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = "yolov6_edge.gpu_check/1"
TAIL = 3000  # characters of each step's output kept in the JSON


@dataclass
class Probe:
    """What this machine has; decides which steps run."""
    gpu: bool = False
    cuda_built: bool = False
    native: bool = False
    nvcc: str = ""
    cmake: str = ""
    tensorrt: str = ""
    torch: bool = False
    shared: Path = None
    system: dict = field(default_factory=dict)


@dataclass
class Step:
    name: str
    needs: tuple          # names of Probe facts that must hold
    command: list = None  # a subprocess, or
    func: object = None   # a function of (probe, workdir) -> dict of figures
    timeout: int = 120
    what: str = ""


def find_nvcc():
    for cand in [shutil.which("nvcc")] + [os.path.join(os.environ.get(v, ""), "bin", "nvcc")
                                          for v in ("CUDA_HOME", "CUDA_PATH") if os.environ.get(v)] + \
                ["/usr/local/cuda/bin/nvcc", "/opt/cuda/bin/nvcc"]:
        if cand and os.path.exists(cand):
            return cand
    return ""


def probe(shared_dir) -> Probe:
    sys.path.insert(0, str(ROOT))
    from yolov6_edge.system_info import system_report

    info = system_report()
    p = Probe(system=info)
    p.gpu = bool(info.get("gpus")) and bool(info.get("cuda_available") or not info.get("cuda_built"))
    p.native, p.cuda_built = bool(info.get("native_module")), bool(info.get("cuda_built"))
    p.nvcc, p.cmake = find_nvcc(), shutil.which("cmake") or ""
    p.tensorrt = info.get("tensorrt") or ""
    p.torch = info.get("torch") is not None
    shared = Path(shared_dir)
    p.shared = shared if (shared / "coco/val/instances.json").exists() and \
        (shared / "weights/yolov6lite/yolov6-lite-s.param").exists() else None
    return p


REASONS = {
    "gpu": "no usable NVIDIA GPU here",
    "cuda_built": "the installed yolov6_edge._C has no CUDA kernels (and native-build could not make them)",
    "needs_build": "the installed module already has its CUDA kernels",
    "nvcc": "nvcc not found (PATH, CUDA_HOME, CUDA_PATH, /usr/local/cuda/bin)",
    "cmake": "cmake not found",
    "tensorrt": "tensorrt is not importable (pip install 'yolov6-edge[trt]', or JetPack's python3-libnvinfer)",
    "torch": "torch is not installed (export and calibration need '[torch]')",
    "shared": "../shared (COCO val images and the Lite-S weights) not found",
}


def _fact(p: Probe, need):
    if need == "needs_build":
        return not p.cuda_built
    return bool(getattr(p, need))


def plan(steps, p: Probe, only=None):
    """[(step, reason or None)]: None means it will run."""
    out = []
    for s in steps:
        if only and s.name not in only and not any(s.name.startswith(o.rstrip("*")) and o.endswith("*") for o in only):
            out.append((s, "not selected (--only)"))
            continue
        missing = [n for n in s.needs if not _fact(p, n)]
        out.append((s, "; ".join(REASONS[n] for n in missing) if missing else None))
    return out


def run_command(cmd, timeout, cwd=ROOT, env=None) -> dict:
    t = time.perf_counter()
    try:
        r = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
        status = "passed" if r.returncode == 0 else "failed"
        out, rc = r.stdout + r.stderr, r.returncode
    except subprocess.TimeoutExpired as e:
        status, rc = "failed", None
        out = ((e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")) + \
            f"\ntimed out after {timeout} s"
    return {"status": status, "returncode": rc, "seconds": round(time.perf_counter() - t, 2),
            "output_tail": out[-TAIL:]}


def parse_junit(path) -> dict:
    """pytest --junitxml counts: tests, failures, errors, skipped, and the skip reasons."""
    root = ET.parse(path).getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    counts = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
    counts["skip_reasons"] = sorted({s.get("message", "") for s in suite.iter("skipped")})
    return counts


# ---- the GPU measurements (run in this process) ----------------------------------------------------------

def _median_seconds(fn, sync, repeat, warmup=3):
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t)
    times.sort()
    return times[len(times) // 2]


def bench_letterbox(p, workdir, repeat=20):
    import numpy as np

    from yolov6_edge import ops
    from yolov6_edge.cuda_memory import DeviceArray, Driver

    drv = Driver()
    rng = np.random.default_rng(0)
    frames = [DeviceArray.from_host(drv, rng.integers(0, 256, (1080, 1920, 3), dtype=np.uint8)) for _ in range(32)]
    out = DeviceArray(drv, (32, 3, 640, 640), np.float32)
    t = _median_seconds(lambda: ops.letterbox_cuda(frames, out, center=True), drv.synchronize, repeat)
    bytes_moved = sum(f.nbytes for f in frames) + out.nbytes
    # The same number of bytes read and written by the copy engine's best case: one device-to-device copy.
    src, dst = DeviceArray(drv, (bytes_moved // 2,), np.uint8), DeviceArray(drv, (bytes_moved // 2,), np.uint8)
    tc = _median_seconds(lambda: drv.copy_d2d(dst.ptr, src.ptr, src.nbytes), drv.synchronize, repeat)
    # parity on the measured batch: the CUDA blob against the CPU op on the same frames
    host = [f.to_host() for f in frames[:4]]
    cpu, _ = ops.letterbox(host, (640, 640))
    max_diff = float(np.abs(out.to_host()[:4] - cpu).max())
    return {"batch": 32, "input": "1080x1920x3 uint8", "output": "640x640 float32 NCHW", "ms": round(t * 1e3, 3),
            "GBps": round(bytes_moved / t / 1e9, 1), "d2d_copy_GBps": round(2 * src.nbytes / tc / 1e9, 1),
            "fraction_of_copy_bandwidth": round((bytes_moved / t) / (2 * src.nbytes / tc), 3),
            "max_abs_diff_vs_cpu": max_diff}


def bench_nms(p, workdir, repeat=20):
    import numpy as np

    from yolov6_edge import ops
    from yolov6_edge.cuda_memory import DeviceArray, Driver

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_nms import make_inputs, torch_greedy

    drv = Driver()
    boxes, scores = make_inputs(0)
    db, ds = DeviceArray.from_host(drv, boxes), DeviceArray.from_host(drv, scores)
    out, counts = DeviceArray(drv, (1, 300, 6), np.float32), DeviceArray(drv, (1,), np.int32)
    torch = None
    try:
        import torch as _torch

        torch = _torch if _torch.cuda.is_available() else None
    except ImportError:
        pass
    rows = {}
    for conf in (0.001, 0.25):
        t_cuda = _median_seconds(lambda: ops.batched_nms_cuda(db, ds, out, counts, conf_thres=conf, iou_thres=0.65,
                                                              multi_label=True), drv.synchronize, repeat)
        n_cuda = int(counts.to_host()[0])
        cpu = ops.batched_nms(boxes, scores, conf_thres=conf, iou_thres=0.65, multi_label=True)[0]
        t_cpu = _median_seconds(lambda: ops.batched_nms(boxes, scores, conf_thres=conf, iou_thres=0.65,
                                                        multi_label=True), lambda: None, max(repeat // 4, 3), 1)
        row = {"ms_cuda": round(t_cuda * 1e3, 3), "ms_cpu_ours": round(t_cpu * 1e3, 3), "kept_cuda": n_cuda,
               "kept_cpu": len(cpu)}
        if torch is not None:
            tb, ts = torch.from_numpy(boxes[0]).cuda(), torch.from_numpy(scores[0]).cuda()
            t_torch = _median_seconds(lambda: torch_greedy(torch, tb, ts, conf, 0.65, True), torch.cuda.synchronize,
                                      max(repeat // 4, 3), 1)
            row.update(ms_torch_cuda_greedy=round(t_torch * 1e3, 3), speedup_vs_torch=round(t_torch / t_cuda, 2))
        else:
            row["torch_cuda"] = "not available (torch without CUDA): no torch baseline on this GPU"
        rows[f"conf_{conf}"] = row
    return {"boxes": 8400, "classes": 80, "iou": 0.65, "multi_label": True, **rows}


# ---- the steps ----------------------------------------------------------------------------------------------

def steps_for(py, shared, work, cuda_archs="native"):
    cli = [py, "-m", "yolov6_edge.cli.main"]
    param = shared / "weights/yolov6lite/yolov6-lite-s.param" if shared else Path("SHARED/weights/yolov6-lite-s.param")
    val = shared / "coco/val" if shared else Path("SHARED/coco/val")
    calib = shared / "coco/calib/images" if shared else Path("SHARED/coco/calib/images")
    build = work / "cmake-build"
    eval_args = ["--images", val / "images", "--ann", val / "instances.json"]
    return [
        Step("native-build", ("needs_build", "nvcc"), [py, "-m", "pip", "install", "--no-deps", "--no-build-isolation",
                                                       "-e", ROOT], 300, "rebuild _C with CUDA"),
        Step("ctest-cuda", ("gpu", "nvcc", "cmake"),
             ["sh", "-c", f"cmake -S '{ROOT}' -B '{build}' -DYOLOV6_EDGE_CUDA=ON -DCMAKE_BUILD_TYPE=Release "
                          f"'-DCMAKE_CUDA_ARCHITECTURES={cuda_archs}' -DYOLOV6_EDGE_BUILD_EXAMPLES=OFF >/dev/null && "
                          f"cmake --build '{build}' --target test_cuda_ops -j && "
                          f"ctest --test-dir '{build}' -R test_cuda_ops --output-on-failure"], 240,
             "C++ CUDA ops vs CPU"),
        Step("pytest-cuda", ("gpu", "cuda_built"),
             [py, "-m", "pytest", ROOT / "tests/test_ops_cuda.py", "-q", "-rs", "-p", "no:cacheprovider",
              f"--junitxml={work / 'pytest_cuda.xml'}"], 120, "Python CUDA ops vs CPU ops and references"),
        Step("bench-letterbox", ("gpu", "cuda_built"), func=bench_letterbox, timeout=60,
             what="letterbox 32x1080p vs device copy bandwidth"),
        Step("bench-nms", ("gpu", "cuda_built"), func=bench_nms, timeout=90, what="NMS 8400x80 vs CPU and torch"),
        Step("trt-export", ("gpu", "tensorrt", "torch", "shared"),
             [*cli, "export", param, "-o", work / "lite_s.onnx", "--img", "320", "320"], 90, "Lite-S -> ONNX"),
        Step("trt-build-fp16", ("gpu", "tensorrt", "torch", "shared"),
             [*cli, "build", work / "lite_s.onnx", "-o", work / "lite_s_fp16.engine", "--fp16", "--max-batch", "8"],
             240, "FP16 engine"),
        Step("trt-calibrate", ("gpu", "tensorrt", "torch", "shared"),
             [*cli, "calibrate", param, "--images", calib, "--num", "160", "--method", "mse", "--target", "tensorrt",
              "-o", work / "lite_s_int8.onnx"], 180, "INT8 QDQ ONNX (mse, 160 calibration images)"),
        Step("trt-build-int8", ("gpu", "tensorrt", "torch", "shared"),
             [*cli, "build", work / "lite_s_int8.onnx", "-o", work / "lite_s_int8.engine", "--int8", "--max-batch",
              "8"], 240, "INT8 engine"),
        Step("trt-eval-fp16", ("gpu", "tensorrt", "torch", "shared"),
             [*cli, "eval", work / "lite_s_fp16.engine", *eval_args, "--json", work / "eval_fp16.json"], 90,
             "AP of the FP16 engine on ../shared/coco/val"),
        Step("trt-eval-int8", ("gpu", "tensorrt", "torch", "shared"),
             [*cli, "eval", work / "lite_s_int8.engine", *eval_args, "--json", work / "eval_int8.json"], 90,
             "AP of the INT8 engine"),
        Step("trt-bench", ("gpu", "tensorrt", "torch", "shared"),
             [*cli, "bench", work / "lite_s_fp16.engine", work / "lite_s_int8.engine", "--batch", "1", "8",
              "--end-to-end", "--iters", "50", "--json", work / "bench_trt.json"], 120, "engine latency"),
    ]


def system_figures(p, workdir):
    keys = ("native_module", "cuda_built", "cuda_available", "driver", "gpus", "tensorrt", "onnxruntime_providers")
    return {k: p.system.get(k) for k in keys}


def cmake_archs(requested, cmake):
    """'native' needs CMake >= 3.24; older CMake gets the library's default list."""
    if requested != "native" or not cmake:
        return requested
    try:
        out = subprocess.run([cmake, "--version"], capture_output=True, text=True, timeout=10).stdout
        major, minor = (int(v) for v in re.search(r"(\d+)\.(\d+)", out).groups())
    except Exception:  # noqa: BLE001 - no cmake, or output we cannot read: the fixed list
        return "75-real;80-real;90"
    return "native" if (major, minor) >= (3, 24) else "75-real;80-real;90"


def _slug(text):
    return re.sub(r"[^a-z0-9]+", "-", (text or "none").lower()).strip("-")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dry-run", action="store_true", help="list what would run (and why not), run nothing")
    ap.add_argument("--out", type=Path, help="the JSON (default benchmarks/results/gpu_check_<gpu>_<date>.json)")
    ap.add_argument("--budget", type=float, default=480, help="seconds for the whole run (default 480)")
    ap.add_argument("--only", help="comma-separated step names (a trailing * matches a prefix: trt-*)")
    ap.add_argument("--shared", type=Path, default=Path(os.environ.get("YOLOV6_EDGE_SHARED", ROOT.parent / "shared")))
    ap.add_argument("--workdir", type=Path, default=ROOT / "build" / "gpu_check")
    ap.add_argument("--cuda-archs", default="native", help="CMAKE_CUDA_ARCHITECTURES for ctest-cuda (default native)")
    args = ap.parse_args(argv)
    only = set(args.only.split(",")) if args.only else None

    start = time.perf_counter()
    p = probe(args.shared)
    gpu = (p.system.get("gpus") or [None])[0]
    today = datetime.date.today().isoformat()
    out = args.out or ROOT / "benchmarks/results" / f"gpu_check_{_slug(gpu and gpu['name'])}_{today}.json"
    record = {"schema": SCHEMA, "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "host": platform.node(), "dry_run": args.dry_run,
              "device": gpu, "driver": p.system.get("driver"),
              "versions": {k: p.system.get(k) for k in ("yolov6_edge", "python", "glibc", "tensorrt", "onnxruntime",
                                                         "openvino", "onnx", "torch")},
              "cuda_built": p.cuda_built, "nvcc": p.nvcc or None, "system": p.system, "steps": [], "figures": {}}

    steps = [Step("system", (), func=system_figures, timeout=30, what="info --system")] + \
        steps_for(sys.executable, p.shared, args.workdir, cmake_archs(args.cuda_archs, p.cmake))
    planned = plan(steps, p, only)
    device = f"{gpu['name']} (sm_{gpu['compute_capability'].replace('.', '')})" if gpu else "none"
    print(f"gpu_check: device {device}"
          f", driver {p.system.get('driver')}, cuda_built {p.cuda_built}, tensorrt {p.tensorrt or 'none'}")
    failed = False
    if not args.dry_run:  # figures are read back from these files: never from an earlier run's
        for name in ("pytest_cuda.xml", "eval_fp16.json", "eval_int8.json", "bench_trt.json"):
            (args.workdir / name).unlink(missing_ok=True)
    for step, reason in planned:
        cmd = " ".join(map(str, step.command)) if step.command else f"(in process) {step.func.__name__}"
        entry = {"name": step.name, "what": step.what, "command": cmd}
        if reason:
            print(f"  SKIP {step.name:16s} {reason}")
            if args.dry_run:
                print(f"       {'':16s} would run: {cmd}")
            record["steps"].append({**entry, "status": "skipped", "reason": reason})
            continue
        if args.dry_run:
            print(f"  RUN  {step.name:16s} {cmd}")
            record["steps"].append({**entry, "status": "planned", "timeout_s": step.timeout})
            continue
        left = args.budget - (time.perf_counter() - start)
        if left < 5:
            record["steps"].append({**entry, "status": "skipped", "reason": "out of time (--budget)"})
            print(f"  SKIP {step.name:16s} out of time")
            continue
        args.workdir.mkdir(parents=True, exist_ok=True)
        timeout = int(min(step.timeout, left))
        if step.command:
            result = run_command(step.command, timeout)
        else:
            t = time.perf_counter()
            try:
                figures = step.func(p, args.workdir)
                result = {"status": "passed", "seconds": round(time.perf_counter() - t, 2), "figures": figures}
                record["figures"][step.name] = figures
            except Exception as e:  # noqa: BLE001 - a measurement that fails is a failed step, recorded, not a crash
                result = {"status": "failed", "seconds": round(time.perf_counter() - t, 2),
                          "output_tail": f"{type(e).__name__}: {e}"[-TAIL:]}
        # A GPU test that skipped proves nothing: on a machine that has the GPU it is a failure.
        if step.name == "ctest-cuda" and result["status"] == "passed" and "Skipped" in result.get("output_tail", ""):
            result.update(status="failed", reason="test_cuda_ops skipped: no usable GPU from the C++ side")
        if step.name == "pytest-cuda" and (args.workdir / "pytest_cuda.xml").exists():
            counts = parse_junit(args.workdir / "pytest_cuda.xml")
            if counts["skipped"] and result["status"] == "passed":
                result.update(status="failed",
                              reason=f"{counts['skipped']} CUDA tests skipped: {counts['skip_reasons']}")
        failed |= result["status"] == "failed"
        print(f"  {result['status'].upper():6s} {step.name:16s} {result['seconds']:.1f} s")
        record["steps"].append({**entry, **result})
        if step.name == "native-build" and result["status"] == "passed":
            p = probe(args.shared)  # the rebuilt module decides the steps that need its kernels
            planned_rest = {s.name: r for s, r in plan(steps, p, only)}
            planned[:] = [(s, planned_rest[s.name]) for s, _ in planned]
        if step.name == "pytest-cuda" and (args.workdir / "pytest_cuda.xml").exists():
            record["figures"]["pytest-cuda"] = parse_junit(args.workdir / "pytest_cuda.xml")
    for name in ("fp16", "int8"):
        f = args.workdir / f"eval_{name}.json"
        if not args.dry_run and f.exists():
            stats = json.loads(f.read_text())
            record["figures"][f"trt-eval-{name}"] = {k: stats.get(k) for k in ("AP", "AP50", "n_images", "seconds")}
    if not args.dry_run and (args.workdir / "bench_trt.json").exists():
        record["figures"]["trt-bench"] = json.loads((args.workdir / "bench_trt.json").read_text())
    record["seconds"] = round(time.perf_counter() - start, 1)
    record["proven"] = bool(not args.dry_run and p.gpu and not failed and
                            any(s["status"] == "passed" for s in record["steps"] if s["name"] == "pytest-cuda"))

    if args.out or not args.dry_run:
        sys.path.insert(0, str(ROOT))
        from yolov6_edge.atomic import atomic_write_text

        atomic_write_text(out, json.dumps(record, indent=2, default=str) + "\n")
        print(f"gpu_check: wrote {out}")
    if args.dry_run:
        return 0
    if not p.gpu:
        print("gpu_check: no usable GPU here: nothing on the GPU path was proven")
        return 3
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
