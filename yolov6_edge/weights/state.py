"""Loading weights into a built model, for our checkpoints and official ones alike: the state dict checked
against the model (one line naming the mismatches) and the BatchNorm settings that travel with it."""
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
        if name in bn and isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            eps, momentum = bn[name]
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
