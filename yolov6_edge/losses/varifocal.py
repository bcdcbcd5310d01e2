"""VariFocal loss (VarifocalNet): BCE against IoU-aware soft targets, negatives down-weighted by alpha*p^gamma."""
import torch
import torch.nn.functional as F


def varifocal_loss(logits, target_scores, labels_onehot, alpha=0.75, gamma=2.0):
    """Summed loss. logits/target_scores/labels_onehot [B, N, C]; positives weighted by their soft target."""
    p = logits.sigmoid()
    weight = alpha * p.detach().pow(gamma) * (1 - labels_onehot) + target_scores * labels_onehot
    with torch.autocast(device_type=logits.device.type, enabled=False):
        bce = F.binary_cross_entropy_with_logits(logits.float(), target_scores.float(), reduction="none")
    return (bce * weight).sum()
