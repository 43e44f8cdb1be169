"""Dataset readers. Nothing is downloaded: every reader takes local files and fails with one clear line.

Names understood by :func:`load_dataset`:

``fashion-mnist``
    IDX ``.gz`` files of the Debian package ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``), or a
    ``fashion-mnist/`` folder in the data directory with those files, gzip- or xz-compressed (``.gz`` or ``.xz``).
``cifar10``
    ``cifar10-jpg.tar.gz`` (``train|test/<class>/*.jpg``) or that tree extracted as ``cifar10/`` or ``cifar10-jpg/``.
``tiny-imagenet-20``
    The first 20 classes (``wnids.txt`` lines 1-20) of ``tiny-imagenet-40.tar.gz``; the other 20 classes are its
    substitute pool.
``tiny-imagenet-pool``
    Those other 20 classes as a dataset of their own (``image_size`` resizes them, e.g. to 32 for CIFAR-10).
``folder:PATH``
    An image tree: ``PATH/train/<class>/*`` and ``PATH/test/<class>/*`` (or ``val``), or only ``PATH/<class>/*``,
    in which case a seeded fifth is held out as the test set. Images are resized to the first image's size.
``sst2``, ``sst2-<N>k``, ``agnews``
    Text, as sentence embeddings of a frozen public encoder (see :mod:`stealguard.data.text`).
``npz:PATH``
    Arrays ``x`` (N, H, W[, C], uint8 or floats in [0, 1]) and ``y``; optional ``x_test``, ``y_test``, ``classes``.

Decoded archives are cached as ``.npy`` files under the cache directory, so a second load takes well under 2 s.
"""

from __future__ import annotations

import gzip
import io
import lzma
import os
import struct
import tarfile
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from .. import paths
from ..errors import DataError
from .core import ArrayDataset, DatasetBundle, cached_arrays
from .text import is_text_dataset, load_text_dataset

FASHION_MNIST_CLASSES = [
    "t-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot",
]
FASHION_MNIST_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}

DATASETS = ("fashion-mnist", "cifar10", "tiny-imagenet-20", "tiny-imagenet-pool", "sst2", "agnews")


def load_dataset(name: str, data_dir: str | os.PathLike | None = None, image_size: int | None = None) -> DatasetBundle:
    """Load a dataset by name (see the module docstring). ``image_size`` resizes every image to a square size."""
    if name.startswith("folder:"):
        bundle = _load_folder(Path(name[len("folder:"):]).expanduser())
    elif name.startswith("npz:"):
        bundle = _load_npz(Path(name[len("npz:"):]).expanduser())
    elif name == "fashion-mnist":
        bundle = _load_fashion_mnist(data_dir)
    elif name == "cifar10":
        bundle = _load_cifar10(data_dir)
    elif name in ("tiny-imagenet-20", "tiny-imagenet-pool"):
        bundle = _load_tiny_imagenet(data_dir, pool=name == "tiny-imagenet-pool")
    elif is_text_dataset(name):
        if image_size is not None:
            raise DataError(f"{name} is a text dataset: it has no image size")
        return load_text_dataset(name, data_dir)
    else:
        raise DataError(f"unknown dataset '{name}': choose one of {', '.join(DATASETS)}, sst2[-<N>k], agnews, "
                        "folder:PATH or npz:PATH")
    if image_size is not None and bundle.image_size != (image_size, image_size):
        bundle = _resize_bundle(bundle, image_size)
    return bundle


