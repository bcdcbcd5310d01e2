"""OpenVINO (CPU plugin) behind the Backend interface: `pip install 'yolov6-edge[openvino]'`."""
