"""Artifact cache keyed by a hash of the full config: training (or protecting, or predicting) the same thing twice
is a lookup.

Layout: ``<cache>/models/<hash>/{model.safetensors, config.json, record.json}`` for trained models,
``<cache>/dirs/<hash>/{..., config.json, record.json}`` for folders of artifacts (a protection's kit and model),
``<cache>/arrays/<hash>.npy`` for arrays (a model's test-set labels). ``STEALGUARD_CACHE`` moves the cache;
``STEALGUARD_NO_CACHE=1`` turns lookups off (results are still written).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Callable

import numpy as np

from . import paths
from .models import Classifier, load_model, save_model

CACHE_VERSION = 1  # bump when training code changes in a way that changes results


def config_hash(config: dict) -> str:
    """A stable hash of a JSON-able config (key order does not matter)."""
    text = json.dumps({"config": config, "cache_version": CACHE_VERSION}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def array_digest(*arrays: np.ndarray) -> str:
    """Short SHA-256 of the arrays' bytes, concatenated (tags in cache keys: which images, which indices)."""
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def entry_dir(config: dict) -> Path:
    """The artifact cache's folder for ``config`` (named by the config's hash)."""
    return paths.cache_dir() / "models" / config_hash(config)


def cached_model(config: dict, build: Callable[[], tuple[Classifier, dict]], device: str = "cpu",
                 dataset: str | None = None) -> tuple[Classifier, dict]:
    """Return ``(model, record)`` from the cache, or call ``build()``, store its result and return it. The model
    file records ``dataset`` (default: the config's ``dataset``), which is not part of the key.

    ``record["cached"]`` tells which happened. An entry is written to a temporary folder and renamed, so an
    interrupted run never leaves a half entry behind.
    """
    built = {}

    def fill(folder: Path) -> dict:
        built["model"], record = build()
        name = dataset or config.get("dataset")  # recorded in the file, so `stealguard info` and `steal` can read it
        extra = {"dataset": name} if isinstance(name, str) else None
        return dict(record, sha256=save_model(built["model"], folder / "model.safetensors", extra))

    d, record = _cached_folder(entry_dir(config), config, fill)
    return (built["model"] if "model" in built else load_model(d / "model.safetensors", device)), record


def _lookups() -> bool:
    return os.environ.get("STEALGUARD_NO_CACHE") != "1"


def cached_dir(config: dict, build: Callable[[Path], dict]) -> tuple[Path, dict]:
    """Return ``(folder, record)`` of a cached folder of artifacts, or call ``build(folder)`` to fill a new one (it
    returns the record) and store it. The caller copies what it needs out of the folder and never writes into it."""
    return _cached_folder(paths.cache_dir() / "dirs" / config_hash(config), config, build)


def _cached_folder(d: Path, config: dict, fill: Callable[[Path], dict]) -> tuple[Path, dict]:
    """The cache entry ``d`` with its record: looked up, or filled by ``fill(folder) -> record`` in a temporary
    folder that is then renamed (an interrupted run never leaves a half entry behind). Processes sharing the cache
    (benchmark workers, parallel test workers) fill an entry once: the others wait for it and read it."""
    if (found := _lookup(d)) is not None:
        return found
    with _entry_lock(d):
        if (found := _lookup(d)) is not None:  # filled by another process while this one waited
            return found
        tmp = d.with_name(d.name + f".tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        record = fill(tmp)
        (tmp / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True, default=str))
        (tmp / "record.json").write_text(json.dumps(record, indent=2, sort_keys=True, default=str))
        shutil.rmtree(d, ignore_errors=True)  # a stale entry (lookups off) or a half one from before
        try:
            tmp.rename(d)
        except OSError:  # another process stored the same entry meanwhile (a file system without locks): keep theirs
            shutil.rmtree(tmp, ignore_errors=True)
    return d, record | {"cached": False}


def _lookup(d: Path) -> tuple[Path, dict] | None:
    """The finished cache entry ``d`` with its record, or None (missing, half written, or lookups turned off)."""
    if _lookups() and (d / "record.json").exists():
        return d, json.loads((d / "record.json").read_text()) | {"cached": True}
    return None


@contextlib.contextmanager
def _entry_lock(d: Path):
    """An exclusive advisory lock on the cache entry ``d`` (a ``.lock`` file beside it), so two processes never
    compute the same entry at once. Entries lock only their own key, and an entry's build can only ask for
    entries it depends on, so waits never form a cycle. Without ``fcntl`` (Windows) or on a file system that refuses
    locks, there is no lock."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover
        yield
        return
    d.parent.mkdir(parents=True, exist_ok=True)
    with open(d.with_name(d.name + ".lock"), "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX)
        except OSError:  # a file system without locks: fill unlocked (the rename below keeps one entry)
            yield
            return
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def cached_array(config: dict, build: Callable[[], np.ndarray]) -> np.ndarray:
    """An array computed once per config (e.g. a model's labels on a test set, keyed by the model's SHA-256)."""
    p = paths.cache_dir() / "arrays" / f"{config_hash(config)}.npy"
    if _lookups() and p.exists():
        return np.load(p, allow_pickle=False)
    a = np.asarray(build())
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.stem + f".tmp{os.getpid()}.npy")
    np.save(tmp, a, allow_pickle=False)
    tmp.replace(p)
    return a
