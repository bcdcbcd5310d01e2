"""Issue 26, sizes read from files: bounded before anything is allocated, and fields of the wrong type refused as
one line naming the file. Official-format .pt files (tensors viewing more values than their storage holds, a
class head of 10^9 or 0 classes, fields of the wrong type), our checkpoints whose 'arch' asks for more than the
file holds, NCNN .param widths, ONNX class-name metadata, and what compare-runtimes reads from an ONNX."""
import json

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from conftest import shared_path
from official_files import node_at, read_tree, save_tree
from reliability_common import one_line_error, one_line_raised, tiny_checkpoint, write_images
from yolov6_edge.cli.main import main
from yolov6_edge.errors import Yolov6EdgeError


# ---- official-format .pt -----------------------------------------------------------------------------------------

def _head_of(n_classes):
    def edit(root, levels):
        for i in range(levels):
            conv = node_at(root, f"detect.cls_preds.{i}").__dict__["_parameters"]
            w, b = conv["weight"], conv["bias"]
            # a view: the file stores one row; its shape says n_classes rows (stride 0)
            conv["weight"] = torch.nn.Parameter(w[:1].expand(n_classes, *w.shape[1:]), requires_grad=False)
            conv["bias"] = torch.nn.Parameter(b[:1].expand(n_classes), requires_grad=False)
    return edit


def _set(dotted, key, value, inner=None):
    def edit(root, levels):
        node = node_at(root, dotted)
        if inner is None:
            node.__dict__[key] = value
        else:
            node.__dict__[key][inner] = value
    return edit


def _first_bn(key, value):
    def edit(root, levels):
        from yolov6_edge.weights.official_tree import class_name, walk

        node = next(n for _, n in walk(root) if class_name(n) == "BatchNorm2d")
        node.__dict__[key] = value
    return edit


OFFICIAL_DAMAGE = {
    "a class head of 10^9 classes (a view over one stored row)": (_head_of(10**9), "storage"),
    "a class head of 0 classes": (_head_of(0), "0 classes"),
    "_modules that is a number": (_set("backbone", "_modules", 5), "_modules"),
    "_parameters that is text": (_set("detect.cls_preds.0", "_parameters", "weights"), "_parameters"),
    "a parameter that is a number": (_set("detect.cls_preds.0", "_parameters", 7, "weight"), "not a tensor"),
    "Detect stride as text": (_set("detect", "stride", "8,16,32"), "stride"),
    "Detect nc as text": (_set("detect", "nc", "80"), "nc"),
    "BatchNorm eps as text": (_first_bn("eps", "tiny"), "eps"),
    "BatchNorm momentum 7": (_first_bn("momentum", 7.0), "momentum"),
    "_non_persistent_buffers_set that is a number": (_first_bn("_non_persistent_buffers_set", 3), "_non_persistent"),
}


@pytest.mark.parametrize("case", list(OFFICIAL_DAMAGE))
def test_damaged_official_files_are_one_line_before_any_allocation(tmp_path, case):
    """Before: allocator errors asking for 128-384 GB, a model with 0 classes loaded silently, AttributeError /
    TypeError tracebacks, a BatchNorm eps of 'tiny' kept."""
    from yolov6_edge.weights import load_model

    src = shared_path("weights", "official-format", "yolov6n.pt")
    edit, words = OFFICIAL_DAMAGE[case]
    top = read_tree(src)
    edit(top["model"], 3)
    path = save_tree(top, tmp_path / "damaged.pt")
    assert path.stat().st_size < 2 * src.stat().st_size  # the file stays small whatever its shapes claim
    with pytest.raises(Yolov6EdgeError) as e:
        load_model(path)
    assert words in one_line_raised(e, path)


def test_a_lite_official_file_with_0_or_a_billion_classes_is_refused(tmp_path):
    from yolov6_edge.weights import load_model

    src = shared_path("weights", "official-format", "yolov6lite_s.pt")
    for n in (0, 10**9):
        top = read_tree(src)
        _head_of(n)(top["model"], 4)
        path = save_tree(top, tmp_path / f"lite_{n}.pt")
        with pytest.raises(Yolov6EdgeError) as e:  # before: 0 classes loaded; 10^9 a 384 GB allocation
            load_model(path)
        one_line_raised(e, path)


