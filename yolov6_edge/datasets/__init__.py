"""Detection data: records from COCO JSON or YOLO txt (coco.py, yolo_txt.py, records.py), a data.yaml (spec.py),
augmentation (augment.py, mosaic.py), the torch Dataset / DataLoader (loader.py, sampler.py), a synthetic
shapes generator for tests and the demo (synthetic.py) and the COCO class names (coco_names.py).

Training and QAT both read their data through here; the torch parts (loader, sampler) load only when imported.
"""