# --------------------------------------------------------------------------------------------------- helpers
def channel_stats(x: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of uint8 images in [0, 1] units (computed on at most 10,000 images)."""
    sample = x[:: max(1, len(x) // 10000)].astype(np.float32) / 255.0
    mean = sample.mean(axis=(0, 1, 2))
    std = sample.std(axis=(0, 1, 2))
    return tuple(round(float(v), 4) for v in mean), tuple(round(max(float(v), 1e-3), 4) for v in std)


def resize_images(x: np.ndarray, size: int) -> np.ndarray:
    """Resize uint8 (N, H, W, C) images to (N, size, size, C) with antialiased bilinear interpolation."""
    import torch
    import torch.nn.functional as F

    out = []
    for i in range(0, len(x), 2048):
        t = torch.from_numpy(x[i : i + 2048]).permute(0, 3, 1, 2).float()
        t = F.interpolate(t, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        out.append(t.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy())
    return np.concatenate(out) if out else np.zeros((0, size, size, x.shape[3]), np.uint8)


def _resize_bundle(b: DatasetBundle, size: int) -> DatasetBundle:
    def rs(d: ArrayDataset | None) -> ArrayDataset | None:
        return None if d is None else ArrayDataset(resize_images(d.x, size), d.y, d.classes, d.name)

    return DatasetBundle(b.name, rs(b.train), rs(b.test), b.mean, b.std, rs(b.substitute), b.source + f" resized {size}")


def _decode_image(data: bytes, where: str, channels: int | None, size: tuple[int, int] | None) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            if channels is None:
                channels = 1 if im.mode in ("L", "1", "I;16", "I") else 3
            im = im.convert("L" if channels == 1 else "RGB")
            if size is not None and im.size != (size[1], size[0]):
                im = im.resize((size[1], size[0]), Image.BILINEAR)
            arr = np.asarray(im, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise DataError(f"corrupt image {where}: {e}") from None
    return arr[:, :, None] if arr.ndim == 2 else arr


def _cache_key(source: Path, extra: str = "") -> str:
    st = source.stat()
    import hashlib

    return hashlib.sha256(f"{source.resolve()}|{st.st_size}|{int(st.st_mtime)}|{extra}|v1".encode()).hexdigest()[:16]


# --------------------------------------------------------------------------------------------------- fashion-mnist
def _read_idx(path: Path, expect_magic: int) -> np.ndarray:
    """An IDX array from a gzip (``.gz``, the Debian package's) or xz (``.xz``, smaller to carry) file."""
    if not path.exists():
        raise DataError(f"missing file {path}")
    kind, opener = ("xz", lzma.open) if path.suffix == ".xz" else ("gzip", gzip.open)
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, lzma.LZMAError) as e:
        raise DataError(f"{path} is not a readable {kind} file: {e}") from None
    if len(raw) < 8:
        raise DataError(f"{path} is too short to be an IDX file")
    magic = struct.unpack(">I", raw[:4])[0]
    if magic != expect_magic:
        raise DataError(f"{path}: IDX magic {magic}, expected {expect_magic}")
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, raw[4 : 4 + 4 * ndim])
    body = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise DataError(f"{path}: header says {dims} but holds {body.size} bytes")
    return body.reshape(dims)


def _fashion_dir(data_dir) -> Path:
    candidates = []
    base = paths.data_dir(data_dir, required=data_dir is not None)
    if base is not None:
        candidates.append(base / "fashion-mnist")
    candidates.append(FASHION_MNIST_SYSTEM_DIR)
    for c in candidates:
        if (c / "train-images-idx3-ubyte.gz").exists() or (c / "train-images-idx3-ubyte.xz").exists():
            return c
    raise DataError(
        "Fashion-MNIST not found: install it with 'apt-get install -y dataset-fashion-mnist' "
        f"(looked in {', '.join(str(c) for c in candidates)})"
    )


def _load_fashion_mnist(data_dir) -> DatasetBundle:
    d = _fashion_dir(data_dir)
    ext = ".gz" if (d / "train-images-idx3-ubyte.gz").exists() else ".xz"
    parts = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        x = _read_idx(d / f"{prefix}-images-idx3-ubyte{ext}", 2051)
        y = _read_idx(d / f"{prefix}-labels-idx1-ubyte{ext}", 2049).astype(np.int64)
        if len(x) != len(y):
            raise DataError(f"{d}: {len(x)} {split} images but {len(y)} labels")
        parts[split] = ArrayDataset(x[:, :, :, None].copy(), y, list(FASHION_MNIST_CLASSES), f"fashion-mnist/{split}")
    mean, std = channel_stats(parts["train"].x)
    return DatasetBundle("fashion-mnist", parts["train"], parts["test"], mean, std, None, str(d))


# --------------------------------------------------------------------------------------------------- image trees
def _tar_entries(path: Path) -> Iterator[tuple[str, bytes]]:
    try:
        with tarfile.open(path, "r:*") as tf:
            for m in tf:
                if m.isfile():
                    f = tf.extractfile(m)
                    if f is not None:
                        yield m.name, f.read()
    except (tarfile.TarError, OSError, EOFError) as e:
        raise DataError(f"{path} is not a readable tar archive: {e}") from None


def _dir_entries(root: Path) -> Iterator[tuple[str, bytes]]:
    for p in sorted(root.rglob("*")):
        if p.is_file():
            yield str(p.relative_to(root)), p.read_bytes()


