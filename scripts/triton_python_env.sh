#!/usr/bin/env bash
# Build the Python environment Triton's Python backend runs our models in, over a development venv.
#
# The tritonserver of the nvidia-pytriton wheel (2.51) has a Python-backend stub that reads numpy 1.x's array
# structures; with numpy 2 its tensors come out empty or it crashes. The project's venv has numpy 2, so this
# makes VENV/triton-python: a venv whose own site-packages hold numpy<2 and a .pth that adds VENV's
# site-packages after it (yolov6-edge, OpenCV, ONNX Runtime, ... come from VENV). yolov6-edge serve finds it
# there (yolov6_edge/serve/server.py); a user's `pip install 'yolov6-edge[serve]'` env has numpy<2 anyway.
# Usage: scripts/triton_python_env.sh VENV
set -euo pipefail
venv="$(cd "$1" && pwd)"
py="$venv/bin/python"
dest="$venv/triton-python"
site="$("$py" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')"
ver="$("$py" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
rm -rf "$dest"
"$py" -m venv --without-pip "$dest"
"$py" -m pip install -q --no-deps --target "$dest/lib/python$ver/site-packages" 'numpy>=1.24,<2'
echo "import site; site.addsitedir('$site')" > "$dest/lib/python$ver/site-packages/zz_yolov6_edge_venv.pth"
"$dest/bin/python3" -c 'import numpy, yolov6_edge; print("triton-python:", "numpy", numpy.__version__)'
