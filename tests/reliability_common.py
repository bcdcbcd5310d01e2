"""Small files the reliability tests (issue 17) share: a tiny ONNX detector, a tiny checkpoint, images."""
import re
import subprocess
import sys
import textwrap

import cv2
import numpy as np

ONE_LINE_MAX = 400
PROGRESS = re.compile(r"\d+%\|.*\|")


def tiny_onnx(path, size=(64, 64), **kw):
    import torch

    from standin_models import TinyContractModel
    from yolov6_edge.export.onnx import export_onnx

    torch.manual_seed(0)
    return export_onnx(TinyContractModel().eval(), path, img_size=size, **kw)


def tiny_checkpoint(path, num_classes=3):
    import torch

    from yolov6_edge.models import build_model
    from yolov6_edge.weights.checkpoint import save_checkpoint

    torch.manual_seed(0)
    return save_checkpoint(build_model("yolov6lite-s", num_classes=num_classes).eval(), path)


def write_images(folder, names, seed=0, shape=(60, 80)):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for name in names:
        img = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
        img[10:40, 20:50] = 230
        cv2.imwrite(str(folder / name), img)
        paths.append(folder / name)
    return paths


def one_line_error(capsys, *names):
    """The CLI's stderr: exactly one line, naming each of `names`."""
    err = capsys.readouterr().err.strip()
    # tqdm bars a stopped loop leaves (and clears with \r on a terminal) are not part of the message
    lines = [ln.strip() for ln in re.split(r"[\r\n]", err) if ln.strip() and not PROGRESS.search(ln)]
    assert len(lines) == 1 and len(lines[0]) < ONE_LINE_MAX, err
    err = lines[0]
    for n in names:
        assert str(n) in err, err
    return err


def one_line_raised(err, *names):
    """A raised error's message (pytest.raises' ExceptionInfo): one line, short, naming each of `names`."""
    msg = str(err.value)
    assert "\n" not in msg and len(msg) < 400, msg
    for n in names:
        assert str(n) in msg, msg
    return msg


def model_and_images(d):
    """`d` with a tiny ONNX model (tiny.onnx), a tiny checkpoint (m.pt) and two images (imgs/a.jpg, imgs/b.png)."""
    tiny_onnx(d / "tiny.onnx")
    tiny_checkpoint(d / "m.pt")
    write_images(d / "imgs", ["a.jpg", "b.png"])
    return d


def run_python(code, timeout=120, **kw):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout, **kw)


def snapshot(folder):
    """{relative path: (bytes, mode)} of every file under `folder`, hidden ones included."""
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mode & 0o777)
            for p in sorted(folder.rglob("*")) if p.is_file()}
