"""Counting tracked objects: crossings of lines (in / out) and occupancy of zones, per source.

What a user counting cars expects, and what this does:
- a point per object, its anchor: the middle of the box's bottom edge by default (where a car or a person
  touches the ground, which is where a line painted on the road is), or the box's centre (`anchor="center"`,
  for cameras looking straight down);
- a line is a segment: an object counts when its anchor passes from one side to the other *between the ends* of
  the segment (one going round an end does not count);
- direction: `in` when the anchor moves to the right-hand side of the line walked from (x1, y1) to (x2, y2) on
  the image (y grows downwards), so a line drawn left to right counts objects moving down the image as in and
  up as out; swap the two points to swap in and out;
- once per crossing: an object must leave a band around the line (a tenth of its box's extent across the line,
  `band`) on the far side before the crossing counts, so a box that jitters on the line, or an object that
  stops on it, is not counted again and again; crossing back counts once the other way;
- occlusion: an object's side is remembered for as long as its track id lives, so one that is hidden while it
  crosses (the tracker keeps its id) still counts when it is seen again beyond the line;
- a zone's occupancy is the number of tracked objects whose anchor is inside its polygon in that frame;
  `objects` counts the different objects that have been inside it.
Only confirmed tracks (id >= 0) count. We write this geometry ourselves rather than use supervision's
LineZone / PolygonZone: docs/TRACKING.md says where their semantics differ from the above.
"""
import math
import re
from collections import Counter as Tally
from dataclasses import dataclass, field

import numpy as np

from ..errors import fail

ANCHORS = ("bottom-center", "center")
FORGET_AFTER = 3000  # updates of a source after which an id that has not been seen is forgotten


@dataclass(frozen=True)
class Line:
    """A counting line from p1 to p2, in pixels of the source's frames."""

    p1: tuple
    p2: tuple
    name: str = ""


@dataclass(frozen=True)
class Zone:
    """A polygon (at least three points), in pixels of the source's frames."""

    points: tuple
    name: str = ""


_NAME = re.compile(r"^([A-Za-z_][\w.-]*)=(.*)$")


def _numbers(text: str, what: str, spec: str) -> tuple:
    m = _NAME.match(text.strip())
    name, body = (m.group(1), m.group(2)) if m else ("", text)
    try:
        values = tuple(float(v) for v in body.replace(" ", "").split(",") if v != "")
    except ValueError:
        raise fail(f"{what} {text!r}", f"expected {spec} (numbers, comma-separated)") from None
    if not all(math.isfinite(v) for v in values):
        raise fail(f"{what} {text!r}", "coordinates must be finite numbers")
    return name, values


def parse_line(text: str, index: int = 0) -> Line:
    """'x1,y1,x2,y2' or 'name=x1,y1,x2,y2' (pixels) -> Line; one line naming the problem otherwise."""
    name, v = _numbers(text, "--line", "x1,y1,x2,y2 or name=x1,y1,x2,y2")
    if len(v) != 4:
        raise fail(f"--line {text!r}", f"expected 4 numbers x1,y1,x2,y2, got {len(v)}")
    if v[:2] == v[2:]:
        raise fail(f"--line {text!r}", "the two ends are the same point")
    return Line((v[0], v[1]), (v[2], v[3]), name or f"line{index}")


def parse_zone(text: str, index: int = 0) -> Zone:
    """'x1,y1,x2,y2,x3,y3,...' or 'name=...' (pixels, at least three points) -> Zone."""
    name, v = _numbers(text, "--zone", "x1,y1,x2,y2,x3,y3,... or name=x1,y1,...")
    if len(v) < 6 or len(v) % 2:
        raise fail(f"--zone {text!r}", f"expected at least 3 points as x,y pairs, got {len(v)} numbers")
    pts = tuple(zip(v[0::2], v[1::2]))
    if abs(_area(np.array(pts))) < 1e-9:
        raise fail(f"--zone {text!r}", "the polygon has no area (its points are on one line)")
    return Zone(pts, name or f"zone{index}")


