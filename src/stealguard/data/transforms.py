"""Batch transforms on tensors (no torchvision): uint8 -> float, random crop with padding, horizontal flip."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def to_tensor(x: np.ndarray | torch.Tensor, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 (N, H, W, C) images -> float32 (N, C, H, W) in [0, 1] on ``device``."""
    t = torch.as_tensor(x, device=device)
    if t.dtype == torch.uint8:
        return t.permute(0, 3, 1, 2).float().div_(255.0)
    return t.float()


def random_crop_flip(x: torch.Tensor, padding: int, flip: bool, generator: torch.Generator | None = None) -> torch.Tensor:
    """Random crop after zero padding by ``padding`` pixels, and random horizontal flip, per sample (NCHW)."""
    n, _, h, w = x.shape
    if padding > 0:
        padded = F.pad(x, (padding, padding, padding, padding))
        dev = x.device
        ox = torch.randint(0, 2 * padding + 1, (n,), generator=generator).to(dev)
        oy = torch.randint(0, 2 * padding + 1, (n,), generator=generator).to(dev)
        rows = (oy[:, None] + torch.arange(h, device=dev)[None, :])  # n, h
        cols = (ox[:, None] + torch.arange(w, device=dev)[None, :])  # n, w
        idx_n = torch.arange(n, device=dev)[:, None, None]
        x = padded.permute(0, 2, 3, 1)[idx_n, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)
    if flip:
        mask = (torch.rand(n, generator=generator) < 0.5).to(x.device)
        x = torch.where(mask[:, None, None, None], x.flip(3), x)
    return x.contiguous()
