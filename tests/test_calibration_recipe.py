"""calibration/*.yaml load as QuantRecipe objects, the same way for calibrate, qat and build --int8."""
import math
from pathlib import Path

import pytest
import yaml

from yolov6_edge.cli.main import build_parser
from yolov6_edge.cli.quant_args import recipe_from_args
from yolov6_edge.errors import Yolov6EdgeError
from yolov6_edge.quant.recipe import QatRecipe, QuantRecipe

ROOT = Path(__file__).resolve().parents[1]
LITE = ROOT / "calibration" / "yolov6lite_coco.yaml"


def _args(command, *flags):
    return build_parser().parse_args([command, "m.pt", "-o", "o.onnx", *flags])


def test_lite_recipe_loads_and_its_qat_is_the_default_qat():
    raw = yaml.safe_load(LITE.read_text())
    recipe = QuantRecipe.load(LITE)
    assert recipe.method == raw["method"] and recipe.num == raw["num"] and recipe.img_size == (320, 320)
    # the recipe's QAT is QatRecipe's defaults, so `yolov6-edge qat` without flags reproduces the table
    assert {k: getattr(QatRecipe(), k) for k in raw["qat"]} == raw["qat"]
    listed = Path(recipe.images).read_text().split()
    assert len(listed) >= recipe.num
    assert recipe.target == "tensorrt" and recipe.bits == 8


def test_command_line_flags_override_the_recipe_file_for_calibrate_and_qat():
    for command in ("calibrate", "qat"):
        r = recipe_from_args(_args(command, "--recipe", str(LITE), "--num", "7", "--target", "openvino"))
        assert (r.num, r.target, r.bits, r.method) == (7, "openvino", "channel", "auto")
        r = recipe_from_args(_args(command, "--recipe", str(LITE), "--weight-bits", "8", "--target", "cpu"))
        assert (r.target, r.bits, r.num) == ("cpu", 8, 160)
        r = recipe_from_args(_args(command, "--recipe", str(LITE), "--weight-bits", "layer", "--target", "openvino"))
        assert r.bits == "layer"
    defaults = recipe_from_args(_args("calibrate", "--images", "d"))
    assert (defaults.num, defaults.method, defaults.target, defaults.images) == (512, "mse", "tensorrt", "d")
    q = QuantRecipe.load(None, qat_epochs=3, qat_weight_bound=1.0).qat
    assert (q.epochs, q.weight_bound, q.lr) == (3, 1.0, QatRecipe().lr)
    assert math.isinf(QuantRecipe().qat.weight_bound)


@pytest.mark.parametrize("text, message", [
    ("method: fastest\n", "method must be one of max, entropy, percentile, mse, auto"),
    ("target: gpu\n", "target must be one of tensorrt"),
    ("colour: red\n", "unknown recipe setting 'colour'"),
    ("qat:\n  epoch: 3\n", "unknown recipe setting 'qat.epoch'"),
    ("num: 0\n", "num must be a whole number >= 1"),
    ("weight_bits: 4\n", "7, 8, layer or channel"),
    ("img_size: [320]\n", "img_size"),
    ("- a\n- b\n", "mapping"),
])
def test_bad_recipes_are_refused_with_the_file_named(tmp_path, text, message):
    f = tmp_path / "r.yaml"
    f.write_text(text)
    with pytest.raises(Yolov6EdgeError, match=message) as e:
        QuantRecipe.load(f)
    assert str(f) in str(e.value)


def test_recipe_paths_resolve_against_the_repository_and_its_parent(tmp_path):
    repo = tmp_path / "repo"
    (repo / "calibration").mkdir(parents=True)
    (tmp_path / "shared" / "imgs").mkdir(parents=True)
    (repo / "calibration" / "list.txt").write_text("x\n")
    f = repo / "calibration" / "r.yaml"
    f.write_text("images: calibration/list.txt\neval_images: shared/imgs\n")
    r = QuantRecipe.load(f)
    assert Path(r.images) == repo / "calibration" / "list.txt"
    assert Path(r.eval_images) == tmp_path / "shared" / "imgs"