def _read_tree(
    entries: Iterable[tuple[str, bytes]],
    splits: dict[str, tuple[str, ...]],
    classes: list[str] | None,
    where: str,
    channels: int | None = None,
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], list[str]]:
    """Decode ``<...>/<split>/<class>/<file>`` entries into arrays.

    ``splits`` maps our split name to the folder names it may have (e.g. ``{"test": ("test", "val")}``).
    ``classes``: the class folders to keep, in label order (None: every class folder found, sorted).
    """
    folder_to_split = {f: s for s, fs in splits.items() for f in fs}
    found: dict[str, list[tuple[str, str, bytes]]] = {s: [] for s in splits}
    for name, data in entries:
        parts = Path(name).parts
        if len(parts) < 3 or Path(name).suffix.lower() not in IMAGE_SUFFIXES:
            continue
        split_folder, cls = parts[-3], parts[-2]
        if split_folder in folder_to_split:
            found[folder_to_split[split_folder]].append((cls, name, data))
    for s, items in found.items():
        if not items:
            raise DataError(f"{where}: no images under a '{'/'.join(splits[s])}/<class>/' folder (wrong layout?)")
    strict = classes is None  # classes taken from the training split: other splits may not add new ones
    if classes is None:
        classes = sorted({c for c, _, _ in found["train"]})
    index = {c: i for i, c in enumerate(classes)}
    out = {}
    size = None
    for s, items in found.items():
        items = sorted((c, n, d) for c, n, d in items if c in index)
        if not items:
            raise DataError(f"{where}: split '{s}' holds none of the expected class folders")
        unknown = sorted({c for c, _, _ in found[s]} - set(index))
        if strict and unknown:
            raise DataError(f"{where}: split '{s}' has class folders the training split lacks: {unknown[:3]}")
        imgs = []
        for c, n, d in items:
            img = _decode_image(d, f"{where}:{n}", channels, size)
            if size is None:
                size, channels = img.shape[:2], img.shape[2]
            imgs.append(img)
        out[s] = (np.stack(imgs), np.array([index[c] for c, _, _ in items], dtype=np.int64))
    return out, classes


def _find_archive(data_dir, archive: str, folders: tuple[str, ...]) -> Path:
    base = paths.data_dir(data_dir)
    for f in (archive, *folders):
        if (base / f).exists():
            return base / f
    raise DataError(f"{archive} not found in {base} (nor an extracted {' or '.join(folders)} folder)")


def _entries(src: Path) -> Iterator[tuple[str, bytes]]:
    return _dir_entries(src) if src.is_dir() else _tar_entries(src)


def _load_cifar10(data_dir) -> DatasetBundle:
    src = _find_archive(data_dir, "cifar10-jpg.tar.gz", ("cifar10", "cifar10-jpg"))

    def build():
        arrays, classes = _read_tree(_entries(src), {"train": ("train",), "test": ("test",)}, None, str(src), 3)
        return {"x_train": arrays["train"][0], "y_train": arrays["train"][1],
                "x_test": arrays["test"][0], "y_test": arrays["test"][1]}, {"classes": classes}

    a = cached_arrays("cifar10", _cache_key(src), build)
    classes = a["_meta"]["classes"]
    train = ArrayDataset(a["x_train"], a["y_train"], classes, "cifar10/train")
    test = ArrayDataset(a["x_test"], a["y_test"], classes, "cifar10/test")
    mean, std = channel_stats(train.x)
    return DatasetBundle("cifar10", train, test, mean, std, None, str(src))


def _load_tiny_imagenet(data_dir, pool: bool) -> DatasetBundle:
    src = _find_archive(data_dir, "tiny-imagenet-40.tar.gz", ("tiny-imagenet-40",))

    def build():
        entries = list(_entries(src))
        wn = [d for n, d in entries if Path(n).name == "wnids.txt"]
        if not wn:
            raise DataError(f"{src}: no wnids.txt")
        wnids = [w.strip() for w in wn[0].decode().splitlines() if w.strip()]
        if len(wnids) < 40:
            raise DataError(f"{src}: wnids.txt lists {len(wnids)} classes, expected 40")
        words = {}
        for n, d in entries:
            if Path(n).name == "words.txt":
                for line in d.decode(errors="replace").splitlines():
                    k, _, v = line.partition("\t")
                    words[k.strip()] = v.split(",")[0].strip()
        out = {}
        for tag, ids in (("task", wnids[:20]), ("pool", wnids[20:40])):
            arrays, _ = _read_tree(entries, {"train": ("train",), "test": ("val",)}, ids, str(src), 3)
            out.update({f"x_train_{tag}": arrays["train"][0], f"y_train_{tag}": arrays["train"][1],
                        f"x_test_{tag}": arrays["test"][0], f"y_test_{tag}": arrays["test"][1]})
        return out, {"wnids": wnids[:40], "words": {w: words.get(w, w) for w in wnids[:40]}}

    a = cached_arrays("tiny-imagenet-40", _cache_key(src), build)
    meta = a["_meta"]
    names_task = [meta["words"][w] for w in meta["wnids"][:20]]
    names_pool = [meta["words"][w] for w in meta["wnids"][20:40]]

    def ds(tag, split, names):
        return ArrayDataset(a[f"x_{split}_{tag}"], a[f"y_{split}_{tag}"], names, f"tiny-imagenet-{tag}/{split}")

    if pool:
        train, test, sub, name = ds("pool", "train", names_pool), ds("pool", "test", names_pool), None, "tiny-imagenet-pool"
    else:
        train, test, name = ds("task", "train", names_task), ds("task", "test", names_task), "tiny-imagenet-20"
        sub = ds("pool", "train", names_pool)
    mean, std = channel_stats(train.x)
    return DatasetBundle(name, train, test, mean, std, sub, str(src))


