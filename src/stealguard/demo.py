"""``stealguard demo``: the story at CPU scale on Fashion-MNIST — an owner trains a model, thieves copy it, and the
copies are compared with an independent model. (Verification methods join this story as they land.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from .attacks import run_attack
from .data import load_splits
from .models import save_model
from .recipes import cpu_recipe, train_classifier

THEFTS = [
    ("label-query", "an API thief trains on the victim's top-1 answers", dict(epochs=2, limit=6000, api_output="top1")),
    ("fine-tune", "a leaked copy fine-tuned on the thief's own data", dict(epochs=1, limit=6000)),
    ("independent", "an honest competitor: trained from scratch on disjoint data", dict(epochs=2, limit=6000)),
]


def run_demo(out: Path, data_dir=None, echo: Callable[[str], None] = print) -> dict:
    """Train a Fashion-MNIST victim, steal it twice, train an independent model; write ``out/demo.json``."""
    out.mkdir(parents=True, exist_ok=True)
    splits = load_splits("fashion-mnist", data_dir)
    echo(f"Fashion-MNIST: {len(splits.defender)} defender / {len(splits.attacker)} attacker / {len(splits.test)} test images")
    victim, rec = train_classifier(splits, "cnn", 1.0, cpu_recipe("fashion-mnist", epochs=2, progress=False), limit=12000)
    sha = save_model(victim, out / "victim.safetensors", extra={"dataset": "fashion-mnist"})
    echo(f"owner's model: cnn on {rec['train_samples']} defender images -> test accuracy {rec['accuracy']:.4f}"
         f"{' (cached)' if rec['cached'] else ''}")
    summary = {"victim": {"accuracy": rec["accuracy"], "sha256": sha}, "suspects": []}
    echo(f"{'suspect':12s} {'accuracy':>8s} {'fidelity':>8s} {'queries':>8s}  how it was made")
    for name, story, settings in THEFTS:
        model, r = run_attack(name, victim, splits, progress=False, **settings)
        save_model(model, out / f"{name}.safetensors", extra={"dataset": "fashion-mnist", "attack": name})
        echo(f"{name:12s} {r['accuracy']:8.4f} {r['fidelity']:8.4f} {r['queries']:8d}  {story}")
        summary["suspects"].append({"attack": name, "accuracy": r["accuracy"], "fidelity": r["fidelity"], "queries": r["queries"]})
    echo("fidelity = top-1 agreement with the owner's model on the test set. High agreement alone is no proof: the "
         "independent model agrees a lot too, which is why ownership methods test for more than agreement.")
    (out / "demo.json").write_text(json.dumps(summary, indent=2))
    echo(f"wrote the models and {out / 'demo.json'}")
    return summary
