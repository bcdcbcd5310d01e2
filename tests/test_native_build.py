"""The native module as built by pip, and the CUDA kernels compiling for the GPUs we target."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import yolov6_edge
from yolov6_edge import _C

ROOT = Path(__file__).resolve().parents[1]


def test_native_module_imports_and_reports_version():
    assert _C.__version__ == yolov6_edge.__version__
    assert isinstance(_C.cuda_built(), bool)
    # Without a driver (this CI box) the statically linked cudart answers False instead of failing.
    available = _C.cuda_available()
    assert isinstance(available, bool)
    if not _C.cuda_built():
        assert available is False


def test_the_version_is_written_once_in_version_h():
    # CMake, the native module, the package metadata and yolov6_edge.__version__ all read version.h
    import re
    import tomllib

    header = (ROOT / "csrc/include/yolov6_edge/version.h").read_text()
    written = re.search(r'#define YOLOV6_EDGE_VERSION_STRING "([^"]+)"', header).group(1)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert yolov6_edge.__version__ == _C.__version__ == written
    assert written not in (ROOT / "yolov6_edge/__init__.py").read_text()


def test_ops_module_does_not_import_torch():
    code = "import sys, yolov6_edge.ops; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


@pytest.mark.skipif(not sys.platform.startswith("linux") or shutil.which("nm") is None, reason="needs Linux nm")
def test_native_module_exports_only_its_init_symbol():
    # Symbols are hidden by default: the library's C++ API must not leak out of the Python module.
    so = Path(_C.__file__)
    out = subprocess.run(["nm", "-D", "--defined-only", str(so)], capture_output=True, text=True, check=True).stdout
    exported = [line.split()[-1] for line in out.splitlines() if line.split()[1:2] in (["T"], ["D"], ["B"])]
    assert "PyInit__C" in exported
    assert not [s for s in exported if "yolov6_edge" in s], exported


def _nvcc():
    return shutil.which("nvcc") or (os.path.exists("/usr/local/cuda/bin/nvcc") and "/usr/local/cuda/bin/nvcc")


@pytest.mark.slow
def test_cuda_kernels_compile_for_sm75_and_sm90(tmp_path):
    nvcc = _nvcc()
    if not nvcc:
        pytest.skip("nvcc not found: the CUDA kernels cannot be compiled on this machine")
    if shutil.which("cmake") is None:
        pytest.skip("cmake not found")
    build = tmp_path / "build"
    cfg = subprocess.run(["cmake", "-S", str(ROOT), "-B", str(build), "-DYOLOV6_EDGE_CUDA=ON",
                          f"-DCMAKE_CUDA_COMPILER={nvcc}", "-DCMAKE_CUDA_ARCHITECTURES=75-real;90-real",
                          "-DYOLOV6_EDGE_BUILD_TESTS=OFF", "-DYOLOV6_EDGE_BUILD_EXAMPLES=OFF"]
                         + (["-G", "Ninja"] if shutil.which("ninja") else []),
                         capture_output=True, text=True)
    assert cfg.returncode == 0, cfg.stdout + cfg.stderr
    assert "yolov6_edge: CUDA found" in cfg.stdout
    b = subprocess.run(["cmake", "--build", str(build), "--target", "yolov6_edge", "-j2"], capture_output=True,
                       text=True)
    assert b.returncode == 0, b.stdout[-4000:] + b.stderr[-4000:]
    lib = next(build.glob("libyolov6_edge.*"))
    # The embedded fatbins name their target architectures; the toolkit here ships no cuobjdump.
    data = lib.read_bytes()
    assert b"sm_75" in data and b"sm_90" in data
    assert b"sm_80" not in data  # only what was asked for
