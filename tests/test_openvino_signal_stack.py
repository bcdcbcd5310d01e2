"""OpenVINO's CPU plugin maps a signal stack for the thread that compiles a model and, when that model is
destroyed, puts back the one it found. Two models dropped in the order they were made left the thread on an
unmapped signal stack, and the next signal a Python handler caught killed the process (SIGSEGV; in the test
suite, heap corruption that crashed it minutes later). backends/openvino/signal_stack.py keeps the thread's
own signal stack across every compile_model of ours."""
import ctypes
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from yolov6_edge.backends.openvino.signal_stack import _Stack, _libc, current_signal_stack, keep_signal_stack

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sigaltstack: Linux only")


def test_keep_signal_stack_puts_back_the_threads_own_stack():
    libc = _libc()
    before = current_signal_stack()
    assert before is not None
    buf = ctypes.create_string_buffer(64 * 1024)
    with keep_signal_stack():
        libc.sigaltstack(ctypes.byref(_Stack(ctypes.addressof(buf), 0, len(buf))), None)
        assert current_signal_stack() == (ctypes.addressof(buf), 0, len(buf))
    assert current_signal_stack() == before


@pytest.mark.parametrize("order", ["first made, first dropped", "last made, first dropped"])
def test_detectors_on_openvino_dropped_in_any_order_leave_signal_handling_intact(tmp_path, order):
    pytest.importorskip("openvino")
    from standin_models import tiny_contract_onnx

    model = tiny_contract_onnx(tmp_path / "m.onnx", img_size=(64, 64))
    first, second = ("a", "b") if order.startswith("first") else ("b", "a")
    code = textwrap.dedent(f"""
        import gc, os, signal
        from yolov6_edge.backends.openvino.signal_stack import current_signal_stack
        from yolov6_edge.runtime.detector import Detector
        before = current_signal_stack()
        a = Detector({str(model)!r}, backend="openvino")
        b = Detector({str(model)!r}, backend="openvino")
        assert current_signal_stack() == before, (before, current_signal_stack())
        del {first}
        gc.collect()
        del {second}
        gc.collect()
        assert current_signal_stack() == before, (before, current_signal_stack())
        caught = []
        signal.signal(signal.SIGUSR1, lambda *_: caught.append(1))
        os.kill(os.getpid(), signal.SIGUSR1)  # a Python handler runs on the thread's signal stack
        assert caught == [1]
        print("handled")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).parent)
    assert out.returncode == 0 and "handled" in out.stdout, (out.returncode, out.stderr[-2000:])
