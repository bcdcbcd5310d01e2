"""Installing where users deploy: where the build folder goes, nvcc outside PATH, what the base install pulls
in, and `yolov6-edge info --system` saying what this install can run."""
import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from yolov6_edge import _C
from yolov6_edge.system_info import gpu_info, system_report

ROOT = Path(__file__).resolve().parents[1]


def _pyproject():
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)


@pytest.mark.parametrize("state, in_tree", [("wheel", False), ("sdist", False), ("editable", True)])
def test_only_editable_installs_build_inside_the_source_tree(state, in_tree):
    # A build folder inside the source breaks `pip install /read-only/src`; editable installs rebuild in place.
    settings = pytest.importorskip("scikit_build_core.settings.skbuild_read_settings")
    build_dir = settings.SettingsReader.from_file(ROOT / "pyproject.toml", state=state).settings.build_dir
    assert bool(build_dir) == in_tree, (state, build_dir)
    if in_tree:
        assert not Path(build_dir).is_absolute()


def test_base_install_needs_no_onnx_and_trt_extra_is_bounded():
    project = _pyproject()["project"]
    names = [d.split(">")[0].split("=")[0].split("<")[0].strip() for d in project["dependencies"]]
    assert "onnx" not in names and "torch" not in names
    assert any(d.startswith("onnx>=") for d in project["optional-dependencies"]["torch"])
    trt = project["optional-dependencies"]["trt"]
    assert any(d.startswith("tensorrt") and "<12" in d for d in trt), trt  # the runtime refuses 12


def test_license_file_is_the_apache_license_the_metadata_names():
    assert _pyproject()["project"]["license"]["text"] == "Apache-2.0"
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text and "END OF TERMS AND CONDITIONS" in text


def test_detector_and_info_run_without_the_onnx_package(tmp_path):
    from standin_models import TinyContractModel
    from yolov6_edge.export.onnx import export_onnx

    export_onnx(TinyContractModel(), tmp_path / "tiny.onnx", img_size=(64, 64))
    # sys.modules["onnx"] = None makes `import onnx` raise ImportError, as on a runtime-only install.
    code = f"""
import sys
sys.modules["onnx"] = None
import numpy as np, yolov6_edge
from yolov6_edge.cli.main import main
yolov6_edge.Detector({str(tmp_path / 'tiny.onnx')!r}, conf=0.1)(np.full((50, 70, 3), 128, np.uint8))
sys.exit(main(["info", {str(tmp_path / 'tiny.onnx')!r}, "--json"]))
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["ours"] and info["input_size"] == [64, 64] and set(info["outputs"]) == {"boxes", "scores"}


def test_info_system_reports_what_this_install_can_run():
    r = subprocess.run([sys.executable, "-m", "yolov6_edge.cli.main", "info", "--system", "--json"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["cuda_built"] is _C.cuda_built() and info["cuda_available"] is _C.cuda_available()
    for key in ("yolov6_edge", "glibc", "driver", "gpus", "tensorrt", "onnxruntime", "openvino"):
        assert key in info
    assert "CPUExecutionProvider" in info["onnxruntime_providers"]
    if not _C.cuda_available():
        assert info["gpus"] == [] or not info["cuda_built"]
    if info["tensorrt"] is None:
        assert info["tensorrt_note"].startswith("not importable")
    # nothing heavy is imported to answer
    code = ("import sys; from yolov6_edge.system_info import system_report; system_report(); "
            "print('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def test_info_wants_a_file_or_system_but_not_both(tmp_path):
    for args in (["info"], ["info", str(tmp_path / "m.onnx"), "--system"]):
        r = subprocess.run([sys.executable, "-m", "yolov6_edge.cli.main", *args], capture_output=True, text=True)
        assert r.returncode == 2 and "give a model FILE or --system" in r.stderr


def test_gpu_probe_without_a_driver_says_so():
    info = gpu_info("libcuda-that-is-not-here.so.1")
    assert info["gpus"] == [] and info["driver"] is None and "no NVIDIA driver" in info["error"]
    assert "gpus" in system_report()


def _nvcc_install():
    nvcc = shutil.which("nvcc") or "/usr/local/cuda/bin/nvcc"
    if not os.path.exists(nvcc):
        return None
    # /usr/local/bin/nvcc may be a wrapper script: find the toolkit it runs
    for line in Path(nvcc).read_text(errors="replace").splitlines() if Path(nvcc).stat().st_size < 4096 else []:
        if "exec " in line and "/bin/nvcc" in line:
            nvcc = line.split("exec ", 1)[1].split()[0]
    return Path(nvcc).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("cmake") is None, reason="needs cmake")
def test_cmake_finds_nvcc_in_cuda_home_when_it_is_not_on_path(tmp_path):
    # JetPack and CUDA containers: nvcc in /usr/local/cuda/bin (here: CUDA_HOME), not on PATH.
    toolkit = _nvcc_install()
    if toolkit is None or not (toolkit / "bin/nvcc").exists():
        pytest.skip("no CUDA toolkit on this machine")
    home = tmp_path / "cuda"
    home.symlink_to(toolkit)
    cmake = shutil.which("cmake", path="/usr/bin:/bin") or shutil.which("cmake")
    env = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp"), "CUDA_HOME": str(home)}
    r = subprocess.run([cmake, "-S", ROOT, "-B", tmp_path / "b", "-DYOLOV6_EDGE_BUILD_TESTS=OFF",
                        "-DYOLOV6_EDGE_BUILD_EXAMPLES=OFF", "-DCMAKE_IGNORE_PATH=/usr/local/bin",
                        "-DCMAKE_CUDA_ARCHITECTURES=75-real"], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert f"yolov6_edge: nvcc: {home}/bin/nvcc" in r.stdout
    assert "yolov6_edge: CUDA kernels: built (architectures 75-real)" in r.stdout
