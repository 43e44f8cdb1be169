"""``stealguard demo``: the whole story at CPU scale on Fashion-MNIST — an owner protects a model with MOVE, two
thieves copy it, an honest competitor trains its own, and the owner verifies all three suspects."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from .access import open_access
from .attacks import run_attack
from .data import load_splits
from .methods import Move, MoveSettings, verify_suspect
from .models import save_model
from .recipes import cpu_recipe, train_classifier

PROTECT = dict(dataset="fashion-mnist", arch="cnn", width=1.0, limit=12000, epochs=3, benign_models=3, references=6)
SUSPECTS = [
    ("fine-tune", "a leaked copy fine-tuned on the thief's own data", dict(epochs=1, limit=8000)),
    ("logit-query", "an API thief trains on the victim's probabilities", dict(epochs=3, limit=8000)),
    ("independent", "an honest competitor: trained from scratch on disjoint data", None),
]


def run_demo(out: Path, data_dir=None, echo: Callable[[str], None] = print) -> dict:
    """Protect, steal, verify; write the models, the kit, the verdicts and ``out/demo.json``."""
    out.mkdir(parents=True, exist_ok=True)
    splits = load_splits("fashion-mnist", data_dir)
    echo(f"Fashion-MNIST: {len(splits.defender)} owner / {len(splits.attacker)} other-party / {len(splits.test)} test images")
    echo("1. The owner protects a model with MOVE (10% of its training images stylised, labels kept) and trains the "
         "benign and reference models its kit needs (about 5 minutes on 2 cores the first time)")
    res = Move().protect(splits, MoveSettings(**PROTECT), out / "kit", echo=lambda s: echo("   " + s))
    victim = res.model
    save_model(victim, out / "victim.safetensors", extra={"dataset": "fashion-mnist", "protection": "move"})
    v, b = res.record["victim"], res.record["benign"][0]
    echo(f"   protected model: test accuracy {v['accuracy']:.4f} (the same model without protection: {b['accuracy']:.4f}); "
         f"kit id {res.kit.kit_id[:16]}...")
    echo("2. Thieves copy it, and a competitor trains its own model")
    models = []
    for name, story, settings in SUSPECTS:
        if settings is None:
            model, r = train_classifier(splits, "cnn", 1.0, cpu_recipe("fashion-mnist", epochs=3, seed=7, progress=False),
                                        split="attacker", limit=12000)
            r = dict(r, queries=0, fidelity=None)
        else:
            model, r = run_attack(name, victim, splits, progress=False, **settings)
        save_model(model, out / f"{name}.safetensors", extra={"dataset": "fashion-mnist", "role": name})
        models.append((name, story, model, r))
        echo(f"   {name}: {story} (accuracy {r['accuracy']:.4f})")
    echo("3. The owner verifies each suspect (alpha = 0.01; black-box: probabilities on 100 stylised images x 10 views; "
         "white-box: weight gradients on 10 stylised images; 5 random draws, p-values combined)")
    echo(f"   {'suspect':12s} {'access':13s} {'verdict':9s} {'p-value':>9s} {'Δµ':>7s} {'queries':>8s}")
    summary = {"victim": {"accuracy": v["accuracy"], "benign_accuracy": b["accuracy"], "kit_id": res.kit.kit_id},
               "verdicts": []}
    for name, story, model, r in models:
        for level in ("probabilities", "white-box"):
            verdict = verify_suspect(res.kit, open_access(model, level), repeats=5)
            (out / f"verdict-{name}-{level}.json").write_text(verdict.to_json())
            echo(f"   {name:12s} {level:13s} {'STOLEN' if verdict.stolen else 'not shown':9s} {verdict.p_value:9.2e} "
                 f"{verdict.effect:+7.3f} {verdict.queries:8d}")
            summary["verdicts"].append({"suspect": name, "access": level, "stolen": verdict.stolen,
                                        "p_value": verdict.p_value, "effect": verdict.effect, "queries": verdict.queries})
    echo("4. The API thief deploys its copy behind an HTTP prediction API (here on loopback, failing 20% of requests); "
         "the owner verifies it over HTTP with a query budget, every answer kept in a hash-chained audit log")
    from .serve import PredictionServer

    thief = next(m for name, _, m, _ in models if name == "logit-query")
    with PredictionServer(thief, fail_rate=0.2, seed=1) as api:
        acc = open_access(api.url, "probabilities", max_queries=5000, remote={"audit_log": out / "audit.jsonl", "backoff": 0.05})
        verdict = verify_suspect(res.kit, acc, repeats=5)
    rem = verdict.details["remote"]
    (out / "verdict-api.json").write_text(verdict.to_json())
    echo(f"   {api.url}: {'STOLEN' if verdict.stolen else 'not shown'}, p = {verdict.p_value:.2e}, {verdict.queries} "
         f"queries asked, {rem['sent']} images sent ({rem['from_log']} repeats answered from the log), "
         f"{rem['retries']} failed requests retried; audit log {rem['audit_log']}")
    summary["api"] = {"stolen": verdict.stolen, "p_value": verdict.p_value, "queries": verdict.queries, "sent": rem["sent"],
                      "retries": rem["retries"], "audit_log_sha256": rem["audit_log_sha256"]}
    echo("A verdict is 'STOLEN' only if the suspect looks more like the protected model than the benign model AND than "
         "every independent reference model in the kit (see README: why MOVE needs the calibrated rule).")
    (out / "demo.json").write_text(json.dumps(summary, indent=2))
    echo(f"wrote the models, the kit, the verdicts and {out / 'demo.json'}")
    return summary
