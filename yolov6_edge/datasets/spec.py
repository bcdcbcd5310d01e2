"""From a data spec to records: a data.yaml (COCO JSON or YOLO txt per split) or 'synthetic'.

data.yaml keys: train, val (image folders); train_json / val_json (COCO annotations; without them the
labels/ folder beside images/ is read as YOLO txt); names (list, required for YOLO txt, else from the JSON).
"""
from pathlib import Path

import yaml

from ..errors import fail
from .coco import load_coco
from .yolo_txt import load_yolo_txt

SYNTHETIC_ROOT = Path.home() / ".cache" / "yolov6_edge" / "synthetic"


def load_data_spec(data):
    """Returns dict: names, train (records), val (records), val_category_ids, and train_json / val_json (the
    annotation files) for COCO splits."""
    if str(data) == "synthetic":
        from .synthetic import generate_splits

        data = generate_splits(SYNTHETIC_ROOT)
    path = Path(data)
    if not path.exists():
        raise fail(path, "no such data file (give a data.yaml or 'synthetic')")
    try:
        spec = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise fail(path, f"not valid YAML ({str(e).splitlines()[0]})")
    if not isinstance(spec, dict) or "train" not in spec or "val" not in spec:
        raise fail(path, "needs 'train' and 'val' image folders")

    def resolve(p):
        p = Path(p)
        return p if p.is_absolute() else path.parent / p

    out = {}
    names = spec.get("names")
    if isinstance(names, dict):  # {0: 'person', ...}
        names = [names[k] for k in sorted(names)]
    for split in ("train", "val"):
        if spec.get(f"{split}_json"):
            records, json_names, cat_ids = load_coco(resolve(spec[split]), resolve(spec[f"{split}_json"]))
            names = names or json_names
            out[f"{split}_category_ids"] = cat_ids
            out[f"{split}_json"] = resolve(spec[f"{split}_json"])  # validation scores against the file itself
        else:
            if not names:
                raise fail(path, f"'names' is required for the YOLO txt split '{split}'")
            records = load_yolo_txt(resolve(spec[split]), names)
            out[f"{split}_category_ids"] = list(range(1, len(names) + 1))
        if not records:
            raise fail(resolve(spec[split]), f"no usable images in the {split} split")
        out[split] = records
    out["names"] = list(names)
    return out
