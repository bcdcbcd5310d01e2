"""Shared test fixtures: where ../shared is, and skipping cleanly when it is absent."""
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("YOLOV6_EDGE_SHARED", ROOT.parent / "shared"))


def shared_path(*parts) -> Path:
    """Return ../shared/<parts>, or skip the test saying what is missing."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"{p} not found: this test needs the ../shared data set beside the checkout")
    return p


@pytest.fixture
def shared():
    return shared_path


@pytest.fixture(autouse=True, scope="session")
def _few_threads():
    # The CI machine has 2 cores; keep torch from oversubscribing them when several workers run.
    try:
        import torch

        torch.set_num_threads(2)
    except ImportError:
        pass


@pytest.fixture(scope="module")
def one_torch_thread():
    # on a shared, oversubscribed CPU one torch thread is several times faster than two (no OpenMP spinning)
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def random_lite_checkpoint(tmp_path):
    """A YOLOv6Lite-S (3 classes) checkpoint with N(0, 0.3) conv weights, saved as tmp_path/m.pt.

    The model's own init zeroes the predictors, which would make every output constant and no quantization
    or QAT could change it.
    """
    import torch

    from yolov6_edge.models import build_model
    from yolov6_edge.weights.checkpoint import save_checkpoint

    torch.manual_seed(0)
    model = build_model("yolov6lite-s", num_classes=3).eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.Conv2d):
                m.weight.normal_(0, 0.3)
    return save_checkpoint(model, tmp_path / "m.pt")


@pytest.fixture
def labelled_images(tmp_path):
    """Four small images, each with one bright 30x30 box labelled class 1-3: (image folder, COCO JSON).

    Categories c0, c1, c2 (ids 1..3): the names of tests' TinyContractModel, so eval maps them by name; models
    named class0..class2 are matched by position."""
    import json

    import cv2
    import numpy as np

    imgs = tmp_path / "images"
    imgs.mkdir()
    rng = np.random.default_rng(0)
    images, anns = [], []
    for i in range(4):
        img = rng.integers(0, 80, (60, 80, 3), dtype=np.uint8)
        img[10:40, 20:50] = 220  # something for a detection loss to find
        cv2.imwrite(str(imgs / f"{i}.png"), img)
        images.append({"id": i + 1, "file_name": f"{i}.png", "height": 60, "width": 80})
        anns.append({"id": i + 1, "image_id": i + 1, "category_id": 1 + i % 3, "bbox": [20, 10, 30, 30],
                     "area": 900, "iscrowd": 0})
    ann = tmp_path / "instances.json"
    ann.write_text(json.dumps({"images": images, "annotations": anns,
                               "categories": [{"id": k, "name": f"c{k - 1}"} for k in (1, 2, 3)]}))
    return imgs, ann
