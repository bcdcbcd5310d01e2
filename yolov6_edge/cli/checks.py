"""Checks every command runs before its work: argument ranges, and output paths that are writable, distinct
from each other and from the command's own inputs (so no command ever writes over what it reads).

No torch here: every command imports it.
"""
import argparse
import os
from pathlib import Path

from .. import arguments
from ..atomic import check_output_folder, check_writable  # noqa: F401 - re-exported for the commands
from ..errors import fail
from ..onnx_contract import MAX_INPUT_SIDE as MAX_IMAGE_SIDE  # one float32 image of it is 3 GiB


# ---- argparse types: a bad value is reported by argparse as 'argument --x: ...', exit 2 ----------------------
# Each parses the text and hands the value to yolov6_edge.arguments, the checks the Python API runs too.

def _parsed(text, convert, expected):
    try:
        return convert(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None


def _checked(check, value, *args):
    from ..errors import Yolov6EdgeError

    try:
        return check(value, "value", *args)
    except Yolov6EdgeError as e:  # "value: value must be ...": argparse names the option itself
        raise argparse.ArgumentTypeError(str(e).split(": value ", 1)[-1]) from None


def _whole(text, minimum, expected):
    value = _parsed(text, int, expected)
    if value < minimum:  # the words older versions used, which scripts may match
        raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
    return value


def positive_int(text) -> int:
    return _whole(text, 1, "a positive integer")


def count(text) -> int:
    """A whole number >= 0 (warm-up calls, workers, epochs of a phase)."""
    return _whole(text, 0, "an integer >= 0")


def seed(text) -> int:
    return _checked(arguments.seed, _parsed(text, int, "an integer seed >= 0"))


def unit_float(text) -> float:
    """A threshold in [0, 1] (confidence, IoU)."""
    value = _parsed(text, float, "a number in [0, 1]")
    if not 0.0 <= value <= 1.0:  # NaN fails too
        raise argparse.ArgumentTypeError(f"must lie in [0, 1], got {text}")
    return value


def positive_float(text) -> float:
    """A finite number > 0 (learning rates, temperatures, tolerances)."""
    return _checked(lambda v, n: arguments.number(v, n, above=0.0), _parsed(text, float, "a number > 0"))


def nonnegative_float(text) -> float:
    """A finite number >= 0 (loss weights, minutes, allowed AP drops)."""
    return _checked(lambda v, n: arguments.number(v, n, minimum=0.0), _parsed(text, float, "a number >= 0"))


def seconds(text) -> float:
    """A positive duration, at most a day (stream timeouts)."""
    return _checked(arguments.seconds, _parsed(text, float, "a number of seconds"))


def percentile(text) -> float:
    return _checked(arguments.percentile, _parsed(text, float, "a percentile in (50, 100]"))


def image_size(values) -> tuple:
    """--img H W from argparse ints: both positive, else a one-line error."""
    if values is None:
        return None
    h, w = values
    if not (1 <= h <= MAX_IMAGE_SIDE and 1 <= w <= MAX_IMAGE_SIDE):
        raise fail("--img", f"image size must lie in 1..{MAX_IMAGE_SIDE}, got {h} {w}")
    return int(h), int(w)


# ---- files ---------------------------------------------------------------------------------------------------

def model_files(path) -> list:
    """The files a model path reads: an NCNN .param also reads its .bin, an engine its .json sidecar."""
    path = Path(path)
    files = [path]
    if path.suffix == ".param":
        files.append(path.with_suffix(".bin"))
    if path.suffix == ".engine":
        files.append(path.with_name(path.name + ".json"))
    return files


def same_file(a, b) -> bool:
    a, b = Path(a), Path(b)
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)  # hard links and symlinks too
    except OSError:
        pass
    return os.path.realpath(a) == os.path.realpath(b)


# suffixes a command may read from a folder it is given (images and videos)
MEDIA_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".mp4", ".avi", ".mov", ".mkv",
                  ".m4v", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".ts", ".mts", ".m2ts", ".3gp", ".gif", ".asf",
                  ".ogv")


