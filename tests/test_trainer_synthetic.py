"""The synthetic shapes dataset: deterministic by seed, boxes exactly around the drawn shapes."""
import json

import cv2
import numpy as np

from yolov6_edge.datasets.synthetic import COLOURS, _draw, generate


def test_same_seed_same_dataset(tmp_path):
    a = generate(tmp_path / "a", 3, (64, 80), seed=5)
    b = generate(tmp_path / "b", 3, (64, 80), seed=5)
    c = generate(tmp_path / "c", 3, (64, 80), seed=6)
    assert json.loads(a.read_text()) == json.loads(b.read_text())
    assert json.loads(a.read_text()) != json.loads(c.read_text())
    assert (tmp_path / "a/images/000000.jpg").read_bytes() == (tmp_path / "b/images/000000.jpg").read_bytes()


def test_each_shape_is_drawn_tightly_inside_its_box():
    for shape in ("circle", "rectangle", "triangle", "cross", "ellipse"):
        img = np.zeros((100, 100, 3), np.uint8)
        x1, y1, x2, y2 = _draw(img, shape, (255, 255, 255), [20, 30, 70, 66])
        ys, xs = np.nonzero(img[..., 0])
        # the drawn pixels span the box to within one pixel on every side
        assert abs(xs.min() - x1) <= 1 and abs(ys.min() - y1) <= 1, shape
        assert abs(xs.max() + 1 - x2) <= 1 and abs(ys.max() + 1 - y2) <= 1, shape


def test_coco_json_is_consistent(tmp_path):
    p = generate(tmp_path / "d", 4, (64, 64), seed=1, ext=".png")
    coco = json.loads(p.read_text())
    ids = {im["id"] for im in coco["images"]}
    assert all(a["image_id"] in ids and 1 <= a["category_id"] <= 5 for a in coco["annotations"])
    img = cv2.imread(str(tmp_path / "d/images/000000.png"))
    colours = np.array(list(COLOURS.values()))
    for a in (a for a in coco["annotations"] if a["image_id"] == 1 and a["category_id"] == 2):  # rectangles
        x, y, w, h = a["bbox"]
        patch = img[y + 2:y + h - 2, x + 2:x + w - 2].reshape(-1, 3).astype(int)
        assert np.abs(patch.mean(0) - colours).sum(1).min() < 40  # filled with one of the palette colours
