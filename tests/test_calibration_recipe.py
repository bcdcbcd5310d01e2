"""calibration/yolov6lite_coco.yaml is what the benchmark measured: its values are the CLI's defaults or valid flags."""
from pathlib import Path

import yaml

from yolov6_edge.cli.main import build_parser

ROOT = Path(__file__).resolve().parents[1]


def _defaults(command, *flags):
    return vars(build_parser().parse_args([command, "m.pt", "--images", "d", "-o", "o.onnx", *flags]))


def test_lite_recipe_matches_the_cli():
    recipe = yaml.safe_load((ROOT / "calibration" / "yolov6lite_coco.yaml").read_text())
    qat = _defaults("qat")
    # the recipe's QAT is the CLI's default QAT, so `yolov6-edge qat` without flags reproduces the table
    assert {k: qat[k] for k in recipe["qat"]} == recipe["qat"]
    cal = _defaults("calibrate")
    assert recipe["channel_scale"] == cal["channel_scale"]
    assert _defaults("calibrate", "--method", recipe["method"])["method"] == recipe["method"]  # a valid choice
    listed = (ROOT / recipe["images"]).read_text().split()
    assert len(listed) >= recipe["num"]
