"""The one training loop (victims, attacks and protections all use :func:`fit`) and evaluation.

``fit`` draws batches from a *batch source*: any object with ``batches_per_epoch`` and ``epoch(i)`` yielding
``(x, target)`` with ``x`` float images in [0, 1] (NCHW) on the training device. :class:`ArrayBatches` serves
in-memory uint8 datasets (hard labels or soft targets) with random crop + flip; data-free attacks plug in a
generator-backed source. The loss is any ``loss(logits, target) -> scalar``; the default is cross-entropy for
integer labels and soft cross-entropy for probability targets.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterator, Protocol

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .data import ArrayDataset, random_crop_flip, to_tensor
from .device import pick_device  # noqa: F401 - part of this module's API
from .errors import ConfigError, StealguardError


def seed_everything(seed: int) -> None:
    """Seed torch and numpy (model initialisation and dropout draw from torch's global generator)."""
    torch.manual_seed(seed)
    np.random.seed(seed % (2**32))


@dataclass
class TrainConfig:
    """A training recipe. CPU-scale and paper-scale runs differ only in these values, never in code."""

    epochs: int = 10
    batch_size: int = 128
    optimizer: str = "sgd"
    lr: float | None = None  # None: 0.1 for SGD, 1e-3 for Adam
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "cosine"  # cosine | step | onecycle (linear warm-up over the first fifth, linear decay to 0) | none
    crop_padding: int = 4  # 0 disables random crop
    flip: bool = True
    seed: int = 0
    label_smoothing: float = 0.0  # hard-label targets only
    lookahead: bool = False  # every 5 steps pull the weights back towards a slow copy, harder as training ends
    pad_mode: str = "zeros"  # how the random crop pads: zeros | reflect
    norm_lr_scale: float = 1.0  # biases of BatchNorm layers with fixed scales (airbench) learn this many times faster
    device: str = "auto"
    precision: str = "auto"  # auto: bf16 autocast on a GPU, fp32 on a CPU | fp32 | bf16 (how, not what: not in the recipe)
    memory_format: str = "auto"  # auto: channels_last for image models on a CPU | channels_last | contiguous (how)
    progress: bool = True

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ConfigError(f"epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.optimizer not in ("sgd", "adam"):
            raise ConfigError(f"optimizer must be 'sgd' or 'adam', got {self.optimizer!r}")
        if self.schedule not in ("cosine", "step", "onecycle", "none"):
            raise ConfigError(f"schedule must be cosine, step, onecycle or none, got {self.schedule!r}")
        if not self.norm_lr_scale > 0:
            raise ConfigError(f"norm_lr_scale must be positive, got {self.norm_lr_scale}")
        if not 0 <= self.label_smoothing < 1:
            raise ConfigError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.pad_mode not in ("zeros", "reflect"):
            raise ConfigError(f"pad_mode must be zeros or reflect, got {self.pad_mode!r}")
        if self.memory_format not in ("auto", "channels_last", "contiguous"):
            raise ConfigError(f"memory_format must be auto, channels_last or contiguous, got {self.memory_format!r}")
        if self.lr is not None and not self.lr > 0:
            raise ConfigError(f"lr must be positive, got {self.lr}")
        if self.crop_padding < 0:
            raise ConfigError(f"crop_padding must be >= 0, got {self.crop_padding}")
        if self.precision not in ("auto", "fp32", "bf16"):
            raise ConfigError(f"precision must be auto, fp32 or bf16, got {self.precision!r}")

    @property
    def learning_rate(self) -> float:
        """``lr``, or the optimizer's default (0.1 for SGD, 1e-3 for Adam)."""
        return self.lr if self.lr is not None else (0.1 if self.optimizer == "sgd" else 1e-3)

    def recipe(self) -> dict:
        """The fields that change the trained weights (what cache keys hash)."""
        d = asdict(self)
        for how in ("progress", "device", "precision", "memory_format"):
            d.pop(how)
        for key, off in (("label_smoothing", 0.0), ("lookahead", False), ("pad_mode", "zeros"), ("norm_lr_scale", 1.0)):
            if d[key] == off:  # recipes without these fields keep the cache keys they had before the fields existed
                d.pop(key)
        d["lr"] = self.learning_rate
        return d


class BatchSource(Protocol):
    """What :func:`fit` trains on besides datasets: ``batches_per_epoch`` and ``epoch(i)`` yielding (inputs, targets)
    on the device."""
    batches_per_epoch: int

    def epoch(self, index: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The (inputs, targets) batches of epoch ``index``, on the training device."""
        ...


class ArrayBatches:
    """Batches from in-memory uint8 images (kept on the device once) with optional crop/flip augmentation.

    ``targets``: int labels (N,) or soft targets (N, K) (e.g. a victim's probabilities). ``after_augment``: called as
    ``f(batch, indices)`` on each augmented batch with its samples' dataset indices (e.g. to stamp a watermark
    trigger that augmentation moved); returns the batch.
    """

    def __init__(self, x: np.ndarray, targets: np.ndarray, batch_size: int, device: torch.device,
                 crop_padding: int = 0, flip: bool = False, shuffle: bool = True, seed: int = 0, drop_last: bool = False,
                 after_augment: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None, pad_mode: str = "zeros"):
        if len(x) != len(targets):
            raise ConfigError(f"{len(x)} images but {len(targets)} targets")
        if len(x) == 0:
            raise ConfigError("cannot train on an empty dataset")
        self.x = torch.as_tensor(np.ascontiguousarray(x)).to(device)
        t = torch.as_tensor(np.asarray(targets))
        self.targets = (t.long() if not t.is_floating_point() else t.float()).to(device)
        self.batch_size, self.device = batch_size, device
        self.crop_padding, self.flip, self.shuffle, self.pad_mode = crop_padding, flip, shuffle, pad_mode
        self.after_augment = after_augment
        self.drop_last = drop_last and len(x) > batch_size
        self.generator = torch.Generator().manual_seed(seed)
        n = len(x)
        self.batches_per_epoch = n // batch_size if self.drop_last else math.ceil(n / batch_size)

    def epoch(self, index: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The batches of epoch ``index``: shuffled (seeded), augmented if configured, on the device."""
        n = len(self.x)
        order = torch.randperm(n, generator=self.generator).to(self.device) if self.shuffle else torch.arange(n, device=self.device)
        for b in range(self.batches_per_epoch):
            idx = order[b * self.batch_size : (b + 1) * self.batch_size]
            xb = to_tensor(self.x[idx], self.device)
            if self.crop_padding or self.flip:
                xb = random_crop_flip(xb, self.crop_padding, self.flip, self.generator, self.pad_mode)
            if self.after_augment is not None:
                xb = self.after_augment(xb, idx)
            yield xb, self.targets[idx]


def soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy against probability targets (rows summing to 1)."""
    return -(target * F.log_softmax(logits, dim=1)).sum(1).mean()


def default_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy on integer labels, soft cross-entropy on probability targets."""
    return soft_cross_entropy(logits, target) if target.is_floating_point() else F.cross_entropy(logits, target)


def smoothed_loss(smoothing: float) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """:func:`default_loss` with label smoothing ``smoothing`` on integer labels (probability targets as they are)."""
    def loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if target.is_floating_point():
            return soft_cross_entropy(logits, target)
        return F.cross_entropy(logits, target, label_smoothing=smoothing)

    return loss


@dataclass
class TrainResult:
    """What :func:`fit` returns: epochs, steps, seconds, images seen, final loss and training accuracy, per-epoch
    history."""
    epochs: int
    steps: int
    seconds: float
    images: int
    loss: float
    train_accuracy: float
    history: list[dict] = field(default_factory=list)

    @property
    def images_per_second(self) -> float:
        """Training throughput."""
        return self.images / max(self.seconds, 1e-9)


def _optimizer(params, cfg: TrainConfig, model: nn.Module | None = None) -> torch.optim.Optimizer:
    if cfg.norm_lr_scale != 1.0 and model is not None:  # biases of BatchNorm layers whose scale is fixed at 1, as in
        # airbench, in a group of their own with the same weight decay per step; other BatchNorm layers are unaffected
        norm = {id(m.bias) for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
                and m.bias is not None and m.weight is not None and not m.weight.requires_grad}
        k = cfg.norm_lr_scale
        groups = [{"params": [p for p in params if id(p) not in norm]},
                  {"params": [p for p in params if id(p) in norm], "lr": cfg.learning_rate * k,
                   "weight_decay": cfg.weight_decay / k}]
        params = [g for g in groups if g["params"]]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.learning_rate, momentum=cfg.momentum, weight_decay=cfg.weight_decay, nesterov=cfg.momentum > 0)
    return torch.optim.Adam(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)


def _schedule(opt: torch.optim.Optimizer, cfg: TrainConfig, total_steps: int):
    if cfg.schedule == "cosine":
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total_steps) / total_steps)))
    if cfg.schedule == "onecycle":  # from 0.2x up to the peak over the first fifth, then linearly down to 0
        warm = max(1, int(0.2 * total_steps))
        return torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: 0.2 + 0.8 * s / warm if s < warm else max(0.0, (total_steps - s) / max(1, total_steps - warm)))
    if cfg.schedule == "step":
        m1, m2 = int(total_steps * 0.5), int(total_steps * 0.75)
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 if s < m1 else (0.1 if s < m2 else 0.01))
    return None


