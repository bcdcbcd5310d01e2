"""Every file this tool writes goes through here: staged on the target's own filesystem, moved in when complete.

- Staging: a hidden folder `.yolov6-edge-stage.XXXXXXXX` is made in the folder the file goes into (for a folder
  of outputs, `staged_folder`: inside that folder), the file is written there and renamed over the target when
  complete. The rename never crosses filesystems, so an output folder that is a mount point (an SD card, a USB
  disk, NFS, a container volume) works like any other, and a read-only parent does not matter.
- Ownership: a staging folder holds a marker file (`.yolov6-edge-stage`) with a fixed text and a random token,
  and the writing process holds an exclusive lock (flock) on it while it writes. Staging folders left behind by
  a kill that runs no Python code (SIGKILL, power loss) are removed by a later write into the same folder only
  when both hold: the marker is ours and nobody holds its lock (the kernel drops a dead process's locks; NFS
  and container volumes share them between hosts and containers). Nothing is removed by the shape of its
  name, nor by whether some process id is alive. An error or a signal the process turns into an exception (the
  CLI does so for SIGTERM and SIGHUP) removes the staging folder at once.
- Errors: a write that fails for a reason of the disk (ENOSPC, EFBIG, EDQUOT, EROFS, EACCES, EIO, ...) is one
  line naming the path and the cause, with nothing half-written left.
- Permissions: the file gets the mode an ordinary `open(path, "w")` would give it: 0666 minus the umask for a
  new file, the existing file's mode when it replaces one (tempfile.mkstemp alone would leave 0600, which
  another account serving the model could not read).
- A target that is itself a mount point (a file bind-mounted into a container) cannot be renamed over
  (EBUSY/EXDEV): its bytes are copied in place instead, which is not atomic.
"""
import contextlib
import errno
import fcntl
import os
import resource
import secrets
import shutil
import tempfile
from pathlib import Path

from .errors import Yolov6EdgeError, fail

STAGE_PREFIX = ".yolov6-edge-stage."
MARKER = ".yolov6-edge-stage"
MARKER_TEXT = "yolov6-edge staging folder: removed by yolov6-edge once no process holds a lock on this file\n"
_swept = set()  # folders already cleared of abandoned staging folders by this process

# errno -> what it means for a write (the cause printed after the path)
WRITE_ERRORS = {
    errno.ENOSPC: "no space left on the device",
    errno.EFBIG: "file too large (a file-size limit such as `ulimit -f`, or the filesystem's maximum)",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only filesystem",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EIO: "input/output error (a failing or removed device?)",
    errno.EXDEV: "cannot move across filesystems",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EISDIR: "is a folder",
    errno.ENAMETOOLONG: "file name too long",
    errno.ENOENT: "the folder disappeared while writing",
}
# errnos that can only come from writing: converted even where the failing call is not known to be a write
DISK_ERRNOS = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EROFS)


def _remove_made(made) -> None:
    """Remove the (still empty) parent folders a failed write made, deepest first."""
    for folder in reversed(made):
        with contextlib.suppress(OSError):
            folder.rmdir()


def _cause(e: OSError) -> str:
    return (WRITE_ERRORS.get(e.errno) if e.errno is not None else None) or e.strerror or str(e)


def write_error(path, e: OSError) -> Yolov6EdgeError:
    """One line for a failed write: '<path>: cannot write: <cause> (ERRNO)'."""
    cause = _cause(e)
    code = errno.errorcode.get(e.errno, "") if e.errno is not None else ""
    return fail(path, f"cannot write: {cause}" + (f" ({code})" if code else ""))


def diagnose_short_write(path) -> str:
    """A best guess at why a writer that reports no errno (OpenCV's VideoWriter) stopped short."""
    folder = Path(path).parent
    try:
        st = os.statvfs(folder)
        if st.f_bavail * st.f_frsize < 1 << 20:
            return "no space left on the device (ENOSPC)"
    except OSError:
        pass
    try:
        limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        if limit != resource.RLIM_INFINITY and Path(path).exists() and Path(path).stat().st_size >= limit - (1 << 16):
            return f"the file-size limit of {limit} bytes (`ulimit -f`, EFBIG)"
    except (OSError, ValueError):
        pass
    return "the disk, a quota or a file-size limit refused more data"


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


# ---- staging folders: made, locked and removed only by us ------------------------------------------------------

