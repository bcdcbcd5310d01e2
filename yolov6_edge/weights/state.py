"""Loading weights into a built model, for our checkpoints and official ones alike: the state dict checked
against the model (one line naming the mismatches) and the BatchNorm settings that travel with it."""
from pathlib import Path

import torch

from ..errors import fail


def batchnorm_settings(model) -> dict:
    """{module name: [eps, momentum]} of every BatchNorm: models imported from the official code run theirs at
    eps 1e-3 / momentum 0.03, which changes the output (eps) and fine-tuning (momentum), so they travel."""
    return {name: [float(m.eps), float(m.momentum) if m.momentum is not None else None]
            for name, m in model.named_modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)}


def apply_batchnorm_settings(model, bn) -> None:
    """Set eps / momentum from {module name: (eps, momentum)} on the BatchNorms of `model` that it names."""
    for name, module in model.named_modules():
        value = bn.get(name) if isinstance(bn, dict) else None  # a damaged file's entry is skipped, not unpacked
        if isinstance(value, (list, tuple)) and len(value) == 2 and isinstance(module,
                                                                            torch.nn.modules.batchnorm._BatchNorm):
            eps, momentum = value
            if isinstance(eps, float) and 0 < eps < 1:
                module.eps = eps
            if isinstance(momentum, float) and 0 <= momentum <= 1:
                module.momentum = momentum


def load_state_dict_checked(model, state_dict, path, what="checkpoint") -> None:
    """load_state_dict that reports a wrong architecture as one line naming the first mismatches."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    shapes = [f"{k} {tuple(state_dict[k].shape)} vs {tuple(v.shape)}" for k, v in expected.items()
              if k in state_dict and tuple(state_dict[k].shape) != tuple(v.shape)]
    if missing or unexpected or shapes:
        parts = []
        for label, items in (("missing", missing), ("unexpected", unexpected), ("shape (file vs model)", shapes)):
            if items:
                more = f" (+{len(items) - 3} more)" if len(items) > 3 else ""
                parts.append(f"{label}: {', '.join(items[:3])}{more}")
        raise fail(path, f"{what} does not fit {model.model_name}: " + "; ".join(parts))
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in state_dict.items()})


MAX_CLASSES = 100_000  # far above any detection data set; beyond it a header is damaged, not ambitious


def build_within_file(path, build):
    """build() a model whose layout was read from `path`, after checking on the meta device (no memory) that it
    holds no more values than the file could fill: widths or repeats read from a damaged file would otherwise
    allocate without bound before the weights are found not to fit."""
    size = Path(path).stat().st_size
    with torch.device("meta"):
        needed = sum(v.numel() for v in build().state_dict().values())
    budget = 2 * size + 10**6  # every value costs the file at least 1 byte (fp16 weights: 2); unfused > fused
    if needed > budget:
        raise fail(path, f"the layout read from the file needs {needed:,} values but the file is {size:,} bytes: a "
                         "damaged file")
    return build()


def check_class_count(n, path) -> int:
    """A class head's width read from a file: 1..MAX_CLASSES (0 builds a model that detects nothing; 10^9 asks
    for hundreds of GB)."""
    if not 1 <= n <= MAX_CLASSES:
        raise fail(path, f"the class head predicts {n:,} classes; a model has 1..{MAX_CLASSES:,}: a damaged file")
    return n
