"""The aarch64 check's own logic on x86 (the emulated run itself is scripts/arm64_check.sh, on demand, and
`make test-arm64` in CI): the parity script passes against itself and fails on a one-bit change, the fake
/proc/cpuinfo is what ONNX Runtime's cpuinfo parses, and the summary renders a record."""
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def parity():
    return load("arm64_parity")


@pytest.fixture(scope="module")
def check():
    return load("arm64_check")


def test_parity_passes_against_its_own_reference_and_fails_on_one_flipped_bit(parity, tmp_path):
    ref = tmp_path / "ref.npz"
    assert parity.main(["make", "--out", str(ref)]) == 0
    out = tmp_path / "same.json"
    assert parity.main(["check", "--ref", str(ref), "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["ok"] and result["checks"]["letterbox"]["bit_exact"] == len(parity.LETTERBOX_CASES) * 2
    assert result["checks"]["detector"]["ok"] is None  # no model given: reported, not judged

    with np.load(ref) as z:
        data = {k: z[k] for k in z.files}
    blob = data["ref.letterbox0.blob"].copy()
    blob.view(np.uint32).reshape(-1)[12345] ^= 1  # one ulp in one element
    data["ref.letterbox0.blob"] = blob
    bad = tmp_path / "bad.npz"
    np.savez_compressed(bad, **data)
    out = tmp_path / "bad.json"
    assert parity.main(["check", "--ref", str(bad), "--json", str(out)]) == 1
    result = json.loads(out.read_text())
    assert result["checks"]["letterbox"]["differing"] == ["letterbox0.blob"]
    assert result["checks"]["nms"]["ok"] and result["checks"]["decode"]["ok"]


def test_fake_cpuinfo_has_one_aarch64_block_per_host_processor(check, tmp_path):
    for name, model in check.CPU_MODELS.items():
        check.write_cpuinfo(tmp_path, name)
        blocks = (tmp_path / "proc/cpuinfo").read_text().strip().split("\n\n")
        assert len(blocks) == check.n_processors()
        fields = dict(line.split(":", 1) for line in blocks[0].splitlines())
        fields = {k.strip(): v.strip() for k, v in fields.items()}
        assert fields["CPU part"] == model["midr"][2] and fields["CPU architecture"] == "8"
        assert "asimd" in fields["Features"].split()


def test_a_proc_symlink_left_by_debootstrap_is_replaced_not_written_through(check, tmp_path):
    target = tmp_path / "host_proc"
    target.mkdir()
    (tmp_path / "root").mkdir()
    (tmp_path / "root/proc").symlink_to(target)
    check.write_cpuinfo(tmp_path / "root", "cortex-a72")
    assert not (target / "cpuinfo").exists() and (tmp_path / "root/proc/cpuinfo").is_file()


def test_summary_renders_a_record_with_ap_and_skips(check):
    record = {"command": "scripts/arm64_check.sh", "date": "2026-12-07T00:00:00+00:00", "status": "incomplete",
              "host": {"cpu": "x", "machine": "x86_64", "cores": 2, "load_average_at_start": [1.0]},
              "note": "not a timing", "cpu_models": {"cortex-a72": {"qemu_cpu": "cortex-a72", "what": "Pi 4"}},
              "settings": {"eval": "--conf 0.03", "tolerance_AP": check.TOLERANCE},
              "steps": [{"name": "ap-x86", "status": "ok",
                         "figures": {k: {"AP": 28.18, "AP50": 41.0} for k in check.FILES}},
                        {"name": "ap-cortex-a72", "status": "ok",
                         "figures": {k: {"AP": 28.2, "AP50": 41.0} for k in check.FILES}},
                        {"name": "pytest", "status": "skipped", "reason": "not selected (--only)"}]}
    md = check.markdown(record)
    assert "| lite-s.onnx | 28.18 | 28.20 (+0.02) | 0.05 |" in md
    assert "| pytest | skipped | not selected (--only) |" in md


def fake_work(check, tmp_path):
    """A work folder as the AP step reads it: the three model files, a staged aarch64 package, the wheels' pins,
    a validation set of two images."""
    shared = tmp_path / "shared"
    (shared / "coco/val/images").mkdir(parents=True)
    for name in ("a.jpg", "b.jpg"):
        (shared / "coco/val/images" / name).write_bytes(b"jpeg " + name.encode())
    (shared / "coco/val/instances.json").write_text("{}")
    args = check.argparse.Namespace(work=tmp_path / "work", shared=shared, cpus=["cortex-a72"])
    env = check.Env(args)
    for f in check.FILES.values():
        (env.x86 / f).write_bytes(b"onnx " + f.encode())
    (env.pkg / "yolov6_edge").mkdir(parents=True)
    (env.pkg / "yolov6_edge/__init__.py").write_text("")
    (env.pkg / "yolov6_edge/_C.cpython-311-aarch64-linux-gnu.so").write_bytes(b"elf v1")
    env.site.mkdir()
    env.root.mkdir()
    (env.site / ".y6-pins.json").write_text(json.dumps(["onnxruntime==1.0"]))
    return env


def test_ap_results_are_reused_only_while_model_cpu_data_and_package_are_unchanged(check, tmp_path, monkeypatch):
    env = fake_work(check, tmp_path)
    runs = []

    def fake_sh(cmd, env=None, log=None, timeout=0, check=True, echo=True):
        model = Path(cmd[cmd.index("eval") + 1])
        out = Path(cmd[cmd.index("--json") + 1])
        runs.append(model.name)
        out.write_text(json.dumps({"AP": 28.0 + len(runs), "AP50": 40.0, "n_images": 2}))
        return 0, ""

    monkeypatch.setattr(check, "sh", fake_sh)
    n = 0
    ran = lambda: sorted(runs[n:])  # noqa: E731 - the runs since mark n
    first = check.step_ap(env, "cortex-a72")
    assert ran() == sorted(check.FILES.values()) and not any(f["reused"] for f in first.values())

    n = len(runs)
    again = check.step_ap(env, "cortex-a72")
    assert runs[n:] == [] and all(f["reused"] for f in again.values())
    assert {k: f["AP"] for k, f in again.items()} == {k: f["AP"] for k, f in first.items()}

    # a changed model re-runs that model only
    n = len(runs)
    (env.x86 / check.FILES["int8"]).write_bytes(b"onnx requantized")
    out = check.step_ap(env, "cortex-a72")
    assert runs[n:] == [check.FILES["int8"]] and not out["int8"]["reused"] and out["float"]["reused"]

    # a changed native module, Python file, wheels or data set: each re-runs all three
    pkg = env.pkg / "yolov6_edge"
    for change in (lambda: (pkg / "_C.cpython-311-aarch64-linux-gnu.so").write_bytes(b"elf v2"),
                   lambda: (pkg / "__init__.py").write_text("VERSION = 2\n"),
                   lambda: (env.site / ".y6-pins.json").write_text(json.dumps(["onnxruntime==1.1"])),
                   lambda: (env.shared / "coco/val/instances.json").write_text('{"images": []}')):
        change()
        n = len(runs)
        out = check.step_ap(env, "cortex-a72")
        assert ran() == sorted(check.FILES.values()) and not any(f["reused"] for f in out.values())

    # a result without its stamp (or a torn stamp) is not trusted
    n = len(runs)
    (env.run / "ap_cortex-a72_float.stamp.json").write_text("{")
    out = check.step_ap(env, "cortex-a72")
    assert runs[n:] == [check.FILES["float"]] and not out["float"]["reused"]


def test_a_run_that_writes_nothing_leaves_no_stamp_to_reuse(check, tmp_path):
    out = tmp_path / "ap.json"
    with pytest.raises(check.Fail, match="ap.json was not written"):
        check.reuse_or_run(out, {"k": 1}, lambda: None)
    assert not (tmp_path / "ap.stamp.json").exists()
    out.write_text("{}")  # a result from elsewhere, with no stamp: run again
    calls = []
    assert check.reuse_or_run(out, {"k": 1}, lambda: (calls.append(1), out.write_text("{}"))) is False
    assert calls == [1] and check.reuse_or_run(out, {"k": 1}, lambda: calls.append(2)) is True and calls == [1]


def test_the_staged_package_carries_the_metadata_its_version_is_read_from(check, tmp_path):
    from importlib.metadata import distributions

    check.stage_dist_info(tmp_path)
    found = [d for d in distributions(path=[str(tmp_path)]) if d.metadata["Name"] == "yolov6-edge"]
    assert len(found) == 1 and found[0].version == check.package_version()
    assert check.package_version().count(".") == 2
