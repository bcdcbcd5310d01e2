"""Start and stop NVIDIA Triton Inference Server (the `tritonserver` binary) on a model repository.

Where the binary comes from, in order: `tritonserver=` / $YOLOV6_EDGE_TRITONSERVER; the nvidia-pytriton wheel
(the `[serve]` extra: a real tritonserver 2.51 with the Python backend, but no ONNX Runtime, OpenVINO or
TensorRT backend); a `tritonserver` on PATH (the NGC container, with its own backends folder).

The wheel's Python backend: its stub (triton_python_backend_stub) is an embedded Python that finds its
environment the way a shell does, from the first `python3` on PATH; we put the chosen environment's bin/ first
(the running Python's, or $YOLOV6_EDGE_TRITON_PYTHON_ENV). The stub of this release reads numpy 1.x's array
structures: with numpy 2 its tensors come out empty or the stub crashes, so the environment must have numpy<2
(pip install 'yolov6-edge[serve]' gives that; `make setup` builds a small numpy-1 environment over the
project's venv, docs/SERVING.md). start() checks it and says so in one line.

The server runs in its own process group (its Python-backend stubs are its children): stop() asks it to shut
down (SIGINT: Triton stops taking requests and finishes the ones in flight, up to exit_timeout), then kills the
group if it is still there. A server whose parent dies gets SIGTERM (PR_SET_PDEATHSIG), so none is orphaned.
"""
import contextlib
import ctypes
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ..errors import Yolov6EdgeError, fail

SERVE_EXTRA = "pip install 'yolov6-edge[serve]'"
# every process group this process started (tests check that none is alive at the end)
LAUNCHED = set()
# Triton log lines that explain a failed start (load errors, sockets in use), most specific first
_CAUSES = (re.compile(r"failed to load '([^']+)'[^:]*: (.*)"), re.compile(r"(Socket '[^']+' already in use)"),
           re.compile(r"failed to start (\w+) service: (.*)"), re.compile(r"error: creating server: (.*)"),
           re.compile(r"^E\d{4} [\d:.]+ +\d+ [\w.]+:\d+\] \"?(.*?)\"?$"))


@dataclass
class Installation:
    """A tritonserver binary and what it needs to run: a backends folder and library paths."""

    binary: Path
    backends: Path | None  # the backend directory to pass (None: the binary's default, /opt/tritonserver/backends)
    libs: list
    stub: Path | None = None  # the wheel's Python backend stub for this Python (placed into our backends folder)
    version: tuple | None = None  # (major, minor, patch) where known

    @property
    def numpy2_stub_ok(self) -> bool:
        # python_backend took up pybind11 2.12 (numpy 2 support) for Triton 2.52+/24.11
        return self.version is None or self.version >= (2, 52, 0)


def find_installation(tritonserver=None) -> Installation:
    explicit = tritonserver or os.environ.get("YOLOV6_EDGE_TRITONSERVER")
    if explicit:
        binary = Path(explicit)
        if not (binary.is_file() and os.access(binary, os.X_OK)):
            raise fail(binary, "is not an executable tritonserver binary")
        return Installation(binary, None, [])
    wheel = _pytriton_root()
    if wheel is not None:
        root = wheel / "tritonserver"
        version = f"{sys.version_info[0]}.{sys.version_info[1]}"
        stub = root / "python_backend_stubs" / version / "triton_python_backend_stub"
        if not stub.is_file():
            raise fail(root, f"nvidia-pytriton has no Python backend stub for Python {version}")
        return Installation(root / "bin" / "tritonserver", root / "backends", [wheel.parent / "nvidia_pytriton.libs"],
                            stub, (2, 51, 0))
    found = shutil.which("tritonserver")
    if found:
        return Installation(Path(found), None, [])
    raise fail("tritonserver", f"not found: install the serving extra ({SERVE_EXTRA}), or run inside NVIDIA's "
                               "Triton container, or set YOLOV6_EDGE_TRITONSERVER")


def _pytriton_root():
    import importlib.util

    # find the package without importing it: its __init__ imports dependencies the server does not need
    spec = importlib.util.find_spec("pytriton")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(list(spec.submodule_search_locations)[0])
    return root if (root / "tritonserver" / "bin" / "tritonserver").is_file() else None