def _is_pattern(text) -> bool:
    return any(c in text for c in "*?[") and not Path(text).exists()


def _split_inputs(inputs):
    """(files, folders) a command reads: files as given, folders (whose media files it reads), glob matches."""
    import glob

    files, folders = [], []
    for p in inputs:
        if p is None:
            continue
        text = str(p)
        if _is_pattern(text):
            files += [Path(m) for m in sorted(glob.glob(text, recursive=True))]
        elif Path(text).is_dir():
            folders.append(Path(text))
        else:
            files.append(Path(text))
    return files, folders


def _inside(path: Path, folder: Path) -> bool:
    try:
        a, b = os.path.realpath(path), os.path.realpath(folder)
        return os.path.commonpath([a, b]) == b and a != b
    except ValueError:
        return False


def check_outputs(inputs, outputs) -> None:
    """Refuse an output that is one of the inputs, or two outputs that are one file.

    inputs: paths read by the command (None entries are ignored): files, folders (an existing image or video
    inside one counts as read: `eval --json imgs/a.jpg` is refused), glob patterns; outputs: {path: what it is}
    or (path, what) pairs.
    """
    files, folders = _split_inputs(inputs)
    items = list(outputs.items()) if isinstance(outputs, dict) else list(outputs)
    items = [(Path(p), what) for p, what in items if p is not None]
    for i, (out, what) in enumerate(items):
        for src in files:
            if same_file(out, src):
                raise fail(out, f"the {what} would overwrite the input {src}; choose another output path")
        for folder in folders:
            if same_file(out, folder):
                raise fail(out, f"the {what} would be written over the input folder {folder}; choose another "
                                "output path")
            if out.suffix.lower() in MEDIA_SUFFIXES and out.is_file() and _inside(out, folder):
                raise fail(out, f"the {what} would overwrite an image or video of the input folder {folder}; "
                                "choose another output path")
        for other, other_what in items[:i]:
            if same_file(out, other):
                raise fail(out, f"both the {other_what} and the {what} would be written here; give them "
                                "different paths")


def check_files(inputs, outputs) -> None:
    """Before the work: every output writable, none of them an input, no two the same file.

    outputs: {path: what it is} or (path, what) pairs (pairs can hold one path twice, which is refused); None
    paths (an option not given) are skipped.
    """
    pairs = [(Path(p), what) for p, what in (outputs.items() if isinstance(outputs, dict) else outputs)
             if p is not None]
    for path, what in pairs:
        check_writable(path, what)
    check_outputs(inputs, pairs)


def quant_outputs(output, cache, report_suffix: str, methods=()) -> list:
    """(path, what) of what calibrate/qat write: the QDQ ONNX, its report and the calibration cache(s) (one
    per method for --method auto; quant.calibrate.method_cache names them)."""
    output = Path(output)
    cache = Path(cache) if cache else output.with_suffix(".calib.json")
    files = [(output, "QDQ ONNX"), (output.with_suffix(report_suffix), "report")]
    if methods:
        files += [(cache.with_name(f"{cache.stem}.{m}{cache.suffix}"), f"{m} calibration cache") for m in methods]
    else:
        files.append((cache, "calibration cache"))
    return files


def image_list_files(images) -> list:
    """The images an image list (.txt) names, where it can be read (a broken list is reported by the command)."""
    from ..errors import Yolov6EdgeError
    from ..quant.data import list_images

    try:
        return list_images(images)
    except (Yolov6EdgeError, OSError, UnicodeDecodeError):
        return []


def quant_inputs(model, images, eval_ann=None, skip=None, labels=None, eval_images=None, recipe=None) -> list:
    """Everything calibrate/qat/sensitivity read: model, images (a folder, or a list and the images it names),
    the eval images and annotations, the --skip report, QAT labels and the recipe file."""
    files = model_files(model)
    if images is not None:
        files.append(Path(images))
        if Path(images).is_file():
            files += image_list_files(images)
    for extra in (eval_images, eval_ann, labels, recipe):
        if extra:
            files.append(Path(extra))
    if skip and str(skip).endswith(".json"):
        files.append(Path(skip))
    return files