def fit(
    model: nn.Module,
    data: BatchSource | ArrayDataset,
    config: TrainConfig,
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    params: list[nn.Parameter] | None = None,
    frozen: list[nn.Module] | None = None,
    desc: str = "train",
    after_augment: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    on_epoch: Callable[[int, nn.Module], dict | None] | None = None,
) -> TrainResult:
    """Train ``model`` in place and return what happened.

    ``data``: an :class:`ArrayDataset` (hard labels; augmented per ``config``) or any batch source.
    ``params``: the parameters to update (default: all that require grad). ``frozen``: modules kept in eval mode
    with gradients off while training (e.g. a feature extractor that must not change, including its BatchNorm
    statistics); their parameters' ``requires_grad`` is restored on return, so the trained model can be
    differentiated like any other (white-box verification of a fine-tuned copy). ``after_augment``: see
    :class:`ArrayBatches` (only with an :class:`ArrayDataset`). ``on_epoch(epoch, model)``: called after each epoch
    with the model in eval mode (e.g. to measure test accuracy during training); a dict it returns joins that epoch's
    history entry, and its time is not counted in the training seconds.
    """
    dev = pick_device(config.device)
    model.to(dev)
    torch.manual_seed(config.seed)  # dropout and any stochastic layer
    if isinstance(data, ArrayDataset):
        data = ArrayBatches(data.x, data.y, config.batch_size, dev, config.crop_padding, config.flip, seed=config.seed,
                            after_augment=after_augment, pad_mode=config.pad_mode)
    elif after_augment is not None:
        raise ConfigError("after_augment applies to an ArrayDataset; a batch source augments its own batches")
    held = [(p, p.requires_grad) for m in frozen or [] for p in m.parameters()]
    for p, _ in held:
        p.requires_grad_(False)
    last = _channels_last(model, config, dev)
    if last:
        model.to(memory_format=torch.channels_last)
    try:
        return _train(model, data, config, loss, params, frozen, desc, dev, last, on_epoch)
    finally:
        for p, before in held:
            p.requires_grad_(before)
        if last:  # saved files and later callers see the usual layout
            model.to(memory_format=torch.contiguous_format)


