"""What every stealing attack shares: settings, the data it may see, the victim access it needs, and helpers.

An attack is a small class with ``name``, ``access`` (what it needs of the victim), ``data`` (which data it may
read) and ``steal(victim, data, settings) -> (model, details)``. It sees the victim only through the access
object it is given, and only the data its threat model allows: the runner builds both (see
:func:`stealguard.attacks.run_attack`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from ..access import Access
from ..data import ArrayDataset
from ..errors import ConfigError
from ..models import Classifier, ModelSpec, build_model
from ..recipes import FAST, RECIPES
from ..train import TrainConfig, pick_device, seed_everything

# what an attack needs of the victim
ACCESS_KINDS = {
    "model": "white-box: the victim's weights (released or leaked model)",
    "queries": "black-box: the victim's answers to queries (an API), as --api-output allows",
    "none": "nothing of the victim (negative control)",
}
# which data an attack may read
DATA_KINDS = {
    "defender": "the owner's training data (dataset-accessible threat model)",
    "attacker": "the attacker's own data: a disjoint half of the same distribution",
    "none": "no real data at all (data-free)",
}


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    """Raise a one-line ConfigError unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ConfigError(f"{name} must be {' or '.join(repr(c) for c in choices)}, got {value!r}")


@dataclass
class StealSettings:
    """Settings every attack takes. CPU-scale defaults; paper scale is a matter of values."""

    arch: str | None = None  # the stolen model's architecture (default: the victim's)
    width: float | None = None  # its width multiplier (default: the victim's)
    epochs: int = 5
    batch_size: int = 64
    lr: float | None = None
    optimizer: str = "sgd"
    limit: int | None = None  # use at most N samples of the attack's data
    seed: int = 0
    api_output: str = "probabilities"  # query attacks: probabilities | rounded:K | top1
    recipe: str = "standard"  # standard | fast: the named recipe's optimizer, schedule, lookahead and augmentation
    device: str = "auto"
    progress: bool = True

    def __post_init__(self) -> None:
        if self.recipe not in RECIPES:
            raise ConfigError(f"recipe must be {' or '.join(repr(r) for r in RECIPES)}, got {self.recipe!r}")
        if self.epochs < 1:
            raise ConfigError(f"epochs must be >= 1, got {self.epochs}")
        if self.limit is not None and self.limit < 1:
            raise ConfigError(f"limit must be >= 1, got {self.limit}")

    def train_config(self, default_lr: float = 0.05, **overrides) -> TrainConfig:
        """The :class:`~stealguard.train.TrainConfig` of this theft (``overrides`` replace its fields; ``default_lr``
        when ``lr`` is unset)."""
        base = dict(epochs=self.epochs, batch_size=self.batch_size, optimizer=self.optimizer,
                    lr=self.lr if self.lr is not None else default_lr, schedule="cosine", crop_padding=0, flip=False,
                    seed=self.seed, device=self.device, progress=self.progress)
        if self.recipe == "fast":  # the fast recipe's optimizer around this theft's own lr and batch size; hard-label
            # targets get label smoothing, soft targets are used as they are
            base |= {k: FAST[k] for k in ("momentum", "weight_decay", "norm_lr_scale", "schedule", "lookahead",
                                           "label_smoothing")} | self.augmentation()
        return TrainConfig(**(base | overrides))

    def augmentation(self) -> dict:
        """The augmentation of the thief's own batches (``ArrayBatches`` keyword arguments): none for the standard
        recipe; flip and a 2-pixel reflect-padded translation for ``fast`` (the victim's answer for an image is
        kept for its flipped or shifted view)."""
        return dict(crop_padding=2, flip=True, pad_mode="reflect") if self.recipe == "fast" else {}

    def to_dict(self) -> dict:
        """The settings as a plain dict (the cache key and the record; display-only fields left out, ``recipe`` too
        when standard, so keys made before it existed still match)."""
        d = asdict(self)
        d.pop("progress")
        if self.recipe == "standard":
            d.pop("recipe")
        return d


