"""The colours drawings use: one fixed, well-spread hue per class, or per tracked object, so it keeps its colour
across frames and images (runtime/draw.py for boxes, track/annotate.py for trails)."""
import cv2
import numpy as np


def colour(class_id: int) -> tuple:
    """BGR colour of a class."""
    hue = (int(class_id) * 47) % 180
    bgr = cv2.cvtColor(np.array([[[hue, 200, 230]]], np.uint8), cv2.COLOR_HSV2BGR)[0, 0]
    return tuple(int(v) for v in bgr)


def track_colour(track_id: int) -> tuple:
    """BGR colour of a tracked object (neighbouring ids get distant hues)."""
    return colour(7 * int(track_id) + 3)
