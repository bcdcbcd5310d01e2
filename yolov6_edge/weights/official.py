"""Import official meituan/YOLOv6 .pt checkpoints without running their pickled code.

The official train script saves whole module objects ({'model': Model.half(), 'ema': ..., 'epoch': ...,
'results': numpy scalars}), so the file is a pickle of `yolov6.*` and `torch.nn.*` classes. We read it
with torch's own zip/storage machinery but our own Unpickler, whose find_class allows only tensor/storage
rebuild functions and a few containers, and turns every `yolov6.*` / `torch.nn.*` / `numpy.*` global into
an inert placeholder that only keeps the object's state. Anything else (os.system in a REDUCE, for
instance) is refused. The recovered tree then says which model to build (official_tree.py: allowed classes,
renaming; official_arch.py: the architecture read from classes, attributes and shapes). A name given by the
caller, or a plain state dict without a tree, uses our named configs instead (closest key set + shapes).
"""
import codecs
import io
import pickle
import re
from collections import OrderedDict
from pathlib import Path

import torch

from ..errors import fail
from ..models.fuse import fold_batchnorm
from .state import apply_batchnorm_settings, build_within_file, check_class_count, load_state_dict_checked

# Official keys that have no counterpart in our deploy-time model.
_DROPPED = (
    re.compile(r"^detect\.proj$"),                         # fixed DFL bin values (ours is a non-saved buffer)
    re.compile(r"^detect\.proj_conv\.weight$"),
    re.compile(r"^detect\.(cls|reg)_preds_ab\."),          # 3.0 anchor-aided training branch (unused at inference)
    re.compile(r"^detect\.reg_preds_dist\."),              # self-distillation DFL branch (training only)
)
# Official wrappers that add one name level ours does not have.
_RENAMES = (
    (re.compile(r"\.block\.(conv|bn)\."), r".\1."),         # ConvBNReLU/ConvBNSiLU(.block=ConvModule)
    (re.compile(r"\.(sppf|cspsppf)\."), "."),               # SimSPPF(.sppf=SPPFModule), SimCSPSPPF(.cspsppf=...)
)


class RefusedGlobal(pickle.UnpicklingError):
    pass


class RefusedTensor(pickle.UnpicklingError):
    pass


class RefusedPickle(pickle.UnpicklingError):
    pass


class _Placeholder:
    """Stands in for an official module class: records the pickled state, has no behaviour."""

    qualname = "?"

    def __init__(self, *args, **kwargs):
        self.args = args

    def __setstate__(self, state):
        if isinstance(state, tuple) and len(state) == 2:  # (dict state, slot state)
            state = {**(state[0] or {}), **(state[1] or {})}
        self.__dict__.update(state if isinstance(state, dict) else {"state": state})


_PLACEHOLDERS = {}


def _placeholder(module, name):
    key = f"{module}.{name}"
    if key not in _PLACEHOLDERS:
        _PLACEHOLDERS[key] = type(name, (_Placeholder,), {"qualname": key})
    return _PLACEHOLDERS[key]


class _MethodRef:
    """Stands in for a bound method the pickle names, e.g. the official fuse_model's `forward = forward_fuse`."""

    def __init__(self, name):
        self.name = name


def _placeholder_getattr(obj, name, *default):
    # Only method names of placeholders: getattr on anything else could reach real functions.
    if isinstance(obj, _Placeholder) and isinstance(name, str) and name.startswith("forward"):
        return _MethodRef(name)
    raise RefusedGlobal(f"refused getattr({type(obj).__name__}, {str(name)[:40]!r})")


MAX_TENSOR_DIMS = 8


def _check_view(storage, offset, size, stride) -> None:
    """A tensor in the file may only view values its storage holds, once each: a (10^9, 96, 1, 1) weight with
    stride 0 over 96 stored values is a few bytes in the file and 384 GB once converted. Refused here, so every
    tensor read is bounded by the file's size."""
    if not (isinstance(size, (tuple, list)) and isinstance(stride, (tuple, list)) and len(size) == len(stride)
            and len(size) <= MAX_TENSOR_DIMS and all(isinstance(v, int) for v in (*size, *stride, offset))):
        raise RefusedTensor(f"a tensor with size {str(size)[:60]} and stride {str(stride)[:60]}")
    if offset < 0 or any(v < 0 for v in (*size, *stride)):
        raise RefusedTensor(f"a tensor with negative size, stride or offset ({tuple(size)}, {tuple(stride)})")
    numel = 1
    for v in size:
        numel *= v
    if numel == 0:
        return
    held = storage._size() if hasattr(storage, "_size") else len(storage)  # _size: without the deprecation warning
    extent = offset + 1 + sum((n - 1) * s for n, s in zip(size, stride))
    if numel > held or extent > held:
        raise RefusedTensor(f"a tensor of shape {tuple(size)} ({numel:,} values) over a storage of {held:,} values "
                            "(a damaged file, or one built to exhaust memory)")


