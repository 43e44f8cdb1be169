"""Accuracy and fidelity of every stealing attack at CPU scale (the layout of SAC Table 3).

Run: ``.venv/bin/python benchmarks/attacks.py [--datasets fashion-mnist,cifar10]`` — writes benchmarks/attacks.md,
benchmarks/attacks.json and a summary section in benchmarks/README.md. Every model goes through the artifact
cache, so a rerun only computes what changed. The settings below are the CPU scale; paper scale changes the values
(epochs, widths, data sizes), not the code.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import HERE, stamp, write_section  # noqa: E402

from stealguard.attacks import run_attack  # noqa: E402
from stealguard.data import load_splits  # noqa: E402
from stealguard.recipes import cpu_recipe, train_classifier  # noqa: E402

SCALE = {
    "fashion-mnist": {
        "victim": dict(arch="cnn", width=1.0, limit=20000, epochs=3),
        "query": dict(limit=8000, epochs=4),
        "independent": [("cnn", 1.0, 0), ("cnn", 1.0, 1), ("resnet8", 1.0, 0), ("vgg11", 0.25, 0)],
        "zero_shot": dict(epochs=4, iterations=25, batch_size=128, generator_width=32),
        "chain_arch": "resnet8",
    },
    "cifar10": {
        "victim": dict(arch="resnet8", width=1.0, limit=20000, epochs=6),
        "query": dict(limit=8000, epochs=4),
        "independent": [("resnet8", 1.0, 0), ("resnet8", 1.0, 1), ("vgg11", 0.25, 0), ("cnn", 0.5, 0)],
        "zero_shot": dict(epochs=4, iterations=25, batch_size=128, generator_width=32),
        "chain_arch": "vgg11",
    },
}


def rows_for(dataset: str, cfg: dict) -> tuple[dict, list[dict]]:
    splits = load_splits(dataset)
    v = cfg["victim"]
    victim, vrec = train_classifier(splits, v["arch"], v["width"], cpu_recipe(dataset, epochs=v["epochs"], progress=False),
                                    limit=v["limit"])
    q = dict(cfg["query"], progress=False)
    plan = [
        ("Source", "direct-copy", {}),
        ("Finetune-A", "fine-tune", dict(q, layers="all", epochs=2)),
        ("Finetune-L", "fine-tune", dict(q, layers="last", epochs=2)),
        ("Pruning (magnitude, r=0.3)", "prune", dict(method="magnitude", rate=0.3)),
        ("Pruning (magnitude, r=0.6)", "prune", dict(method="magnitude", rate=0.6)),
        ("Fine-pruning (r=0.5)", "prune", dict(q, method="fine-pruning", rate=0.5, epochs=2)),
        ("Distillation (T=4)", "distill", q),
        ("Label-query", "label-query", q),
        ("Logit-query (T=20, α=0.9)", "logit-query", q),
        ("Logit-query, API rounded to 2 decimals", "logit-query", dict(q, api_output="rounded:2")),
        ("Logit-query, API top-1 only", "logit-query", dict(q, api_output="top1")),
        ("Adv-extract (PGD ε=4/255)", "adv-extract", dict(q, adv_epochs=2)),
        ("Zero-shot (DFAD with KL and class balance: the default)", "zero-shot", dict(cfg["zero_shot"], progress=False)),
        ("Zero-shot (DFAD as published: L1 on logits)", "zero-shot",
         dict(cfg["zero_shot"], loss="l1", balance=0.0, progress=False)),
        ("Zero-shot (default, 3× the generator steps)", "zero-shot",
         dict(cfg["zero_shot"], epochs=3 * cfg["zero_shot"]["epochs"], progress=False)),
        ("Transfer-A", "transfer", dict(q, layers="all", epochs=2)),
        ("Transfer-L", "transfer", dict(q, layers="last", epochs=2)),
        ("Chain: label-query → fine-tune → prune", "chain", dict(stages="label-query,fine-tune,prune", **q)),
        ("Chain: logit-query (other architecture) → zero-shot", "chain",
         dict(stages=f"logit-query:{cfg['chain_arch']},zero-shot", **dict(cfg["zero_shot"], progress=False, limit=q["limit"]))),
        ("Clean-up: fine-tune 10% of label-query copy", "cleanup", q),
    ]
    out = []
    for label, name, kw in plan:
        t0 = time.perf_counter()
        if name == "cleanup":
            stolen, _ = run_attack("label-query", victim, splits, **kw)
            model, rec = run_attack("fine-tune", stolen, splits, fraction=0.1, epochs=2, limit=kw["limit"], progress=False)
            from stealguard.train import agreement

            rec = dict(rec, fidelity=round(agreement(model, victim, splits.test.x), 5), queries=kw["limit"])
        else:
            model, rec = run_attack(name, victim, splits, **kw)
        note = f"{cfg['chain_arch']}" if "other architecture" in label else None
        out.append({"row": label, "note": note, "attack": name, "arch": rec["arch"], "accuracy": rec["accuracy"], "fidelity": rec["fidelity"],
                    "queries": rec["queries"], "seconds": rec.get("seconds"), "cached": rec.get("cached"),
                    "task": rec.get("task")})
        print(f"{dataset:14s} {label:45s} acc={rec['accuracy']} fid={rec['fidelity']} ({time.perf_counter() - t0:.0f}s)", flush=True)
    for k, (arch, width, seed) in enumerate(cfg["independent"], 1):
        model, rec = run_attack("independent", victim, splits, arch=arch, width=width, seed=seed, **q)
        out.append({"row": f"Independent model {k}", "note": f"{arch} w{width}, seed {seed}", "attack": "independent", "arch": arch,
                    "accuracy": rec["accuracy"], "fidelity": rec["fidelity"], "queries": 0, "seconds": rec.get("seconds"),
                    "cached": rec.get("cached")})
        print(f"{dataset:14s} {out[-1]['row']:45s} acc={rec['accuracy']} fid={rec['fidelity']}", flush=True)
    victim_row = {"arch": v["arch"], "width": v["width"], "train_samples": vrec["train_samples"], "epochs": v["epochs"],
                  "accuracy": vrec["accuracy"]}
    return victim_row, out


def fmt(v):
    return "–" if v is None else f"{v:.3f}"


def zero_shot_fidelity(rows: list[dict]) -> list[float]:
    """The zero-shot rows' fidelities, in table order: the default, DFAD as published, the default with 3x the steps."""
    return [r["fidelity"] for r in rows if r["attack"] == "zero-shot"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--datasets", default="fashion-mnist,cifar10")
    args = ap.parse_args()
    datasets = args.datasets.split(",")
    results = {d: rows_for(d, SCALE[d]) for d in datasets}
    (HERE / "attacks.json").write_text(json.dumps({d: {"victim": v, "rows": r} for d, (v, r) in results.items()}, indent=2))
    labels = [r["row"] for r in results[datasets[0]][1]]
    head = "| Attack | " + " | ".join(f"{d} acc | {d} fidelity | queries" for d in datasets) + " |"
    sep = "|---|" + "---|---|---|" * len(datasets)
    lines = [head, sep]
    lines.append("| **Victim** | " + " | ".join(
        f"{results[d][0]['accuracy']:.3f} | 1.000 | –" for d in datasets) + " |")
    for i, label in enumerate(labels):
        cells = []
        for d in datasets:
            r = results[d][1][i]
            acc = fmt(r["accuracy"]) + (" (new task)" if r.get("task") else "") + (f" ({r['note']})" if r.get("note") else "")
            cells.append(f"{acc} | {fmt(r['fidelity'])} | {r['queries']:,}")
        lines.append(f"| {label.replace('Independent', '*Independent*')} | " + " | ".join(cells) + " |")
    victims = "; ".join(f"{d}: {v['arch']} (width {v['width']}), {v['train_samples']} defender images, {v['epochs']} epochs"
                        for d, (v, _) in results.items())
    ind = {d: [r["fidelity"] for r in rows if r["attack"] == "independent"] for d, (_, rows) in results.items()}
    zs = {d: zero_shot_fidelity(rows) for d, (_, rows) in results.items()}
    body = "\n".join([
        "# Stealing attacks at CPU scale",
        "",
        stamp(f"python benchmarks/attacks.py --datasets {args.datasets}"),
        "",
        f"Victims: {victims}. Query attacks and independent models use {SCALE[datasets[0]]['query']['limit']:,} images of "
        "the attacker half (disjoint from the defender's data) unless stated. Accuracy: top-1 on the test set; fidelity: "
        "top-1 agreement with the victim on the test set. Transfer rows report accuracy on their new label space "
        "(Fashion-MNIST: 5 coarse classes; CIFAR-10: 20 Tiny-ImageNet classes at 32x32) and have no fidelity. "
        "Queries: images sent to the owner's victim. CIFAR-10 here is the JPEG (q75) copy.",
        "",
        *lines,
        "",
        "Independent models' fidelity (the level any good model reaches by solving the same task): "
        + "; ".join(f"{d}: {min(v):.3f}–{max(v):.3f}" for d, v in ind.items()) + ".",
        "",
        "Zero-shot: the first two rows use the same budget (100 generator steps, 5 student steps each, batches of 128). The "
        "default (`stealguard steal zero-shot`) measures disagreement with a softmax KL and rewards the generator for "
        "batches the victim spreads over every class (DAFL's information-entropy term); `--loss l1 --balance 0` is "
        "DFAD as published (L1 between logits), which the method benchmarks' scenarios use, as the papers did. "
        "Fidelity, default vs as published: "
        + "; ".join(f"{d}: {f[0]:.3f} vs {f[1]:.3f}" for d, f in zs.items()) + ". "
        + "At this CPU budget (76,800 synthetic queries) " + "; ".join(
            f"{d}: the copy {'stays below' if f[0] < min(ind[d]) else 'reaches'} the least "
            f"faithful independent model ({min(ind[d]):.3f})" for d, f in zs.items())
        + "; with 3× the steps: " + "; ".join(f"{d}: {f[2]:.3f}" for d, f in zs.items())
        + ". DFAD's own runs use hundreds of times more generator and student steps (a GPU job).",
    ])
    (HERE / "attacks.md").write_text(body + "\n")
    write_section("attacks", "## Stealing attacks\n\nSee [attacks.md](attacks.md): " + stamp(f"python benchmarks/attacks.py --datasets {args.datasets}"))


if __name__ == "__main__":
    main()
