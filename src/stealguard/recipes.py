"""Training a classifier on a split, through the artifact cache: the victim recipe, reused by attacks
(independent models) and protections."""

from __future__ import annotations

import time
from dataclasses import replace

from .cache import cached_array, cached_model
from .data import ArrayDataset, Splits
from .errors import ConfigError
from .models import Classifier, build_model, spec_for
from .train import TrainConfig, accuracy, fit, labels_of, pick_device, seed_everything

SPLITS = ("defender", "attacker", "all")


def training_set(splits: Splits, split: str, limit: int | None, seed: int = 0) -> ArrayDataset:
    """The defender half, the attacker half or both, optionally cut to ``limit`` samples (seeded)."""
    if split == "defender":
        data = splits.defender
    elif split == "attacker":
        data = splits.attacker
    elif split == "all":
        import numpy as np

        d, a = splits.defender, splits.attacker
        texts = d.texts + a.texts if d.texts is not None and a.texts is not None else None
        data = ArrayDataset(np.concatenate([d.x, a.x]), np.concatenate([d.y, a.y]), d.classes, "all", texts)
    else:
        raise ConfigError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    return data.take(limit, seed)


def train_classifier(splits: Splits, arch: str, width: float = 1.0, config: TrainConfig | None = None,
                     split: str = "defender", limit: int | None = None, use_cache: bool = True) -> tuple[Classifier, dict]:
    """Train ``arch`` on a split and evaluate it on the test set. Returns ``(model, record)``.

    The record holds ``accuracy`` (test top-1), ``epochs``, ``seconds`` (training), the recipe and the data
    identity; with ``use_cache`` an identical config is loaded instead of trained.
    """
    config = config or TrainConfig()
    data = training_set(splits, split, limit, config.seed)
    return train_on(data, splits, arch, width, config, {"split": split, "limit": limit}, use_cache)


def train_on(data: ArrayDataset, splits: Splits, arch: str, width: float, config: TrainConfig, tag: dict,
             use_cache: bool = True, after_augment=None) -> tuple[Classifier, dict]:
    """Train ``arch`` on any dataset with the label space of ``splits`` (e.g. a protection's modified training set)
    and evaluate it on ``splits.test``. ``tag`` names the data's origin in the cache key and the record.
    ``after_augment``: passed to :func:`stealguard.train.fit`, with a ``cache_key(config)`` method giving what it
    adds to the cache key (e.g. :class:`stealguard.watermarks.TriggerStamp`)."""
    key = {"kind": "classifier", "dataset": splits.dataset, "splits": splits.info, **tag,
           "data": data.fingerprint(), "arch": arch, "width": width, "recipe": config.recipe(),
           **(after_augment.cache_key(config) if after_augment is not None else {})}

    def build():
        seed_everything(config.seed)
        model = build_model(spec_for(splits, arch, width))
        t0 = time.perf_counter()
        result = fit(model, data, config, desc=f"{arch} on {splits.dataset}/{tag.get('split', data.name)}",
                     after_augment=after_augment)
        seconds = time.perf_counter() - t0
        return model, {"kind": "classifier", "dataset": splits.dataset, **tag, "train_samples": len(data),
                       "arch": arch, "width": width, "recipe": config.recipe(), "epochs": config.epochs,
                       "seconds": round(seconds, 3), "images_per_second": round(result.images_per_second, 1),
                       "train_accuracy": round(result.train_accuracy, 5), "history": result.history,
                       "accuracy": round(accuracy(model, splits.test), 5)}

    if not use_cache:
        model, record = build()
        return model.to(pick_device(config.device)), record | {"cached": False}
    return cached_model(key, build, device=str(pick_device(config.device)))


def test_labels(get_model, sha256: str | None, splits: Splits, use_cache: bool = True):
    """A model's top-1 labels on ``splits.test``, computed once per model through the cache, keyed by its file's
    SHA-256 (``sha256`` None, e.g. a remote API whose model may change: computed every time). ``get_model``: a
    zero-argument callable returning the module (or anything :func:`stealguard.train.labels_of` takes), called only
    when the labels are not cached."""
    def build():
        return labels_of(get_model(), splits.test.x)

    if sha256 is None or not use_cache:
        return build()
    return cached_array({"kind": "test-labels", "model": sha256, "dataset": splits.dataset, "splits": splits.info}, build)


RECIPES = ("standard", "fast")


def cpu_recipe(dataset: str, recipe: str = "standard", **overrides) -> TrainConfig:
    """A named training recipe for ``dataset`` (``overrides`` replace its fields). Every model of a run -- victim,
    protected model, references, independent models -- takes its recipe by this name.

    ``standard``: the CPU-scale defaults the quick scenarios and tests use (SGD, cosine, 5 epochs). ``fast``: the
    airbench-style recipe of the realistic presets (Nesterov SGD, batch 256, linear warm-up and decay, label smoothing
    0.2, lookahead, flip + 2-pixel reflect-padded translation, the biases of fixed-scale BatchNorm layers on a 64x
    learning rate), tuned for the ``airbench`` architecture; benchmarks/train_speed.md measures both.
    """
    from .data.text import is_text_dataset

    if recipe not in RECIPES:
        raise ConfigError(f"unknown training recipe {recipe!r}: choose one of {', '.join(RECIPES)}")
    if is_text_dataset(dataset):  # an mlp on frozen sentence embeddings: cheap epochs, no image augmentation
        base = TrainConfig(epochs=10, batch_size=64, optimizer="sgd", lr=0.05, schedule="cosine", crop_padding=0, flip=False)
        return replace(base, **overrides)
    grey = dataset == "fashion-mnist"
    if recipe == "fast":
        base = TrainConfig(epochs=FAST_EPOCHS["grey" if grey else "colour"], **FAST)
        return replace(base, **overrides)
    base = TrainConfig(epochs=5, batch_size=64 if grey else 128, optimizer="sgd", lr=0.1, schedule="cosine",
                       crop_padding=0 if grey else 4, flip=not grey)
    return replace(base, **overrides)


# The fast recipe (airbench's hyperparameters moved to a batch of 256 and a mean loss): per example the same step
# and the same weight decay per step as airbench94; the biases of BatchNorm layers with fixed scales (airbench's)
# learn 64 times faster.
FAST = dict(batch_size=256, optimizer="sgd", lr=0.375, momentum=0.85, weight_decay=1.33e-3, norm_lr_scale=64.0,
            schedule="onecycle", crop_padding=2, pad_mode="reflect", flip=True, label_smoothing=0.2, lookahead=True)
FAST_EPOCHS = {"colour": 16, "grey": 8}
