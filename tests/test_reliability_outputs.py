"""Issue 26, outputs: one output layer for every write. Staging on the target's own filesystem (a mount point,
a read-only parent), only staging folders this tool provably made are ever removed, every command's every
output is checked against its inputs, a failing disk (ENOSPC, EFBIG, EROFS) or a closed stdout is one line
naming the path and the cause, and finished outputs are kept where the docs promise them.

The disk faults are real: a tiny tmpfs, a read-only bind mount and a separate mount are made in a private
mount namespace (`unshare --user --map-root-user --mount`), and RLIMIT_FSIZE is set in a subprocess. Where
unprivileged namespaces are not allowed those tests skip, saying so.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap

import cv2
import numpy as np
import pytest

from reliability_common import one_line_error, run_python, snapshot, tiny_checkpoint, tiny_onnx, write_images
from yolov6_edge.atomic import MARKER, STAGE_PREFIX, atomic_write_text, remove_abandoned_stages, staged_folder
from yolov6_edge.cli.main import main
from yolov6_edge.errors import Yolov6EdgeError


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    d = tmp_path_factory.mktemp("rel_outputs")
    tiny_onnx(d / "tiny.onnx")
    tiny_checkpoint(d / "m.pt")
    write_images(d / "imgs", ["a.jpg", "b.png", "c.jpg"])
    (d / "ann.json").write_text(json.dumps({
        "images": [{"id": i + 1, "file_name": n, "height": 60, "width": 80} for i, n in enumerate(["a.jpg", "b.png"])],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [20, 10, 30, 30], "area": 900,
                         "iscrowd": 0}], "categories": [{"id": k + 1, "name": f"c{k}"} for k in range(3)]}))
    return d


def _unshare_ok() -> bool:
    if not shutil.which("unshare"):
        return False
    try:
        return subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "true"], capture_output=True,
                              timeout=20).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


needs_namespace = pytest.mark.skipif(not _unshare_ok(), reason="needs `unshare --user --map-root-user --mount` "
                                                               "(unprivileged user namespaces) for real mounts")


def in_namespace(setup: str, code: str, timeout=240):
    """Run `setup` (shell, mounts) then python `code` in a private user + mount namespace."""
    script = f"set -e\n{setup}\nexec {sys.executable} -c {_shell_quote(textwrap.dedent(code))}\n"
    return subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "bash", "-c", script],
                          capture_output=True, text=True, timeout=timeout)


def _shell_quote(text):
    return "'" + text.replace("'", "'\"'\"'") + "'"


def _err_lines(stderr):
    return [ln for ln in stderr.replace("\r", "\n").splitlines() if ln.strip() and "%|" not in ln]


# ---- only what we provably made is removed ---------------------------------------------------------------------

def test_a_write_never_removes_what_it_did_not_make(tmp_path):
    """Before: any write removed names shaped like .NAME.<digits>.<word>.tmp whose 'pid' was not running,
    folders included: a user's .photos.20190704.backup.tmp/ beside -o was deleted."""
    backup = tmp_path / ".photos.20190704.backup.tmp"
    backup.mkdir()
    (backup / "IMG_0001.jpg").write_bytes(b"a photo")
    (tmp_path / ".notes.4242.draft.tmp").write_text("mine")
    fake = tmp_path / (STAGE_PREFIX + "mine")  # our name, no marker: not provably ours
    fake.mkdir()
    (fake / "keep.txt").write_text("x")
    wrong = tmp_path / (STAGE_PREFIX + "wrongmarker")  # a marker file of someone else's text
    wrong.mkdir()
    (wrong / MARKER).write_text("not ours\n")
    before = snapshot(tmp_path)
    atomic_write_text(tmp_path / "out.json", "{}")
    with staged_folder(tmp_path) as stage:
        (stage / "x.txt").write_text("new")
    assert remove_abandoned_stages(tmp_path) == []
    after = snapshot(tmp_path)
    assert {k: v for k, v in after.items() if k not in ("out.json", "x.txt")} == before


def test_a_live_writers_staging_is_kept_and_a_dead_ones_removed(tmp_path):
    """Liveness is the staging folder's lock, not a process id (meaningless across containers and hosts)."""
    code = f"""
        import sys, time
        from yolov6_edge.atomic import atomic_path
        with atomic_path({str(tmp_path / 'big.engine')!r}) as tmp:
            tmp.write_bytes(b"half")
            print("writing", flush=True)
            time.sleep(120)
    """
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "writing"
        stages = [p for p in tmp_path.iterdir() if p.name.startswith(STAGE_PREFIX)]
        assert len(stages) == 1
        assert remove_abandoned_stages(tmp_path) == []  # its writer holds the lock: kept
        assert stages[0].is_dir()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert remove_abandoned_stages(tmp_path) == stages  # the kernel dropped the lock with the process
    assert list(tmp_path.iterdir()) == []


