# Two entry points for a fresh machine: `make demo` (the main job) and `make test` (the test suite).
# Both create .venv, install torch 2.13.0 (CPU wheel) and this package with its native module.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: setup demo lint test test-fast test-arm64 clean

$(STAMP): pyproject.toml CMakeLists.txt scripts/triton_python_env.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first and pinned: an unpinned torch would pull a multi-GB CUDA build.
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[test]'
	# The [serve] extra's Triton server (nvidia-pytriton) without its numpy<2 pin on this venv: the binary needs none
	# of its Python dependencies, and Triton's Python backend gets a numpy-1 environment over this venv
	# (scripts/triton_python_env.sh; docs/SERVING.md says why).
	$(BIN)/python -m pip install -q --no-deps --no-warn-conflicts 'nvidia-pytriton>=0.7,<0.8'
	bash scripts/triton_python_env.sh $(VENV)
	touch $@

setup: $(STAMP)

demo: setup
	$(BIN)/yolov6-edge demo -o demo_out

# The quality gates, fast (seconds): ruff, mypy on the torch-free library, the import contracts (configured in
# pyproject.toml and scripts/import_graph.py; docs/ARCHITECTURE.md "Layers and gates"). `make test` runs them first.
lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python scripts/import_graph.py

test: lint test-arm64
	$(BIN)/python -m pytest -q

# aarch64: cross-compile the native library and run its C++ tests under qemu (scripts/arm64_ci.sh, ~1-3 min;
# installs its tools with apt-get as root). The full on-demand aarch64 run is scripts/arm64_check.sh.
test-arm64:
	scripts/arm64_ci.sh

test-fast: lint
	$(BIN)/python -m pytest -q -m "not slow"

clean:
	rm -rf build demo_out .pytest_cache .mypy_cache .ruff_cache