def _channels_last(model: nn.Module, config: TrainConfig, dev: torch.device) -> bool:
    """Whether to train in channels_last: asked for, or ``auto`` on a CPU for a model with 2-D convolutions (1.22-1.49x
    the images/s of the default layout for airbench, resnet8, vgg11 and mobilenetv2 here, 0.99x for the cnn:
    benchmarks/train_speed.md)."""
    if config.memory_format != "auto":
        return config.memory_format == "channels_last"
    return dev.type == "cpu" and any(isinstance(m, nn.Conv2d) for m in model.modules())


class _Lookahead:
    """Every ``every`` steps the weights (and BatchNorm statistics) move to ``decay * slow + (1 - decay) * fast``, and
    the slow copy with them; ``decay`` grows as ``0.95**5 * (step / total)**3``, so the pull is nil early and strong
    late (airbench's lookahead). :meth:`finish` leaves the model on the slow weights."""

    def __init__(self, model: nn.Module, total: int, every: int = 5):
        self.tensors = [t for t in model.state_dict().values() if t.is_floating_point()]
        self.slow = [t.detach().clone() for t in self.tensors]
        self.total, self.every = total, every

    @torch.no_grad()
    def step(self, step: int) -> None:
        if step % self.every == 0:
            self._pull(0.95**5 * (step / self.total) ** 3)

    @torch.no_grad()
    def finish(self) -> None:
        self._pull(1.0)

    def _pull(self, decay: float) -> None:
        for fast, slow in zip(self.tensors, self.slow):
            slow.lerp_(fast, 1.0 - decay)
            fast.copy_(slow)