def _rebuild_tensor_checked(storage, storage_offset, size, stride, *rest):
    _check_view(storage, storage_offset, size, stride)
    return torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, *rest)


def _allowed_global(module, name):
    if module == "torch._utils" and name == "_rebuild_tensor_v2":
        return _rebuild_tensor_checked
    if module == "torch._utils" and name in ("_rebuild_parameter", "_rebuild_parameter_with_state"):
        return getattr(torch._utils, name)
    if module == "collections" and name == "OrderedDict":
        return OrderedDict
    if module == "_codecs" and name == "encode":
        # Protocol-2 pickles spell bytes as _codecs.encode(str, 'latin1'): a pure data conversion.
        return codecs.encode
    if module == "builtins" and name == "getattr":
        return _placeholder_getattr
    if module == "builtins" and name in ("set", "frozenset"):
        return {"set": set, "frozenset": frozenset}[name]
    if module == "torch":
        obj = getattr(torch, name, None)
        if name.endswith("Storage") and isinstance(obj, type):
            return obj
        if isinstance(obj, torch.dtype) or obj is torch.Size:
            return obj
    # Model classes (and numpy scalars the official script stores under 'results') become inert
    # placeholders: calling or restoring one only records its arguments / state.
    if module.split(".")[0] in ("yolov6", "numpy") or module.startswith("torch.nn."):
        return _placeholder(module, name)
    return None


# The C unpickler keeps its memo in an array as long as the largest index a PUT names: one flipped byte in a
# LONG_BINPUT (index 838,868,868) made it allocate and clear 6.7 GB, a minute before anything was read. A real
# pickle numbers its memo entries one by one, so no index can pass the number of opcodes.
MAX_PICKLE_BYTES = 256 << 20  # data.pkl of an official checkpoint is ~0.2-2 MB: its tensors live elsewhere
_MEMO_PUTS = ("PUT", "BINPUT", "LONG_BINPUT")


def check_pickle(data: bytes) -> None:
    """Walk the opcodes (pickletools, no object is built) and refuse a stream a C unpickler would choke on: memo
    indices beyond the opcode count, truncated arguments."""
    import pickletools

    if len(data) > MAX_PICKLE_BYTES:
        raise RefusedPickle(f"a pickle stream of {len(data):,} bytes (at most {MAX_PICKLE_BYTES:,})")
    ops = 0
    try:
        for op, arg, pos in pickletools.genops(data):
            ops += 1
            if op.name in _MEMO_PUTS and not (isinstance(arg, int) and 0 <= arg <= len(data)):
                raise RefusedPickle(f"memo index {arg} at byte {pos} in a pickle of {len(data):,} bytes")
    except RefusedPickle:
        raise
    except Exception as e:  # noqa: BLE001 - pickletools raises ValueError and others on damaged streams
        shown = str(e).splitlines()[0][:120] if str(e) else type(e).__name__
        raise RefusedPickle(f"a damaged pickle stream ({shown})") from None


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler for official checkpoints: whitelisted globals only, model classes become placeholders, and the
    stream's opcodes checked (check_pickle) before the C unpickler sees them."""

    def __init__(self, file, **kwargs):
        data = file.read(MAX_PICKLE_BYTES + 1)
        check_pickle(data)
        super().__init__(io.BytesIO(data), **kwargs)

    def find_class(self, module, name):
        if module == "__builtin__":  # protocol-2 pickles keep Python 2 names; pickle's own mapping is bypassed
            module = "builtins"
        obj = _allowed_global(module, name)
        if obj is None:
            raise RefusedGlobal(f"refused global '{module}.{name}'")
        return obj


class _PickleModule:
    """What torch.load needs of a pickle module, with our Unpickler."""

    __name__ = "yolov6_edge_restricted_pickle"
    Unpickler = RestrictedUnpickler

    @staticmethod
    def load(f, **kwargs):
        return RestrictedUnpickler(f, **kwargs).load()


def read_official(path):
    """Unpickle an official .pt safely; returns the top-level object (placeholders inside)."""
    try:
        return torch.load(path, map_location="cpu", pickle_module=_PickleModule, weights_only=False)
    except RefusedGlobal as e:
        raise fail(path, f"{e}: not an official YOLOv6 checkpoint, or one that would run code; not loaded") from None
    except (RefusedTensor, RefusedPickle) as e:
        raise fail(path, f"refused {e}; not loaded") from None
    except Exception as e:  # noqa: BLE001 - any failure of a foreign file is reported as one line
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise fail(path, f"cannot read as an official YOLOv6 checkpoint: {first}") from None