def check_in_frame(shape_wh, lines=(), zones=(), source="") -> None:
    """Refuse a line or zone that lies wholly outside a frame of size (W, H): it could never count anything."""
    w, h = shape_wh
    for item, pts in [(ln, (ln.p1, ln.p2)) for ln in lines] + [(z, z.points) for z in zones]:
        p = np.array(pts, float)
        outside = (p[:, 0].max() < 0 or p[:, 1].max() < 0 or p[:, 0].min() > w or p[:, 1].min() > h)
        if outside:
            kind = "line" if isinstance(item, Line) else "zone"
            raise fail(f"{kind} {item.name}", f"lies wholly outside the {w}x{h} frames of {source}")


def _area(p) -> float:
    x, y = p[:, 0], p[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def anchor_points(boxes, anchor: str = "bottom-center") -> np.ndarray:
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    x = (boxes[:, 0] + boxes[:, 2]) / 2
    y = boxes[:, 3] if anchor == "bottom-center" else (boxes[:, 1] + boxes[:, 3]) / 2
    return np.stack([x, y], 1)


def inside_polygon(points, polygon) -> np.ndarray:
    """Even-odd rule, vectorized over the points (a point on an edge may fall either way)."""
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    poly = np.asarray(polygon, np.float64)
    x, y = pts[:, :1], pts[:, 1:]
    x1, y1 = poly[:, 0], poly[:, 1]
    x2, y2 = np.roll(x1, -1), np.roll(y1, -1)
    straddles = (y1 > y) != (y2 > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        cross_x = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
    return (np.count_nonzero(straddles & (x < cross_x), axis=1) % 2).astype(bool)


class LineCount:
    """In / out counts of one line on one source."""

    def __init__(self, line: Line, band: float = 0.1):
        self.line = line
        self.band = band
        p1, p2 = np.array(line.p1, float), np.array(line.p2, float)
        self.p1, self.d = p1, p2 - p1
        self.normal = np.array([-self.d[1], self.d[0]]) / np.linalg.norm(self.d)  # points to the "in" side
        self.state = {}  # track id -> [side (+1 in, -1 out), last point on that side, last update seen]
        self.ins, self.outs = Tally(), Tally()  # class name -> count

    @property
    def in_count(self) -> int:
        return sum(self.ins.values())

    @property
    def out_count(self) -> int:
        return sum(self.outs.values())

    def update(self, points, boxes, ids, names, tick: int) -> tuple:
        """Crossings in this frame: (ids that went in, ids that went out)."""
        went_in, went_out = [], []
        dist = (points - self.p1) @ self.normal
        # the band is a fraction of the box's extent across the line (jitter grows with the box)
        extent = (np.abs(self.normal[0]) * (boxes[:, 2] - boxes[:, 0])
                  + np.abs(self.normal[1]) * (boxes[:, 3] - boxes[:, 1]))
        for tid, p, dd, ext, name in zip(ids, points, dist, extent, names):
            if tid < 0:
                continue
            side = 1 if dd > self.band * ext else (-1 if dd < -self.band * ext else 0)
            st = self.state.get(tid)
            if st is None:
                if side:
                    self.state[tid] = [side, p, tick]
                continue
            st[2] = tick
            if side == 0:
                continue
            if side != st[0] and self._through_segment(st[1], p):
                (self.ins if side > 0 else self.outs)[name] += 1
                (went_in if side > 0 else went_out).append(int(tid))
            st[0], st[1] = side, p
        return went_in, went_out

    def _through_segment(self, a, b) -> bool:
        """Does the move a -> b cross the line between its two ends?"""
        da, db = (a - self.p1) @ self.normal, (b - self.p1) @ self.normal
        if da == db:
            return False
        x = a + (b - a) * (da / (da - db))  # where the move meets the line
        u = float((x - self.p1) @ self.d) / float(self.d @ self.d)
        return 0.0 <= u <= 1.0

    def forget(self, tick: int) -> None:
        self.state = {k: v for k, v in self.state.items() if tick - v[2] < FORGET_AFTER}

    def record(self, went_in, went_out) -> dict:
        return {"name": self.line.name, "in": self.in_count, "out": self.out_count,
                "crossed_in": went_in, "crossed_out": went_out}

    def summary(self) -> dict:
        return {"name": self.line.name, "points": [list(self.line.p1), list(self.line.p2)], "in": self.in_count,
                "out": self.out_count, "in_by_class": dict(self.ins), "out_by_class": dict(self.outs)}


class ZoneCount:
    """Occupancy of one zone on one source."""

    def __init__(self, zone: Zone):
        self.zone = zone
        self.polygon = np.array(zone.points, float)
        self.max_count = 0
        self.objects = {}  # track id -> class name, every object that was inside

    def update(self, points, ids, names) -> list:
        inside = inside_polygon(points, self.polygon) & (np.asarray(ids) >= 0)
        now = [int(t) for t in np.asarray(ids)[inside]]
        for t, name in zip(now, [n for n, k in zip(names, inside) if k]):
            self.objects.setdefault(t, name)
        self.max_count = max(self.max_count, len(now))
        return now

    def summary(self) -> dict:
        return {"name": self.zone.name, "points": [list(p) for p in self.zone.points], "max_count": self.max_count,
                "objects": len(self.objects), "objects_by_class": dict(Tally(self.objects.values()))}


@dataclass
class _SourceCounts:
    lines: list
    zones: list
    ticks: int = 0
    ids: set = field(default_factory=set)


class Counter:
    """Lines and zones for every source of a stream: `update(res)` (a tracked Detections) gives the frame's
    record {"lines": [...], "zones": [...]}; `summary()` the totals per source."""

    def __init__(self, lines=(), zones=(), anchor: str = "bottom-center", band: float = 0.1):
        if anchor not in ANCHORS:
            raise fail("anchor", f"expected one of {', '.join(ANCHORS)}, got {anchor!r}")
        if not (isinstance(band, (int, float)) and 0 <= band < 10):
            raise fail("band", f"expected a number in [0, 10), got {band!r}")
        names = [x.name for x in list(lines) + list(zones)]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise fail("--line/--zone", f"two lines or zones are both named {dup[0]!r}")
        self.lines, self.zones, self.anchor, self.band = list(lines), list(zones), anchor, band
        self._sources = {}

    def update(self, res) -> dict:
        if res.track_ids is None:
            raise fail(res.source, "counting needs track ids: stream(..., track=True)")
        src = self._sources.get(res.source)
        if src is None:
            src = self._sources[res.source] = _SourceCounts([LineCount(ln, self.band) for ln in self.lines],
                                                            [ZoneCount(z) for z in self.zones])
        src.ticks += 1
        boxes = np.asarray(res.boxes, np.float64).reshape(-1, 4)
        points = anchor_points(boxes, self.anchor)
        ids = np.asarray(res.track_ids)
        src.ids.update(int(t) for t in ids if t >= 0)
        out = {"lines": [], "zones": []}
        for lc in src.lines:
            out["lines"].append(lc.record(*lc.update(points, boxes, ids, res.names, src.ticks)))
            if src.ticks % 256 == 0:
                lc.forget(src.ticks)
        for zc in src.zones:
            now = zc.update(points, ids, res.names)
            out["zones"].append({"name": zc.zone.name, "count": len(now), "track_ids": now})
        return out

    def summary(self) -> dict:
        return {name: {"tracks": len(s.ids), "lines": [lc.summary() for lc in s.lines],
                       "zones": [zc.summary() for zc in s.zones]} for name, s in self._sources.items()}