def _load_folder(root: Path) -> DatasetBundle:
    if not root.is_dir():
        raise DataError(f"folder {root} does not exist")
    subdirs = {p.name for p in root.iterdir() if p.is_dir()}
    if "train" in subdirs and subdirs & {"test", "val"}:
        arrays, classes = _read_tree(_dir_entries(root), {"train": ("train",), "test": ("test", "val")}, None, str(root))
        train = ArrayDataset(*arrays["train"], classes, f"{root.name}/train")
        test = ArrayDataset(*arrays["test"], classes, f"{root.name}/test")
    else:
        entries = (("all/" + n, d) for n, d in _dir_entries(root))
        arrays, classes = _read_tree(entries, {"train": ("all",)}, None, str(root))
        full = ArrayDataset(*arrays["train"], classes, root.name)
        perm = np.random.default_rng(0).permutation(len(full))
        k = max(1, len(full) // 5)
        train, test = full.subset(np.sort(perm[k:]), f"{root.name}/train"), full.subset(np.sort(perm[:k]), f"{root.name}/test")
    mean, std = channel_stats(train.x)
    return DatasetBundle(f"folder:{root}", train, test, mean, std, None, str(root))


def _as_uint8_images(x: np.ndarray, where: str) -> np.ndarray:
    if x.ndim == 3:
        x = x[:, :, :, None]
    if x.ndim != 4 or x.shape[3] not in (1, 3):
        raise DataError(f"{where}: x must be (N, H, W) or (N, H, W, 1|3), got shape {x.shape}")
    if x.dtype == np.uint8:
        return x
    if np.issubdtype(x.dtype, np.floating):
        if not np.isfinite(x).all() or x.min() < 0 or x.max() > 1:
            raise DataError(f"{where}: float images must be finite and in [0, 1]")
        return np.round(x * 255).astype(np.uint8)
    raise DataError(f"{where}: images must be uint8 or floats in [0, 1], got {x.dtype}")


def _load_npz(path: Path) -> DatasetBundle:
    if not path.exists():
        raise DataError(f"npz file {path} does not exist")
    try:
        z = np.load(path, allow_pickle=False)
        arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError) as e:
        raise DataError(f"{path} is not a readable .npz file: {e}") from None
    for k in ("x", "y"):
        if k not in arrays:
            raise DataError(f"{path}: missing array '{k}' (found {sorted(arrays)})")
    x = _as_uint8_images(arrays["x"], str(path))
    y = arrays["y"]
    if "classes" in arrays:
        classes = [str(c) for c in arrays["classes"]]
    else:
        ys = [y] + ([arrays["y_test"]] if "y_test" in arrays else [])
        top = max(int(np.max(v)) for v in ys if len(v))
        classes = [str(i) for i in range(top + 1)]
    full = ArrayDataset(x, y, classes, path.stem)
    if "x_test" in arrays and "y_test" in arrays:
        train = full
        test = ArrayDataset(_as_uint8_images(arrays["x_test"], str(path)), arrays["y_test"], classes, f"{path.stem}/test")
    else:
        perm = np.random.default_rng(0).permutation(len(full))
        k = max(1, len(full) // 5)
        train, test = full.subset(np.sort(perm[k:])), full.subset(np.sort(perm[:k]), f"{path.stem}/test")
    mean, std = channel_stats(train.x)
    return DatasetBundle(f"npz:{path}", train, test, mean, std, None, str(path))
