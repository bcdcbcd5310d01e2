"""Draw detections on an image with OpenCV (boxes, class name and score)."""
import cv2
import numpy as np


def colour(class_id: int) -> tuple:
    # A fixed, well-spread hue per class so the same class keeps its colour across images.
    hue = (int(class_id) * 47) % 180
    bgr = cv2.cvtColor(np.uint8([[[hue, 200, 230]]]), cv2.COLOR_HSV2BGR)[0, 0]
    return tuple(int(v) for v in bgr)


def draw(image: np.ndarray, dets) -> np.ndarray:
    """Return a copy of the BGR `image` with `dets` (a Detections) drawn on it."""
    out = image.copy()
    thick = max(1, round(sum(out.shape[:2]) / 600))
    font = 0.3 * thick
    for box, score, cid, name in zip(dets.boxes, dets.scores, dets.class_ids, dets.names):
        x1, y1, x2, y2 = (int(round(float(v))) for v in box)
        c = colour(cid)
        cv2.rectangle(out, (x1, y1), (x2, y2), c, thick)  # crisp edges; text is anti-aliased
        label = f"{name} {score:.2f}"
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, font, max(thick - 1, 1))
        top = y1 - th - base if y1 - th - base >= 0 else y1  # inside the box when it touches the top edge
        cv2.rectangle(out, (x1, top), (x1 + tw, top + th + base), c, -1)
        cv2.putText(out, label, (x1, top + th), cv2.FONT_HERSHEY_SIMPLEX, font, (255, 255, 255),
                    max(thick - 1, 1), cv2.LINE_AA)
    return out
