"""independent (negative control): a model trained from scratch on the attacker half, disjoint from the defender's
data, in any architecture. It must never be judged stolen."""

from __future__ import annotations

from ..train import fit
from .base import Attack, attack_set, student


class Independent(Attack):
    """The negative control: a model trained from scratch on the attacker's half, never touching the victim."""
    name = "independent"
    summary = "trained from scratch on the disjoint attacker half (the negative control)"
    access = "none"
    data = "attacker"

    def steal(self, victim, data, s):
        images = attack_set(data.attacker, s, "attacker")
        model = student(data, s)
        fit(model, images, s.train_config(), desc="independent")
        return model, {"train_samples": len(images)}
