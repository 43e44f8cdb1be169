"""The stealing-attack suite: a registry of attacks and the runner that gives each exactly its threat model.

>>> model, record = run_attack("label-query", victim, splits, epochs=3, api_output="top1")

The runner builds the victim access the attack is allowed (white-box for model-level attacks; probabilities,
rounded probabilities or labels for query attacks, per ``api_output``; nothing for the negative control), hands it
only the data its threat model allows, times it, and evaluates the stolen model: test ``accuracy`` and ``fidelity``
(top-1 agreement with the victim on the test set). ``chain`` runs several attacks in a row, each stage stealing from
the previous stage's model.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from typing import Any

from ..access import Access, Backend, Labels, ModuleBackend, OnnxBackend, WhiteBox, open_access
from ..cache import cached_model
from ..data import Splits
from ..errors import ConfigError, DataError
from ..models import Classifier, OnnxModel, model_sha256, sha256_file
from ..recipes import test_labels
from ..train import labels_of
from .adv_extract import AdvExtract
from .base import ACCESS_KINDS, DATA_KINDS, Attack, AttackData, StealSettings
from .direct_copy import DirectCopy
from .fine_tune import FineTune
from .independent import Independent
from .prune import Prune
from .query import Distill, LabelQuery, LogitQuery
from .recalibrate import Recalibrate
from .transfer import Transfer
from .zero_shot import ZeroShot

REGISTRY: dict[str, type[Attack]] = {
    a.name: a for a in (DirectCopy, Distill, ZeroShot, FineTune, Prune, Recalibrate, LabelQuery, LogitQuery, AdvExtract,
                        Transfer, Independent)
}
ATTACKS = [*REGISTRY, "chain"]

__all__ = ["ATTACKS", "REGISTRY", "ACCESS_KINDS", "DATA_KINDS", "Attack", "AttackData", "StealSettings",
           "make_settings", "run_attack", "run_chain", "parse_stages"]


def make_settings(name: str, **overrides: Any) -> StealSettings:
    """Validated settings of attack ``name`` (``None`` values keep the defaults; unknown keys are an error)."""
    if name not in REGISTRY:
        raise ConfigError(f"unknown attack '{name}': choose one of {', '.join(ATTACKS)}")
    cls = REGISTRY[name].Settings
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(k for k, v in overrides.items() if k not in known and v is not None)
    if unknown:
        raise ConfigError(f"attack '{name}' has no setting {', '.join(unknown)}")
    return cls(**{k: v for k, v in overrides.items() if v is not None})


def _substitute(splits: Splits, data_dir) -> Any:
    """The public substitute pool: the split's own, or for 32x32 colour data the Tiny-ImageNet pool resized."""
    if splits.substitute is not None:
        return splits.substitute
    if splits.test.is_features:
        return None
    if splits.channels == 3 and splits.image_size[0] == splits.image_size[1] and splits.dataset != "tiny-imagenet-pool":
        from ..data import load_dataset

        try:
            return load_dataset("tiny-imagenet-pool", data_dir, image_size=splits.image_size[0]).train
        except DataError:  # no pool on this machine: transfer falls back to a relabelled task
            return None
    return None


def _attack_data(attack: type[Attack], splits: Splits, data_dir) -> AttackData:
    d = AttackData(num_classes=splits.num_classes, input_shape=tuple(splits.input_shape), mean=splits.mean,
                   std=splits.std, classes=list(splits.test.classes), dataset=splits.dataset)
    if attack.data == "defender":
        d.defender = splits.defender
    elif attack.data == "attacker":
        d.attacker = splits.attacker
        if attack is Transfer:
            d.substitute = _substitute(splits, data_dir)
    return d


def _victim_access(attack: type[Attack], victim: Classifier | OnnxModel, s: StealSettings) -> Access:
    if attack.access == "model":
        if not isinstance(victim, Classifier):
            raise ConfigError(f"'{attack.name}' needs the victim's weights (.safetensors), not a black-box model")
        return WhiteBox(copy.deepcopy(victim).eval())  # a copy: attacks may not alter the owner's model
    if attack.access == "queries":
        if getattr(victim, "kind", None) == "labels":  # a labels-only API: that is all any attack gets
            return open_access(victim, "labels")
        return open_access(victim, "probabilities", output=s.api_output)
    # "none": an access that refuses every query (the negative control never looks at the victim)
    backend = victim if isinstance(victim, Backend) else ModuleBackend(victim) if isinstance(victim, Classifier) else OnnxBackend(victim)
    return Labels(backend, max_queries=0)


def _victim_sha256(victim: Classifier | OnnxModel, given: str | None) -> str:
    """The victim's identity in records and cache keys: ``given`` (its file's hash) or computed from it."""
    if given is not None:
        return given
    if isinstance(victim, Backend):  # a remote API: identified by its URL (never cached: the model behind may change)
        return "url:" + str(getattr(victim, "url", type(victim).__name__))
    return model_sha256(victim) if isinstance(victim, Classifier) else sha256_file(victim.path)


def _fill_architecture(s: StealSettings, victim) -> StealSettings:
    spec = getattr(victim, "spec", None)
    if spec is not None:
        s = dataclasses.replace(s, arch=s.arch or spec.arch, width=s.width if s.width is not None else spec.width)
    return s


