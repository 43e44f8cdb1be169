"""Artifact cache of trained models keyed by a hash of their full config: training the same thing twice is a lookup.

Layout: ``<cache>/models/<hash>/{model.safetensors, config.json, record.json}``. ``STEALGUARD_CACHE`` moves the
cache; ``STEALGUARD_NO_CACHE=1`` turns lookups off (results are still written).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Callable

from . import paths
from .models import Classifier, load_model, save_model

CACHE_VERSION = 1  # bump when training code changes in a way that changes results


def config_hash(config: dict) -> str:
    """A stable hash of a JSON-able config (key order does not matter)."""
    text = json.dumps({"config": config, "cache_version": CACHE_VERSION}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def entry_dir(config: dict) -> Path:
    return paths.cache_dir() / "models" / config_hash(config)


def cached_model(config: dict, build: Callable[[], tuple[Classifier, dict]], device: str = "cpu") -> tuple[Classifier, dict]:
    """Return ``(model, record)`` from the cache, or call ``build()``, store its result and return it.

    ``record["cached"]`` tells which happened. An entry is written to a temporary folder and renamed, so an
    interrupted run never leaves a half entry behind.
    """
    d = entry_dir(config)
    if os.environ.get("STEALGUARD_NO_CACHE") != "1" and (d / "record.json").exists():
        record = json.loads((d / "record.json").read_text())
        return load_model(d / "model.safetensors", device), record | {"cached": True}
    model, record = build()
    tmp = d.with_name(d.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    record = dict(record, sha256=save_model(model, tmp / "model.safetensors"))
    (tmp / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True, default=str))
    (tmp / "record.json").write_text(json.dumps(record, indent=2, sort_keys=True, default=str))
    shutil.rmtree(d, ignore_errors=True)
    try:
        tmp.rename(d)
    except OSError:  # another process stored the same entry meanwhile: keep theirs
        shutil.rmtree(tmp, ignore_errors=True)
    return model, record | {"cached": False}
