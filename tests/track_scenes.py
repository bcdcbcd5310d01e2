"""Scenes for the tracking tests: coloured squares moving along known paths over dark noise, written as videos,
and a stand-in detector that really finds them.

`ColourBoxBackend` is a Backend (the duck-typed interface Detector takes): for each colour it looks for the
pixels of that colour in the letterboxed input and returns their bounding box with a score that falls with the
hidden fraction of the square (a square half behind another scores lower, as a real detector's would). So a
crossing with occlusion gives the tracker what a real detector gives it: a shrinking box, a lower score, then
nothing, then the object again. Each colour is its own class, so the tests know which object a box is (the
tracker ignores classes: ByteTrack matches boxes of any class).
"""
import cv2
import numpy as np

# BGR as drawn; the backend sees RGB
COLOURS = [(0, 0, 255), (0, 255, 0), (255, 0, 0), (0, 255, 255), (255, 0, 255), (255, 255, 0)]
N_COLOURS = len(COLOURS)
SIDE = 20  # square side, pixels
SIZE = (160, 120)  # frame (W, H)
TOL = 0.3  # per channel, on the 0..1 scale (video compression smears colours)


class ColourBoxBackend:
    """Finds the squares of COLOURS[:n] in a letterboxed [B, 3, H, W] RGB blob; one box per colour present."""

    layout = "boxes_xyxy+scores"

    def __init__(self, input_size=(128, 160), n=N_COLOURS, max_batch=16, side=SIDE, delay=0.0):
        self.input_size, self.max_batch, self.n, self.delay = input_size, max_batch, n, delay
        self.names = [f"square{k}" for k in range(n)]
        self.side = side
        self.calls = 0

    def __call__(self, blob):
        import time

        self.calls += 1
        if self.delay:
            time.sleep(self.delay)
        b = blob.shape[0]
        boxes = np.zeros((b, self.n, 4), np.float32)
        scores = np.zeros((b, self.n, self.n), np.float32)
        for i in range(b):
            img = blob[i]
            for k, bgr in enumerate(COLOURS[:self.n]):
                rgb = np.array(bgr[::-1], np.float32)[:, None, None] / 255
                mask = (np.abs(img - rgb) < TOL).all(axis=0)
                ys, xs = np.nonzero(mask)
                if len(xs) < 4:
                    continue
                boxes[i, k] = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
                # scale: the letterbox scale of this test's frames is about input / frame; the visible fraction
                # of a square sets the score
                visible = len(xs) / float(self.side * self.side * self._scale2())
                scores[i, k, k] = float(np.clip(0.2 + 0.75 * visible, 0.0, 0.95))
        return boxes, scores

    def _scale2(self):
        h, w = self.input_size
        s = min(h / SIZE[1], w / SIZE[0])
        return s * s


def draw_frame(positions, rng, size=SIZE, side=SIDE, order=None):
    """One BGR frame: noise, then the squares at `positions` ({colour index: (x, y) top-left, or None}), drawn in
    `order` (later ones in front)."""
    img = rng.integers(0, 40, (size[1], size[0], 3), dtype=np.uint8)
    for k in order if order is not None else sorted(positions):
        p = positions.get(k)
        if p is not None:
            x, y = int(round(p[0])), int(round(p[1]))
            cv2.rectangle(img, (x, y), (x + side - 1, y + side - 1), COLOURS[k], -1)
    return img


def write_scene(path, paths, n_frames, fps=10.0, seed=0, order=None, size=SIZE):
    """A video of squares following `paths` ({colour index: f(t) -> (x, y) or None}); MJPG in .avi."""
    rng = np.random.default_rng(seed)
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    assert w.isOpened()
    for t in range(n_frames):
        w.write(draw_frame({k: f(t) for k, f in paths.items()}, rng, size, order=order))
    w.release()
    return path


def ids_by_colour(results):
    """{colour index: [track id in each frame where that square was detected]} (the class id is the colour)."""
    out = {}
    for res in results:
        for cid, tid in zip(res.class_ids, res.track_ids):
            out.setdefault(int(cid), []).append(int(tid))
    return out
