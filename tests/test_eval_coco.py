"""COCO evaluation: a backend that reads the objects off the letterboxed image must score AP 100."""
import json

import cv2
import numpy as np
import pytest

from yolov6_edge.errors import Yolov6EdgeError
from yolov6_edge.eval.coco import category_map, evaluate, load_annotations

NAMES = ["red", "green"]
COLOURS = {0: (0, 0, 255), 1: (0, 255, 0)}  # BGR


def _dataset(root, n=6):
    """Plain grey images with one red or green rectangle each, and a COCO file with category ids 5 and 9."""
    rng = np.random.default_rng(0)
    images, anns = [], []
    (root / "images").mkdir()
    for i in range(n):
        h, w = int(rng.integers(80, 160)), int(rng.integers(80, 160))
        img = np.full((h, w, 3), 128, np.uint8)
        x1, y1 = int(rng.integers(0, w // 3)), int(rng.integers(0, h // 3))
        x2, y2 = int(rng.integers(w // 2, w)), int(rng.integers(h // 2, h))
        cls = i % 2
        img[y1:y2, x1:x2] = COLOURS[cls]
        cv2.imwrite(str(root / "images" / f"{i}.png"), img)
        images.append({"id": 100 + i, "file_name": f"{i}.png", "height": h, "width": w})
        anns.append({"id": i + 1, "image_id": 100 + i, "category_id": [5, 9][cls], "iscrowd": 0,
                     "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1)})
    cats = [{"id": 5, "name": "red"}, {"id": 9, "name": "green"}]
    (root / "ann.json").write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    return root / "images", root / "ann.json"


class ColourBoxBackend:
    """Stand-in backend: finds the coloured rectangle in the letterboxed RGB blob and outputs its exact box.

    Everything the evaluation does around it (letterbox, NMS, mapping back, category ids, pycocotools) is real.
    """

    input_size, names, max_batch, layout = (96, 128), NAMES, 4, "boxes_xyxy+scores"

    def __init__(self, swap_classes=False):
        self.swap = swap_classes

    def __call__(self, blob):
        b = len(blob)
        boxes = np.zeros((b, 1, 4), np.float32)
        scores = np.zeros((b, 1, 2), np.float32)
        for i, x in enumerate(blob):
            r, g = x[0] > 0.9, x[1] > 0.9  # RGB planes
            for cls, mask in enumerate((r & ~g, g & ~r)):
                ys, xs = np.nonzero(mask)
                if len(xs):
                    boxes[i, 0] = [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
                    scores[i, 0, cls ^ int(self.swap)] = 0.9
        return boxes, scores


def test_perfect_stand_in_backend_scores_ap_100(tmp_path):
    images, ann = _dataset(tmp_path)
    stats = evaluate(ColourBoxBackend(), images, ann, batch=4, progress=False,
                     predictions_json=tmp_path / "pred.json")
    assert stats["n_images"] == 6
    assert stats["AP50"] == pytest.approx(100.0) and stats["AP"] > 95.0  # resizing blurs edges by a pixel
    pred = json.loads((tmp_path / "pred.json").read_text())
    assert {p["category_id"] for p in pred} == {5, 9}


def test_stand_in_backend_with_swapped_classes_scores_zero(tmp_path):
    images, ann = _dataset(tmp_path)
    assert evaluate(ColourBoxBackend(swap_classes=True), images, ann, progress=False)["AP"] == 0.0


def test_category_map_by_name_else_position_for_unnamed_classes_else_refused(tmp_path):
    from yolov6_edge.datasets.coco_names import COCO_NAMES

    _, ann = _dataset(tmp_path, n=2)
    coco = load_annotations(ann)
    assert category_map(["green", "red"], coco, ann) == [9, 5]
    assert category_map(["Green", "RED", "blue"], coco, ann) == [9, 5, None]  # blue: not in the file, not scored
    assert category_map(["class0", "class1"], coco, ann) == [5, 9]  # a model without names: by position
    for names in (["a", "b"], COCO_NAMES, ["class0", "class1", "class2"]):
        with pytest.raises(Yolov6EdgeError) as e:  # before: by position (a, b) or official ids (COCO) silently
            category_map(names, coco, ann)
        assert "\n" not in str(e.value) and str(ann) in str(e.value)


def test_bad_annotation_files_and_missing_images_with_stand_in_backend(tmp_path):
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(Yolov6EdgeError, match="not valid JSON"):
        load_annotations(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text("{}")
    with pytest.raises(Yolov6EdgeError, match="no 'images'"):
        load_annotations(tmp_path / "other.json")
    (tmp_path / "d").mkdir()
    images, ann = _dataset(tmp_path / "d")
    (images / "0.png").unlink()
    with pytest.raises(Yolov6EdgeError, match="missing, e.g. 0.png"):
        evaluate(ColourBoxBackend(), images, ann, progress=False)