def _train(model, data, config, loss, params, frozen, desc, dev, channels_last=False, on_epoch=None) -> TrainResult:
    """The loop of :func:`fit`, with the frozen modules' gradients already off."""
    params = [p for p in (params if params is not None else model.parameters()) if p.requires_grad]
    if not params:
        raise ConfigError("nothing to train: every parameter is frozen")
    loss = loss or (smoothed_loss(config.label_smoothing) if config.label_smoothing else default_loss)
    opt = _optimizer(params, config, model)
    total = max(1, config.epochs * data.batches_per_epoch)
    sched = _schedule(opt, config, total)
    lookahead = _Lookahead(model, total) if config.lookahead else None
    show = config.progress and sys.stderr.isatty()
    bar = None
    if show:
        from tqdm import tqdm

        bar = tqdm(total=total, desc=desc, unit="batch", leave=False, dynamic_ncols=True)
    amp = config.precision == "bf16" or (config.precision == "auto" and dev.type == "cuda")
    start = time.perf_counter()
    outside = 0.0  # seconds spent in on_epoch, not training
    steps = images = 0
    history = []
    run_loss = run_acc = float("nan")
    for epoch in range(config.epochs):
        model.train()
        for m in frozen or []:
            m.eval()
        loss_sum = torch.zeros((), device=dev)
        correct = torch.zeros((), device=dev)
        seen = 0
        for xb, tb in data.epoch(epoch):
            xb, tb = xb.to(dev), tb.to(dev)  # a batch source built for another device still trains here
            if channels_last and xb.ndim == 4:
                xb = xb.contiguous(memory_format=torch.channels_last)
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
                out = model(xb)
            out = out.float()
            lv = loss(out, tb)
            opt.zero_grad(set_to_none=True)
            lv.backward()
            opt.step()
            if sched is not None:
                sched.step()
            steps += 1
            if lookahead is not None:
                lookahead.step(steps)
            with torch.no_grad():
                n = xb.shape[0]
                loss_sum += lv.detach() * n
                labels = tb if not tb.is_floating_point() else (tb.argmax(1) if tb.ndim == 2 else None)
                if labels is not None:
                    correct += (out.argmax(1) == labels).sum()
            seen += n
            if bar is not None:
                bar.update(1)
                if steps % 20 == 0:
                    bar.set_postfix(epoch=epoch + 1, loss=f"{loss_sum.item() / seen:.3f}", acc=f"{correct.item() / seen:.3f}")
        images += seen
        run_loss, run_acc = loss_sum.item() / max(seen, 1), correct.item() / max(seen, 1)
        if not math.isfinite(run_loss):
            if bar is not None:
                bar.close()
            raise StealguardError(f"{desc}: training diverged in epoch {epoch + 1} (loss is {run_loss}); lower the learning rate")
        history.append({"epoch": epoch + 1, "loss": round(run_loss, 5), "train_accuracy": round(run_acc, 5),
                        **({"seconds": round(time.perf_counter() - start - outside, 2)} if on_epoch else {})})
        if on_epoch is not None:
            t0 = time.perf_counter()
            model.eval()
            with torch.no_grad():
                history[-1].update(on_epoch(epoch, model) or {})
            outside += time.perf_counter() - t0
    if bar is not None:
        bar.close()
    if lookahead is not None:
        lookahead.finish()
    model.eval()
    return TrainResult(config.epochs, steps, time.perf_counter() - start - outside, images, run_loss, run_acc, history)


@torch.no_grad()
def recalibrate_norms(model: nn.Module, x, batch_size: int = 128) -> int:
    """Reset and recompute ``model``'s BatchNorm running statistics on uint8 images ``x`` (N, H, W, C) in place, as
    the average of the per-batch statistics (no augmentation, no gradients; every other layer, dropout included, in
    eval mode); returns the number of BatchNorm layers. The model is left in eval mode. A model without BatchNorm is
    left as it was."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    model.eval()
    if norms:
        held = [m.momentum for m in norms]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # a cumulative average over every batch, not an exponential one
            m.train()
        dev = next(model.parameters()).device
        for i in range(0, len(x), batch_size):
            model(to_tensor(x[i : i + batch_size], dev))
        for m, mom in zip(norms, held):
            m.momentum = mom
            m.eval()
    return len(norms)


# ------------------------------------------------------------------------------------------------ evaluation
@torch.no_grad()
def predict_logits(model: nn.Module, x: np.ndarray | torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """Logits of ``model`` on uint8 images (N, H, W, C) or float NCHW in [0, 1], on the CPU."""
    model.eval()
    dev = next(model.parameters()).device
    outs = []
    for i in range(0, len(x), batch_size):
        outs.append(model(to_tensor(x[i : i + batch_size], dev)).float().cpu())
    return torch.cat(outs) if outs else torch.zeros(0)


def labels_of(model, x: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Top-1 labels of a module, or of anything with ``predict_labels`` (an access object)."""
    if isinstance(model, nn.Module):
        return predict_logits(model, x, batch_size).argmax(1).numpy()
    return np.concatenate([np.asarray(model.predict_labels(to_tensor(x[i : i + batch_size])))
                           for i in range(0, len(x), batch_size)])


def accuracy(model, data: ArrayDataset) -> float:
    """Top-1 accuracy on ``data``."""
    return float((labels_of(model, data.x) == data.y).mean())


def agreement(a, b, x: np.ndarray) -> float:
    """Fidelity: the fraction of inputs on which ``a`` and ``b`` predict the same label."""
    return float((labels_of(a, x) == labels_of(b, x)).mean())
