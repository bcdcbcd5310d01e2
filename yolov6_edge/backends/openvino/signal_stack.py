"""Keep the calling thread's own signal stack across OpenVINO's compile_model.

OpenVINO's CPU plugin (2025+, `SigAltStackSetup`) gives the thread that compiles a model an alternate signal
stack of its own, mapped for that compiled model, and puts back the one it found when the model is destroyed.
Destroyed in another order than last-made-first (two Detectors dropped in the order they were opened), the
thread is left pointing at a signal stack already unmapped. The next signal a handler catches on it (Ctrl-C,
faulthandler, any Python signal handler: CPython installs them with SA_ONSTACK) then kills the process with
SIGSEGV, or, once that address is mapped again for something else, the kernel writes the signal frame into
it: heap corruption far from the cause (tests/test_openvino_signal_stack.py shows both orders).

So every compile_model of ours runs inside keep_signal_stack(): the thread gets back the signal stack it had,
and the plugin's own is never in use. The plugin maps it to make room for large (AMX) signal frames; without
it, signals are handled on the thread's own stack or on the stack the program set up, as before OpenVINO.
"""
import contextlib
import ctypes
import functools
import sys


class _Stack(ctypes.Structure):  # stack_t, the same layout on x86-64 and aarch64 Linux
    _fields_ = [("ss_sp", ctypes.c_void_p), ("ss_flags", ctypes.c_int), ("ss_size", ctypes.c_size_t)]


@functools.lru_cache(maxsize=1)
def _libc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True)  # the libc this process runs on
    except OSError:
        return None


def _read():
    """The calling thread's stack_t, or None where it cannot be read (not Linux, no libc)."""
    libc = _libc()
    st = _Stack()
    if libc is None or libc.sigaltstack(None, ctypes.byref(st)) != 0:
        return None
    return st


def current_signal_stack():
    """(address, flags, size) of the calling thread's alternate signal stack; None where it cannot be read."""
    st = _read()
    return None if st is None else (st.ss_sp or 0, st.ss_flags, st.ss_size)


@contextlib.contextmanager
def keep_signal_stack():
    """Whatever runs inside may set the thread's alternate signal stack; on the way out it is put back."""
    saved = _read()
    if saved is None:
        yield
        return
    try:
        yield
    finally:
        before = (saved.ss_sp or 0, saved.ss_flags, saved.ss_size)
        if current_signal_stack() != before:
            saved.ss_flags &= ~1  # SS_ONSTACK is a state the kernel reports, not one a caller may set
            _libc().sigaltstack(ctypes.byref(saved), None)
