"""Extraction by knowledge distillation from the victim's answers: ``distill``, ``label-query``, ``logit-query``.

All three train a fresh student on images labelled by the victim; they differ in whose images and in the loss.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..train import ArrayBatches, fit, pick_device
from .base import Attack, StealSettings, attack_set, kd_loss, query_victim, student


@dataclass
class KDSettings(StealSettings):
    """Settings of the soft-label extractions: ``temperature`` T and ``alpha``, the weight of the KL term against
    cross-entropy on the victim's labels."""
    temperature: float = 20.0
    alpha: float = 0.9
    lr: float | None = 0.02  # the T^2-scaled KD loss diverges at the 0.05 used for cross-entropy


@dataclass
class DistillSettings(KDSettings):
    """Settings of ``steal distill``: Hinton distillation's T = 4 and alpha = 1 by default."""
    temperature: float = 4.0
    alpha: float = 1.0


def _extract(victim, data, s, images, loss):
    targets = query_victim(victim, images.x)
    model = student(data, s)
    src = ArrayBatches(images.x, targets, s.batch_size, pick_device(s.device), seed=s.seed, **s.augmentation())
    fit(model, src, s.train_config(), loss=loss, desc=f"steal on {len(images)} queries")
    return model


class _SoftLabelExtraction(Attack):
    """A fresh student trained with the KD loss on the victim's answers for the images its threat model allows."""

    access = "queries"
    Settings = KDSettings

    def steal(self, victim, data, s):
        images = attack_set(data.defender if self.data == "defender" else data.attacker, s, self.data)
        return _extract(victim, data, s, images, kd_loss(s.temperature, s.alpha)), {"train_samples": len(images)}


class Distill(_SoftLabelExtraction):
    """Distillation: a student trained on the defender's data with the victim's soft labels at temperature T."""
    name = "distill"
    version = 2  # rounded API outputs: zeros floored at half the last digit
    summary = "Hinton distillation on the defender's training data with the victim's soft labels at temperature T"
    data = "defender"
    Settings = DistillSettings


class LabelQuery(Attack):
    """Label-query extraction: a fresh student trained on the victim's top-1 labels of the attacker's images."""
    name = "label-query"
    summary = "a fresh student trained on the victim's top-1 labels of the attacker's data"
    access = "queries"
    data = "attacker"

    def steal(self, victim, data, s):
        images = attack_set(data.attacker, s, "attacker")
        labels = victim.predict_labels(images.x)  # labels only, whatever the API would give
        model = student(data, s)
        src = ArrayBatches(images.x, labels, s.batch_size, pick_device(s.device), seed=s.seed, **s.augmentation())
        fit(model, src, s.train_config(), desc=f"label-query on {len(images)} queries")
        return model, {"train_samples": len(images)}


class LogitQuery(_SoftLabelExtraction):
    """Logit-query extraction: a fresh student trained on the victim's probabilities for the attacker's images."""
    name = "logit-query"
    version = 2  # rounded API outputs: zeros floored at half the last digit
    summary = "a student trained on the victim's probabilities: alpha*KL at temperature T + (1-alpha)*CE on its labels"
    data = "attacker"
