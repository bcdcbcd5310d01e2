"""find_package(yolov6_edge COMPONENTS tensorrt) as a C++ user on a TensorRT machine uses it: build the library
with CUDA against a stand-in TensorRT (tests/cpp/tensorrt_standin: the headers the Detector includes and a
libnvinfer with its one entry point; TensorRT itself cannot be installed here), install it, and build
consumers that need yolov6_edge::yolov6_edge_trt. Fails if the target is not exported. The Detector built this
way then checks the engine file before it selects a GPU (a missing file names the file, not a CUDA error)."""
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
STANDIN = ROOT / "tests/cpp/tensorrt_standin"
GEN = ["-G", "Ninja"] if shutil.which("ninja") else []


def _nvcc():
    for cand in (shutil.which("nvcc"), os.path.join(os.environ.get("CUDA_HOME", "/usr/local/cuda"), "bin/nvcc"),
                 "/usr/local/cuda/bin/nvcc"):
        if cand and os.path.exists(cand):
            return cand
    return None


pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("cmake") is None or shutil.which("c++") is None,
                                 reason="needs cmake and a C++ compiler"),
              pytest.mark.skipif(_nvcc() is None, reason="needs nvcc: the TensorRT Detector is built only with CUDA")]


def _run(cmd, **kw):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    assert r.returncode == 0, f"{' '.join(map(str, cmd))}\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}"
    return r.stdout


def _standin_tensorrt(root):
    shutil.copytree(STANDIN / "include", root / "include")
    (root / "lib").mkdir()
    _run(["c++", "-shared", "-fPIC", "-O1", "-I", root / "include", STANDIN / "nvinfer_standin.cpp",
          "-o", root / "lib/libnvinfer.so"])
    return root


def _write_ppm(path, bgr):
    h, w = bgr.shape[:2]
    path.write_bytes(f"P6\n{w} {h}\n255\n".encode() + np.ascontiguousarray(bgr[..., ::-1]).tobytes())


def test_tensorrt_component_is_exported_and_its_detector_checks_the_engine_file_first(tmp_path):
    trt = _standin_tensorrt(tmp_path / "TensorRT")
    prefix = tmp_path / "prefix"
    # One architecture keeps the CUDA compile short; test_native_build covers the default list.
    cfg = _run(["cmake", "-S", ROOT, "-B", tmp_path / "lib", *GEN, "-DYOLOV6_EDGE_CUDA=ON",
                f"-DCMAKE_CUDA_COMPILER={_nvcc()}", "-DCMAKE_CUDA_ARCHITECTURES=75-real", f"-DTensorRT_ROOT={trt}",
                "-DYOLOV6_EDGE_BUILD_TESTS=OFF", "-DYOLOV6_EDGE_BUILD_EXAMPLES=OFF",
                f"-DCMAKE_INSTALL_PREFIX={prefix}"])
    assert "TensorRT C++ Detector: TensorRT 10.13.0" in cfg
    _run(["cmake", "--build", tmp_path / "lib", "-j2"])
    _run(["cmake", "--install", tmp_path / "lib"])
    cmake_dir = next(prefix.glob("lib*/cmake/yolov6_edge"))
    assert (cmake_dir / "yolov6_edge_tensorrtTargets.cmake").exists()
    assert (prefix / "include/yolov6_edge/detector.h").exists()

    # A consumer that requires the component: configuring fails if yolov6_edge::yolov6_edge_trt is not exported.
    # TensorRT_ROOT is not given: the package remembers the TensorRT it was built against.
    env = {k: v for k, v in os.environ.items() if k != "TensorRT_ROOT"}
    consumer = tmp_path / "consumer"
    consumer.mkdir()
    (consumer / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.20)\nproject(consumer LANGUAGES CXX)\n"
        "find_package(yolov6_edge 0.1 REQUIRED CONFIG COMPONENTS tensorrt)\n"
        "get_target_property(_type yolov6_edge::yolov6_edge_trt TYPE)\nmessage(STATUS \"trt target: ${_type}\")\n")
    out = _run(["cmake", "-S", consumer, "-B", tmp_path / "consumer-build", *GEN, f"-DCMAKE_PREFIX_PATH={prefix}"],
               env=env)
    assert "trt target: STATIC_LIBRARY" in out

    # The example, built against the installed package, picks the Detector up and runs it.
    cfg = _run(["cmake", "-S", ROOT / "examples/cpp", "-B", tmp_path / "example", *GEN,
                f"-DCMAKE_PREFIX_PATH={prefix}"], env=env)
    assert "engines: yes" in cfg
    _run(["cmake", "--build", tmp_path / "example", "-j2"], env=env)
    image = tmp_path / "img.ppm"
    _write_ppm(image, np.full((48, 64, 3), 90, np.uint8))
    exe = tmp_path / "example/detect"

    def detect(engine):
        r = subprocess.run([str(exe), str(image), str(engine)], capture_output=True, text=True)
        assert r.returncode == 2, r.stdout + r.stderr
        return r.stderr

    assert "missing.engine: cannot open the engine file" in detect(tmp_path / "missing.engine")
    (tmp_path / "empty.engine").write_bytes(b"")
    assert "empty.engine: the engine file is empty" in detect(tmp_path / "empty.engine")
    assert "is a folder, not an engine file" in detect(tmp_path)
    (tmp_path / "m.engine").write_bytes(b"not a plan")
    err = detect(tmp_path / "m.engine")
    # Past the file checks: no GPU here, or (on a GPU machine) the stand-in libnvinfer, which makes no runtime.
    assert "m.engine: needs a usable NVIDIA GPU" in err or "m.engine: TensorRT could not create a runtime" in err
