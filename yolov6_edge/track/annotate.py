"""Drawing what tracking adds to an annotated frame: short trails behind each object, counting lines with their
in / out counts, zones with their occupancy. (Boxes and `#id` labels: runtime/draw.py.)"""
import collections

import cv2
import numpy as np

from ..palette import track_colour
from .counting import anchor_points

TRAIL = 30  # points kept per object (about a second of video)
LINE_COLOUR, ZONE_COLOUR = (0, 255, 255), (255, 160, 0)  # BGR: yellow lines, blue zones


class Trails:
    """The recent anchor points of each tracked object, per source."""

    def __init__(self, length: int = TRAIL, anchor: str = "bottom-center"):
        self.length, self.anchor = length, anchor
        self._points = {}  # (source, id) -> deque of (x, y)
        self._seen = {}  # (source, id) -> update count when last seen
        self._tick = 0

    def update(self, res) -> None:
        self._tick += 1
        if res.track_ids is None:
            return
        for tid, p in zip(res.track_ids, anchor_points(res.boxes, self.anchor)):
            if tid >= 0:
                key = (res.source, int(tid))
                self._points.setdefault(key, collections.deque(maxlen=self.length)).append(
                    (int(round(p[0])), int(round(p[1]))))
                self._seen[key] = self._tick
        if self._tick % 64 == 0:  # objects gone for a while leave no trail behind
            for key in [k for k, t in self._seen.items() if self._tick - t > 4 * self.length]:
                del self._points[key], self._seen[key]

    def draw(self, image, res) -> None:
        """Draw, in place, the trails of the objects in `res`."""
        if res.track_ids is None:
            return
        thick = max(1, round(sum(image.shape[:2]) / 900))
        for tid in res.track_ids:
            pts = self._points.get((res.source, int(tid))) if tid >= 0 else None
            if pts and len(pts) > 1:
                cv2.polylines(image, [np.array(pts, np.int32)], False, track_colour(tid), thick, cv2.LINE_AA)


def draw_counts(image, record, lines=(), zones=()) -> None:
    """Draw, in place, the lines with their in / out counts and the zones with their occupancy (a Counter's
    record for this frame)."""
    thick = max(1, round(sum(image.shape[:2]) / 600))
    font = 0.4 * thick
    for zone, rec in zip(zones, record.get("zones", [])):
        pts = np.array(zone.points, np.float64).round().astype(np.int32)
        cv2.polylines(image, [pts], True, ZONE_COLOUR, thick, cv2.LINE_AA)
        _label(image, f"{zone.name}: {rec['count']}", tuple(pts[0]), ZONE_COLOUR, font, thick)
    for line, rec in zip(lines, record.get("lines", [])):
        a = tuple(int(round(v)) for v in line.p1)
        b = tuple(int(round(v)) for v in line.p2)
        cv2.line(image, a, b, LINE_COLOUR, thick, cv2.LINE_AA)
        _label(image, f"{line.name}: in {rec['in']} out {rec['out']}", a, LINE_COLOUR, font, thick)


def _label(image, text, at, colour, font, thick) -> None:
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font, max(thick - 1, 1))
    h, w = image.shape[:2]
    x = min(max(at[0], 0), max(w - tw, 0))
    y = min(max(at[1] - base, th), h - base)
    cv2.rectangle(image, (x, y - th - base), (x + tw, y + base), colour, -1)
    cv2.putText(image, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, font, (0, 0, 0), max(thick - 1, 1), cv2.LINE_AA)