# ---- every command's every output is checked against its inputs --------------------------------------------------

@pytest.fixture
def no_work(monkeypatch):
    """Make every command's main work fail the test: the checks must stop it first."""
    import yolov6_edge.eval.coco
    import yolov6_edge.quant.calibrate
    import yolov6_edge.quant.runtime_compare
    import yolov6_edge.weights

    for mod, name in ((yolov6_edge.weights, "load_model"), (yolov6_edge.quant.calibrate, "calibrate_to_qdq"),
                      (yolov6_edge.quant.calibrate, "load_float_model"), (yolov6_edge.eval.coco, "evaluate"),
                      (yolov6_edge.quant.runtime_compare, "compare_runtimes")):
        monkeypatch.setattr(mod, name, lambda *a, **k: pytest.fail("the work started before the output check"))


COLLISIONS = {
    # issue 26's examples
    "compare-runtimes --json MODEL": (["compare-runtimes", "{d}/tiny.onnx", "--images", "{d}/imgs", "--json",
                                       "{d}/tiny.onnx"], "tiny.onnx"),
    "eval --json IMAGE": (["eval", "{d}/tiny.onnx", "--images", "{d}/imgs", "--ann", "{d}/ann.json", "--json",
                           "{d}/imgs/a.jpg"], "imgs/a.jpg"),
    "eval --predictions IMAGE": (["eval", "{d}/tiny.onnx", "--images", "{d}/imgs", "--ann", "{d}/ann.json",
                                  "--predictions", "{d}/imgs/b.png"], "imgs/b.png"),
    "compare --json IMAGE": (["compare", "{d}/tiny.onnx", "{d}/tiny.onnx", "--images", "{d}/imgs", "--ann",
                              "{d}/ann.json", "--json", "{d}/imgs/c.jpg"], "imgs/c.jpg"),
    # the same kind elsewhere
    "compare-runtimes --json IMAGE": (["compare-runtimes", "{d}/tiny.onnx", "--images", "{d}/imgs/*.jpg",
                                       "--json", "{d}/imgs/a.jpg"], "imgs/a.jpg"),
    "calibrate -o RECIPE": (["calibrate", "{d}/m.pt", "--recipe", "{d}/r.yaml", "-o", "{d}/r.yaml"], "r.yaml"),
    "calibrate --cache LISTED IMAGE": (["calibrate", "{d}/m.pt", "--images", "{d}/list.txt", "-o", "{d}/q.onnx",
                                        "--cache", "{d}/imgs/a.jpg"], "imgs/a.jpg"),
    "calibrate --cache EVAL IMAGE": (["calibrate", "{d}/m.pt", "--images", "{d}/list.txt", "-o", "{d}/q.onnx",
                                      "--skip", "auto", "--max-ap-drop", "1", "--eval-images", "{d}/imgs",
                                      "--eval-ann", "{d}/ann.json", "--cache", "{d}/imgs/b.png"], "imgs/b.png"),
    "qat --cache LABELS": (["qat", "{d}/m.pt", "--images", "{d}/imgs", "-o", "{d}/q.onnx", "--labels",
                            "{d}/ann.json", "--cache", "{d}/ann.json"], "ann.json"),
    "sensitivity -o IMAGE PREFIX": (["sensitivity", "{d}/m.pt", "--images", "{d}/imgs", "-o", "{d}/imgs/b"],
                                    "imgs/b.png"),
    "build --timing-cache MODEL": (["build", "{d}/tiny.onnx", "-o", "{d}/m.engine", "--timing-cache",
                                    "{d}/tiny.onnx"], "tiny.onnx"),
    "train --weights OUTPUT/best.pt": (["train", "--weights", "{d}/run/best.pt", "--output", "{d}/run"],
                                       "run/best.pt"),
    "bench --json MODEL": (["bench", "{d}/tiny.onnx", "--json", "{d}/tiny.onnx"], "tiny.onnx"),
    "predict --save -o SOURCE FOLDER": (["predict", "{d}/tiny.onnx", "{d}/vids/clip.mp4", "--save", "-o",
                                         "{d}/vids"], "vids/clip.mp4"),
}


