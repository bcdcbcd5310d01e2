"""`yolov6-edge sensitivity` on a tiny random model: ranked outputs, and the Spearman helper vs hand values."""
import csv
import json

import cv2
import numpy as np
import pytest

from yolov6_edge.cli.main import main
from yolov6_edge.quant.sensitivity import spearman


def test_spearman_matches_hand_computed_values():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # ranks a = 1,2,3,4,5; b = 2,1,4,3,5: d^2 = 1+1+1+1+0 = 4, rho = 1 - 6*4/(5*24) = 0.8
    assert spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]) == pytest.approx(0.8)


@pytest.mark.slow
def test_sensitivity_cli_writes_ranked_csv_json_png(tmp_path, random_lite_checkpoint, capsys):
    imgs = tmp_path / "images"
    imgs.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        cv2.imwrite(str(imgs / f"{i}.jpg"), rng.integers(0, 255, (60, 80, 3), dtype=np.uint8))
    out = tmp_path / "sens"
    assert main(["sensitivity", str(random_lite_checkpoint), "--images", str(imgs), "--img", "64", "64",
                 "--num", "3", "--proxy-images", "2", "-o", str(out)]) == 0
    result = json.loads(out.with_suffix(".json").read_text())
    rows = list(csv.DictReader(out.with_suffix(".csv").open()))
    assert len(rows) == len(result["rows"]) > 50 and out.with_suffix(".png").stat().st_size > 0
    proxy = [float(r["proxy_only_int8"]) for r in rows]
    assert proxy == sorted(proxy, reverse=True) and [int(r["rank"]) for r in rows] == list(range(1, len(rows) + 1))
    assert all(p >= 0 for p in proxy) and max(proxy) > 0
    assert "ranked by proxy_only_int8" in capsys.readouterr().out
