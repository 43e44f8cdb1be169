"""In-memory datasets and the seeded splits every paper uses.

Images are kept as ``uint8`` arrays of shape (N, H, W, C); models receive floats in [0, 1] (NCHW) and normalise
inside themselves, so there is exactly one preprocessing path for training, stealing and verification. Text
datasets are kept as ``float32`` feature vectors (N, D): the sentence embeddings of a frozen public encoder
(:mod:`stealguard.data.text`), with the sentences themselves in ``texts`` (watermarks insert trigger words there).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field

import numpy as np

from .. import paths
from ..errors import DataError


@dataclass
class ArrayDataset:
    """A labelled set held in memory: ``x`` uint8 images (N, H, W, C) or float32 feature vectors (N, D) (text:
    sentence embeddings, with the sentences in ``texts``), ``y`` int64 (N,)."""

    x: np.ndarray
    y: np.ndarray
    classes: list[str]
    name: str = ""
    texts: list[str] | None = None

    def __post_init__(self) -> None:
        if not ((self.x.dtype == np.uint8 and self.x.ndim == 4) or (self.x.dtype == np.float32 and self.x.ndim == 2)):
            raise DataError(f"{self.name or 'dataset'}: images must be uint8 (N, H, W, C) or features float32 (N, D), "
                            f"got {self.x.dtype} {self.x.shape}")
        if self.texts is not None and len(self.texts) != len(self.x):
            raise DataError(f"{self.name or 'dataset'}: {len(self.x)} samples but {len(self.texts)} texts")
        self.y = np.asarray(self.y)
        if self.y.ndim != 1 or len(self.y) != len(self.x):
            raise DataError(f"{self.name or 'dataset'}: {len(self.x)} images but labels of shape {self.y.shape}")
        if len(self.y) and not np.issubdtype(self.y.dtype, np.integer):
            raise DataError(f"{self.name or 'dataset'}: labels must be integers, got {self.y.dtype}")
        self.y = self.y.astype(np.int64, copy=False)
        if len(self.y) and (self.y.min() < 0 or self.y.max() >= len(self.classes)):
            bad = int(self.y[(self.y < 0) | (self.y >= len(self.classes))][0])
            raise DataError(
                f"{self.name or 'dataset'}: label {bad} out of range for {len(self.classes)} classes"
            )

    def __len__(self) -> int:
        return len(self.y)

    @property
    def is_features(self) -> bool:
        """True for feature vectors (text embeddings), False for images."""
        return self.x.ndim == 2

    @property
    def channels(self) -> int:
        """Colour channels of the images (1 for feature vectors)."""
        return int(self.x.shape[3]) if self.x.ndim == 4 else 1

    @property
    def image_size(self) -> tuple[int, int]:
        """(H, W) of the images; an error for a dataset of feature vectors."""
        if self.x.ndim != 4:
            raise DataError(f"{self.name or 'dataset'} holds feature vectors, not images")
        return int(self.x.shape[1]), int(self.x.shape[2])

    @property
    def input_shape(self) -> tuple[int, ...]:
        """What a model of this data takes per sample: (C, H, W) for images, (D,) for feature vectors."""
        return (int(self.x.shape[1]),) if self.x.ndim == 2 else (self.channels, *self.image_size)

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.classes)

    def subset(self, idx: np.ndarray, name: str | None = None) -> "ArrayDataset":
        """The samples at ``idx`` (a copy)."""
        idx = np.asarray(idx)
        texts = None if self.texts is None else [self.texts[i] for i in np.arange(len(self.x))[idx]]
        return ArrayDataset(self.x[idx], self.y[idx], list(self.classes), name or self.name, texts)

    def take(self, n: int | None, seed: int = 0) -> "ArrayDataset":
        """A seeded random subset of ``n`` samples (all of them when ``n`` is None or too large)."""
        if n is None or n >= len(self):
            return self
        return self.subset(self.take_indices(n, seed), f"{self.name}[:{n}]")

    def take_indices(self, n: int | None, seed: int = 0) -> np.ndarray:
        """The sorted indices :meth:`take` keeps."""
        if n is None or n >= len(self):
            return np.arange(len(self))
        if n <= 0:
            raise DataError(f"limit must be positive, got {n}")
        return np.sort(np.random.default_rng(seed).permutation(len(self))[:n])

    def fingerprint(self) -> str:
        """A short hash of the content (used in cache keys and records)."""
        h = hashlib.sha256()
        h.update(str(self.x.shape).encode())
        h.update(np.ascontiguousarray(self.x[:: max(1, len(self.x) // 512)]).tobytes())
        h.update(self.y.tobytes())
        return h.hexdigest()[:16]


@dataclass
class DatasetBundle:
    """What :func:`stealguard.data.load_dataset` returns: train and test sets plus optional substitute pool."""

    name: str
    train: ArrayDataset
    test: ArrayDataset
    mean: tuple[float, ...]
    std: tuple[float, ...]
    substitute: ArrayDataset | None = None
    source: str = ""

    @property
    def classes(self) -> list[str]:
        """Class names."""
        return self.train.classes

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return self.train.num_classes

    @property
    def channels(self) -> int:
        """Colour channels of the images."""
        return self.train.channels

    @property
    def image_size(self) -> tuple[int, int]:
        """(H, W) of the images."""
        return self.train.image_size

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one model input: (C, H, W), or (D,) for feature vectors."""
        return self.train.input_shape