def _evaluate(model: Classifier, victim, splits: Splits, details: dict, victim_sha256: str, use_cache: bool) -> dict:
    """Test accuracy and fidelity (top-1 agreement with the victim on the test set) from one pass of the stolen
    model; the victim's test labels are computed once per victim (cache), not per attack."""
    if model.spec.num_classes != splits.num_classes or "task" in details:
        # a new label space (transfer): accuracy is on the new task, fidelity is undefined
        return {"accuracy": details.get("task_accuracy"), "fidelity": None}
    mine = labels_of(model, splits.test.x)
    theirs = test_labels(lambda: victim if isinstance(victim, Classifier) else open_access(victim, "labels"),
                         None if victim_sha256.startswith("url:") else victim_sha256, splits, use_cache)
    return {"accuracy": round(float((mine == splits.test.y).mean()), 5), "fidelity": round(float((mine == theirs).mean()), 5)}


def run_attack(name: str, victim: Classifier | OnnxModel, splits: Splits, settings: StealSettings | None = None,
               data_dir=None, use_cache: bool = True, victim_sha256: str | None = None, **overrides) -> tuple[Classifier, dict]:
    """Run attack ``name`` against ``victim`` and return ``(stolen model, record)``.

    The record holds ``attack``, ``settings``, ``victim_sha256``, ``queries`` (victim queries the thief made),
    ``accuracy``, ``fidelity``, ``seconds`` and the attack's own details. With ``use_cache`` an identical run (same
    attack, settings, victim and split) is loaded from the artifact cache.
    """
    if name == "chain":
        return run_chain(victim, splits, overrides.pop("stages"), settings, data_dir, use_cache, victim_sha256, **overrides)
    attack = REGISTRY.get(name)
    if attack is None:
        raise ConfigError(f"unknown attack '{name}': choose one of {', '.join(ATTACKS)}")
    s = settings if settings is not None else make_settings(name, **overrides)
    s = _fill_architecture(s, victim)
    victim_sha256 = _victim_sha256(victim, victim_sha256)

    def build():
        access = _victim_access(attack, victim, s)
        data = _attack_data(attack, splits, data_dir)
        t0 = time.perf_counter()
        model, details = attack().steal(access, data, s)
        seconds = time.perf_counter() - t0
        record = {"attack": name, "settings": s.to_dict(), "victim_sha256": victim_sha256, "access": access.describe(),
                  "queries": access.queries, "seconds": round(seconds, 3), "arch": model.spec.arch, "width": model.spec.width,
                  "dataset": splits.dataset, "split": splits.info, **details}
        return model.eval(), record | _evaluate(model, victim, splits, details, victim_sha256, use_cache)

    if not use_cache:
        model, record = build()
        return model, record | {"cached": False}
    key = {"kind": "attack", "attack": name, "settings": s.to_dict(), "victim": victim_sha256, "splits": splits.info,
           "dataset": splits.dataset}
    if attack.version != 1:
        key["version"] = attack.version
    return cached_model(key, build)


def parse_stages(text: str) -> list[tuple[str, str | None]]:
    """``"direct-copy,zero-shot:resnet8,logit-query"`` -> [(attack, arch or None), ...]."""
    stages = []
    for part in [p.strip() for p in text.split(",") if p.strip()]:
        name, _, arch = part.partition(":")
        if name not in REGISTRY or name == "independent":
            raise ConfigError(f"chain stage '{name}' is not a stealing attack: choose from "
                              f"{', '.join(n for n in REGISTRY if n != 'independent')}")
        stages.append((name, arch or None))
    if len(stages) < 2:
        raise ConfigError("a chain needs at least two stages, e.g. 'direct-copy,zero-shot,zero-shot'")
    return stages


def run_chain(victim, splits: Splits, stages: str | list, settings: StealSettings | None = None, data_dir=None,
              use_cache: bool = True, victim_sha256: str | None = None, **overrides) -> tuple[Classifier, dict]:
    """Multi-stage stealing (MOVE Table IX): each stage attacks the previous stage's model.

    Settings shared by every stage come from ``overrides``; a stage's architecture from ``attack:arch``. Only the first
    stage queries the owner's victim; ``queries`` in the record counts those. Fidelity is measured against the
    original victim.
    """
    plan = parse_stages(stages) if isinstance(stages, str) else stages
    current, records, t0 = victim, [], time.perf_counter()
    first_sha = _victim_sha256(victim, victim_sha256)
    for i, (name, arch) in enumerate(plan):
        fields = {f.name for f in dataclasses.fields(REGISTRY[name].Settings)}
        stage_over = {k: v for k, v in overrides.items() if k in fields}
        if arch:
            stage_over["arch"], stage_over["width"] = arch, overrides.get("width")
        current, rec = run_attack(name, current, splits, make_settings(name, **stage_over), data_dir, use_cache,
                                  victim_sha256=first_sha if i == 0 else None)
        records.append({k: rec.get(k) for k in ("attack", "arch", "queries", "accuracy", "fidelity", "seconds", "cached")})
    record = {"attack": "chain", "stages": records, "settings": {"stages": [f"{n}:{a}" if a else n for n, a in plan]} | overrides,
              "victim_sha256": first_sha, "queries": records[0]["queries"], "seconds": round(time.perf_counter() - t0, 3),
              "arch": current.spec.arch, "width": current.spec.width, "dataset": splits.dataset}
    return current, record | _evaluate(current, victim, splits, {}, first_sha, use_cache) | {"cached": all(r["cached"] for r in records)}