def flat_state_dict(module_obj, prefix=""):
    """Official module tree (placeholders) -> flat {name: tensor} like nn.Module.state_dict()."""
    state = module_obj.__dict__
    out = OrderedDict()
    for k, v in (state.get("_parameters") or {}).items():
        if v is not None:
            out[prefix + k] = v
    skip = state.get("_non_persistent_buffers_set") or set()
    for k, v in (state.get("_buffers") or {}).items():
        if v is not None and k not in skip:
            out[prefix + k] = v
    for k, child in (state.get("_modules") or {}).items():
        if child is not None:
            out.update(flat_state_dict(child, f"{prefix}{k}."))
    return out


def map_official_keys(official):
    """Official names -> ours (float32); returns (state_dict, dropped official keys)."""
    mapped, dropped = OrderedDict(), []
    for key, value in official.items():
        if any(p.search(key) for p in _DROPPED):
            dropped.append(key)
            continue
        for pattern, repl in _RENAMES:
            key = pattern.sub(repl, key)
        mapped[key] = value.detach().float() if value.is_floating_point() else value.detach()
    return mapped, dropped


def _mismatch(expected, got):
    """Number of keys/shapes that differ between two {name: shape} maps."""
    keys = set(expected) ^ set(got)
    shapes = [k for k in set(expected) & set(got) if expected[k] != got[k]]
    return len(keys) + len(shapes)


def _shapes(name, num_classes, fused):
    from ..models.yolov6 import build_yolov6

    with torch.device("meta"):
        model = build_yolov6(name, num_classes, names=[str(i) for i in range(num_classes)])
        if fused:
            model.fuse()
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def infer_model_name(state_dict, num_classes, fused):
    """The config whose key set and shapes are closest to the checkpoint's (equal for a known model).

    When none is equal, the loader then names the first mismatched keys/shapes against this closest one.
    """
    from ..models.configs import YOLOV6_CONFIGS

    got = {k: tuple(v.shape) for k, v in state_dict.items()}
    # Building a config (even on the meta device) costs ~1 s; try first those whose head width and DFL
    # size agree with the file, all of them only if none does.
    width = got.get("detect.stems.0.conv.weight", (None,))[0]
    n_reg = got.get("detect.reg_preds.0.weight", (None,))[0]
    likely = [n for n, c in YOLOV6_CONFIGS.items()
              if c.channels[6] == width and n_reg == (4 * (c.reg_max + 1) if c.reg_max else 4)]
    return min(likely or YOLOV6_CONFIGS, key=lambda n: _mismatch(_shapes(n, num_classes, fused), got))


def _named(path, official, model_name):
    """The named-architecture path: `model_name` given, or no module tree to read (a plain state dict)."""
    from ..models.yolov6 import build_yolov6

    state_dict, dropped = map_official_keys(official)
    cls_w = state_dict.get("detect.cls_preds.0.weight")
    if cls_w is None:
        raise fail(path, "no detect.cls_preds.0.weight: not a YOLOv6 (EfficientRep / Rep-PAN) checkpoint")
    if cls_w.dim() != 4:
        raise fail(path, f"detect.cls_preds.0.weight has shape {tuple(cls_w.shape)}, not a convolution weight")
    num_classes = check_class_count(int(cls_w.shape[0]), path)
    fused = _is_fused(state_dict)
    name = model_name.lower() if model_name else infer_model_name(state_dict, num_classes, fused)
    try:
        model = build_within_file(path, lambda: build_yolov6(name, num_classes))
    except ValueError as e:
        raise fail(path, str(e)) from None
    if fused:
        model.fuse()
    what = "official checkpoint" if model_name else "official checkpoint (closest known config)"
    load_state_dict_checked(model, state_dict, path, what=what)
    told = [label for label, mark in (("anchor-aided training branch (cls_preds_ab, reg_preds_ab)", "_preds_ab."),
                                      ("self-distillation DFL branch (reg_preds_dist)", "reg_preds_dist."))
            if any(mark in k for k in dropped)]
    return model, name, dropped, {"dropped": told}


def _is_fused(state_dict):
    return any(".rbr_reparam." in k for k in state_dict) or not any(k.endswith(".running_var") for k in state_dict)


