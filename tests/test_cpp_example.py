"""The C++ side as a user sees it: build and install the library (shared), build examples/cpp against the
installed package with find_package(yolov6_edge), run it on a real image, and run the C++ tests (ctest)
plainly and under sanitizers."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import SHARED

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("cmake") is None or shutil.which("c++") is None,
                                 reason="needs cmake and a C++ compiler")]
GEN = ["-G", "Ninja"] if shutil.which("ninja") else []


def _run(cmd, **kw):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    assert r.returncode == 0, f"{' '.join(map(str, cmd))}\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}"
    return r.stdout


def _build(src, build, *defines):
    _run(["cmake", "-S", src, "-B", build, *GEN, *defines])
    _run(["cmake", "--build", build, "-j2"])


def _dets(stdout):
    return np.array([list(map(float, line.split()[1:])) for line in stdout.splitlines() if line.startswith("det ")],
                    np.float32).reshape(-1, 6)


def _consume(tmp_path, name, find_package):
    """Configure a one-line consumer project against the installed prefix; returns the CompletedProcess."""
    src = tmp_path / name
    src.mkdir()
    (src / "CMakeLists.txt").write_text(f"cmake_minimum_required(VERSION 3.20)\nproject({name} LANGUAGES CXX)\n"
                                        f"{find_package}\n")
    return subprocess.run(["cmake", "-S", src, "-B", tmp_path / f"{name}-build", *GEN,
                           f"-DCMAKE_PREFIX_PATH={tmp_path / 'prefix'}"], capture_output=True, text=True)


def test_cpp_example_on_a_real_image_matches_the_python_detector(tmp_path, random_lite_checkpoint):
    from yolov6_edge import Detector
    from yolov6_edge.export.onnx import export_onnx

    prefix = tmp_path / "prefix"
    # CUDA off: the CUDA objects are covered by test_native_build; this test is about packaging. Shared: the
    # SONAME must carry major.minor, the compatibility the CMake package promises (SameMinorVersion).
    _build(ROOT, tmp_path / "lib", "-DYOLOV6_EDGE_CUDA=OFF", "-DYOLOV6_EDGE_BUILD_EXAMPLES=OFF",
           "-DBUILD_SHARED_LIBS=ON", f"-DCMAKE_INSTALL_PREFIX={prefix}")
    _run(["ctest", "--output-on-failure"], cwd=tmp_path / "lib")
    _run(["cmake", "--install", tmp_path / "lib"])
    assert (prefix / "include/yolov6_edge/letterbox.h").exists()
    assert list(prefix.glob("lib*/cmake/yolov6_edge/yolov6_edgeConfig.cmake"))
    lib = next(prefix.glob("lib*/libyolov6_edge.so.0.1.*"))
    if shutil.which("readelf"):
        assert "[libyolov6_edge.so.0.1]" in _run(["readelf", "-d", lib])
    assert _consume(tmp_path, "same_minor", "find_package(yolov6_edge 0.1 REQUIRED CONFIG)").returncode == 0
    assert _consume(tmp_path, "next_minor", "find_package(yolov6_edge 0.2 REQUIRED CONFIG)").returncode != 0
    # This install has no TensorRT Detector: requiring the component fails saying why, asking for it optionally
    # does not.
    req = _consume(tmp_path, "trt_required", "find_package(yolov6_edge REQUIRED COMPONENTS tensorrt)")
    assert req.returncode != 0 and "built without the TensorRT Detector" in " ".join(req.stderr.split())
    opt = _consume(tmp_path, "trt_optional", "find_package(yolov6_edge REQUIRED OPTIONAL_COMPONENTS tensorrt)\n"
                   "if(TARGET yolov6_edge::yolov6_edge_trt)\n message(FATAL_ERROR unexpected)\nendif()")
    assert opt.returncode == 0, opt.stderr

    cfg = _run(["cmake", "-S", ROOT / "examples/cpp", "-B", tmp_path / "example", *GEN,
                f"-DCMAKE_PREFIX_PATH={prefix}"])
    _run(["cmake", "--build", tmp_path / "example", "-j2"])
    exe = tmp_path / "example/detect"
    if "JPEG" not in cfg:
        pytest.skip("libjpeg (libjpeg-dev) not found: the example cannot read JPEG here")

    # A real model on a real photo where ../shared is there; otherwise a random-weight Lite-S on a written JPEG.
    shared_param = SHARED / "weights/yolov6lite/yolov6-lite-s.param"
    image = SHARED / "coco/val/images/000000018575.jpg"
    conf = 0.25
    if shared_param.exists() and image.exists():
        model_src = shared_param
    else:
        model_src, conf = random_lite_checkpoint, 0.05
        image = tmp_path / "photo.jpg"
        cv2.imwrite(str(image), np.random.default_rng(0).integers(0, 256, (300, 427, 3), dtype=np.uint8))
    onnx_path = export_onnx(model_src, tmp_path / "s.onnx", img_size=(320, 320))
    raw = tmp_path / "photo.raw"
    # The one documented command that writes the raw outputs (docs/CPP.md).
    _run([sys.executable, ROOT / "examples/cpp/write_raw_outputs.py", onnx_path, image, "-o", raw])
    out = _run([exe, image, "--raw", raw, "--conf", conf])
    got = _dets(out)
    want = Detector(onnx_path, conf=conf)(str(image))
    h, w = want.image_shape
    assert f"image {w} {h}" in out
    assert len(got) == len(want) > 0
    np.testing.assert_allclose(got[:, :4], want.boxes, atol=2e-3)
    np.testing.assert_allclose(got[:, 4], want.scores, atol=1e-5)
    np.testing.assert_array_equal(got[:, 5], want.class_ids)
    # Clipped to the image as Python clips (never x = 640.2 on a 640-wide image).
    assert (got[:, [0, 2]] >= 0).all() and (got[:, [0, 2]] <= w).all()
    assert (got[:, [1, 3]] >= 0).all() and (got[:, [1, 3]] <= h).all()

    for args, message in [([tmp_path / "missing.jpg", "--raw", raw], "missing.jpg: cannot open"),
                          ([raw, "--raw", raw], "photo.raw: not an image this example reads"),
                          ([image, "--raw", image], "not a yolov6_edge_raw 1 file"),
                          ([image, tmp_path / "m.engine"], "built without TensorRT")]:
        bad = subprocess.run([str(a) for a in [exe, *args]], capture_output=True, text=True)
        assert bad.returncode == 2 and message in bad.stderr, (args, bad.stderr)


def test_cpp_tests_clean_under_address_and_undefined_sanitizers(tmp_path):
    probe = subprocess.run(["c++", "-fsanitize=address,undefined", "-x", "c++", "-", "-o", tmp_path / "probe"],
                           input="int main(){return 0;}", capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"the C++ compiler cannot build with -fsanitize=address,undefined: {probe.stderr[:200]}")
    build = tmp_path / "asan"
    _build(ROOT, build, "-DYOLOV6_EDGE_CUDA=OFF", "-DYOLOV6_EDGE_SANITIZE=ON", "-DCMAKE_BUILD_TYPE=Debug",
           "-DYOLOV6_EDGE_BUILD_EXAMPLES=OFF")
    env = {**os.environ, "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=1",
           "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1"}
    out = _run(["ctest", "--output-on-failure"], cwd=build, env=env)
    assert "100% tests passed" in out