def test_the_official_files_themselves_still_load():
    from yolov6_edge.weights import load_model

    for name in ("yolov6n.pt", "yolov6lite_s.pt"):
        model, info = load_model(shared_path("weights", "official-format", name))
        assert model.num_classes == 80 and info["format"] == "yolov6-official"


def test_our_checkpoint_whose_arch_asks_for_more_than_the_file_holds_is_refused(tmp_path):
    from yolov6_edge.models import build_model
    from yolov6_edge.weights import load_model

    base = tiny_checkpoint(tmp_path / "base.pt")
    ckpt = torch.load(base, weights_only=True)
    arch = dict(build_model("yolov6lite-s", num_classes=3).arch)
    arch["neck_channels"] = 200_000  # widths the state dict cannot fill: 10^11 values before any shape check
    ckpt.update(model_name="yolov6lite-custom", arch=arch)
    torch.save(ckpt, tmp_path / "wide.pt")
    with pytest.raises(Yolov6EdgeError) as e:
        load_model(tmp_path / "wide.pt")
    assert "values" in one_line_raised(e, tmp_path / "wide.pt")


# ---- NCNN .param -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("width", [0, 10**9])
def test_ncnn_class_conv_width_that_its_weights_do_not_hold_is_refused(tmp_path, width):
    import re
    import shutil

    from yolov6_edge.weights import load_model
    from yolov6_edge.weights.ncnn import read_ncnn

    src = shared_path("weights", "yolov6lite", "yolov6-lite-s.param")
    graph = read_ncnn(src)
    producers = graph.producers()
    conv = producers[producers[graph.output_blobs()[0]].inputs[0]]
    lines = []
    for line in src.read_text().splitlines():
        if f" {conv.name} " in line:  # the class conv: a new width, no bias (the .bin walk stays the same length)
            line = re.sub(r"\b0=\d+", f"0={width}", line)
        lines.append(line)
    (tmp_path / "m.param").write_text("\n".join(lines) + "\n")
    shutil.copy(src.with_suffix(".bin"), tmp_path / "m.bin")
    with pytest.raises(Yolov6EdgeError) as e:  # 10^9 with its bias: the .bin walk says truncated
        load_model(tmp_path / "m.param")
    one_line_raised(e)


# ---- ONNX metadata and compare-runtimes --------------------------------------------------------------------------

def _conv_onnx(path, input_shape, meta=None):
    """A one-Conv graph (boxes = Relu(conv), scores = Sigmoid(conv)): enough for compare-runtimes."""
    c = input_shape[1] if len(input_shape) == 4 and isinstance(input_shape[1], int) else 3
    w = numpy_helper.from_array(np.random.default_rng(0).standard_normal((4, c, 3, 3)).astype(np.float32),
                                "conv.weight")
    if len(input_shape) == 4:
        nodes = [helper.make_node("Conv", ["images", "conv.weight"], ["feat"], pads=[1, 1, 1, 1], name="conv"),
                 helper.make_node("Relu", ["feat"], ["boxes"]), helper.make_node("Sigmoid", ["feat"], ["scores"])]
        inits = [w]
    else:
        nodes = [helper.make_node("Relu", ["images"], ["boxes"]), helper.make_node("Sigmoid", ["images"], ["scores"])]
        inits = []
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("images", TensorProto.FLOAT,
                                                                         list(input_shape))],
                              [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in ("boxes", "scores")],
                              inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    for k, v in (meta or {}).items():
        model.metadata_props.append(onnx.StringStringEntryProto(key=k, value=v))
    onnx.save(model, path)
    return path


def _detector_onnx(path, names, classes=3):
    """A 'detector' of constant outputs whose scores declare `classes` columns, with 'names' metadata."""
    boxes = numpy_helper.from_array(np.zeros((1, 20, 4), np.float32))
    scores = numpy_helper.from_array(np.zeros((1, 20, classes), np.float32))
    graph = helper.make_graph(
        [helper.make_node("Constant", [], ["boxes"], value=boxes), helper.make_node("Constant", [], ["scores"],
                                                                                   value=scores)],
        "g", [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 32, 32])],
        [helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [1, 20, 4]),
         helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, 20, classes])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.metadata_props.append(onnx.StringStringEntryProto(key="names", value=names))
    onnx.save(model, path)
    return path


