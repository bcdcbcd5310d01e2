"""The aarch64 build and runtime, proven under emulation on an x86 machine, recorded in one JSON.

    scripts/arm64_check.sh [--json OUT] [--cpus MODEL ...] [--only STEP,STEP] [--work DIR] [--shared DIR]

Steps (each ok, skipped or failed, with the reason; figures in the JSON):
  host-tools       g++-aarch64-linux-gnu, qemu-user-static, debootstrap (installed with apt-get as root)
  ctest            the native library and its C++ tests cross-compiled, ctest under qemu (scripts/arm64_ci.sh)
  arm64-root       a Debian 12 arm64 root (debootstrap, packages unpacked, no second stage), its python3.11
  arm64-wheels     the manylinux aarch64 wheels of the runtime's dependencies, at the x86 venv's versions
  module           yolov6_edge._C cross-compiled against the root's Python 3.11, staged with the package
  pytest           the torch-free native-op and COCO-scoring tests, run by the aarch64 Python
  parity-CPU       letterbox / NMS / decode bit-exact against x86 on the same inputs, Detector on ONNX Runtime
                   within tolerance (scripts/arm64_parity.py)
  x86-files        Lite-S float ONNX and two INT8 QDQ files (TensorRT and ONNX Runtime placements) made on x86
                   with `yolov6-edge export` / `calibrate` (cached)
  ap-x86, ap-CPU   COCO AP of the three files on ../shared/coco/val on ONNX Runtime, x86 and each CPU model
  compare-runtimes-x86, -CPU   each INT8 file layer by layer on ONNX Runtime against the numpy reference
  acceptance       aarch64 AP minus x86 AP: float within 0.05, INT8 within 0.3 (or departing layers named)

CPU models (qemu -cpu; ONNX Runtime picks its INT8 kernels from the features each exposes): cortex-a72
(ARMv8.0 NEON: Raspberry Pi 4), cortex-a76 (+ dotprod: Raspberry Pi 5; the INT8 ISA of Jetson Orin's A78AE and
Graviton2), max-nosve (qemu max,sve=off,pauth=off: + i8mm, bf16, the INT8 matrix instructions of Graviton3 /
Neoverse V1; SVE off because qemu emulates it ~15x slower). Emulated run times are how long this took here, never performance
figures of any aarch64 device. Exit status: 0 nothing failed, 1 a step failed.

Reuse: each AP and compare-runtimes result (WORK/run/*.json) has a stamp beside it (*.stamp.json) holding its
inputs: the model file's sha256, the CPU model, the command's arguments, the validation set (annotation sha, image
names and sizes) and the runtime (aarch64: the staged package's Python files and _C, the wheels' pins, the Debian
root's spec; x86: this tree's Python files, the x86 _C, the host's versions). A rerun reuses a result only when the
stamp equals the inputs now, and re-runs it otherwise; the JSON says per result `reused`. Delete WORK/run to redo all.
"""
import argparse
import datetime
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = "yolov6_edge.arm64_check/1"
TAIL = 3000
DEBIAN = {"suite": "bookworm", "mirror": os.environ.get("ARM64_DEBIAN_MIRROR", "http://deb.debian.org/debian"),
          "include": ["python3.11", "libpython3.11-dev"]}
# the runtime's dependencies (pyproject) + what the steps run: installed as aarch64 wheels at the x86 versions
WHEELS = ["numpy", "onnxruntime", "opencv-python-headless", "onnx", "pycocotools", "PyYAML", "tqdm", "pytest"]
# /proc/cpuinfo lines per model (ONNX Runtime's cpuinfo reads the MIDR there; qemu 7.2 would show the host's
# x86 file, on which cpuinfo crashes): implementer, variant, part, revision, features as Linux prints them
CPU_MODELS = {
    "cortex-a72": {"qemu": "cortex-a72", "midr": ("0x41", "0x0", "0xd08", "3"),
                   "features": "fp asimd evtstrm aes pmull sha1 sha2 crc32 cpuid",
                   "what": "ARMv8.0-A NEON, no dot product (Raspberry Pi 4)"},
    "cortex-a76": {"qemu": "cortex-a76", "midr": ("0x41", "0x4", "0xd0b", "1"),
                   "features": "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc "
                               "dcpop asimddp",
                   "what": "ARMv8.2-A + dotprod (Raspberry Pi 5; the INT8 instructions of Jetson Orin's A78AE and "
                           "Graviton2's Neoverse N1)"},
    "max-nosve": {"qemu": "max,sve=off,pauth=off", "midr": ("0x00", "0x0", "0x051", "0"),
                  "features": "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc "
                              "dcpop asimddp i8mm bf16",
                  "what": "qemu's max CPU without SVE and pointer auth: + i8mm, bf16 (the INT8 matrix-multiply "
                          "instructions of Graviton3 / Neoverse V1; SVE off because qemu emulates it ~15x slower)"},
}
DEFAULT_CPUS = list(CPU_MODELS)
FILES = {"float": "lite-s.onnx", "int8": "lite-s_int8.onnx", "int8_ort": "lite-s_int8_ort.onnx"}
EVAL = ["--conf", "0.03", "--iou", "0.65", "--max-det", "300", "--threads", "1"]  # ../shared reference settings
TOLERANCE = {"float": 0.05, "int8": 0.3, "int8_ort": 0.3}
# tests run by the aarch64 Python: torch-free; the deselected ones start sys.executable in a subprocess, which
# an aarch64 child cannot do under qemu-user without a binfmt_misc registration (a machine-wide setting)
PYTEST_FILES = ["tests/test_ops_letterbox.py", "tests/test_ops_nms.py", "tests/test_ops_decode.py",
                "tests/test_reliability_native.py", "tests/test_eval_coco.py"]
