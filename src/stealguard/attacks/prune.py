"""prune (model-accessible): magnitude pruning (L1 unstructured) or fine-pruning (Liu et al. 2018).

Fine-pruning removes the channels of the last 3x3 convolution that clean data activates least (and zeroes the
BatchNorm that follows, so a removed channel stays silent), then fine-tunes with the pruned channels held at zero.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.utils.prune as tprune

from ..data import to_tensor
from ..errors import ConfigError
from ..train import fit
from .base import Attack, StealSettings, attack_set, check_choice


@dataclass
class PruneSettings(StealSettings):
    """Settings of ``steal prune``: ``method`` magnitude or fine-pruning, its ``rate``, magnitude's ``scope`` (layer
    or global), and the fine-tuning epochs."""
    method: str = "magnitude"
    rate: float = 0.3
    scope: str = "layer"  # magnitude: per layer or global
    epochs: int = 2
    lr: float | None = 0.01

    def __post_init__(self):
        super().__post_init__()
        check_choice("method", self.method, ("magnitude", "fine-pruning"))
        if not 0 <= self.rate < 1:
            raise ConfigError(f"rate must be in [0, 1), got {self.rate}")
        check_choice("scope", self.scope, ("layer", "global"))


def magnitude_prune(model: nn.Module, rate: float, scope: str = "layer") -> float:
    """Zero the ``rate`` smallest-magnitude weights of every conv/linear layer (or globally). Returns sparsity."""
    params = [(m, "weight") for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    if rate > 0:
        if scope == "global":
            tprune.global_unstructured(params, pruning_method=tprune.L1Unstructured, amount=rate)
        else:
            for m, n in params:
                tprune.l1_unstructured(m, n, amount=rate)
        for m, n in params:
            tprune.remove(m, n)
    total = sum(m.weight.numel() for m, _ in params)
    return float(sum((m.weight == 0).sum().item() for m, _ in params) / total)


def _last_conv_and_bn(model: nn.Module, x: torch.Tensor) -> tuple[nn.Conv2d, nn.BatchNorm2d | None]:
    """The last 3x3 (or larger) convolution executed in a forward pass, and the BatchNorm executed right after."""
    order: list[nn.Module] = []
    hooks = [m.register_forward_hook(lambda mod, i, o: order.append(mod))
             for m in model.modules() if isinstance(m, (nn.Conv2d, nn.BatchNorm2d))]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    convs = [i for i, m in enumerate(order) if isinstance(m, nn.Conv2d) and max(m.kernel_size) > 1 and m.groups == 1]
    if not convs:
        linears = [m for m in getattr(model, "extractor", nn.Sequential()).modules() if isinstance(m, nn.Linear)]
        if linears:  # a feature-vector model: the extractor's last hidden layer plays the last conv's part
            return linears[-1], None
        raise ConfigError("fine-pruning needs a convolutional model or a feature-vector (mlp) model")
    i = convs[-1]
    bn = order[i + 1] if i + 1 < len(order) and isinstance(order[i + 1], nn.BatchNorm2d) else None
    conv = order[i]
    return conv, bn if bn is not None and bn.num_features == conv.out_channels else None


def fine_prune(model: nn.Module, clean: torch.Tensor, rate: float) -> tuple[list[int], list[tuple[nn.Module, str]]]:
    """Mask the ``rate`` least-activated output channels of the last conv (of a feature-vector model: the units of
    its extractor's last linear layer). Returns (channels, masked params)."""
    model.eval()
    conv, bn = _last_conv_and_bn(model, clean[:8])
    acts = []
    dims = (0, 2, 3) if isinstance(conv, nn.Conv2d) else (0,)
    h = conv.register_forward_hook(lambda mod, i, o: acts.append(torch.relu(o).mean(dim=dims)))
    with torch.no_grad():
        for i in range(0, len(clean), 256):
            model(clean[i : i + 256])
    h.remove()
    mean_act = torch.stack(acts).mean(0)
    units = conv.out_channels if isinstance(conv, nn.Conv2d) else conv.out_features
    k = int(round(rate * units))
    channels = mean_act.argsort()[:k].tolist()
    keep = torch.ones(units)
    keep[channels] = 0
    masked = []
    wshape = (-1, 1, 1, 1) if isinstance(conv, nn.Conv2d) else (-1, 1)
    for mod, name, shape in [(conv, "weight", wshape), (conv, "bias", (-1,)), (bn, "weight", (-1,)), (bn, "bias", (-1,))]:
        if mod is None or getattr(mod, name, None) is None:
            continue
        tprune.custom_from_mask(mod, name, keep.view(shape).expand_as(getattr(mod, name)).to(getattr(mod, name).device))
        masked.append((mod, name))
    return channels, masked


class Prune(Attack):
    """Pruning: L1 magnitude pruning at ``rate``, or fine-pruning (the last conv's least active channels, then
    fine-tuning)."""
    name = "prune"
    summary = "magnitude (L1 unstructured) pruning at --rate, or fine-pruning (prune last-conv channels, then fine-tune)"
    access = "model"
    data = "attacker"
    Settings = PruneSettings

    def steal(self, victim, data, s):
        model = copy.deepcopy(victim.module)
        if s.method == "magnitude":
            sparsity = magnitude_prune(model, s.rate, s.scope)
            return model.eval(), {"sparsity": round(sparsity, 4)}
        images = attack_set(data.attacker, s, "attacker")
        dev = next(model.parameters()).device
        channels, masked = fine_prune(model, to_tensor(images.x[:2000], dev), s.rate)
        fit(model, images, s.train_config(), desc="fine-pruning")
        for mod, name in masked:
            tprune.remove(mod, name)
        return model.eval(), {"pruned_channels": len(channels), "train_samples": len(images)}
