"""Batch transforms on tensors (no torchvision): uint8 -> float, random crop with padding, horizontal flip."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def to_tensor(x: np.ndarray | torch.Tensor, device: torch.device | str | None = None) -> torch.Tensor:
    """uint8 (N, H, W, C) images -> float32 (N, C, H, W) in [0, 1] on ``device`` (None: where a tensor already is,
    the CPU for an array); anything else (float images, feature vectors) -> float32 as it is."""
    t = torch.as_tensor(x, device=device)
    if t.dtype == torch.uint8:
        return t.permute(0, 3, 1, 2).float().div_(255.0)
    return t.float()


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """float (N, C, H, W) images in [0, 1] -> uint8 (N, H, W, C), rounded: the inverse of :func:`to_tensor`
    (what storing an image does to it)."""
    return (x.detach().cpu().permute(0, 2, 3, 1).numpy() * 255).round().clip(0, 255).astype(np.uint8)


def random_crop_flip(x: torch.Tensor, padding: int, flip: bool, generator: torch.Generator | None = None,
                     pad_mode: str = "zeros") -> torch.Tensor:
    """Random crop after padding by ``padding`` pixels (``pad_mode`` zeros or reflect), and random horizontal flip,
    per sample (NCHW). Feature vectors (N, D) pass through unchanged: image augmentations do not apply to them."""
    if x.ndim != 4:
        return x
    n, _, h, w = x.shape
    if padding > 0:
        padded = F.pad(x, (padding, padding, padding, padding), mode="reflect" if pad_mode == "reflect" else "constant")
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


# ------------------------------------------------------------------ deterministic views (verification features)
def shift(x: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    """Translate NCHW images by (dx, dy) pixels (right/down positive), filling with zeros."""
    n, c, h, w = x.shape
    out = torch.zeros_like(x)
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    out[:, :, yd, xd] = x[:, :, ys, xs]
    return out


def rotate(x: torch.Tensor, degrees: float) -> torch.Tensor:
    """Rotate NCHW images about their centre (bilinear, zero fill)."""
    a = torch.tensor(degrees * np.pi / 180.0)
    theta = torch.tensor([[torch.cos(a), -torch.sin(a), 0.0], [torch.sin(a), torch.cos(a), 0.0]], dtype=x.dtype)
    grid = F.affine_grid(theta.expand(x.shape[0], 2, 3).to(x.device), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def colour_shift(x: torch.Tensor, brightness: float = 0.0, contrast: float = 1.0) -> torch.Tensor:
    """Brightness offset and contrast scale about the per-image mean, clipped to [0, 1]."""
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return ((x - mean) * contrast + mean + brightness).clamp(0, 1)


def view_family(name: str, size: int) -> list[tuple[str, "callable"]]:
    """Named deterministic views of a batch used to build verification features.

    ``move`` (MOVE's black-box augmentations): identity, horizontal flip, translation towards the bottom-right, the
    right and the bottom (by an eighth of the image side); ``none``: identity only; ``rotate``: identity and rotations
    by +-10 and +-20 degrees; ``colour``: identity and four brightness/contrast shifts.
    """
    t = max(1, size // 8)
    families = {
        "move": [("identity", lambda x: x), ("hflip", lambda x: x.flip(3)), ("shift-br", lambda x: shift(x, t, t)),
                 ("shift-r", lambda x: shift(x, t, 0)), ("shift-b", lambda x: shift(x, 0, t))],
        "none": [("identity", lambda x: x)],
        "rotate": [("identity", lambda x: x)] + [(f"rot{d:+d}", (lambda d: lambda x: rotate(x, d))(d)) for d in (-20, -10, 10, 20)],
        "colour": [("identity", lambda x: x), ("bright+", lambda x: colour_shift(x, 0.1)), ("bright-", lambda x: colour_shift(x, -0.1)),
                   ("contrast+", lambda x: colour_shift(x, 0.0, 1.3)), ("contrast-", lambda x: colour_shift(x, 0.0, 0.7))],
    }
    if name not in families:
        from ..errors import ConfigError

        raise ConfigError(f"unknown view family {name!r}: choose one of {', '.join(families)}")
    return families[name]
