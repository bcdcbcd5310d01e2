"""Convs that run on a 1x1 map (squeeze-and-excitation): the CPU placements leave them in float.

On a 1x1 map a conv is a tiny matrix-vector product: INT8 saves nothing there, while its input and weight
Q/DQ pairs become standalone (re)quantizations around it on OpenVINO's CPU plugin. Measured on YOLOv6Lite-S
(28 SE convs; interleaved, per-call process CPU time on a loaded 2-core VNNI machine): the openvino placement
with them in float took 3-8% less time in three runs, and the float function there can only be closer to
the model's (docs/QUANTIZATION.md, "Lite INT8 speed").
"""
import torch

from .fake_quant import quant_layers


@torch.no_grad()
def layers_on_1x1(qmodel, img_size) -> list:
    """Names of the quantized convs whose input is 1x1 in space at input size `img_size` (H, W)."""
    seen, hooks = [], []
    for name, m in quant_layers(qmodel).items():
        hooks.append(m.register_forward_pre_hook(
            lambda mod, inputs, name=name: seen.append(name) if inputs[0].shape[-2:] == (1, 1) else None))
    p = next(qmodel.parameters())
    try:
        qmodel(torch.zeros(1, 3, *img_size, dtype=p.dtype, device=p.device))
    finally:
        for h in hooks:
            h.remove()
    return [n for n in dict.fromkeys(seen) if quant_layers(qmodel)[n].quantized]