@dataclass
class Splits:
    """The splits of the threat model.

    ``defender``: the owner's training half; ``attacker``: a disjoint half of the same distribution, the data of a
    thief or of an independent party; ``test``: the held-out test set; ``substitute``: a public pool from other
    classes (``None`` where the dataset has none).
    """

    dataset: str
    defender: ArrayDataset
    attacker: ArrayDataset
    test: ArrayDataset
    substitute: ArrayDataset | None
    mean: tuple[float, ...]
    std: tuple[float, ...]
    seed: int
    info: dict = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return self.test.num_classes

    @property
    def channels(self) -> int:
        """Colour channels of the images."""
        return self.test.channels

    @property
    def image_size(self) -> tuple[int, int]:
        """(H, W) of the images."""
        return self.test.image_size

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one model input: (C, H, W), or (D,) for feature vectors."""
        return self.test.input_shape


def make_splits(bundle: DatasetBundle, seed: int = 0, defender_fraction: float = 0.5) -> Splits:
    """Split ``bundle.train`` into disjoint defender and attacker parts with a seeded permutation.

    The permutation is stratified by class, so both halves stay balanced. The record (``Splits.info``) holds the
    seed, the sizes and a hash of the defender indices, so a split can be re-made and checked.
    """
    if not 0.0 < defender_fraction < 1.0:
        raise DataError(f"defender_fraction must be in (0, 1), got {defender_fraction}")
    rng = np.random.default_rng(seed)
    y = bundle.train.y
    defender_idx, attacker_idx = [], []
    for c in range(bundle.num_classes):
        idx = np.flatnonzero(y == c)
        idx = idx[rng.permutation(len(idx))]
        k = int(round(len(idx) * defender_fraction))
        defender_idx.append(idx[:k])
        attacker_idx.append(idx[k:])
    d = np.sort(np.concatenate(defender_idx))
    a = np.sort(np.concatenate(attacker_idx))
    info = {
        "seed": seed,
        "defender_fraction": defender_fraction,
        "defender": len(d),
        "attacker": len(a),
        "test": len(bundle.test),
        "substitute": 0 if bundle.substitute is None else len(bundle.substitute),
        "defender_indices_sha256": hashlib.sha256(d.astype(np.int64).tobytes()).hexdigest()[:16],
    }
    return Splits(
        dataset=bundle.name,
        defender=bundle.train.subset(d, f"{bundle.name}/defender"),
        attacker=bundle.train.subset(a, f"{bundle.name}/attacker"),
        test=bundle.test,
        substitute=bundle.substitute,
        mean=bundle.mean,
        std=bundle.std,
        seed=seed,
        info=info,
    )


def cached_arrays(name: str, key: str, build) -> dict[str, np.ndarray]:
    """Return arrays from ``<cache>/data/<name>-<key>`` or call ``build() -> (arrays, meta)``, save and return them
    (with ``meta`` under ``_meta``)."""
    d = paths.cache_dir() / "data" / f"{name}-{key}"
    done = d / "meta.json"
    if done.exists():
        meta = json.loads(done.read_text())
        return {k: np.load(d / f"{k}.npy", allow_pickle=False) for k in meta["arrays"]} | {"_meta": meta}
    arrays, meta = build()
    d.mkdir(parents=True, exist_ok=True)
    for k, v in arrays.items():
        tmp = d / f"{k}.tmp{os.getpid()}.npy"  # per process: two runs may decode the same archive at once
        np.save(tmp, v, allow_pickle=False)
        tmp.replace(d / f"{k}.npy")
    meta = dict(meta, arrays=sorted(arrays))
    tmp = d / f"meta.tmp{os.getpid()}.json"
    tmp.write_text(json.dumps(meta))
    tmp.replace(done)
    return arrays | {"_meta": meta}
