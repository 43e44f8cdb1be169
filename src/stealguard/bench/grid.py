"""A scenario expanded into jobs, and the one function that runs a job (in any worker process or on a Ray node).

Jobs form a graph: ``victim`` (the plain victim, for fingerprint methods) -> ``protect`` (one per method and seed;
methods that train their own protected model have no victim job) -> ``steal`` (one per attack on each distinct
victim) -> ``verify`` (one per method, access level and suspect). ``independent`` models are trained once and
verified by every method. A job's outputs are files under the run folder plus a JSON-able result; models go
through the artifact cache, so identical training is never repeated across runs.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path

from .scenario import Scenario

PLAIN = "plain"  # the victim group of methods that protect an already trained model


@dataclass(frozen=True)
class Job:
    """One node of a run's job graph: a unique ``key``, its ``kind`` (victim, protect, steal, independent, verify),
    the keys it depends on and its spec."""
    key: str
    kind: str  # victim | protect | steal | independent | verify
    deps: tuple[str, ...] = ()
    spec: dict = field(default_factory=dict)

    @property
    def slug(self) -> str:
        """A file-name-safe id."""
        return hashlib.sha256(self.key.encode()).hexdigest()[:16]


def victim_groups(entries: list[tuple[str, str, dict, list[str]]]) -> dict[str, tuple[str | None, str]]:
    """Which method entries share a protection, and which victim each is judged on. ``entries``: (label, method,
    settings, access levels) in scenario order. Returns label -> (the label of the earlier entry whose protection it
    shares, or None; its victim group: its own label for a method that trains its victim, ``plain`` otherwise). An
    entry shares an earlier one's protection when the method and settings are the same (and, for a method that
    protects per access level, its levels are among the earlier one's)."""
    from ..methods import get_method

    out: dict[str, tuple[str | None, str]] = {}
    for i, (label, method, settings, access) in enumerate(entries):
        meth = get_method(method)
        owner = next((e[0] for e in entries[:i] if e[1] == method and e[2] == settings
                      and (not meth.protect_uses_modes or set(access) <= set(e[3]))), None)
        out[label] = (owner, out[owner][1] if owner else (label if meth.trains_victim else PLAIN))
    return out


def expand(sc: Scenario) -> list[Job]:
    """Every job of the scenario's grid in a deterministic order (dependencies before the jobs that need them)."""
    from ..methods import get_method

    jobs: list[Job] = []
    ind_keys = [(f"independent/{spec.label}", spec.label) for spec in sc.independent]
    independents = [Job(k, "independent", (), {"independent": _independent_spec(spec)}) for (k, _), spec in zip(ind_keys, sc.independent)]
    verifies: list[Job] = []
    # the plain victim is a job of its own when a method protects it, or when several protections start from it
    # (trained once first, instead of by each of them at the same time)
    from_plain = [m for m in sc.methods if get_method(m.method).trains_victim and get_method(m.method).starts_from_plain]
    needs_plain = any(not get_method(m.method).trains_victim for m in sc.methods) or len(from_plain) > 1
    all_attacks = [a.label for a in sc.attacks]
    for seed in sc.seeds:
        groups = {}  # victim group -> key of the job that produces its model
        if needs_plain:
            k = f"victim/s{seed}"
            jobs.append(Job(k, "victim", (), {"seed": seed}))
            groups[PLAIN] = k
        protect_keys = {}
        shared = victim_groups([(m.label, m.method, m.settings, m.access) for m in sc.methods])
        group_of = {label: group for label, (_, group) in shared.items()}
        for m in sc.methods:
            owner = shared[m.label][0]
            if owner is not None:  # same protection as an earlier method entry: share its kit, model and thefts
                protect_keys[m.label] = protect_keys[owner]
                continue
            trains = get_method(m.method).trains_victim
            k = f"protect/{m.label}/s{seed}"
            deps = (groups[PLAIN],) if needs_plain and (not trains or m in from_plain) else ()
            jobs.append(Job(k, "protect", deps, {"seed": seed, "method": dataclasses.asdict(m)}))
            protect_keys[m.label] = k
            if trains:
                groups[m.label] = k
        wanted = {g: set() for g in groups}  # the attacks run against each victim group: those its methods are judged on
        for m in sc.methods:
            wanted[group_of[m.label]].update(m.attacks or all_attacks)
        steal_keys: dict[str, list[tuple[str, str, str]]] = {}
        for group, source_key in groups.items():
            steal_keys[group] = []
            for a in sc.attacks:
                if a.label not in wanted[group]:
                    continue
                k = f"steal/{group}/s{seed}/{a.label}"
                jobs.append(Job(k, "steal", (source_key,), {"seed": seed, "group": group, "attack": dataclasses.asdict(a)}))
                steal_keys[group].append((k, a.label, a.attack))
        for m in sc.methods:
            group = group_of[m.label]
            pk = protect_keys[m.label]
            judged = set(m.attacks or all_attacks)
            suspects = [(groups[group], "Source", "source", "direct-copy")]
            suspects += [(k, label, "stolen", attack) for k, label, attack in steal_keys[group] if label in judged]
            suspects += [(k, label, "independent", None) for k, label in ind_keys]
            for level in m.access:
                for sk, label, kind, attack in suspects:
                    deps = tuple(dict.fromkeys((pk, groups[group], sk)))
                    verifies.append(Job(f"verify/{m.label}/s{seed}/{level}/{label}", "verify", deps,
                                    {"seed": seed, "method": dataclasses.asdict(m), "level": level, "suspect": label,
                                     "suspect_kind": kind, "attack": attack, "suspect_job": sk, "protect_job": pk,
                                     "victim_job": groups[group]}))
    # the scheduler submits ready jobs in this order: the long chains (victim -> protect -> steal) first
    return jobs + independents + verifies


