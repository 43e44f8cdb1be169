"""fine-tune (model-accessible): the victim's weights trained further on the attacker's own labelled data.

``layers=all`` is Finetune-A, ``layers=last`` Finetune-L (decision layers only). ``fraction`` keeps that share of the
attacker data: applied to an already stolen model it is the adaptive clean-up of MOVE §7.3.1.
``source=substitute`` fine-tunes on the substitute pool instead, where it shares the label space.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from ..errors import ConfigError
from ..train import fit
from .base import Attack, StealSettings, attack_set, check_choice


@dataclass
class FineTuneSettings(StealSettings):
    """Settings of ``steal fine-tune``: ``layers`` all or last, the ``fraction`` of the attacker's images used, epochs
    and learning rate."""
    layers: str = "all"
    fraction: float = 1.0
    epochs: int = 3
    lr: float | None = 0.01

    def __post_init__(self):
        super().__post_init__()
        check_choice("layers", self.layers, ("all", "last"))
        if not 0 < self.fraction <= 1:
            raise ConfigError(f"fraction must be in (0, 1], got {self.fraction}")


class FineTune(Attack):
    """Fine-tuning: the victim trained further on the attacker's data, all layers (Finetune-A) or the last
    (Finetune-L)."""
    name = "fine-tune"
    summary = "the victim fine-tuned on the attacker's data: all layers (Finetune-A) or the last (Finetune-L)"
    access = "model"
    data = "attacker"
    Settings = FineTuneSettings

    def steal(self, victim, data, s):
        images = attack_set(data.attacker, s, "attacker")
        if s.fraction < 1:
            images = images.take(max(1, int(len(images) * s.fraction)), s.seed)
        model = copy.deepcopy(victim.module)
        frozen = [model.extractor] if s.layers == "last" else None
        fit(model, images, s.train_config(), frozen=frozen, desc=f"fine-tune ({s.layers})")
        return model, {"train_samples": len(images)}
