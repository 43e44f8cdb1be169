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

from ..train import recalibrate_norms
from .base import Attack, attack_set


class Recalibrate(Attack):
    """The victim with its BatchNorm statistics re-estimated on the attacker's data; no weight changes."""
    name = "recalibrate"
    summary = "the victim with its BatchNorm statistics re-estimated on the attacker's data (no weight changes)"
    access = "model"
    data = "attacker"

    def steal(self, victim, data, s):
        model = copy.deepcopy(victim.module)
        images = attack_set(data.attacker, s, "attacker")
        n = recalibrate_norms(model, images.x, s.batch_size)
        return model.eval(), {"norm_layers": n, "images": len(images)}