# ----------------------------------------------------------------------------------------------- running a job
@functools.lru_cache(maxsize=4)
def _splits(dataset: str, split_seed: int):
    from ..data import load_splits

    return load_splits(dataset, seed=split_seed)


def run_job(job: Job, scenario: dict, run_dir: str, threads: int, upstream: dict) -> dict:
    """Run one job and return its result (JSON-able). ``upstream``: the results of the jobs it depends on.
    Called in worker processes: everything it needs arrives as arguments or lies in the run folder and the cache."""
    import torch

    torch.set_num_threads(max(1, threads))
    t0 = time.perf_counter()
    sc = scenario
    splits = _splits(sc["dataset"], sc["split_seed"])
    run = Path(run_dir)
    fn = {"victim": _victim, "protect": _protect, "steal": _steal, "independent": _independent, "verify": _verify}[job.kind]
    result = fn(job, sc, splits, run, upstream)
    result["seconds"] = round(time.perf_counter() - t0, 3)
    return result


def _model_path(run: Path, job: Job) -> Path:
    (run / "models").mkdir(parents=True, exist_ok=True)
    return run / "models" / f"{job.slug}.safetensors"


def _save(model, run: Path, job: Job, dataset: str) -> dict:
    from ..models import save_model

    path = _model_path(run, job)
    tmp = path.with_name(path.stem + ".tmp.safetensors")
    sha = save_model(model, tmp, extra={"dataset": dataset})
    tmp.replace(path)
    return {"path": str(path.relative_to(run)), "sha256": sha, "arch": model.spec.arch, "width": model.spec.width}


def _independent_spec(spec) -> dict:
    """An independent model's job spec; without recipe changes or style augmentation, as before they existed (the
    job keeps its key)."""
    d = dataclasses.asdict(spec)
    if spec.recipe:
        d["recipe"] = dict(spec.recipe)
    else:
        del d["recipe"]
    if spec.styles:
        d["styles"] = list(spec.styles)
    else:
        del d["styles"], d["style_rate"]
    return d


def _recipe(sc: dict, seed: int, epochs, changes: dict | None = None):
    from ..recipes import cpu_recipe

    return cpu_recipe(sc["dataset"], sc.get("recipe", "standard"), seed=seed, progress=False, device=sc["device"], **({"epochs": epochs} if epochs else {}),
                      **(changes or {}))


def _victim(job, sc, splits, run, up) -> dict:
    from ..recipes import train_classifier

    v = sc["victim"]
    model, rec = train_classifier(splits, v["arch"], v["width"], _recipe(sc, job.spec["seed"], v["epochs"]),
                                  split="defender", limit=v["limit"])
    return _save(model, run, job, sc["dataset"]) | {"accuracy": rec["accuracy"], "cached": rec.get("cached", False)}


def _protect(job, sc, splits, run, up) -> dict:
    """Protect through the artifact cache: the kit (and the protected model of methods that train one) is built once
    per method, version, settings, victim and (for a method whose protection depends on them) access levels, then
    copied into the run folder."""
    import shutil

    from ..cache import cached_dir
    from ..methods import get_method
    from ..models import load_model, save_model
    from .scenario import entry_settings

    m = job.spec["method"]
    method = get_method(m["method"])
    seed = job.spec["seed"]
    settings = entry_settings(method, m["settings"], sc["dataset"], seed,
                              dict(sc["victim"], recipe=sc.get("recipe", "standard")))
    victim = None if method.trains_victim else up[job.deps[0]]
    key = {"kind": "protection", "method": method.name, "version": method.version, "settings": settings.to_dict(),
           "modes": list(m["access"]) if method.protect_uses_modes else None, "dataset": sc["dataset"], "splits": splits.info,
           "victim": victim and victim["sha256"], "device": sc["device"]}

    def build(folder: Path) -> dict:
        t0 = time.perf_counter()
        if method.trains_victim:
            res = method.protect(splits, settings, folder / "kit", modes=tuple(m["access"]))
            save_model(res.model, folder / "model.safetensors", extra={"dataset": sc["dataset"]})
            out = {"accuracy": res.record["victim"]["accuracy"]}
            if res.record.get("benign"):
                out["benign_accuracy"] = res.record["benign"][0]["accuracy"]
        else:
            res = method.protect(load_model(run / victim["path"]), splits, settings, folder / "kit")
            out = {"accuracy": victim["accuracy"]}
        return out | {"kit_id": res.kit.kit_id, "protect_seconds": round(time.perf_counter() - t0, 3)}

    folder, rec = cached_dir(key, build)
    kit_dir = run / "kits" / job.slug
    shutil.rmtree(kit_dir, ignore_errors=True)
    shutil.copytree(folder / "kit", kit_dir)
    out = {k: rec[k] for k in ("accuracy", "benign_accuracy", "kit_id", "protect_seconds") if k in rec}
    if method.trains_victim:
        out |= _save(load_model(folder / "model.safetensors"), run, job, sc["dataset"])
    return out | {"kit": str(kit_dir.relative_to(run)), "cached": rec["cached"]}


