"""Training for YOLOv6 / YOLOv6Lite: data, assignment, losses, EMA, the loop, DDP (installed as yolov6_edge.trainer).

Imports torch; nothing on the runtime path imports this package.
"""
