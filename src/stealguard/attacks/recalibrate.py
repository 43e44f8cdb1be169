"""recalibrate (model-accessible): re-estimate the victim's normalisation statistics on the thief's data.

No weight changes: every BatchNorm layer's running mean and variance are reset and recomputed on the thief's
images (no augmentation; the average of the per-batch statistics), in training mode and without gradients. It costs
one pass over the data and usually leaves accuracy where it was, so it is the cheapest removal a thief with the
weights can try against a protection that lives partly in those statistics (near-boundary's boundary fine-tuning
runs generated batches through BatchNorm in training mode). On a model without BatchNorm it returns an unchanged
copy (``norm_layers`` 0).
"""

from __future__ import annotations

import copy

import torch
import torch.nn as nn

from ..data import to_tensor
from .base import Attack, attack_set


@torch.no_grad()
def recalibrate_norms(model: nn.Module, x, batch_size: int = 128) -> int:
    """Reset and recompute ``model``'s BatchNorm running statistics on uint8 images ``x`` (N, H, W, C) in place;
    returns the number of BatchNorm layers. The model is left in eval mode."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    if norms:
        held = [m.momentum for m in norms]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # a cumulative average over every batch, not an exponential one
        dev = next(model.parameters()).device
        model.train()
        for i in range(0, len(x), batch_size):
            model(to_tensor(x[i : i + batch_size], dev))
        for m, mom in zip(norms, held):
            m.momentum = mom
    return len(norms)


class Recalibrate(Attack):
    name = "recalibrate"
    summary = "the victim with its BatchNorm statistics re-estimated on the attacker's data (no weight changes)"
    access = "model"
    data = "attacker"

    def steal(self, victim, data, s):
        model = copy.deepcopy(victim.module)
        images = attack_set(data.attacker, s, "attacker")
        n = recalibrate_norms(model, images.x, s.batch_size)
        return model.eval(), {"norm_layers": n, "images": len(images)}
