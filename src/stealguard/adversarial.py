"""Adversarial-example generators shared by attacks and methods (written once, used everywhere).

All work on float images in [0, 1] (NCHW) and a differentiable ``model`` returning logits.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, targeted: bool = False) -> torch.Tensor:
    """One signed-gradient step of size ``eps`` (towards ``y`` if ``targeted``, else away from it)."""
    return pgd(model, x, y, eps=eps, step=eps, steps=1, random_start=False, targeted=targeted)


def pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, step: float, steps: int,
        random_start: bool = True, targeted: bool = False, generator: torch.Generator | None = None) -> torch.Tensor:
    """L-infinity projected gradient descent (Madry et al.): ``steps`` signed steps of ``step`` within ``eps``.

    The model's train/eval mode is left as it is and its parameter gradients are not touched.
    """
    x = x.detach()
    if random_start:
        noise = torch.rand(x.shape, generator=generator).to(x.device) * 2 - 1
        adv = (x + eps * noise).clamp(0, 1)
    else:
        adv = x.clone()
    for _ in range(steps):
        adv.requires_grad_(True)
        loss = F.cross_entropy(model(adv), y)
        (grad,) = torch.autograd.grad(loss, adv)
        direction = -grad.sign() if targeted else grad.sign()
        adv = adv.detach() + step * direction
        adv = torch.min(torch.max(adv, x - eps), x + eps).clamp(0, 1)
    return adv.detach()
