"""Write files so that a crash or an error never leaves a partial one behind.

Engines, checkpoints, ONNX files and caches are written to a temporary file in the destination folder
and renamed over the target only when complete (rename is atomic on one filesystem).

- Permissions: the file gets the mode an ordinary `open(path, "w")` would give it: 0666 minus the umask for a
  new file, the existing file's mode when it replaces one (tempfile.mkstemp alone would leave 0600, which
  another account serving the model could not read).
- Leftovers: temporary names carry the writer's process id (`.NAME.<pid>.XXXXXXXX.tmp`). An error or a
  signal the process turns into an exception (the CLI does so for SIGTERM and SIGHUP) removes them at once;
  after a kill that runs no Python code (SIGKILL, power loss) the next write into the same folder removes
  those whose process is gone.
"""
import contextlib
import os
import re
import shutil
import tempfile
from pathlib import Path

from .errors import fail

_TMP = re.compile(r"^\..*\.(\d+)\.[A-Za-z0-9_]+\.tmp$")
_swept = set()  # folders already cleared of dead writers' leftovers by this process
# Room left in a file name for the temporary prefix and suffix (most filesystems allow 255 bytes).
_NAME_KEEP = 180


def _umask() -> int:
    try:  # Linux >= 4.7 reports it without changing it (os.umask is a set-and-restore race across threads)
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def target_mode(path) -> int:
    """The permission bits `path` gets when written: its current ones, or 0666 minus the umask for a new file."""
    try:
        return os.stat(path).st_mode & 0o777
    except OSError:
        return 0o666 & ~_umask()


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: someone else's live process
        return True
    return True


def remove_stale_temporaries(folder) -> list:
    """Remove `.NAME.<pid>.XXXX.tmp` files and folders of writers that no longer run; return what went."""
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        m = _TMP.match(entry.name)
        if not m or _alive(int(m.group(1))):
            continue
        with contextlib.suppress(OSError):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
            removed.append(Path(entry.path))
    return removed


def _sweep_once(folder: Path) -> None:
    key = os.path.realpath(folder)
    if key not in _swept:
        _swept.add(key)
        remove_stale_temporaries(folder)


def _prefix(path: Path) -> str:
    return f".{path.name[:_NAME_KEEP]}.{os.getpid()}."


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path`; on success it is renamed to `path`, on error removed.

    Use it for writers that want a file name (torch.save, onnx.save, TensorRT serialization):

        with atomic_path("model.onnx") as tmp:
            onnx.save(model, tmp)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _sweep_once(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=_prefix(path), suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, target_mode(path))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(data)


def atomic_write_text(path, text: str) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)


@contextlib.contextmanager
def staged_folder(folder, last=()):
    """Yield a hidden folder beside `folder` to write a set of files into; `folder` sees all of them or none.

    On success each file is renamed into `folder` (replacing a same-named file, whose mode it keeps), the
    names in `last` after the others, so a reader that finds the new `last` file (an index such as
    detections.json) also finds everything it lists. On error or interruption the staged files are removed and
    `folder` is left exactly as it was.
    """
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    _sweep_once(folder.parent)
    stage = Path(tempfile.mkdtemp(prefix=_prefix(folder), suffix=".tmp", dir=folder.parent))
    try:
        yield stage
        folder.mkdir(exist_ok=True)
        names = sorted(p.name for p in stage.iterdir())
        for name in sorted(names, key=lambda n: n in last):
            staged, final = stage / name, folder / name
            os.chmod(staged, target_mode(final))
            os.replace(staged, final)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


# ---- checks before the work: a command that will fail to write should fail before it computes ---------------

def _existing_ancestor(path: Path) -> Path:
    p = path.absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _probe(folder: Path, path: Path) -> None:
    try:
        fd, probe = tempfile.mkstemp(prefix=".yolov6-edge-write-check.", dir=folder)
    except OSError as e:
        raise fail(path, f"cannot write in {folder} ({e.strerror or e})") from None
    os.close(fd)
    os.unlink(probe)


def check_writable(path, what="output file") -> Path:
    """Fail now, before any work, when `path` cannot be written as a file."""
    path = Path(path)
    if path.is_dir():
        raise fail(path, f"is a folder; the {what} needs a file name")
    folder = _existing_ancestor(path.parent)
    if not folder.is_dir():
        raise fail(path, f"cannot write the {what}: {folder} is a file, not a folder")
    _probe(folder, path)
    return path


def check_output_folder(path, what="output folder") -> Path:
    """Fail now when `path` cannot be used as a folder to write into."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise fail(path, f"the {what} is an existing file, not a folder")
    folder = _existing_ancestor(path)
    if not folder.is_dir():
        raise fail(path, f"cannot create the {what}: {folder} is a file, not a folder")
    _probe(folder, path)
    return path
