"""The C++ side as a user sees it: build and install the library, build examples/cpp against the installed
package with find_package(yolov6_edge), run it, and run the C++ tests (ctest) plainly and under sanitizers."""
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from yolov6_edge import ops

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


def _write_ppm(path, bgr):
    h, w = bgr.shape[:2]
    path.write_bytes(f"P6\n{w} {h}\n255\n".encode() + np.ascontiguousarray(bgr[..., ::-1]).tobytes())


def test_cpp_example_against_installed_package(tmp_path):
    prefix = tmp_path / "prefix"
    # CUDA off: the CUDA objects are covered by test_native_build; this test is about packaging.
    _build(ROOT, tmp_path / "lib", "-DYOLOV6_EDGE_CUDA=OFF", "-DYOLOV6_EDGE_BUILD_EXAMPLES=OFF",
           f"-DCMAKE_INSTALL_PREFIX={prefix}")
    _run(["ctest", "--output-on-failure"], cwd=tmp_path / "lib")
    _run(["cmake", "--install", tmp_path / "lib"])
    assert (prefix / "include/yolov6_edge/letterbox.h").exists()
    assert list(prefix.glob("lib*/cmake/yolov6_edge/yolov6_edgeConfig.cmake"))
    _build(ROOT / "examples/cpp", tmp_path / "example", f"-DCMAKE_PREFIX_PATH={prefix}")

    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (240, 427, 3), dtype=np.uint8)
    _write_ppm(tmp_path / "img.ppm", img)
    boxes = np.array([[10, 100, 110, 200], [12, 102, 112, 198], [300, 120, 400, 260], [200, 150, 260, 230]], np.float32)
    scores = np.array([[0.9, 0.1], [0.8, 0.2], [0.1, 0.7], [0.3, 0.2]], np.float32)
    with open(tmp_path / "cands.txt", "w") as f:
        f.write(f"{len(boxes)} {scores.shape[1]}\n")
        for b, s in zip(boxes, scores):
            f.write(" ".join(f"{v:.9g}" for v in (*b, *s)) + "\n")
    out = _run([tmp_path / "example/letterbox_nms_example", tmp_path / "img.ppm", 320, 320, tmp_path / "cands.txt"])
    lines = dict(line.split(" ", 1) for line in out.strip().splitlines() if not line.startswith("det "))
    dets = [list(map(float, line.split()[1:])) for line in out.splitlines() if line.startswith("det ")]

    blob, params = ops.letterbox(img, (320, 320))
    np.testing.assert_allclose(list(map(float, lines["params"].split())), params[0], rtol=1e-6)
    np.testing.assert_allclose(list(map(float, lines["mean"].split())), blob[0].mean((1, 2)), rtol=1e-5)
    want = ops.batched_nms(boxes, scores)[0]
    scale, left, top = params[0]
    assert int(lines["detections"]) == len(want) == 3
    for d, w in zip(dets, want):
        np.testing.assert_allclose(d[:4], [(w[0] - left) / scale, (w[1] - top) / scale, (w[2] - left) / scale,
                                           (w[3] - top) / scale], rtol=1e-5)
        assert d[4] == pytest.approx(w[4], rel=1e-5) and d[5] == w[5]

    bad = subprocess.run([tmp_path / "example/letterbox_nms_example", tmp_path / "cands.txt", "32", "32",
                          tmp_path / "cands.txt"], capture_output=True, text=True)
    assert bad.returncode == 2 and "cands.txt: not a binary 8-bit PPM" in bad.stderr


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
