"""scripts/gpu_check.sh on a machine without a GPU: the dry run lists every step with its command and why it
would be skipped, the JSON has the agreed shape, and the parts that need no GPU (planning, running a step,
reading pytest's results, the exit status) work. The GPU steps themselves run only where a GPU is."""
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts/gpu_check.sh"


@pytest.fixture(scope="module")
def gc():
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "scripts/gpu_check.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _sh(*args):
    return subprocess.run(["sh", str(SCRIPT), *map(str, args)], capture_output=True, text=True, timeout=120,
                          env={"PYTHON": sys.executable, "PATH": "/usr/bin:/bin:" + str(Path(sys.executable).parent)})


def test_dry_run_lists_every_step_with_its_command_and_writes_the_json(tmp_path, gc):
    r = _sh("--dry-run", "--out", tmp_path / "g.json", "--workdir", tmp_path / "w")
    assert r.returncode == 0, r.stderr
    names = [s.name for s in gc.steps_for("py", None, tmp_path)]
    for name in ["system", *names]:
        assert name in r.stdout
    assert "tests/test_ops_cuda.py" in r.stdout and "--fp16" in r.stdout and "--int8" in r.stdout
    rec = json.loads((tmp_path / "g.json").read_text())
    assert rec["schema"] == gc.SCHEMA and rec["dry_run"] is True and rec["proven"] is False
    assert {"device", "driver", "versions", "figures", "steps", "cuda_built"} <= set(rec)
    assert [s["name"] for s in rec["steps"]] == ["system", *names]
    assert not (tmp_path / "w").exists()  # a dry run runs nothing
    from yolov6_edge import _C

    if not _C.cuda_available():
        gpu_steps = [s for s in rec["steps"] if s["name"] not in ("system", "native-build")]
        assert all(s["status"] == "skipped" and "no usable NVIDIA GPU" in s["reason"] for s in gpu_steps)


def test_without_a_gpu_a_real_run_says_nothing_was_proven(tmp_path):
    from yolov6_edge import _C

    if _C.cuda_available():
        pytest.skip("a GPU is here")
    r = _sh("--only", "system", "--out", tmp_path / "g.json", "--workdir", tmp_path / "w")
    assert r.returncode == 3 and "nothing on the GPU path was proven" in r.stdout
    rec = json.loads((tmp_path / "g.json").read_text())
    assert rec["steps"][0]["status"] == "passed" and rec["figures"]["system"]["cuda_built"] == _C.cuda_built()


def test_plan_runs_each_step_exactly_where_its_needs_are_met(gc, tmp_path):
    steps = gc.steps_for("py", tmp_path, tmp_path)
    full = gc.Probe(gpu=True, cuda_built=True, native=True, nvcc="nvcc", cmake="cmake", tensorrt="10.13.0",
                    torch=True, shared=tmp_path)
    planned = dict((s.name, r) for s, r in gc.plan(steps, full))
    assert planned.pop("native-build") == gc.REASONS["needs_build"]  # the kernels are there already
    assert all(r is None for r in planned.values()), planned
    no_trt = gc.Probe(**{**full.__dict__, "tensorrt": ""})
    planned = dict((s.name, r) for s, r in gc.plan(steps, no_trt))
    assert planned["pytest-cuda"] is None and planned["bench-nms"] is None
    assert all("tensorrt is not importable" in planned[n] for n in planned if n.startswith("trt-"))
    no_kernels = gc.Probe(**{**full.__dict__, "cuda_built": False})
    planned = dict((s.name, r) for s, r in gc.plan(steps, no_kernels))
    assert planned["native-build"] is None and "no CUDA kernels" in planned["pytest-cuda"]
    only = dict((s.name, r) for s, r in gc.plan(steps, full, only={"trt-*"}))
    assert only["trt-build-int8"] is None and only["pytest-cuda"] == "not selected (--only)"


def test_a_step_records_status_time_and_output(gc):
    ok = gc.run_command([sys.executable, "-c", "print('hello')"], 30)
    assert ok["status"] == "passed" and ok["returncode"] == 0 and "hello" in ok["output_tail"]
    bad = gc.run_command([sys.executable, "-c", "import sys; print('boom'); sys.exit(4)"], 30)
    assert bad["status"] == "failed" and bad["returncode"] == 4 and "boom" in bad["output_tail"]
    slow = gc.run_command([sys.executable, "-c", "import time; time.sleep(10)"], 1)
    assert slow["status"] == "failed" and "timed out after 1 s" in slow["output_tail"]


def test_pytest_results_are_read_back(gc, tmp_path):
    (tmp_path / "test_x.py").write_text("import pytest\ndef test_a(): pass\n"
                                        "def test_b(): pytest.skip('no usable CUDA device')\n")
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", tmp_path / "test_x.py",
                    f"--junitxml={tmp_path / 'r.xml'}"], capture_output=True, cwd=tmp_path)
    counts = gc.parse_junit(tmp_path / "r.xml")
    assert counts["tests"] == 2 and counts["skipped"] == 1 and counts["failures"] == 0
    assert counts["skip_reasons"] == ["no usable CUDA device"]