@pytest.mark.parametrize("shape, meta, words", [
    (("batch", 3, "height", "width"), {}, "dynamic"),
    (("batch", 3), {}, "2 dimensions"),
    ((1, 3, 32, 32), {"input_size": "{not json"}, "input_size"),
    ((1, 3, 32, 32), {"input_size": "[32]"}, "input_size"),
    ((1, 3, 32, 32), {"input_size": "[64, 64]"}, "disagrees"),
])
def test_compare_runtimes_on_onnx_it_cannot_size_is_one_line(tmp_path, capsys, shape, meta, words):
    """Before: ValueError (symbolic H/W), IndexError (2-D input), JSONDecodeError (metadata) tracebacks."""
    path = _conv_onnx(tmp_path / "m.onnx", shape, meta)
    write_images(tmp_path / "imgs", ["a.jpg"])
    assert main(["compare-runtimes", str(path), "--images", str(tmp_path / "imgs"), "--backend", "onnxruntime"]) == 2
    assert words in one_line_error(capsys, path)


def test_compare_runtimes_with_symbolic_sizes_and_metadata_runs(tmp_path, capsys):
    path = _conv_onnx(tmp_path / "m.onnx", ("batch", 3, "h", "w"), {"input_size": "[32, 32]"})
    write_images(tmp_path / "imgs", ["a.jpg"])
    assert main(["compare-runtimes", str(path), "--images", str(tmp_path / "imgs"), "--backend", "onnxruntime"]) == 0


@pytest.mark.parametrize("names", ['["a", "b"]', '"person"', '[["a"], 1, 2]', json.dumps([f"c{i}" for i in range(4)])])
def test_class_names_metadata_that_disagrees_with_the_scores_is_refused(tmp_path, names):
    """Before: 2 names for 3 score columns labelled class 2 as '2' and eval mapped it to a wrong category."""
    from yolov6_edge.runtime.detector import Detector

    path = _detector_onnx(tmp_path / "m.onnx", names)
    with pytest.raises(Yolov6EdgeError) as e:
        Detector(path)
    one_line_raised(e, path)
    assert Detector(_detector_onnx(tmp_path / "ok.onnx", '["a", "b", "c"]')).names == ["a", "b", "c"]


def test_a_pickle_naming_a_memo_index_of_800_million_is_refused_before_unpickling(tmp_path):
    """Found by the fuzz run (seed 26, case 9913): one flipped byte in a LONG_BINPUT of an official file made the C
    unpickler allocate and clear a 6.7 GB memo array (a minute, under load) before anything was read."""
    import struct
    import zipfile

    from yolov6_edge.weights import load_model

    src = shared_path("weights", "official-format", "yolov6lite_s.pt")
    raw = bytearray(src.read_bytes())
    info = zipfile.ZipFile(src).getinfo("yolov6lite_s/data.pkl")
    name_len, extra_len = struct.unpack("<HH", raw[info.header_offset + 26:info.header_offset + 30])
    start = info.header_offset + 30 + name_len + extra_len
    pkl = bytes(raw[start:start + info.compress_size])
    import pickletools

    at = next(pos for op, _, pos in pickletools.genops(pkl) if op.name == "LONG_BINPUT" and pos > 1000)
    raw[start + at + 1:start + at + 5] = struct.pack("<I", 838_868_868)
    (tmp_path / "memo.pt").write_bytes(bytes(raw))  # the zip CRC no longer matches; torch does not check it
    with pytest.raises(Yolov6EdgeError) as e:
        load_model(tmp_path / "memo.pt")
    assert "memo index 838868868" in one_line_raised(e, tmp_path / "memo.pt")


def test_a_calibration_cache_without_any_range_is_refused(tmp_path):
    """Found by the fuzz run (seed 26, cache target): amax {} was accepted; every quantizer would have no range."""
    from yolov6_edge.quant.cache import read_cache

    key = {"model_hash": "m", "images_hash": "i"}
    (tmp_path / "c.calib.json").write_text(json.dumps({"version": 1, **key, "amax": {}, "channel_scales": {}}))
    with pytest.raises(Yolov6EdgeError, match="empty") as e:
        read_cache(tmp_path / "c.calib.json", key)
    one_line_raised(e, tmp_path / "c.calib.json")
