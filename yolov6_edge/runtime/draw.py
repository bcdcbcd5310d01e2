"""Draw detections on an image with OpenCV (boxes, class name and score; with track ids, `#id` first and a colour
per object instead of per class)."""
import cv2
import numpy as np

from ..palette import colour, track_colour  # colour: callers import it from here too


def draw(image: np.ndarray, dets) -> np.ndarray:
    """Return a copy of the BGR `image` with `dets` (a Detections) drawn on it."""
    out = image.copy()
    thick = max(1, round(sum(out.shape[:2]) / 600))
    font = 0.3 * thick
    tracks = getattr(dets, "track_ids", None)
    tracks = [None] * len(dets.scores) if tracks is None else tracks
    for box, score, cid, name, tid in zip(dets.boxes, dets.scores, dets.class_ids, dets.names, tracks):
        x1, y1, x2, y2 = (int(round(float(v))) for v in box)
        c = colour(cid) if tid is None or tid < 0 else track_colour(tid)
        cv2.rectangle(out, (x1, y1), (x2, y2), c, thick)  # crisp edges; text is anti-aliased
        label = f"{name} {score:.2f}" if tid is None or tid < 0 else f"#{int(tid)} {name} {score:.2f}"
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, font, max(thick - 1, 1))
        top = y1 - th - base if y1 - th - base >= 0 else y1  # inside the box when it touches the top edge
        cv2.rectangle(out, (x1, top), (x1 + tw, top + th + base), c, -1)
        cv2.putText(out, label, (x1, top + th), cv2.FONT_HERSHEY_SIMPLEX, font, (255, 255, 255),
                    max(thick - 1, 1), cv2.LINE_AA)
    return out