@pytest.mark.parametrize("case", list(COLLISIONS))
def test_no_command_writes_over_its_inputs(case, work, tmp_path, capsys, no_work):
    d = tmp_path
    shutil.copy(work / "tiny.onnx", d / "tiny.onnx")
    shutil.copy(work / "m.pt", d / "m.pt")
    shutil.copytree(work / "imgs", d / "imgs")
    (d / "ann.json").write_text(json.dumps({"images": [{"id": 1, "file_name": "a.jpg", "height": 60, "width": 80}],
                                            "annotations": [], "categories": [{"id": 1, "name": "c0"}]}))
    (d / "r.yaml").write_text(f"images: {d / 'imgs'}\nnum: 2\n")
    (d / "list.txt").write_text(f"{d / 'imgs' / 'a.jpg'}\n")
    (d / "run").mkdir()
    shutil.copy(work / "m.pt", d / "run" / "best.pt")
    (d / "vids").mkdir()
    (d / "vids" / "clip.mp4").write_bytes(b"stands in for a video: refused before it is read")
    argv, victim = COLLISIONS[case]
    argv = [a.format(d=d) for a in argv]
    before = snapshot(d)
    assert main(argv) == 2
    one_line_error(capsys, d / victim)
    assert snapshot(d) == before


# ---- the disk says no: one line naming the path and the cause -----------------------------------------------------

def test_a_full_disk_while_writing_is_one_line_and_leaves_nothing(tmp_path, work):
    """ENOSPC in the middle of a write (a real full filesystem: /dev/full as the file, opened for writing
    by the staging code's Python write)."""
    from yolov6_edge.atomic import atomic_path

    with pytest.raises(Yolov6EdgeError) as e:
        with atomic_path(tmp_path / "m.onnx"):
            with open("/dev/full", "wb") as f:  # what a write on a full disk raises
                f.write(b"x" * 10)
                f.flush()
    msg = str(e.value)
    assert str(tmp_path / "m.onnx") in msg and "ENOSPC" in msg and "\n" not in msg
    assert list(tmp_path.iterdir()) == []


def _rlimit_run(code, limit, timeout=240):
    return run_python(f"""
        import resource, sys
        resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))
        from yolov6_edge.cli.main import main
        {textwrap.dedent(code).strip()}
    """, timeout=timeout)


def test_a_file_size_limit_is_one_line_naming_the_file_and_the_cause(tmp_path, work):
    res = _rlimit_run(f"sys.exit(main(['export', {str(work / 'm.pt')!r}, '-o', {str(tmp_path / 'm.onnx')!r}, "
                      f"'--img', '64', '64', '--no-simplify']))", 20000)
    lines = _err_lines(res.stderr)
    assert res.returncode == 2 and len(lines) == 1, res.stderr[-3000:]
    assert str(tmp_path / "m.onnx") in lines[0] and "EFBIG" in lines[0], lines
    assert list(tmp_path.iterdir()) == []


def _clip(path, frames=48, size=(160, 120)):
    rng = np.random.default_rng(0)
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 24.0, size)
    for _ in range(frames):
        w.write(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))  # noise: a video that is large
    w.release()
    return path


def test_a_video_that_cannot_be_written_completely_is_reported_not_claimed(tmp_path, work):
    """Before: a file-size limit (or a full disk, a quota) printed 'wrote ...' and exited 0 with a truncated mp4
    (no moov atom). After: exit 2, one line saying which video failed and why, the video removed, the complete
    JSON Lines kept."""
    clip = _clip(tmp_path / "clip.mp4")
    out = tmp_path / "out"
    limit = clip.stat().st_size // 3
    res = _rlimit_run(f"sys.exit(main(['predict', {str(work / 'tiny.onnx')!r}, {str(clip)!r}, '--save', '-o', "
                      f"{str(out)!r}, '--decoder', 'opencv', '--conf', '0.9', '--max-det', '3']))", limit)
    lines = _err_lines(res.stderr)
    assert res.returncode == 2, res.stderr[-3000:]
    assert len(lines) == 1 and str(out / "clip.mp4") in lines[0] and "EFBIG" in lines[0], lines
    assert "kept clip.jsonl (48 frames)" in lines[0]
    assert "except what is reported below" in res.stdout, res.stdout  # before: "...; wrote out", exit 0
    assert sorted(p.name for p in out.iterdir()) == ["clip.jsonl"]
    assert len((out / "clip.jsonl").read_text().splitlines()) == 48