# what `make setup` builds inside a development venv whose numpy is 2.x (docs/SERVING.md)
NUMPY1_OVERLAY = "triton-python"


def python_environment() -> Path:
    """The Python environment the Python backend's models run in (its bin/ goes first on PATH):
    $YOLOV6_EDGE_TRITON_PYTHON_ENV, else the overlay `make setup` builds in this venv, else this Python's."""
    env = os.environ.get("YOLOV6_EDGE_TRITON_PYTHON_ENV")
    if env:
        return Path(env)
    overlay = Path(sys.prefix) / NUMPY1_OVERLAY
    return overlay if (overlay / "bin" / "python3").exists() else Path(sys.prefix)


def _libpython_dir() -> Path:
    if not sysconfig.get_config_var("Py_ENABLE_SHARED"):
        raise fail(sys.executable, "this Python is not built as a shared library (libpython), which the Triton "
                                   "Python backend stub links to; use a Python built with --enable-shared")
    return Path(sysconfig.get_config_var("LIBDIR"))


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _parent_death_signal():
    # runs in the child between fork and exec: own process group, SIGTERM when the parent dies
    os.setpgrp()
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class TritonServer:
    """One tritonserver process serving `repository` on host:ports.

        with TritonServer(repo, http_port=8000, grpc_port=8001, metrics_port=8002) as server:
            print(server.grpc_url)
    """

    def __init__(self, repository, host="127.0.0.1", http_port=8000, grpc_port=8001, metrics_port=8002,
                 exit_timeout=30, tritonserver=None, log_verbose=0, extra_args=()):
        self.repository = Path(repository)
        self.host, self.exit_timeout = host, int(exit_timeout)
        self.ports = {"http": int(http_port), "grpc": int(grpc_port), "metrics": int(metrics_port)}
        self.install = find_installation(tritonserver)
        self.log_verbose, self.extra_args = int(log_verbose), list(extra_args)
        self.process = None
        self._work = None
        self.log_path = None

    # ---- addresses -----------------------------------------------------------------------------------------
    @property
    def client_host(self) -> str:
        return "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host

    @property
    def grpc_url(self) -> str:
        return f"{self.client_host}:{self.ports['grpc']}"

    @property
    def http_url(self) -> str:
        return f"http://{self.client_host}:{self.ports['http']}"

    @property
    def metrics_url(self) -> str:
        return f"http://{self.client_host}:{self.ports['metrics']}/metrics"

    # ---- start / stop --------------------------------------------------------------------------------------
    def command(self) -> list:
        cmd = [str(self.install.binary), "--model-repository", str(self.repository.resolve()),
               "--http-address", self.host, "--grpc-address", self.host, "--metrics-address", self.host,
               "--http-port", str(self.ports["http"]), "--grpc-port", str(self.ports["grpc"]),
               "--metrics-port", str(self.ports["metrics"]), "--allow-metrics", "true",
               "--allow-gpu-metrics", "false", "--exit-timeout-secs", str(self.exit_timeout),
               "--log-verbose", str(self.log_verbose), "--strict-readiness", "true", "--exit-on-error", "true"]
        if self._work is not None and self.install.stub is not None:
            cmd += ["--backend-directory", str(Path(self._work) / "backends")]
        elif self.install.backends is not None:
            cmd += ["--backend-directory", str(self.install.backends)]
        return cmd + self.extra_args

    def _environment(self) -> dict:
        env = dict(os.environ)
        pyenv = python_environment()
        env["PATH"] = f"{pyenv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        libs = [str(p) for p in self.install.libs]
        if self.install.stub is not None:
            libs.insert(0, str(_libpython_dir()))
        if libs:
            env["LD_LIBRARY_PATH"] = os.pathsep.join(libs + [env.get("LD_LIBRARY_PATH", "")]).rstrip(os.pathsep)
        return env

    def _check_python_env(self, env) -> None:
        pyenv = python_environment()
        python = pyenv / "bin" / "python3"
        if not python.exists():
            raise fail(pyenv, "has no bin/python3: not a Python environment (YOLOV6_EDGE_TRITON_PYTHON_ENV)")
        probe = ("import numpy, yolov6_edge; print(numpy.__version__)")
        run = subprocess.run([str(python), "-c", probe], env=env, capture_output=True, text=True, timeout=60)
        if run.returncode != 0:
            last = (run.stderr.strip().splitlines() or ["?"])[-1]
            raise fail(pyenv, f"Triton's Python models run in this environment, which cannot import yolov6_edge "
                              f"and numpy ({last}); install yolov6-edge there (docs/SERVING.md)")
        major = int(run.stdout.strip().split(".")[0])
        if major >= 2 and not self.install.numpy2_stub_ok:
            raise fail(pyenv, f"has numpy {run.stdout.strip()}, but the Python backend of tritonserver "
                              f"{'.'.join(map(str, self.install.version))} (nvidia-pytriton) needs numpy<2 "
                              f"({SERVE_EXTRA} installs it; or set YOLOV6_EDGE_TRITON_PYTHON_ENV to an "
                              "environment with numpy<2, docs/SERVING.md)")

    def _prepare_backends(self) -> None:
        """The wheel keeps one stub per Python version; Triton wants the one it runs beside the backend."""
        self._work = tempfile.mkdtemp(prefix="yolov6-edge-triton-")
        if self.install.stub is None:
            return
        dst = Path(self._work) / "backends" / "python"
        dst.mkdir(parents=True)
        src = self.install.backends / "python"
        for f in src.iterdir():
            os.symlink(f, dst / f.name)
        os.symlink(self.install.stub, dst / "triton_python_backend_stub")

    def start(self, timeout: float = 120.0) -> "TritonServer":
        """Start the server and wait until it is ready; on failure, one line naming the cause (no process left)."""
        if not self.repository.is_dir():
            raise fail(self.repository, "no such model repository folder")
        for what, port in self.ports.items():
            if port_in_use(self.host, port):
                raise fail(f"{self.host}:{port}", f"the {what} port is in use (another server?); choose another "
                                                  f"with --{what}-port")
        self._prepare_backends()
        try:
            env = self._environment()
            if self.install.stub is not None:
                self._check_python_env(env)
            self.log_path = Path(self._work) / "tritonserver.log"
            with open(self.log_path, "wb") as log:
                self.process = subprocess.Popen(self.command(), env=env, stdout=log, stderr=subprocess.STDOUT,
                                                stdin=subprocess.DEVNULL, preexec_fn=_parent_death_signal)
            LAUNCHED.add(self.process.pid)
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        url = f"http://{self.client_host}:{self.ports['http']}/v2/health/ready"
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code is not None:
                raise Yolov6EdgeError(f"{self.repository}: tritonserver exited ({code}) before it was ready: "
                                      f"{self.failure_cause()}")
            with contextlib.suppress(OSError, urllib.error.URLError):
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        return
            time.sleep(0.2)
        raise Yolov6EdgeError(f"{self.repository}: tritonserver was not ready after {timeout:.0f} s: "
                              f"{self.failure_cause()}")

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace") if self.log_path else ""
        except OSError:
            return ""

    def failure_cause(self) -> str:
        """The most telling line of the server's log, for a one-line error."""
        lines = [ln.strip() for ln in self.log_text().splitlines() if ln.strip()]
        for pattern in _CAUSES:
            for ln in lines:
                m = pattern.search(ln)
                if m and "CudaDriverHelper" not in ln and "NVML" not in ln and "DCGM" not in ln:
                    text = ": ".join(g for g in m.groups() if g).strip().strip('"')
                    return text[:400]
        return (lines[-1][:400] if lines else "no output") + (f" (log: {self.log_path})" if self.log_path else "")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float | None = None) -> int | None:
        """Shut down: SIGINT (Triton finishes in-flight requests, up to exit_timeout), then SIGKILL the group."""
        code = None
        if self.process is not None:
            pid = self.process.pid
            wait = (self.exit_timeout + 10) if timeout is None else timeout
            if self.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    self.process.send_signal(signal.SIGINT)
                try:
                    self.process.wait(wait)
                except subprocess.TimeoutExpired:
                    pass
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)  # the stubs, and the server if it did not stop
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(10)
            code = self.process.returncode
        if self._work is not None:
            self._saved_log = self.log_text()
            shutil.rmtree(self._work, ignore_errors=True)
            self._work, self.log_path = None, None
        return code

    def kill(self) -> None:
        """Kill the server at once (tests: a server that dies mid-stream)."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def __enter__(self):
        return self.start() if self.process is None else self

    def __exit__(self, *exc):
        self.stop()


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
