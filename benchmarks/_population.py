"""Helpers shared by the pages that re-verify a harness run's population (sequential.py, combined.py): the run's
finished jobs, its suspects, and fingerprint kits built on one of its models with the SAC-m entry's reference
settings (so the artifact cache shares the reference models)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path


def load_run(run: Path) -> tuple[dict, dict]:
    """The run's scenario and its finished jobs' results by key."""
    import yaml

    sc = yaml.safe_load((run / "scenario.yaml").read_text())
    db = sqlite3.connect(run / "results.sqlite")
    res = {k: json.loads(r) for k, r in db.execute("select key, result from jobs where status = 'done'")}
    return sc, res


def suspects(res: dict, source_key: str, steal_prefix: str) -> list[tuple[str, str, str, float]]:
    """(name, kind, model path, test accuracy) of the source, the thefts of it and the independent models."""
    out = [("Source", "source", res[source_key]["path"], res[source_key]["accuracy"])]
    out += [(k.split("/")[-1], "stolen", r["path"], r["accuracy"]) for k, r in sorted(res.items()) if k.startswith(steal_prefix)]
    out += [(k.split("/", 1)[1], "independent", r["path"], r["accuracy"]) for k, r in sorted(res.items())
            if k.startswith("independent/")]
    return out


def fingerprint(run: Path, sc: dict, method: str, model_path: str, name: str, **settings):
    """A kit of fingerprint ``method`` (ipguard, sac) on the run's model ``model_path``, kept in
    RUN/pages/NAME; its reference models take the SAC-m entry's architectures, count, limit and epochs."""
    from stealguard.bench.scenario import entry_settings
    from stealguard.data import load_splits
    from stealguard.kit import load_kit
    from stealguard.methods import get_method
    from stealguard.models import load_model

    folder = run / "pages" / name
    if (folder / "manifest.json").exists():
        return load_kit(folder)
    sac = next(m for m in sc["methods"] if m["method"] == "sac")["settings"]
    m = get_method(method)
    shared = {k: sac[k] for k in ("references", "reference_archs", "limit", "epochs") if k in sac}
    s = entry_settings(m, shared | settings, sc["dataset"], 0, dict(sc["victim"], recipe=sc.get("recipe", "standard")))
    splits = load_splits(sc["dataset"], seed=sc.get("split_seed", 0))
    return m.protect(load_model(run / model_path), splits, s, folder).kit


def failed_theft(kind: str, accuracy: float, classes: int) -> bool:
    """A theft whose test accuracy is below twice chance did not produce a working model."""
    return kind == "stolen" and accuracy < 2 / classes
