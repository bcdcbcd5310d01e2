"""Input files are checked by type before they are opened: a fifo would block the read forever, a device such as
/dev/zero or /dev/urandom would be read until memory runs out. Only regular files are read as images, models,
recipes, annotation files and videos (a camera is opened by its index or as /dev/video*, never read as a file).
"""
import os
import stat
from pathlib import Path

from .errors import fail

KINDS = ((stat.S_ISFIFO, "a fifo (named pipe)"), (stat.S_ISCHR, "a character device"),
         (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder"))


def file_kind(path) -> str:
    """'file', 'missing', or what else `path` is (following symlinks)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "missing"
    except OSError as e:
        return f"unreadable ({e.strerror})"
    if stat.S_ISREG(mode):
        return "file"
    return next((what for test, what in KINDS if test(mode)), "not a regular file")


def is_char_device(path) -> bool:
    """A character device, such as a camera's /dev/video0 (a legitimate stream source, opened as a camera)."""
    try:
        return stat.S_ISCHR(os.stat(path).st_mode)
    except (OSError, ValueError, TypeError):
        return False


def regular_file(path, what="file") -> Path:
    """`path` as a Path when it is a regular file (symlinks followed); else one line saying what it is instead."""
    path = Path(path)
    kind = file_kind(path)
    if kind == "file":
        return path
    if kind == "missing":
        raise fail(path, f"no such {what}")
    raise fail(path, f"is {kind}, not a regular file; refused before reading it as the {what}")
