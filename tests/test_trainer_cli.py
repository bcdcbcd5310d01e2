"""`yolov6-edge train`: bad input ends in one line naming the file (exit 2), the parser knows the recipe flags."""
from yolov6_edge.cli.main import build_parser, main


def test_missing_data_file_is_one_line_error(tmp_path, capsys):
    rc = main(["train", "--data", str(tmp_path / "nope.yaml"), "--device", "cpu"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1
    assert "nope.yaml: no such data file" in err


def test_yolo_txt_data_without_names_is_refused(tmp_path, capsys):
    (tmp_path / "images").mkdir()
    y = tmp_path / "data.yaml"
    y.write_text("train: images\nval: images\n")
    assert main(["train", "--data", str(y), "--device", "cpu"]) == 2
    assert "data.yaml: 'names' is required" in capsys.readouterr().err


def test_train_flags_parse():
    a = build_parser().parse_args(["train", "--model", "yolov6lite-s", "--img", "320", "--batch", "4",
                                   "--schedule", "linear", "--iou-type", "ciou", "--no-ema", "--teacher", "t.pt"])
    assert (a.img_size, a.batch, a.schedule, a.iou_type, a.ema, a.teacher) == (320, 4, "linear", "ciou", False, "t.pt")


def test_train_command_end_to_end_on_tiny_synthetic_data(tmp_path, capsys):
    from yolov6_edge.datasets.synthetic import generate_splits

    y = generate_splits(tmp_path / "d", train=4, val=2, size=(64, 64), seed=7, min_size=14, max_size=30)
    out = tmp_path / "run"
    rc = main(["train", "--model", "yolov6lite-s", "--data", str(y), "--epochs", "1", "--img", "64", "--batch", "4",
               "--workers", "0", "--device", "cpu", "--output", str(out)])
    assert rc == 0 and "best mAP@0.5" in capsys.readouterr().out
    import torch

    ckpt = torch.load(out / "last.pt", weights_only=True)
    assert ckpt["model_name"] == "yolov6lite-s" and ckpt["names"][:2] == ["circle", "rectangle"]
    assert ckpt["epoch"] == 0 and ckpt["train_args"]["img_size"] == 64