def _fold_kept_batchnorms(state_dict, bn):
    """Fold, in place, the BatchNorms a deploy-form file still holds into the conv before them.

    The official fuse_model folds only ConvModule BNs: YOLOv6Lite's DPBlock keeps bn_1 / bn_2, and
    QARepVGG's switch_to_deploy keeps its post-BN beside rbr_reparam (for QAT). Our fused model has none.
    """
    for key in [k for k in state_dict if k.endswith(".bn.running_var")]:
        block = key[: -len(".bn.running_var")]
        conv = next((c for c in (f"{block}.conv", f"{block}.rbr_reparam") if f"{c}.weight" in state_dict), None)
        if conv is None:
            continue
        p = {n: state_dict.pop(f"{block}.bn.{n}").double() for n in ("weight", "bias", "running_mean", "running_var")}
        state_dict.pop(f"{block}.bn.num_batches_tracked", None)
        eps = bn.get(f"{block}.bn", (1e-5, None))[0] or 1e-5
        b = state_dict.get(f"{conv}.bias")
        w, b = fold_batchnorm(state_dict[f"{conv}.weight"].double(), b.double() if b is not None else None,
                              p["running_mean"], p["running_var"], p["weight"], p["bias"], eps)
        state_dict[f"{conv}.weight"], state_dict[f"{conv}.bias"] = w.float(), b.float()


def _is_deploy_form(state_dict):
    """Any conv whose BatchNorm has been folded away (or a RepVGG rbr_reparam): the file was fused."""
    return any(".rbr_reparam." in k for k in state_dict) or any(
        k.endswith(".conv.weight") and f"{k[:-len('.conv.weight')]}.bn.running_var" not in state_dict
        for k in state_dict)


def _from_tree(path, root):
    """Read the architecture from the module tree and load the weights into the model it describes."""
    from ..models import build_from_arch
    from .official_arch import read_lite, read_yolov6
    from .official_tree import child, class_name, mapped_state_dict

    lite = child(root, "backbone") is not None and class_name(child(root, "backbone")) == "Lite_EffiBackbone"
    state_dict, bn, dropped = mapped_state_dict(root, {"detect": "head"} if lite else None)
    if not state_dict:
        raise fail(path, "the pickled model holds no tensors")
    arch, num_classes, name, desc = (read_lite if lite else read_yolov6)(root, state_dict, path)
    fused = _is_deploy_form(state_dict)
    if fused:
        _fold_kept_batchnorms(state_dict, bn)
    try:
        model = build_within_file(path, lambda: build_from_arch(name, arch, num_classes))
    except ValueError as e:
        raise fail(path, f"the layout read from the file ({desc}) cannot be built: {e}") from None
    if fused:
        model.fuse()
    apply_batchnorm_settings(model, bn)
    load_state_dict_checked(model, state_dict, path, what=f"official checkpoint (layout read as {name}: {desc})")
    keys = [k for ks in dropped.values() for k in ks]
    return model, name, keys, {"variant": f"{name}: {desc}", "dropped": [d for d in dropped if d], "arch": arch}


def load_official(path, model_name=None):
    """(model, info) from an official YOLOv6 .pt: EMA weights when present, else 'model'.

    The architecture is read from the pickled module tree (classes, attributes, shapes); `model_name` instead
    builds that named config and loads the weights into it.
    """
    from ..datasets.coco_names import COCO_NAMES
    from .official_tree import check_allowed, mapped_state_dict

    path = Path(path)
    top = read_official(path)
    if not isinstance(top, dict) or not isinstance(top.get("ema") or top.get("model"), _Placeholder):
        raise fail(path, "not an official YOLOv6 checkpoint (expected a dict with a pickled 'model' or 'ema')")
    source = "ema" if isinstance(top.get("ema"), _Placeholder) else "model"
    root = top[source]
    try:
        check_allowed(root, path, _Placeholder)
        if model_name:
            model, name, dropped, extra = _named(path, flat_state_dict(root), model_name)
            apply_batchnorm_settings(model, mapped_state_dict(root)[1])  # the file's BN eps, as _from_tree does
        else:
            model, name, dropped, extra = _from_tree(path, root)
    except RecursionError:
        raise fail(path, f"the pickled '{source}' module tree is cyclic or too deep to be a YOLOv6 model") from None
    num_classes = model.num_classes
    names = COCO_NAMES if num_classes == len(COCO_NAMES) else [f"class{i}" for i in range(num_classes)]
    model.names = list(names)
    info = {"model_name": name, "num_classes": num_classes, "names": list(names), "fused": bool(model.is_fused),
            "format": "yolov6-official", "source": source, "epoch": top.get("epoch"),
            "dropped_keys": dropped, **extra}
    return model, info


def load_official_state_dict(path, state_dict, model_name=None):
    """(model, info) from a plain state dict with official key names (no module tree: the named configs)."""
    from ..datasets.coco_names import COCO_NAMES

    model, name, dropped, extra = _named(Path(path), state_dict, model_name)
    names = COCO_NAMES if model.num_classes == len(COCO_NAMES) else [f"class{i}" for i in range(model.num_classes)]
    model.names = list(names)
    info = {"model_name": name, "num_classes": model.num_classes, "names": list(names),
            "fused": bool(model.is_fused), "format": "yolov6-official-state-dict", "source": "state_dict",
            "dropped_keys": dropped, **extra}
    return model, info
