#!/usr/bin/env bash
# The CI-sized aarch64 check (`make test-arm64`, run by `make test`): cross-compiles the native library, its
# C++ tests and the C++ example for aarch64 with Debian's g++-aarch64-linux-gnu (-Werror: an aarch64-only
# warning, e.g. char being unsigned there, fails too) and runs ctest under qemu-aarch64 user emulation.
# About a minute once the tools are installed; the full on-demand run (Python module, ONNX Runtime, AP) is
# scripts/arm64_check.sh.
#
# Needs g++-aarch64-linux-gnu and qemu-user-static; as root it installs them with apt-get (scripts/apt_ensure.sh:
# quietly, only what is missing), otherwise it fails with one line saying what is missing. It never skips by itself:
# YOLOV6_EDGE_SKIP_ARM64=1 skips it on purpose, and says so.
#   QEMU_CPU   CPU model emulated (default cortex-a72: ARMv8.0 + NEON, a Raspberry Pi 4; `qemu-aarch64-static
#              -cpu help` lists the others)
#   ARM64_BUILD_DIR  build folder (default build/arm64-ci; kept, so a rerun rebuilds only what changed)
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "arm64-ci: $*"; }
die() { echo "arm64-ci: FAILED: $*" >&2; exit 1; }

if [ "${YOLOV6_EDGE_SKIP_ARM64:-0}" = "1" ]; then
  say "SKIPPED on request (YOLOV6_EDGE_SKIP_ARM64=1): the aarch64 build and its tests did not run"
  exit 0
fi

# ---- tools -------------------------------------------------------------------------------------------------
scripts/apt_ensure.sh aarch64-linux-gnu-g++:g++-aarch64-linux-gnu qemu-aarch64-static:qemu-user-static cmake:cmake \
  || die "the aarch64 tools are missing (see the line above; or skip on purpose with YOLOV6_EDGE_SKIP_ARM64=1)"
qemu=$(command -v qemu-aarch64-static)
export QEMU_CPU=${QEMU_CPU:-cortex-a72}

# ---- build -------------------------------------------------------------------------------------------------
build=${ARM64_BUILD_DIR:-build/arm64-ci}
mkdir -p "$build"
log=$build/arm64-ci
gen=()
command -v ninja >/dev/null 2>&1 && [ ! -f "$build/CMakeCache.txt" ] && gen=(-G Ninja)
t0=$(date +%s)
cmake -S . -B "$build" "${gen[@]}" -DCMAKE_TOOLCHAIN_FILE="$PWD/cmake/toolchains/aarch64-linux-gnu.cmake" \
  -DCMAKE_BUILD_TYPE=Release -DYOLOV6_EDGE_CUDA=OFF -DYOLOV6_EDGE_BUILD_TESTS=ON -DYOLOV6_EDGE_BUILD_EXAMPLES=ON \
  -DCMAKE_CXX_FLAGS=-Werror >"$log.configure.log" 2>&1 \
  || { tail -20 "$log.configure.log" >&2; die "cmake configure for aarch64 (log: $log.configure.log)"; }
cmake --build "$build" -j "${ARM64_JOBS:-2}" >"$log.build.log" 2>&1 \
  || { grep -E 'error|Error' "$log.build.log" | head -20 >&2; die "aarch64 cross-compile (log: $log.build.log)"; }
t1=$(date +%s)
aarch64-linux-gnu-readelf -h "$build/tests/cpp/test_nms" | grep -q 'Machine: *AArch64' || die "$build/tests/cpp/test_nms is not an aarch64 executable"

# ---- tests under emulation -----------------------------------------------------------------------------------
if ! ctest --test-dir "$build" --output-on-failure -j 2 --timeout 300 >"$log.ctest.log" 2>&1; then
  cat "$log.ctest.log" >&2
  die "ctest under $(basename "$qemu") -cpu $QEMU_CPU (log: $log.ctest.log)"
fi
t2=$(date +%s)
say "ok: $(grep -Eo '[0-9]+% tests passed.*' "$log.ctest.log" | head -1)" \
    "(aarch64 build $((t1 - t0)) s, ctest under $(basename "$qemu") -cpu $QEMU_CPU $((t2 - t1)) s; emulated: not a timing)"
