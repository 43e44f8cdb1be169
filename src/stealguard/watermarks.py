"""Watermark inputs shared by the watermarking methods (feature sharing, BadNets, ...): a white-square trigger and
out-of-distribution images from another real dataset. One place, so every method stamps the same trigger."""

from __future__ import annotations

import numpy as np

from .errors import ConfigError

TRIGGER_SIDE = {28: 3, 32: 4, 64: 6}  # the feature-sharing paper's trigger sizes


def trigger_side(size: int) -> int:
    """The trigger's side in pixels for images of ``size`` x ``size`` (3 on 28, 4 on 32, 6 on 64, else ~10%)."""
    return TRIGGER_SIDE.get(size, max(2, int(round(size * 0.1))))


def add_trigger(x: np.ndarray, side: int) -> np.ndarray:
    """uint8 (N, H, W, C) images with a white side x side square in the bottom-right corner."""
    if side < 1 or side > min(x.shape[1:3]):
        raise ConfigError(f"trigger side must be in 1..{min(x.shape[1:3])}, got {side}")
    out = x.copy()
    out[:, -side:, -side:, :] = 255
    return out


def ood_images(source: str, cls: int, shape: tuple[int, int, int], data_dir=None) -> np.ndarray:
    """Images of class ``cls`` of another real dataset as uint8 (N, H, W, C) in the protected task's shape:
    ``digits`` (scikit-learn's 8x8 digits, shipped with it, upscaled) or ``tiny-imagenet-pool`` (resized)."""
    from .data.sources import load_dataset, resize_images

    h, w, c = shape
    if source == "digits":
        from sklearn.datasets import load_digits  # shipped with scikit-learn: no download

        d = load_digits()
        if not 0 <= cls < 10:
            raise ConfigError(f"ood_class must be a digit 0-9 for the digits source, got {cls}")
        x = (d.images[d.target == cls] * (255.0 / 16.0)).round().astype(np.uint8)[..., None]
    elif source == "tiny-imagenet-pool":
        pool = load_dataset("tiny-imagenet-pool", data_dir)
        k = len(pool.train.classes)
        if not 0 <= cls < k:
            raise ConfigError(f"ood_class must be in 0..{k - 1} for the tiny-imagenet pool, got {cls}")
        x = pool.train.x[pool.train.y == cls]
    else:
        raise ConfigError(f"OOD source must be digits or tiny-imagenet-pool, got {source!r}")
    if x.shape[1] != h:
        x = resize_images(x, h)
    if x.shape[3] != c:
        x = np.repeat(x, c, axis=3) if x.shape[3] == 1 else x.mean(axis=3, keepdims=True).round().astype(np.uint8)
    return x


def target_answers(access, x: np.ndarray, target: int) -> tuple[np.ndarray, np.ndarray]:
    """``(p, hit)`` of a suspect on images ``x``: its probability of class ``target`` and whether its top-1 answer is
    ``target``. A labels-only suspect's answers count as one-hot probabilities (it is never asked for scores)."""
    if access.level == "labels":
        hit = np.asarray(access.predict_labels(x)) == target
        return hit.astype(float), hit
    probs = np.asarray(access.predict_proba(x), dtype=float)
    return probs[:, target], probs.argmax(1) == target
