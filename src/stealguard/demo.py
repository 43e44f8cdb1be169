"""``stealguard demo``: the protect -> steal -> verify story at CPU scale on Fashion-MNIST."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from .data import load_splits
from .models import save_model
from .recipes import cpu_recipe, train_classifier


def run_demo(out: Path, data_dir=None, echo: Callable[[str], None] = print) -> dict:
    """Train a Fashion-MNIST victim and report it. Returns the summary written to ``out/demo.json``."""
    out.mkdir(parents=True, exist_ok=True)
    splits = load_splits("fashion-mnist", data_dir)
    echo(f"Fashion-MNIST: {len(splits.defender)} defender / {len(splits.attacker)} attacker / {len(splits.test)} test images")
    victim, rec = train_classifier(splits, "cnn", 1.0, cpu_recipe("fashion-mnist", epochs=2), limit=12000)
    sha = save_model(victim, out / "victim.safetensors")
    echo(f"victim: cnn, {rec['train_samples']} defender images, {rec['epochs']} epochs -> test accuracy {rec['accuracy']:.4f}"
         f"{' (cached)' if rec['cached'] else ''}")
    summary = {"victim": {"accuracy": rec["accuracy"], "sha256": sha}}
    (out / "demo.json").write_text(json.dumps(summary, indent=2))
    echo(f"wrote {out / 'victim.safetensors'} and {out / 'demo.json'}")
    return summary