PYTEST_SUBPROCESS = ["tests/test_reliability_native.py::test_worker_threads_that_cannot_start_fall_back_instead_of_aborting",
                     "tests/test_reliability_native.py::test_nms_memory_follows_candidates_not_class_count",
                     "tests/test_reliability_native.py::test_nms_keeping_as_many_boxes_as_candidates_is_not_quadratic"]


class Skip(Exception):
    pass


class Fail(Exception):
    pass


def sh(cmd, log=None, env=None, timeout=3600, cwd=ROOT, check=True, echo=True):
    """Run a command, streaming its output to the console and to `log`; returns (rc, output)."""
    cmd = [str(c) for c in cmd]
    if echo:
        print(f"  $ {' '.join(cmd)}", flush=True)
    full_env = dict(os.environ, **(env or {}))
    out = []
    with subprocess.Popen(cmd, cwd=cwd, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as p:
        t0 = time.time()
        fh = open(log, "ab") if log else None
        try:
            for chunk in iter(lambda: p.stdout.read1(4096), b""):
                out.append(chunk)
                if fh:
                    fh.write(chunk)
                if echo:
                    sys.stdout.write(chunk.decode(errors="replace"))
                    sys.stdout.flush()
                if time.time() - t0 > timeout:
                    p.kill()
                    raise Fail(f"{cmd[0]} timed out after {timeout} s")
        finally:
            if fh:
                fh.close()
        rc = p.wait()
    text = b"".join(out).decode(errors="replace")
    if check and rc != 0:
        raise Fail(f"exit {rc}: {' '.join(cmd[:6])}... : {last_line(text)}")
    return rc, text


def last_line(text):
    lines = [ln for ln in re.split(r"[\r\n]", text) if ln.strip()]
    return lines[-1].strip()[:300] if lines else ""


def sha16(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


class Env:
    """Paths and the commands that run things on x86 and, under qemu, on aarch64."""

    def __init__(self, args):
        self.work = args.work.resolve()
        self.root, self.site, self.pkg = self.work / "root", self.work / "site", self.work / "pkg"
        self.x86 = self.work / "x86"
        self.run = self.work / "run"
        self.logs = self.work / "logs"
        self.shared = args.shared.resolve()
        self.cpus = args.cpus
        self.host_python = sys.executable
        for d in (self.work, self.run, self.logs, self.x86):
            d.mkdir(parents=True, exist_ok=True)

    @property
    def val(self):
        images, ann = self.shared / "coco/val/images", self.shared / "coco/val/instances.json"
        return (images, ann) if ann.exists() else (None, None)

    @property
    def lite_param(self):
        p = self.shared / "weights/yolov6lite/yolov6-lite-s.param"
        return p if p.exists() else None

    def qemu(self):
        return shutil.which("qemu-aarch64-static") or "qemu-aarch64-static"

    def guest(self, cpu, *args):
        """Command + env running the arm64 root's python3.11 under qemu, CPU model `cpu`."""
        write_cpuinfo(self.root, cpu)
        cmd = [self.qemu(), "-L", self.root, self.root / "usr/bin/python3.11", "-P", *args]
        env = {"QEMU_CPU": CPU_MODELS[cpu]["qemu"], "PYTHONPATH": f"{self.pkg}:{self.site}", "OPENBLAS_NUM_THREADS": "1",
               "OMP_NUM_THREADS": "1", "YOLOV6_EDGE_SHARED": str(self.shared)}
        return cmd, env

    def host(self, *args):
        return [self.host_python, *args]


def n_processors():
    try:
        text = Path("/sys/devices/system/cpu/possible").read_text().strip()
        return int(text.split("-")[-1]) + 1
    except (OSError, ValueError):
        return os.cpu_count() or 1


def write_cpuinfo(root, cpu):
    """The root's /proc/cpuinfo, which qemu -L shows the guest instead of the host's (x86) one."""
    (impl, var, part, rev), feats = CPU_MODELS[cpu]["midr"], CPU_MODELS[cpu]["features"]
    proc = Path(root) / "proc"
    if proc.is_symlink():  # debootstrap links it to the host's /proc in containers
        proc.unlink()
    proc.mkdir(exist_ok=True)
    text = "".join(f"processor\t: {i}\nBogoMIPS\t: 50.00\nFeatures\t: {feats}\nCPU implementer\t: {impl}\n"
                   f"CPU architecture: 8\nCPU variant\t: {var}\nCPU part\t: {part}\nCPU revision\t: {rev}\n\n"
                   for i in range(n_processors()))
    (proc / "cpuinfo").write_text(text)


# ---- steps -------------------------------------------------------------------------------------------------------

def step_host_tools(env):
    sh([ROOT / "scripts/apt_ensure.sh", "aarch64-linux-gnu-g++:g++-aarch64-linux-gnu",
        "qemu-aarch64-static:qemu-user-static", "debootstrap:debootstrap", "cmake:cmake", "dpkg-deb:dpkg"],
       echo=False)
    first = lambda cmd: last_line(subprocess.run(cmd, capture_output=True, text=True).stdout.splitlines()[0])
    return {"versions": {"cross_gcc": first(["aarch64-linux-gnu-g++", "--version"]),
                         "qemu": first([env.qemu(), "--version"]),
                         "debootstrap": first(["dpkg-query", "-W", "-f", "${Version}\n", "debootstrap"]),
                         "cmake": first(["cmake", "--version"])}}


def step_ctest(env):
    figures = {}
    for cpu in env.cpus:
        rc, out = sh([ROOT / "scripts/arm64_ci.sh"], log=env.logs / "ctest.log",
                     env={"QEMU_CPU": CPU_MODELS[cpu]["qemu"], "ARM64_BUILD_DIR": str(env.work / "ctest")}, check=False)
        m = re.search(r"(\d+)% tests passed, (\d+) tests failed out of (\d+)", out) or \
            re.search(r"(\d+)% tests passed out of (\d+)", out)
        figures[cpu] = {"ok": rc == 0, "summary": m.group(0) if m else last_line(out)}
    if not all(f["ok"] for f in figures.values()):
        raise Fail(f"ctest failed under {[c for c, f in figures.items() if not f['ok']]}: see logs/ctest.log")
    return figures


def step_arm64_root(env):
    stamp = env.root / ".y6-root.json"
    want = dict(DEBIAN, arch="arm64", variant="minbase")
    if not (stamp.exists() and json.loads(stamp.read_text()).get("spec") == want):
        if env.root.exists():
            shutil.rmtree(env.root)
        # --foreign: download and unpack only; the second stage would run arm64 maintainer scripts, which needs
        # a binfmt_misc registration (machine-wide). Unpacking every package is all a Python needs.
        sh(["debootstrap", "--foreign", "--arch=arm64", "--variant=minbase", "--include=" + ",".join(DEBIAN["include"]),
            DEBIAN["suite"], env.root, DEBIAN["mirror"]], log=env.logs / "debootstrap.log", timeout=1800)
        debs = sorted((env.root / "var/cache/apt/archives").glob("*.deb"))
        for deb in debs:
            unpack = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", deb], stdout=subprocess.PIPE)
            subprocess.run(["tar", "-C", env.root, "--keep-directory-symlink", "-xf", "-"], stdin=unpack.stdout,
                           check=True)
            if unpack.wait() != 0:
                raise Fail(f"dpkg-deb could not unpack {deb.name}")
        stamp.write_text(json.dumps({"spec": want, "debs": [d.name for d in debs]}, indent=1))
    debs = json.loads(stamp.read_text())["debs"]
    cmd, e = env.guest("cortex-a72", "-c", "import platform,sys;print(platform.machine(),platform.python_version(),"
                                          "platform.libc_ver()[1])")
    _, out = sh(cmd, env=e, echo=False)
    machine, py, glibc = last_line(out).split()
    if machine != "aarch64":
        raise Fail(f"the root's python reports machine {machine}, not aarch64")
    version_of = lambda name: next((d.split("_")[1] for d in debs if d.startswith(name + "_")), None)
    return {"debian": f"{DEBIAN['suite']} arm64 ({DEBIAN['mirror']})", "packages": len(debs), "python": py,
            "glibc": glibc, "python3.11_deb": version_of("python3.11"), "libc6_deb": version_of("libc6")}


def host_versions():
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in WHEELS:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def step_arm64_wheels(env):
    pins = host_versions()
    missing = [n for n, v in pins.items() if v is None and n != "pytest"]
    if missing:
        raise Fail(f"the x86 environment lacks {missing}: run make setup first")
    reqs = [f"{n}=={v}" if v else n for n, v in pins.items()]
    stamp = env.site / ".y6-pins.json"
    if not (stamp.exists() and json.loads(stamp.read_text()) == reqs):
        if env.site.exists():
            shutil.rmtree(env.site)
        platforms = [a for tag in ("manylinux_2_36_aarch64", "manylinux_2_34_aarch64", "manylinux_2_28_aarch64",
                                   "manylinux_2_27_aarch64", "manylinux_2_17_aarch64", "manylinux2014_aarch64")
                     for a in ("--platform", tag)]
        sh(env.host("-m", "pip", "install", "-q", "--target", env.site, "--python-version", "3.11",
                    "--implementation", "cp", "--abi", "cp311", "--only-binary=:all:", *platforms, *reqs),
           log=env.logs / "wheels.log", timeout=1800)
        stamp.write_text(json.dumps(reqs))
    code = ("import numpy, cv2, onnxruntime, onnx, pycocotools, yaml, tqdm, pytest, json;"
            "print(json.dumps({'numpy': numpy.__version__, 'opencv': cv2.__version__, 'onnxruntime': "
            "onnxruntime.__version__, 'onnx': onnx.__version__, 'pytest': pytest.__version__, "
            "'ort_providers': onnxruntime.get_available_providers()}))")
    cmd, e = env.guest("cortex-a72", "-c", code)
    _, out = sh(cmd, env=e, echo=False)
    return {"aarch64": json.loads(out.strip().splitlines()[-1]), "pins": reqs}


def step_module(env):
    build = env.work / "pymod"
    wrapper = env.work / "bin/python3"  # CMake's FindPython asks this (the aarch64 Python) for its sysconfig
    wrapper.parent.mkdir(exist_ok=True)
    wrapper.write_text(f"#!/bin/sh\nQEMU_CPU=${{QEMU_CPU:-cortex-a72}} exec {env.qemu()} -L {env.root} "
                       f"{env.root}/usr/bin/python3.11 \"$@\"\n")
    wrapper.chmod(0o755)
    _, pybind = sh(env.host("-c", "import pybind11; print(pybind11.get_cmake_dir())"), echo=False)
    inc = env.root / "usr/include"
    if not (build / "CMakeCache.txt").exists():
        gen = ["-G", "Ninja"] if shutil.which("ninja") else []
        sh(["cmake", "-S", ROOT, "-B", build, *gen, f"-DCMAKE_TOOLCHAIN_FILE={ROOT}/cmake/toolchains/aarch64-linux-gnu.cmake",
            "-DCMAKE_BUILD_TYPE=Release", "-DYOLOV6_EDGE_CUDA=OFF", "-DYOLOV6_EDGE_BUILD_PYTHON=ON",
            f"-DPython_EXECUTABLE={wrapper}", f"-DPython_INCLUDE_DIR={inc}/python3.11",
            # Debian's pyconfig.h includes <aarch64-linux-gnu/python3.11/pyconfig.h>: searched after the
            # cross toolchain's own headers
            f"-DCMAKE_CXX_FLAGS=-idirafter {inc}", f"-Dpybind11_DIR={pybind.strip()}"],
           log=env.logs / "module.log")
    sh(["cmake", "--build", build, "-j2"], log=env.logs / "module.log")
    so = next(build.glob("_C.cpython-311-aarch64-linux-gnu.so"), None)
    if so is None:
        raise Fail(f"no _C.cpython-311-aarch64-linux-gnu.so in {build}")
    # the package as a wheel would lay it out: this tree's Python files + the aarch64 module
    if env.pkg.exists():
        shutil.rmtree(env.pkg)
    shutil.copytree(ROOT / "yolov6_edge", env.pkg / "yolov6_edge", ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    shutil.copy2(so, env.pkg / "yolov6_edge" / so.name)
    stage_dist_info(env.pkg)
    _, syms = sh(["aarch64-linux-gnu-readelf", "-W", "--version-info", "--dyn-syms", so], echo=False)
    need = lambda lib: max(set(re.findall(lib + r"_([0-9.]+)", syms)), key=lambda v: tuple(map(int, v.split("."))),
                           default=None)
    cmd, e = env.guest("cortex-a72", "-m", "yolov6_edge", "info", "--system", "--json")
    _, out = sh(cmd, env=e, echo=False)
    info = json.loads(out[out.index("{"):])
    return {"module": so.name, "bytes": so.stat().st_size, "needs_glibc": need("GLIBC"), "needs_glibcxx": need("GLIBCXX"),
            "built_with": "aarch64-linux-gnu-g++ (cross), the same CMakeLists and flags as pip's build",
            "info_system_on_aarch64": {k: info.get(k) for k in ("native_module", "cuda_built", "onnxruntime",
                                                                 "torch", "glibc", "python", "platform")}}


def package_version():
    """The version as the wheel's metadata carries it: written once, in version.h (pyproject's regex provider)."""
    text = (ROOT / "csrc/include/yolov6_edge/version.h").read_text()
    m = re.search(r'#define YOLOV6_EDGE_VERSION_STRING "([^"]+)"', text)
    if m is None:
        raise Fail("csrc/include/yolov6_edge/version.h has no YOLOV6_EDGE_VERSION_STRING")
    return m.group(1)


def stage_dist_info(pkg):
    """The installed-package metadata a wheel brings (yolov6_edge.__version__ reads it through importlib.metadata)."""
    version = package_version()
    info = Path(pkg) / f"yolov6_edge-{version}.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: yolov6-edge\nVersion: {version}\n")
    (info / "top_level.txt").write_text("yolov6_edge\n")


def step_pytest(env):
    cpu = env.cpus[0]
    junit = env.run / "pytest_aarch64.xml"
    deselect = [a for t in PYTEST_SUBPROCESS for a in ("--deselect", t)]
    cmd, e = env.guest(cpu, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}",
                       *PYTEST_FILES, *deselect)
    rc, out = sh(cmd, env=e, log=env.logs / "pytest.log", check=False, timeout=5400)
    import xml.etree.ElementTree as ET

    counts = {}
    if junit.exists():
        suite = ET.parse(junit).getroot()
        suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
        counts = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
    figures = {"cpu": cpu, "files": PYTEST_FILES, "deselected": PYTEST_SUBPROCESS,
               "deselected_why": "they start sys.executable in a subprocess; an aarch64 child cannot exec under "
                                 "qemu-user without binfmt_misc (they run on x86 in the normal suite)",
               "counts": counts, "summary": last_line(out)}
    if rc != 0:
        raise Fail(f"pytest on aarch64: {last_line(out)}", figures)
    return figures


def step_parity(env, cpu):
    ref = env.run / "parity_x86.npz"
    images, _ = env.val
    model = env.x86 / FILES["float"]
    args = ["--out", ref] + (["--images", images, "--num", "8"] if images else [])
    if model.exists():
        args += ["--model", model]
    if not ref.exists() or ref.stat().st_mtime < (ROOT / "scripts/arm64_parity.py").stat().st_mtime:
        sh(env.host(ROOT / "scripts/arm64_parity.py", "make", *args), log=env.logs / "parity.log")
    out_json = env.run / f"parity_{cpu}.json"
    cmd, e = env.guest(cpu, ROOT / "scripts/arm64_parity.py", "check", "--ref", ref, "--json", out_json,
                       *(["--images", images] if images else []))
    rc, out = sh(cmd, env=e, log=env.logs / "parity.log", check=False, timeout=3600)
    if not out_json.exists():
        raise Fail(f"parity check wrote nothing: {last_line(out)}")
    result = json.loads(out_json.read_text())
    if rc != 0:
        bad = [k for k, c in result["checks"].items() if c.get("ok") is False]
        raise Fail(f"parity failed: {bad}", result)
    return result


def x86_commands(env):
    param = env.lite_param
    calib = ["--images", "calibration/coco_calib160.txt", "--num", "160", "--img", "320", "320", "--method", "mse",
             "--cache", env.x86 / "lite-s_int8.calib.mse.json"]
    return [["export", param, "-o", env.x86 / FILES["float"], "--img", "320", "320"],
            ["calibrate", param, *calib, "-o", env.x86 / FILES["int8"]],
            ["calibrate", param, *calib, "--target", "onnxruntime", "-o", env.x86 / FILES["int8_ort"]]]


def step_x86_files(env):
    if env.lite_param is None:
        raise Skip(f"{env.shared}/weights/yolov6lite/yolov6-lite-s.param not found")
    if subprocess.run(env.host("-c", "import torch"), capture_output=True).returncode != 0:
        raise Skip("torch is not installed in the x86 environment (export and calibrate need '[torch]')")
    cmds = x86_commands(env)
    stamp = env.x86 / "stamp.json"
    key = {"commands": [[str(c) for c in cmd] for cmd in cmds], "param": sha16(env.lite_param),
           "calib_list": sha16(ROOT / "calibration/coco_calib160.txt")}
    fresh = not (stamp.exists() and json.loads(stamp.read_text()) == key and
                 all((env.x86 / f).exists() for f in FILES.values()))
    if fresh:
        for cmd in cmds:
            sh(env.host("-m", "yolov6_edge", *cmd), log=env.logs / "x86_files.log", timeout=3600)
        stamp.write_text(json.dumps(key, indent=1))
    figures = {"commands": ["yolov6-edge " + " ".join(os.path.relpath(str(c), ROOT) if os.path.isabs(str(c)) else str(c)
                                                      for c in cmd) for cmd in cmds],
               "reused": not fresh, "sha256_16": {k: sha16(env.x86 / f) for k, f in FILES.items()}}
    for k in ("int8", "int8_ort"):
        report = env.x86 / FILES[k].replace(".onnx", ".quant.json")
        if report.exists():
            r = json.loads(report.read_text())
            figures[k] = {x: r.get(x) for x in ("target", "method", "weight_bits", "float_layers") if x in r}
    return figures


def tree_sha(folder, suffixes=(".py", ".so")):
    """sha256 (16 hex) over the relative names and contents of a package tree's .py and .so files."""
    h = hashlib.sha256()
    for f in sorted(Path(folder).rglob("*")):
        if f.is_file() and f.suffix in suffixes and "__pycache__" not in f.parts:
            h.update(f.relative_to(folder).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def dataset_stamp(env):
    """The validation set as the eval sees it: the annotation file's sha and the image names and sizes."""
    images, ann = env.val
    listing = "\n".join(f"{f.name} {f.stat().st_size}" for f in sorted(Path(images).iterdir()) if f.is_file())
    return {"ann": sha16(ann), "images": hashlib.sha256(listing.encode()).hexdigest()[:16]}


def runtime_stamp(env, cpu):
    """What runs a model besides the model: on aarch64 the staged package (its Python files and the cross-built
    _C) and the wheels' pins, in the Debian root; on x86 this tree's Python files, the x86 _C and the host's
    versions. A change to any of them re-runs every result that depends on it."""
    if cpu is not None:
        pins = env.site / ".y6-pins.json"
        root = env.root / ".y6-root.json"
        return {"package": tree_sha(env.pkg / "yolov6_edge"),
                "wheels": json.loads(pins.read_text()) if pins.exists() else None,
                "root": json.loads(root.read_text()).get("spec") if root.exists() else None}
    _, so = sh(env.host("-c", "import importlib.util as u; print(u.find_spec('yolov6_edge._C').origin)"),
               echo=False)
    return {"package": tree_sha(ROOT / "yolov6_edge", (".py",)), "native": sha16(last_line(so)),
            "python": platform.python_version(), "versions": host_versions()}


def reuse_or_run(out, key, run):
    """Run `run()` (which writes `out`) unless `out` exists beside a stamp holding exactly `key`; True if reused.
    The stamp is removed before a run and written only after `out` exists, so a run that dies leaves none."""
    stamp = out.with_name(out.stem + ".stamp.json")
    key = json.loads(json.dumps(key, default=str))
    if out.exists() and stamp.exists():
        try:
            if json.loads(stamp.read_text()) == key:
                return True
        except ValueError:
            pass  # a torn stamp is no stamp
    stamp.unlink(missing_ok=True)
    out.unlink(missing_ok=True)
    run()
    if not out.exists():
        raise Fail(f"{out.name} was not written")
    stamp.write_text(json.dumps(key, indent=1) + "\n")
    return False


def result_key(env, cpu, model, args, runtime):
    """The inputs of one eval / compare-runtimes result: model bytes, CPU model, arguments, data, runtime."""
    return {"model_sha256_16": sha16(model), "cpu": "x86" if cpu is None else CPU_MODELS[cpu]["qemu"],
            "args": [os.path.relpath(str(a), env.work) if isinstance(a, Path) else str(a) for a in args],
            "dataset": dataset_stamp(env), "runtime": runtime}


def run_cli(env, cpu, args, log, timeout, check=True):
    if cpu is None:
        sh(env.host("-m", "yolov6_edge", *args), log=log, timeout=timeout, check=check)
    else:
        cmd, e = env.guest(cpu, "-m", "yolov6_edge", *args)
        sh(cmd, env=e, log=log, timeout=timeout, check=check)


def run_eval(env, cpu, key, runtime):
    images, ann = env.val
    model = env.x86 / FILES[key]
    tag = "x86" if cpu is None else cpu.split(",")[0]
    out = env.run / f"ap_{tag}_{key}.json"
    args = ["eval", model, "--images", images, "--ann", ann, *EVAL]
    reused = reuse_or_run(out, result_key(env, cpu, model, args, runtime),
                          lambda: run_cli(env, cpu, [*args, "--json", out], env.logs / f"ap_{tag}.log", 7200))
    s = json.loads(out.read_text())
    return {"AP": s["AP"], "AP50": s["AP50"], "n_images": s.get("n_images"), "reused": reused}


def step_ap(env, cpu):
    if env.val[0] is None:
        raise Skip(f"{env.shared}/coco/val not found")
    if not all((env.x86 / f).exists() for f in FILES.values()):
        raise Skip("the x86 files are missing (step x86-files skipped or failed)")
    runtime = runtime_stamp(env, cpu)
    return {k: run_eval(env, cpu, k, runtime) for k in FILES}


def step_compare_runtimes(env, cpu):
    images, _ = env.val
    if images is None:
        raise Skip(f"{env.shared}/coco/val not found")
    figures = {}
    tag = "x86" if cpu is None else cpu.split(",")[0]
    runtime = runtime_stamp(env, cpu)
    for key in ("int8", "int8_ort"):
        model = env.x86 / FILES[key]
        if not model.exists():
            raise Skip("the x86 files are missing (step x86-files skipped or failed)")
        out = env.run / f"compare_runtimes_{tag}_{key}.json"
        args = ["compare-runtimes", model, "--images", images, "--num", "1", "--backend", "onnxruntime"]
        # its exit status says whether layers depart, which is a figure here, not a failure of the step
        reused = reuse_or_run(out, result_key(env, cpu, model, args, runtime),
                              lambda: run_cli(env, cpu, [*args, "--json", out], env.logs / f"compare_runtimes_{tag}.log",
                                              3600, check=False))
        r = json.loads(out.read_text())
        s = r["summary"]["onnxruntime"]
        figures[key] = {"layers": s["layers"], "departing": s["departing"], "worst": s["worst"],
                        "worst_rel_err": s["worst_rel_err"], "tol": r["tol"], "whole_graph": r["outputs"]["onnxruntime"],
                        "departing_layers": [(x["unit"], x["rel_err"]) for x in r["layers"] if x["departs"]][:20],
                        "reused": reused}
    return figures


def step_acceptance(env, results):
    by = {s["name"]: s for s in results}
    x86 = by.get("ap-x86", {})
    if x86.get("status") != "ok":
        raise Skip("no x86 AP to compare with")
    rows, bad = [], []
    for cpu in env.cpus:
        tag = cpu.split(",")[0]
        a = by.get(f"ap-{tag}", {})
        if a.get("status") != "ok":
            bad.append(f"{tag}: no AP ({a.get('reason', 'not run')})")
            continue
        cr = by.get(f"compare-runtimes-{tag}", {}).get("figures", {})
        for key, tol in TOLERANCE.items():
            d = round(a["figures"][key]["AP"] - x86["figures"][key]["AP"], 4)
            row = {"cpu": tag, "file": key, "x86_AP": x86["figures"][key]["AP"], "aarch64_AP": a["figures"][key]["AP"],
                   "diff": d, "tolerance": tol, "within": abs(d) <= tol}
            if not row["within"] and key in cr and cr[key]["departing"]:
                row["explained_by"] = cr[key]["departing_layers"]
            elif not row["within"]:
                bad.append(f"{tag} {key}: {d:+.3f} AP, beyond {tol} and no layer departs")
            rows.append(row)
    if bad:
        raise Fail("; ".join(bad), {"rows": rows})
    return {"rows": rows}


# ---- driver ------------------------------------------------------------------------------------------------------

def plan(env):
    """[(name, function, args, steps it needs)]."""
    native = ["module"]
    steps = [("host-tools", step_host_tools, (), []), ("ctest", step_ctest, (), ["host-tools"]),
             ("arm64-root", step_arm64_root, (), ["host-tools"]), ("arm64-wheels", step_arm64_wheels, (), ["arm64-root"]),
             ("module", step_module, (), ["arm64-wheels"]), ("pytest", step_pytest, (), native),
             ("x86-files", step_x86_files, (), [])]
    steps += [(f"parity-{c}", step_parity, (c,), native) for c in env.cpus]
    steps += [("ap-x86", step_ap, (None,), ["x86-files"])]
    steps += [(f"ap-{c}", step_ap, (c,), native + ["x86-files"]) for c in env.cpus]
    steps += [("compare-runtimes-x86", step_compare_runtimes, (None,), ["x86-files"])]
    steps += [(f"compare-runtimes-{c}", step_compare_runtimes, (c,), native + ["x86-files"]) for c in env.cpus]
    return steps + [("acceptance", None, (), ["ap-x86"])]


def markdown(record) -> str:
    """A short human summary of the record (written beside the JSON)."""
    by = {s["name"]: s for s in record["steps"]}
    cpus = list(record["cpu_models"])
    fig = lambda name: by.get(name, {}).get("figures") or {}
    lines = [f"# aarch64 under emulation: `{record['command']}`", "",
             f"{record['date']}, host {record['host']['cpu']} ({record['host']['machine']}, {record['host']['cores']} "
             f"cores, load average (1, 5, 15 min) {record['host']['load_average_at_start']} at start, "
             f"{record['host'].get('load_average_at_end', '-')} at the end; the machine is shared), "
             f"status **{record['status']}**, {record.get('wall_s', '-')} s in all. "
             "Everything aarch64 ran under qemu user emulation; no real aarch64 device, no GPU, no Jetson. "
             + record["note"] + ".", "",
             "| CPU model | qemu -cpu | what it stands for |", "|---|---|---|"]
    lines += [f"| {c} | `{m['qemu_cpu']}` | {m['what']} |" for c, m in record["cpu_models"].items()]
    ap = {t: fig(f"ap-{t}") for t in ["x86"] + cpus}
    if any(ap.values()):
        lines += ["", f"COCO AP on the 119 images of ../shared/coco/val, ONNX Runtime, `{record['settings']['eval']}`:",
                  "", "| file | x86 | " + " | ".join(cpus) + " | tolerance |", "|---|---|" + "---|" * len(cpus) + "---|"]
        for key, tol in record["settings"]["tolerance_AP"].items():
            cell = lambda t: f"{ap[t][key]['AP']:.2f}" if key in ap.get(t, {}) else "-"
            diff = lambda t: (f" ({ap[t][key]['AP'] - ap['x86'][key]['AP']:+.2f})"
                              if key in ap.get(t, {}) and key in ap["x86"] else "")
            lines.append(f"| {FILES[key]} | {cell('x86')} | " + " | ".join(cell(c) + diff(c) for c in cpus) + f" | {tol} |")
    cr = {t: fig(f"compare-runtimes-{t}") for t in ["x86"] + cpus}
    if any(cr.values()):
        lines += ["", "`compare-runtimes --num 1` on ONNX Runtime against the numpy reference of the ONNX Q/DQ meaning: "
                  "layers departing in isolation, the worst layer's relative error, and the whole graph's outputs' "
                  "relative errors (boxes, scores):", "",
                  "| file | " + " | ".join(["x86"] + cpus) + " |", "|---|" + "---|" * (len(cpus) + 1)]
        for key in ("int8", "int8_ort"):
            cell = lambda t: (f"{cr[t][key]['departing']}/{cr[t][key]['layers']}, {cr[t][key]['worst_rel_err']:.1e}; "
                              + ", ".join(f"{cr[t][key]['whole_graph'][o]['rel_err']:.1e}" for o in ("boxes", "scores"))
                              if key in cr.get(t, {}) else "-")
            lines.append(f"| {FILES[key]} | " + " | ".join(cell(t) for t in ["x86"] + cpus) + " |")
    par = {c: fig(f"parity-{c}") for c in cpus}
    if any(par.values()):
        lines += ["", "Native ops and Detector against x86 on the same inputs (scripts/arm64_parity.py):", "",
                  "| CPU model | features | letterbox | NMS | decode | Detector raw max diff (boxes px, scores) | "
                  "JPEG decode identical |", "|---|---|---|---|---|---|---|"]
        for c, r in par.items():
            if not r:
                continue
            ch = r["checks"]
            ex = lambda k: f"{ch[k]['bit_exact']}/{ch[k]['arrays']} bit-exact"
            det = ch.get("detector", {})
            raw = ", ".join(f"{d:.1e}" for d in det.get("raw_max_abs_diff", [])) or "-"
            jp = ch.get("jpeg_decode", {})
            lines.append(f"| {c} | {' '.join(r.get('cpu_features') or [])} | {ex('letterbox')} | {ex('nms')} | "
                         f"{ex('decode')} | {raw} | {jp.get('identical')}/{jp.get('images')} |")
    lines += ["", "| step | status | note |", "|---|---|---|"]
    for s in record["steps"]:
        note = s.get("reason") or ""
        f = s.get("figures") or {}
        if s["name"] == "ctest":
            note = "; ".join(f"{c}: {v['summary']}" for c, v in f.items())
        elif s["name"] == "pytest" and f:
            note = f"{f['summary']} ({len(f['deselected'])} deselected: subprocess)"
        elif s["name"] == "module" and f:
            note = f"{f['module']}, needs GLIBC {f['needs_glibc']}, GLIBCXX {f['needs_glibcxx']}"
        elif s["name"] == "arm64-root" and f:
            note = f"Debian {f['debian']}, Python {f['python']}, glibc {f['glibc']}"
        elif s["name"].startswith(("ap-", "compare-runtimes-")) and f:
            note = reuse_note(f)
        lines.append(f"| {s['name']} | {s['status']} | {note} |")
    versions = {**fig("host-tools").get("versions", {}), **{f"aarch64 {k}": v for k, v in
                                                            fig("arm64-wheels").get("aarch64", {}).items()
                                                            if k != "ort_providers"}}
    if versions:
        lines += ["", "Versions: " + "; ".join(f"{k} {v}" for k, v in versions.items()) + "."]
    return "\n".join(lines) + "\n"


def reuse_note(figures):
    """'reused: float, int8; ran: int8_ort' for a step whose results carry a `reused` flag."""
    reused = [k for k, v in figures.items() if isinstance(v, dict) and v.get("reused") is True]
    ran = [k for k, v in figures.items() if isinstance(v, dict) and v.get("reused") is False]
    return "; ".join(f"{what}: {', '.join(keys)}" for what, keys in (("reused (inputs unchanged)", reused),
                                                                      ("ran", ran)) if keys)


def host_record():
    sys.path.insert(0, str(ROOT))
    from yolov6_edge.host import cpu_flags, cpu_name

    return {"machine": platform.machine(), "cpu": cpu_name(), "cpu_flags": cpu_flags(), "cores": os.cpu_count(),
            "kernel": platform.release(), "os": platform.platform(), "python": platform.python_version(),
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--json", type=Path, default=None,
                   help="write the record here (default WORK/arm64_check.json), and a summary beside it (.md)")
    p.add_argument("--cpus", nargs="+", default=DEFAULT_CPUS, choices=list(CPU_MODELS),
                   help="emulated CPU models (default: all three)")
    p.add_argument("--only", default=None, help="run only these steps (comma-separated name prefixes)")
    p.add_argument("--work", type=Path, default=ROOT / "build/arm64", help="cache and work folder (gitignored)")
    p.add_argument("--shared", type=Path, default=Path(os.environ.get("YOLOV6_EDGE_SHARED", ROOT.parent / "shared")))
    args = p.parse_args(argv)
    env = Env(args)
    only = [o for o in (args.only or "").split(",") if o]
    record = {"schema": SCHEMA, "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "command": " ".join(["scripts/arm64_check.sh", *(argv if argv is not None else sys.argv[1:])]),
              "host": host_record(), "cpu_models": {c: {"qemu_cpu": CPU_MODELS[c]["qemu"], "what": CPU_MODELS[c]["what"]}
                                             for c in args.cpus},
              "note": "wall_s is how long a step took on this (shared, x86) host, mostly under qemu emulation: "
                      "never a performance figure of an aarch64 device",
              "settings": {"eval": " ".join(EVAL), "dataset": "../shared/coco/val (119 COCO val2017 images)",
                           "tolerance_AP": TOLERANCE},
              "steps": []}
    results = record["steps"]
    t_all = time.time()
    for name, fn, fargs, needs in plan(env):
        entry = {"name": name}
        t0 = time.time()
        print(f"\n== {name}", flush=True)
        try:
            if only and not any(name.startswith(o) for o in only):
                raise Skip("not selected (--only)")
            done = {r["name"]: r["status"] for r in results}
            blockers = [n for n in needs if done.get(n) != "ok"]
            if blockers:
                raise Skip(f"needs {', '.join(blockers)}, which did not pass")
            figures = step_acceptance(env, results) if fn is None else fn(env, *fargs)
            entry.update(status="ok", figures=figures)
        except Skip as e:
            entry.update(status="skipped", reason=str(e))
        except Fail as e:
            entry.update(status="failed", reason=str(e.args[0]), figures=e.args[1] if len(e.args) > 1 else None)
        except Exception as e:  # noqa: BLE001 - a crash in one step is that step's failure; the others run
            entry.update(status="failed", reason=f"{type(e).__name__}: {e}")
        entry["wall_s"] = round(time.time() - t0, 1)
        results.append(entry)
        print(f"== {name}: {entry['status']}" + (f" ({entry['reason']})" if entry.get("reason") else ""), flush=True)
    record["wall_s"] = round(time.time() - t_all, 1)
    record["host"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    statuses = [r["status"] for r in results]
    record["status"] = "failed" if "failed" in statuses else "incomplete" if "skipped" in statuses else "ok"
    out = args.json or env.work / "arm64_check.json"
    sys.path.insert(0, str(ROOT))
    from yolov6_edge.atomic import atomic_write_text

    atomic_write_text(out, json.dumps(record, indent=1, default=str) + "\n")
    atomic_write_text(out.with_suffix(".md"), markdown(record))
    print("\n" + "\n".join(f"{r['name']:<28}{r['status']:<9}{r.get('reason', '')}" for r in results))
    print(f"wrote {out} ({record['status']})")
    return 1 if "failed" in statuses else 0


if __name__ == "__main__":
    sys.exit(main())