class _Stage:
    """A staging folder in `parent`, locked for as long as it exists."""

    def __init__(self, parent: Path):
        self.path = Path(tempfile.mkdtemp(prefix=STAGE_PREFIX, dir=parent))
        self._fd = None
        try:
            # The marker is locked before it gets its final name, so a sweep never sees an unlocked marker
            # of a live writer.
            fd, tmp = tempfile.mkstemp(prefix=".marker.", dir=self.path)
            self._fd = fd
            with contextlib.suppress(OSError):  # no locks here (ENOLCK): a sweep cannot lock it either, keeps it
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.write(fd, (MARKER_TEXT + f"token {secrets.token_hex(16)}\n").encode())
            os.replace(tmp, self.path / MARKER)
        except BaseException:
            self.remove()
            raise

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _abandoned(entry) -> bool:
    """A staging folder of ours (marker text) whose writer is gone (its lock can be taken)."""
    if not entry.name.startswith(STAGE_PREFIX) or not entry.is_dir(follow_symlinks=False):
        return False
    marker = os.path.join(entry.path, MARKER)
    try:
        fd = os.open(marker, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return False  # no marker (or a writer between mkdtemp and its marker): not provably ours
    try:
        if not os.read(fd, len(MARKER_TEXT)).decode("utf-8", "replace") == MARKER_TEXT:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False  # held: a writer is at work (here, in another container or on another host)
        return True
    finally:
        os.close(fd)


def remove_abandoned_stages(folder) -> list:
    """Remove the staging folders in `folder` that this tool made and no running writer holds; return them."""
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if _abandoned(entry):
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(Path(entry.path))
    return removed


def _sweep_once(folder: Path) -> None:
    key = os.path.realpath(folder)
    if key not in _swept:
        _swept.add(key)
        remove_abandoned_stages(folder)


def _make_folder(folder: Path, what_path) -> list:
    """mkdir -p that reports a failure as one line; returns the folders it created, deepest last."""
    made = []
    missing = []
    p = folder
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    for p in reversed(missing):
        try:
            p.mkdir()
        except FileExistsError:
            continue
        except OSError as e:
            raise write_error(what_path, e) from None
        made.append(p)
    return made


def _stage_in(parent: Path, target) -> _Stage:
    try:
        return _Stage(parent)
    except OSError as e:
        raise write_error(target, e) from None


def _move(staged: Path, final: Path) -> None:
    """Rename `staged` over `final`; a target that is a mount point itself gets its bytes copied in place."""
    if staged.is_dir():  # a folder of outputs (a model repository): searchable, 0777 minus the umask
        os.chmod(staged, 0o777 & ~_umask())
    else:
        os.chmod(staged, target_mode(final))
    try:
        os.replace(staged, final)
    except OSError as e:
        if e.errno not in (errno.EBUSY, errno.EXDEV) or not final.is_file():
            raise
        shutil.copyfile(staged, final)
        os.unlink(staged)


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path on the target's filesystem; on success it is renamed to `path`, on error removed.

    Use it for writers that want a file name (torch.save, onnx.save, TensorRT serialization):

        with atomic_path("model.onnx") as tmp:
            onnx.save(model, tmp)

    A write that fails for a reason of the disk is re-raised as one line naming `path` (write_error).
    """
    path = Path(path)
    made = _make_folder(path.parent, path)
    _sweep_once(path.parent)
    stage = None
    try:
        stage = _stage_in(path.parent, path)
        tmp = stage.path / (path.name or "file")
        yield tmp
        try:
            _move(tmp, path)
        except OSError as e:
            raise write_error(path, e) from None
    except BaseException as e:
        _remove_made(made)
        if isinstance(e, OSError) and e.errno in DISK_ERRNOS:
            raise write_error(path, e) from None
        raise
    finally:
        if stage is not None:
            stage.remove()


def atomic_write_bytes(path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(data)


def atomic_write_text(path, text: str) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)


@contextlib.contextmanager
def staged_folder(folder, last=()):
    """Yield a staging folder inside `folder` to write a set of files into; `folder` sees all of them or none.

    On success each file is renamed into `folder` (replacing a same-named file, whose mode it keeps), the
    names in `last` after the others, so a reader that finds the new `last` file (an index such as
    detections.json) also finds everything it lists. On error or interruption the staged files are removed and
    `folder` is left exactly as it was (a folder this call created is removed again). (`predict --save` keeps
    what it finished before a source fault by catching the fault inside the block.)
    """
    folder = Path(folder)
    made = _make_folder(folder, folder)
    _sweep_once(folder)
    stage = None
    moved = False
    try:
        stage = _stage_in(folder, folder)
        yield stage.path
        moved = True
        _move_all(stage.path, folder, last)
    except BaseException as e:
        if not moved:
            _remove_made(made)
        if isinstance(e, OSError) and e.errno in DISK_ERRNOS:
            raise write_error(folder, e) from None
        raise
    finally:
        if stage is not None:
            stage.remove()


def _move_all(stage: Path, folder: Path, last) -> None:
    names = sorted(p.name for p in stage.iterdir() if p.name != MARKER)
    for name in sorted(names, key=lambda n: n in last):
        try:
            _move(stage / name, folder / name)
        except OSError as e:
            raise write_error(folder / name, e) from None


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
        raise fail(path, f"cannot write in {folder}: {_cause(e)}") from None
    os.close(fd)
    os.unlink(probe)


def check_writable(path, what="output file") -> Path:
    """Fail now, before any work, when `path` cannot be written as a file."""
    path = Path(path)
    if path.is_dir():
        raise fail(path, f"is a folder; the {what} needs a file name")
    if path.exists() and not path.is_file():
        raise fail(path, f"is not a regular file (a fifo, device or socket); the {what} needs a file name")
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
