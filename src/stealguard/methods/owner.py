"""The models a protection trains for itself, through the cache so methods asking for the same ones share them: the
plain model it starts from, independent reference models it calibrates against, and surrogate (stolen-like) models
it distils from the victim with the ``distill`` attack."""

from __future__ import annotations

from dataclasses import replace

from ..attacks import run_attack
from ..data import Splits
from ..errors import ConfigError
from ..models import Classifier
from ..recipes import cpu_recipe, train_on, training_set


def owner_plain_model(splits: Splits, s, progress: bool = False):
    """What a protection that trains its own model starts from: its recipe, the owner's training set (``s.limit``
    defender images, seeded by ``s.seed``) and the plain model trained on it (shared through the cache with the
    benchmark harness's plain victim). ``s``: settings with dataset, arch, width, limit, epochs and seed.
    Returns ``(config, clean data, plain model, its record)``."""
    if s.dataset != splits.dataset:
        raise ConfigError(f"settings are for {s.dataset}, the data is {splits.dataset}")
    config = cpu_recipe(splits.dataset, getattr(s, "recipe", "standard"), seed=s.seed, progress=progress,
                        **({"epochs": s.epochs} if s.epochs else {}))
    clean = training_set(splits, "defender", s.limit, s.seed)
    plain, record = train_on(clean, splits, s.arch, s.width, config, {"split": "defender", "limit": s.limit})
    return config, clean, plain, record


def owner_references(splits: Splits, specs: list[tuple[str, float]], limit: int | None, epochs: int | None,
                     progress: bool = False, echo=lambda s: None, recipe: str = "standard") -> list[Classifier]:
    """Independent reference models a fingerprinting method calibrates against: trained by the owner from scratch on
    ``limit`` defender images (reference i: seed 2000 + i, its own seeded subset), one per (architecture, width) in
    ``specs``, with the training recipe named ``recipe``. Shared through the cache by every method that asks for the
    same ones."""
    config = cpu_recipe(splits.dataset, recipe, progress=progress, **({"epochs": epochs} if epochs else {}))
    out = []
    for i, (arch, width) in enumerate(specs):
        echo(f"training independent reference model {i + 1}/{len(specs)} ({arch})")
        data = splits.defender.take(limit, 2000 + i)
        out.append(train_on(data, splits, arch, width, replace(config, seed=2000 + i),
                            {"split": "defender", "limit": limit, "role": "owner-reference"})[0])
    return out


def owner_surrogates(victim: Classifier, splits: Splits, specs: list[tuple[str, float | None]], limit: int | None,
                     epochs: int | None, progress: bool = False, echo=lambda s: None,
                     recipe: str = "standard") -> list[Classifier]:
    """Stolen-like models a fingerprinting method builds for itself: the owner's own distillations of ``victim``
    (the ``distill`` attack on ``limit`` defender images, surrogate i seeded 100 + i), one per (architecture, width)
    in ``specs`` (width None: the victim's; ``recipe``: the distillation's training recipe). Shared through the cache
    by every method that asks for the same ones."""
    out = []
    for i, (arch, width) in enumerate(specs):
        echo(f"distilling surrogate model {i + 1}/{len(specs)} ({arch})")
        out.append(run_attack("distill", victim, splits, arch=arch, width=width, epochs=epochs or 3, limit=limit,
                              seed=100 + i, progress=progress, **({"recipe": recipe} if recipe != "standard" else {}))[0])
    return out
