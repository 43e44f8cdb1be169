"""transfer (model-accessible): the victim's features reused on a new label space.

``task=substitute``: the substitute pool (e.g. CIFAR-10 -> the 20 other Tiny-ImageNet classes resized to 32x32);
``task=coarse``: the attacker's data relabelled into coarser classes (Fashion-MNIST: tops, trouser, dress,
footwear, bag; otherwise pairs of classes). ``layers=all`` is Transfer-A, ``layers=last`` Transfer-L (new decision
layers on frozen features). A fifth of the new task's data is held out to report ``task_accuracy``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch.nn as nn

from ..data import ArrayDataset
from ..errors import ConfigError
from ..train import accuracy, fit
from .base import Attack, StealSettings, check_choice, student

FASHION_COARSE = {"names": ["tops", "trouser", "dress", "footwear", "bag"], "map": [0, 1, 0, 2, 0, 3, 0, 3, 4, 3]}


@dataclass
class TransferSettings(StealSettings):
    """Settings of ``steal transfer``: ``layers`` all or last, the new ``task`` (substitute pool or coarse labels),
    epochs and learning rate."""
    layers: str = "last"
    task: str = "auto"  # auto | substitute | coarse
    epochs: int = 3
    lr: float | None = 0.01

    def __post_init__(self):
        super().__post_init__()
        check_choice("layers", self.layers, ("all", "last"))
        check_choice("task", self.task, ("auto", "substitute", "coarse"))


def coarse_task(data, images: ArrayDataset) -> ArrayDataset:
    """``images`` relabelled to a coarser label space (Fashion-MNIST's garment groups; elsewhere pairs of classes)."""
    if data.dataset == "fashion-mnist":
        mapping, names = np.array(FASHION_COARSE["map"]), FASHION_COARSE["names"]
    else:
        mapping = np.arange(data.num_classes) // 2
        names = [f"{data.classes[2 * i]}+{data.classes[min(2 * i + 1, data.num_classes - 1)]}" for i in range(mapping.max() + 1)]
    return ArrayDataset(images.x, mapping[images.y], names, "coarse")


class Transfer(Attack):
    """Transfer learning: the victim's features reused for a new label space (all layers, or a new head only)."""
    name = "transfer"
    summary = "the victim's features reused on a new label space (Transfer-A: all layers, Transfer-L: new head only)"
    access = "model"
    data = "attacker"  # plus the substitute pool, where one exists
    Settings = TransferSettings

    def steal(self, victim, data, s):
        task = s.task
        if task == "auto":
            task = "substitute" if data.substitute is not None else "coarse"
        if task == "substitute":
            if data.substitute is None:
                raise ConfigError(f"{data.dataset} has no substitute pool: use --task coarse")
            full = data.substitute
        else:
            if data.attacker is None:
                raise ConfigError("transfer --task coarse needs the attacker's data")
            full = coarse_task(data, data.attacker)
        full = full.take(s.limit, s.seed)
        perm = np.random.default_rng(s.seed).permutation(len(full))
        k = max(1, len(full) // 5)
        train, held = full.subset(np.sort(perm[k:])), full.subset(np.sort(perm[:k]))
        src = victim.module
        model = student(data, s, num_classes=full.num_classes, classes=full.classes)
        last = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)][-1]
        state = {k2: v for k2, v in src.state_dict().items() if not k2.startswith(last + ".")}
        model.load_state_dict(state, strict=False)  # everything but the new output layer
        frozen = [model.extractor] if s.layers == "last" else None
        fit(model, train, s.train_config(), frozen=frozen, desc=f"transfer ({task}, {s.layers})")
        return model, {"task": task, "task_classes": full.num_classes, "train_samples": len(train),
                       "task_accuracy": round(accuracy(model, held), 5)}
