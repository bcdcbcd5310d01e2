"""Training for YOLOv6 / YOLOv6Lite: the loop, EMA, optimizer and schedule, DDP, RepOptimizer, plots.

Data and losses live below it (yolov6_edge.datasets, yolov6_edge.losses), where QAT uses them too; nothing in
the library imports this package. Imports torch.
"""