def _steal(job, sc, splits, run, up) -> dict:
    from ..attacks import REGISTRY, run_attack
    from ..models import load_model

    a = job.spec["attack"]
    victim = load_model(run / up[job.deps[0]]["path"])
    settings = dict(a["settings"])
    fields = {f.name for f in dataclasses.fields(REGISTRY[a["attack"]].Settings)}
    if "seed" in fields:
        settings.setdefault("seed", job.spec["seed"])
    if "device" in fields:
        settings.setdefault("device", sc["device"])
    if "recipe" in fields and sc.get("recipe", "standard") != "standard":
        settings.setdefault("recipe", sc["recipe"])
    model, rec = run_attack(a["attack"], victim, splits, progress=False, **settings)
    return _save(model, run, job, sc["dataset"]) | {k: rec.get(k) for k in ("accuracy", "fidelity", "queries")} | {"cached": rec.get("cached", False)}


def _independent(job, sc, splits, run, up) -> dict:
    from ..recipes import train_classifier

    s = job.spec["independent"]
    recipe = _recipe(sc, s["seed"], s["epochs"], s.get("recipe"))
    if s.get("styles"):  # a stranger who trains with style augmentation (its own styles, its own images)
        model, rec = _style_augmented(splits, s, recipe)
    else:
        model, rec = train_classifier(splits, s["arch"], s["width"], recipe, split="attacker", limit=s["limit"])
    return _save(model, run, job, sc["dataset"]) | {"accuracy": rec["accuracy"], "cached": rec.get("cached", False)}


def _style_augmented(splits, s: dict, recipe):
    """Train an independent model on its attacker-half images with ``s["style_rate"]`` of them stylised (labels
    kept), the styles ``s["styles"]`` taking the drawn images in turn."""
    import numpy as np

    from ..cache import array_digest
    from ..recipes import train_on, training_set
    from ..style import make_stylizer, stylize_dataset

    stylizers = [make_stylizer(spec) for spec in s["styles"]]
    data, ids, styled = stylize_dataset(training_set(splits, "attacker", s["limit"], recipe.seed), stylizers,
                                        s["style_rate"], np.random.default_rng(s["seed"]))
    tag = {"split": "attacker", "limit": s["limit"], "style_augmentation": [z.identity for z in stylizers],
           "rate": s["style_rate"], "styled_sha": array_digest(styled, ids)}
    return train_on(data, splits, s["arch"], s["width"], recipe, tag)


def _fidelity(run: Path, suspect: dict, victim: dict, splits) -> float:
    """Top-1 agreement of a suspect with its victim on the test set (each model's labels are computed once, however
    many methods and access levels verify it)."""
    from ..models import load_model
    from ..recipes import test_labels

    a, b = (test_labels(lambda m=m: load_model(run / m["path"]), m["sha256"], splits) for m in (suspect, victim))
    return round(float((a == b).mean()), 5)


def _verify(job, sc, splits, run, up) -> dict:
    from ..access import open_access
    from ..errors import ConfigError
    from ..methods import get_method, verify_suspect

    s = job.spec
    suspect = up[s["suspect_job"]]
    out = {}
    if s["suspect_kind"] == "stolen":
        out["fidelity"] = suspect.get("fidelity")
    elif s["suspect_kind"] == "independent":  # attacks record their fidelity; independent models get it here
        out["fidelity"] = _fidelity(run, suspect, up[s["victim_job"]], splits)
    try:
        access = open_access(str(run / suspect["path"]), s["level"])
        v = verify_suspect(str(run / up[s["protect_job"]]["kit"]), access, **s["method"]["verify"])
    except ConfigError as e:  # e.g. white-box weight features on another architecture: not applicable, said why
        return out | {"applicable": False, "note": str(e)}
    d = v.to_dict()
    return out | {"applicable": True, "stolen": d["stolen"], "p_value": d["p_value"], "effect": d["effect"], "alpha": d["alpha"],
                  "queries": d["queries"], "decision": d["decision"], "details": d["details"],
                  "suspicion": get_method(s["method"]["method"]).suspicion(v.p_value, v.effect)}