@dataclass
class AttackData:
    """The data an attack may read. Fields it may not read are ``None``; shapes and normalisation are public."""

    num_classes: int
    input_shape: tuple[int, ...]  # (C, H, W), or (D,) for feature vectors
    mean: tuple[float, ...]
    std: tuple[float, ...]
    classes: list[str]
    dataset: str
    defender: ArrayDataset | None = None
    attacker: ArrayDataset | None = None
    substitute: ArrayDataset | None = None

    def spec(self, arch: str, width: float, num_classes: int | None = None, classes: list[str] | None = None) -> ModelSpec:
        """A :class:`~stealguard.models.ModelSpec` for a thief's model of ``arch``/``width`` on this data's inputs."""
        if len(self.input_shape) == 1:  # feature vectors (a text dataset's sentence embeddings)
            return ModelSpec(arch=arch, num_classes=num_classes or self.num_classes, width=width,
                             classes=classes or self.classes, input_dim=self.input_shape[0])
        return ModelSpec(arch=arch, num_classes=num_classes or self.num_classes, in_channels=self.input_shape[0],
                         image_size=self.input_shape[1:], width=width, mean=self.mean, std=self.std,
                         classes=classes or self.classes)


class Attack:
    """Base class of stealing attacks (see the module docstring)."""

    name: ClassVar[str] = ""
    version: ClassVar[int] = 1  # part of the cache key: bump when a change alters what the attack produces
    summary: ClassVar[str] = ""
    access: ClassVar[str] = "model"
    data: ClassVar[str] = "attacker"
    Settings: ClassVar[type[StealSettings]] = StealSettings

    def steal(self, victim: Access, data: AttackData, settings: StealSettings) -> tuple[Classifier, dict]:
        """Steal ``victim`` (an access at this attack's level) with ``data`` as its threat model allows; return the
        stolen model and a record of what the theft used (queries, samples)."""
        raise NotImplementedError


# ------------------------------------------------------------------------------------------------ helpers
def student(data: AttackData, settings: StealSettings, num_classes: int | None = None,
            classes: list[str] | None = None) -> Classifier:
    """A fresh, seeded model for the thief in ``settings.arch``/``width`` (the runner fills in the victim's
    architecture where the thief can know it)."""
    if settings.arch is None:
        raise ConfigError("the victim's architecture is unknown at this access level: pass --arch")
    seed_everything(settings.seed)
    spec = data.spec(settings.arch, settings.width if settings.width is not None else 1.0, num_classes, classes)
    return build_model(spec).to(pick_device(settings.device))


def attack_set(data: ArrayDataset | None, settings: StealSettings, what: str) -> ArrayDataset:
    """The thief's training images: ``data`` limited to ``settings.limit`` (seeded); a clear error when the threat
    model gives none."""
    if data is None:
        raise ConfigError(f"this attack needs {what} data, which its threat model did not provide")
    return data.take(settings.limit, settings.seed)


def query_victim(victim: Access, x: np.ndarray) -> np.ndarray:
    """The victim's answers on ``x`` as probability rows: its probabilities, or one-hot rows when it only gives
    labels (a top-1 API)."""
    if victim.level == "labels":
        return np.eye(victim.num_classes, dtype=np.float32)[victim.predict_labels(x)]
    p = victim.predict_proba(x).astype(np.float64)
    decimals = getattr(victim, "decimals", None)
    if decimals is not None:
        # a rounded API says 0 for anything below half its last digit: use that bound rather than a vanishing
        # probability, whose log would give the distillation loss far-off targets to chase
        p = np.maximum(p, 0.5 * 10.0**-decimals)
        p /= p.sum(1, keepdims=True)
    return p.astype(np.float32)


def kd_loss(temperature: float, alpha: float):
    """``alpha * T^2 * KL(p_v^T || p_s^T) + (1 - alpha) * CE(s, argmax p_v)`` for probability targets ``p_v``.

    The victim's tempered distribution is recovered from its probabilities as softmax(log p / T), which equals
    softmax(z / T) for its logits z. T^2 keeps gradient scale independent of T (Hinton et al. 2015).
    """
    if temperature <= 0 or not 0 <= alpha <= 1:
        raise ConfigError(f"need temperature > 0 and alpha in [0, 1], got T={temperature}, alpha={alpha}")

    def loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        log_p = torch.log(target.clamp_min(1e-8))
        teacher = torch.softmax(log_p / temperature, dim=1)
        kl = F.kl_div(F.log_softmax(logits / temperature, dim=1), teacher, reduction="batchmean")
        out = alpha * temperature**2 * kl
        if alpha < 1:
            out = out + (1 - alpha) * F.cross_entropy(logits, target.argmax(1))
        return out

    return loss
