"""Datasets (COCO JSON, YOLO txt), label caching, bad-data reporting, augmentation geometry."""
import json
import warnings

import cv2
import numpy as np
import pytest

from yolov6_edge.datasets.synthetic import generate
from yolov6_edge.errors import Yolov6EdgeError
from yolov6_edge.datasets.augment import hflip, letterbox, random_affine
from yolov6_edge.datasets.spec import load_data_spec
from yolov6_edge.datasets.coco import load_coco
from yolov6_edge.datasets.loader import DetectionDataset, collate, targets_to_padded
from yolov6_edge.datasets.mosaic import mosaic4
from yolov6_edge.datasets.records import cache_path
from yolov6_edge.datasets.yolo_txt import load_yolo_txt


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("YOLOV6_EDGE_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def synth(tmp_path):
    generate(tmp_path / "d", num_images=6, size=(96, 128), seed=3, yolo_txt=True, min_size=16, max_size=40)
    return tmp_path / "d"


def test_coco_and_yolo_txt_give_the_same_boxes(synth):
    recs, names, cat_ids = load_coco(synth / "images", synth / "instances.json")
    recs2 = load_yolo_txt(synth / "images", names)
    assert names == ["circle", "rectangle", "triangle", "cross", "ellipse"] and cat_ids == [1, 2, 3, 4, 5]
    assert len(recs) == len(recs2) == 6
    for a, b in zip(recs, recs2):
        np.testing.assert_allclose(a[1], b[1], atol=0.01)  # YOLO txt is written with 6 decimals


def test_malformed_yolo_labels_are_reported_with_line_and_skipped(synth):
    names = ["circle", "rectangle", "triangle", "cross", "ellipse"]
    lab = synth / "labels" / "000000.txt"
    good = lab.read_text().splitlines()[0]
    lab.write_text("\n".join([good, "1 0.5 0.5 0.2", "9 0.5 0.5 0.1 0.1", "x 0.5 0.5 0.1 0.1",
                              "0 0.5 0.5 -0.1 0.2", good]) + "\n")
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        recs = load_yolo_txt(synth / "images", names)
    msgs = [str(x.message) for x in w]
    for line in (2, 3, 4, 5):
        assert any(f"000000.txt:{line}:" in m and "skipped" in m for m in msgs), (line, msgs)
    assert len(recs[0][1]) == 2  # the two good lines survive


def test_corrupt_image_is_reported_and_skipped(synth):
    (synth / "images" / "000001.jpg").write_bytes(b"not a jpeg")
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        recs, _, _ = load_coco(synth / "images", synth / "instances.json")
    assert len(recs) == 5
    assert any("000001.jpg" in str(x.message) and "corrupt" in str(x.message) for x in w)


def test_malformed_coco_annotation_is_reported(synth):
    coco = json.loads((synth / "instances.json").read_text())
    coco["annotations"][0]["bbox"] = [1, 2, -5, 3]
    coco["annotations"][1]["category_id"] = 99
    (synth / "instances.json").write_text(json.dumps(coco))
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        load_coco(synth / "images", synth / "instances.json")
    msgs = " ".join(str(x.message) for x in w)
    assert "annotation #0" in msgs and "annotation #1" in msgs


def test_label_cache_is_written_and_invalidated_by_a_change(synth):
    names = ["circle", "rectangle", "triangle", "cross", "ellipse"]
    load_yolo_txt(synth / "images", names)
    cache = cache_path(synth / "images", "labels")
    assert cache.exists() and str(cache).startswith(str(synth.parent / "cache"))  # never inside the data
    h1 = json.loads(cache.read_text())["hash"]
    lab = synth / "labels" / "000002.txt"
    lab.write_text("0 0.5 0.5 0.25 0.25\n")
    recs = load_yolo_txt(synth / "images", names)
    assert json.loads(cache.read_text())["hash"] != h1
    np.testing.assert_allclose(recs[2][1], [[0, 48, 36, 80, 60]], atol=1e-3)  # 128x96 image


def test_data_yaml_errors_name_the_file(tmp_path):
    with pytest.raises(Yolov6EdgeError, match="no such data file"):
        load_data_spec(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("val: x\n")
    with pytest.raises(Yolov6EdgeError, match=r"bad.yaml: needs 'train'"):
        load_data_spec(bad)


def test_letterbox_matches_hand_math():
    img = np.full((50, 100, 3), 7, np.uint8)
    out, r, (left, top) = letterbox(img, (64, 64))
    assert r == pytest.approx(0.64) and (left, top) == (0, 16)
    assert (out[:16] == 114).all() and (out[16:48] == 7).all() and (out[48:] == 114).all()


def test_affine_without_motion_keeps_boxes_and_flip_mirrors_them():
    rng = np.random.default_rng(0)
    img = np.zeros((64, 64, 3), np.uint8)
    labels = np.array([[1, 10, 20, 30, 40]], np.float32)
    out, lab = random_affine(img, labels, rng, (64, 64), translate=0.0, scale=0.0)
    np.testing.assert_allclose(lab, labels, atol=1e-4)
    _, flipped = hflip(img, labels)
    np.testing.assert_allclose(flipped, [[1, 34, 20, 54, 40]])


def test_affine_moves_the_pixels_with_the_boxes():
    rng = np.random.default_rng(1)
    img = np.zeros((128, 128, 3), np.uint8)
    img[40:80, 30:60] = 255
    labels = np.array([[0, 30, 40, 60, 80]], np.float32)
    out, lab = random_affine(img, labels, rng, (128, 128), translate=0.2, scale=0.4)
    ys, xs = np.nonzero(out[..., 0] > 127)
    np.testing.assert_allclose(lab[0, 1:], [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], atol=1.5)


def test_mosaic_boxes_cover_their_pixels():
    rng = np.random.default_rng(2)
    parts = []
    for k in range(4):
        im = np.zeros((64, 64, 3), np.uint8)
        im[10:30, 20:50] = 60 * (k + 1)
        parts.append((im, np.array([[k, 20, 10, 50, 30]], np.float32)))
    out, lab = mosaic4(parts, (64, 64), rng, translate=0.0, scale=0.0)
    for c, x1, y1, x2, y2 in lab:
        region = out[int(np.ceil(y1)):int(y2), int(np.ceil(x1)):int(x2), 0]
        assert region.size and (region == 60 * (int(c) + 1)).mean() > 0.9


def test_dataset_items_collate_and_pad(synth):
    recs, _, _ = load_coco(synth / "images", synth / "instances.json")
    ds = DetectionDataset(recs, 128, augment=True, seed=0)
    a, b = ds[(0, 0, True)], ds[(0, 0, True)]
    assert (a[0] == b[0]).all()  # same (seed, epoch, index) -> same sample
    assert a[0].shape == (3, 128, 128) and a[0].dtype.name == "uint8" if hasattr(a[0].dtype, "name") else True
    imgs, labels, infos = collate([ds[(i, 0, False)] for i in range(3)])
    assert imgs.shape == (3, 3, 128, 128) and labels.shape[1] == 6
    gl, gb, m = targets_to_padded(labels, 3)
    assert m.sum() == len(labels) and gb.shape[1] == max(len(r[1]) for r in recs[:3])


def test_validation_items_are_a_plain_letterbox(synth):
    recs, _, _ = load_coco(synth / "images", synth / "instances.json")
    ds = DetectionDataset(recs, 128, augment=False)
    img, labels, info = ds[0]
    ref, r, pad = letterbox(cv2.imread(recs[0][0]), (128, 128))
    assert (img.numpy() == ref[:, :, ::-1].transpose(2, 0, 1)).all()
    np.testing.assert_allclose(labels[:, 1:].numpy(), recs[0][1][:, 1:] * r + [pad[0], pad[1], pad[0], pad[1]],
                               atol=1e-3)


def test_image_corrupted_after_the_scan_is_replaced_not_fatal(synth):
    recs, _, _ = load_coco(synth / "images", synth / "instances.json")
    (synth / "images" / "000000.jpg").write_bytes(b"")
    ds = DetectionDataset(recs, 128, augment=False)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        img, labels, _ = ds[0]
    assert img.shape == (3, 128, 128) and any("000000.jpg" in str(x.message) for x in w)
