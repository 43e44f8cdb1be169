"""adv-extract (query-only, adaptive): label-query extraction, then adversarial training with PGD on the victim's
labels — the theft that defeats adversarial-example fingerprints (SAC's adversarial-training attack)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..adversarial import pgd
from ..train import ArrayBatches, fit, pick_device
from .base import Attack, StealSettings, attack_set, student


@dataclass
class AdvSettings(StealSettings):
    """Settings of ``steal adv-extract``: the PGD radius ``eps``, ``step`` and ``pgd_steps`` of each attack, and
    ``adv_epochs`` of adversarial training after the label-query epochs."""
    eps: float = 4 / 255
    step: float = 1 / 255
    pgd_steps: int = 5
    adv_epochs: int = 2


class PGDBatches:
    """Wraps a batch source: each batch is replaced by PGD examples against ``model`` (labels kept)."""

    def __init__(self, inner, model, eps, step, steps, seed):
        self.inner, self.model, self.eps, self.step, self.steps = inner, model, eps, step, steps
        self.batches_per_epoch = inner.batches_per_epoch
        self.generator = torch.Generator().manual_seed(seed)

    def epoch(self, index):
        """The inner source's batches with each image replaced by its PGD adversarial example against the current
        model."""
        for x, y in self.inner.epoch(index):
            yield pgd(self.model, x, y, self.eps, self.step, self.steps, generator=self.generator), y


class AdvExtract(Attack):
    """Adversarial extraction: a label-query copy, then PGD adversarial training on the victim's labels."""
    name = "adv-extract"
    summary = "label-query extraction followed by PGD adversarial training on the victim's labels"
    access = "queries"
    data = "attacker"
    Settings = AdvSettings

    def steal(self, victim, data, s):
        images = attack_set(data.attacker, s, "attacker")
        labels = victim.predict_labels(images.x)
        model = student(data, s)
        dev = pick_device(s.device)
        fit(model, ArrayBatches(images.x, labels, s.batch_size, dev, seed=s.seed, **s.augmentation()), s.train_config(), desc="adv-extract: labels")
        adv = PGDBatches(ArrayBatches(images.x, labels, s.batch_size, dev, seed=s.seed + 1), model, s.eps, s.step, s.pgd_steps, s.seed)
        fit(model, adv, s.train_config(epochs=s.adv_epochs, lr=(s.lr or 0.05) / 5), desc="adv-extract: PGD training")
        return model, {"train_samples": len(images)}