def test_a_closed_stdout_still_moves_the_finished_outputs_in(tmp_path, work):
    """`predict ... | head -1`: before, a BrokenPipeError traceback and nothing in -o."""
    out = tmp_path / "out"
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line, as `head -1` is after its line
    try:
        res = subprocess.run([sys.executable, "-m", "yolov6_edge", "predict", str(work / "tiny.onnx"),
                              str(work / "imgs"), "-o", str(out), "--conf", "0.01"], stdout=write_end,
                             stderr=subprocess.PIPE, text=True, timeout=240, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    finally:
        os.close(write_end)
    assert res.returncode == 0, res.stderr[-2000:]
    lines = _err_lines(res.stderr)
    assert len(lines) == 1 and "broken pipe" in lines[0], lines
    assert sorted(p.name for p in out.iterdir()) == ["a.jpg", "b.png", "c.jpg", "detections.json"]
    assert len(json.loads((out / "detections.json").read_text())["images"]) == 3


# ---- mounts: -o on its own filesystem, a read-only parent, a full one ----------------------------------------------

@needs_namespace
def test_outputs_on_a_mount_point_and_under_a_read_only_parent(tmp_path, work):
    """-o is a mount point (an SD card, a USB disk, a volume): before, staging in the parent made the final
    rename fail with EXDEV after the whole run; a read-only parent failed at once with a traceback."""
    ro, card = tmp_path / "ro", tmp_path / "ro" / "card"
    card.mkdir(parents=True)
    setup = (f"mount --bind {ro} {ro} && mount -o remount,bind,ro {ro} {ro}\n"
             f"mount -t tmpfs -o size=8m tmpfs {card}")  # the card stays writable above the read-only parent
    res = in_namespace(setup, f"""
        import json, os, sys
        from yolov6_edge.cli.main import main
        card = {str(card)!r}
        rc = [main(['predict', {str(work / 'tiny.onnx')!r}, {str(work / 'imgs')!r}, '-o', card]),
              main(['eval', {str(work / 'tiny.onnx')!r}, '--images', {str(work / 'imgs')!r}, '--ann',
                    {str(work / 'ann.json')!r}, '--json', card + '/eval.json']),
              main(['export', {str(work / 'm.pt')!r}, '-o', card + '/m.onnx', '--img', '64', '64',
                    '--no-simplify']),
              main(['predict', {str(work / 'tiny.onnx')!r}, {str(work / 'imgs')!r}, '-o', {str(ro / 'new')!r}])]
        print(json.dumps({{"rc": rc, "card": sorted(os.listdir(card)), "ro": sorted(os.listdir({str(ro)!r}))}}))
    """)
    assert res.returncode == 0, res.stderr[-3000:]
    got = json.loads(res.stdout.strip().splitlines()[-1])
    assert got["rc"] == [0, 0, 0, 2], (got, res.stderr[-2000:])
    assert {"a.jpg", "b.png", "c.jpg", "detections.json", "eval.json", "m.onnx"} <= set(got["card"]), got
    assert not [n for n in got["card"] if n.startswith(".")], got
    lines = _err_lines(res.stderr)
    assert len(lines) == 1 and str(ro / "new") in lines[0] and "read-only" in lines[0], lines


@needs_namespace
def test_a_full_filesystem_is_one_line_and_leaves_the_output_folder_as_it_was(tmp_path, work):
    small = tmp_path / "small"
    small.mkdir()
    res = in_namespace(f"mount -t tmpfs -o size=12k tmpfs {small}\nmkdir {small}/out\n"
                       f"echo old > {small}/out/detections.json", f"""
        import sys
        from yolov6_edge.cli.main import main
        rc = main(['predict', {str(work / 'tiny.onnx')!r}, {str(work / 'imgs')!r}, '-o', {str(small / 'out')!r}])
        import os
        print(rc, sorted(os.listdir({str(small / 'out')!r})),
              open({str(small / 'out/detections.json')!r}).read().strip())
    """)
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.strip().splitlines()[-1] == "2 ['detections.json'] old", res.stdout
    lines = _err_lines(res.stderr)
    assert len(lines) == 1 and "ENOSPC" in lines[0] and str(small / "out") in lines[0], lines


def test_folders_moved_in_from_a_staging_folder_are_searchable(tmp_path):
    """export-triton stages whole model folders: they must come out 0755 under umask 022 (a file's 0644 on a
    folder would lock other accounts, such as the one running tritonserver, out of it)."""
    old = os.umask(0o022)
    try:
        with staged_folder(tmp_path / "repo") as stage:
            (stage / "yolov6" / "1").mkdir(parents=True)
            (stage / "yolov6" / "config.pbtxt").write_text("name: 'yolov6'\n")
    finally:
        os.umask(old)
    assert (tmp_path / "repo" / "yolov6").stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "repo" / "yolov6" / "config.pbtxt").read_text() == "name: 'yolov6'\n"
    assert sorted(p.name for p in (tmp_path / "repo").iterdir()) == ["yolov6"]
