"""MOVE at CPU scale: the paper's verification tables (white-box and black-box), the false-positive rate on
independent models the method never saw, the ablations, and p-value against the transformation rate and against m.

Run: ``.venv/bin/python benchmarks/move.py [--datasets fashion-mnist,cifar10] [--no-ablations]`` — writes
benchmarks/move.md, benchmarks/move.json, benchmarks/move_rate.png, benchmarks/move_m.png and a section in
benchmarks/README.md. Every model goes through the artifact cache, so a rerun only computes what changed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import HERE, independent_models, stamp, write_section  # noqa: E402

from stealguard.access import open_access  # noqa: E402
from stealguard.attacks import run_attack  # noqa: E402
from stealguard.data import load_splits  # noqa: E402
from stealguard.errors import StealguardError  # noqa: E402
from stealguard.methods import Move, MoveSettings, verify_suspect  # noqa: E402

KITS = Path("runs/bench-move")  # kits are secret material: written outside the repository's tracked files
REPEATS = 5
FAILED: list[str] = []

SCALE = {
    "fashion-mnist": {
        "protect": dict(arch="cnn", width=1.0, limit=12000, epochs=3, benign_models=3, references=6),
        "query": dict(limit=8000, epochs=3),
        "zero_shot": dict(epochs=4, iterations=25, batch_size=128, generator_width=32, lr=0.05),
        # (arch, width, seed, training images of the attacker half, epochs)
        "independent": [("cnn", 1.0, 0, 12000, 3), ("cnn", 1.0, 1, 8000, 3), ("cnn", 1.0, 2, 4000, 3), ("cnn", 1.0, 3, 12000, 5),
                        ("cnn", 0.5, 4, 12000, 3), ("resnet8", 1.0, 0, 8000, 3), ("resnet8", 0.5, 1, 12000, 3),
                        ("vgg11", 0.25, 0, 8000, 3), ("vgg11", 0.25, 1, 12000, 3), ("mobilenetv2", 0.5, 0, 8000, 3)],
    },
    "cifar10": {
        "protect": dict(arch="resnet8", width=1.0, limit=12000, epochs=5, benign_models=2, references=4),
        "query": dict(limit=8000, epochs=4),
        "zero_shot": dict(epochs=4, iterations=25, batch_size=128, generator_width=32, lr=0.05),
        "independent": [("resnet8", 1.0, 0, 12000, 5), ("resnet8", 1.0, 1, 8000, 5), ("resnet8", 1.0, 2, 12000, 4),
                        ("resnet8", 1.0, 3, 6000, 5), ("resnet8", 0.5, 4, 12000, 5), ("vgg11", 0.25, 0, 12000, 5),
                        ("vgg11", 0.25, 1, 8000, 4), ("cnn", 1.0, 0, 12000, 5), ("cnn", 1.0, 1, 8000, 4),
                        ("mobilenetv2", 0.5, 0, 8000, 4)],
    },
}

THEFTS = [("Distillation", "distill"), ("Zero-shot", "zero-shot"), ("Fine-tuning", "fine-tune"),
          ("Label-query", "label-query"), ("Logit-query", "logit-query")]


def log(*a):
    print(*a, flush=True)


def protect(dataset, splits, modes=("white-box", "probabilities"), **over):
    cfg = dict(SCALE[dataset]["protect"], **over)
    s = MoveSettings(dataset=dataset, **cfg)
    tag = "-".join(f"{k}{v}" for k, v in sorted(over.items())) or "main"
    return Move().protect(splits, s, KITS / dataset / tag / "kit", modes=modes, echo=log)


def thefts(dataset, splits, victim, names=None):
    c = SCALE[dataset]
    q = dict(c["query"], progress=False)
    out = []
    for label, name in THEFTS:
        if names and name not in names:
            continue
        kw = dict(c["zero_shot"], progress=False) if name == "zero-shot" else (dict(q, epochs=1) if name == "fine-tune" else q)
        t0 = time.perf_counter()
        try:
            model, rec = run_attack(name, victim, splits, **kw)
        except StealguardError as e:  # reported in the table, not hidden
            log(f"  {label}: FAILED: {e}")
            FAILED.append(f"{dataset}: {label} ({name}) failed: {e}")
            continue
        log(f"  {label}: fidelity {rec['fidelity']:.3f}, accuracy {rec['accuracy']:.3f} ({time.perf_counter() - t0:.0f} s)")
        out.append((label, model, rec))
    return out


def independents(dataset, splits):
    return independent_models(dataset, splits, SCALE[dataset]["independent"], log)


def check(kit, model, level, **kw):
    v = verify_suspect(kit, open_access(model, level), repeats=REPEATS, **kw)
    return {"stolen": v.stolen, "p": v.p_value, "p_paper": v.details["p_paper"], "p_calibrated": v.details["p_calibrated"],
            "delta_mu": v.effect, "mu_suspect": v.details["mu_suspect"], "queries": v.queries}


def levels_for(model, victim, any_arch=False):
    same = any_arch or (model.spec.arch, model.spec.width) == (victim.spec.arch, victim.spec.width)
    return ["white-box", "probabilities"] if same else ["probabilities"]


def evaluate(kit, victim, suspects, indeps, levels=("white-box", "probabilities"), any_arch=False, **kw):
    res = {lvl: {"rows": [], "independent": []} for lvl in levels}
    for label, model, rec in [("Source", victim, {"fidelity": 1.0, "accuracy": None})] + suspects:
        for lvl in levels:
            if lvl in levels_for(model, victim, any_arch):
                res[lvl]["rows"].append({"row": label, "fidelity": rec["fidelity"], **check(kit, model, lvl, **kw)})
    for label, model, rec in indeps:
        for lvl in levels:
            if lvl in levels_for(model, victim, any_arch):
                res[lvl]["independent"].append({"model": label, **check(kit, model, lvl, **kw)})
    return res


def fpr(rows, key):
    return sum(r[key] < 0.01 for r in rows), len(rows)


def p_fmt(p):
    return "0" if p == 0 else f"{p:.1e}" if p < 1e-3 else f"{p:.3f}"


def table(res_level) -> list[str]:
    lines = ["| Suspect | fidelity | Δµ | p (paper: vs benign) | p (calibrated: vs references) | verdict |", "|---|---|---|---|---|---|"]
    for r in res_level["rows"]:
        lines.append(f"| {r['row']} | {r['fidelity']:.3f} | {r['delta_mu']:+.3f} | {p_fmt(r['p_paper'])} | "
                     f"{p_fmt(r['p_calibrated'])} | {'**stolen**' if r['stolen'] else 'not shown'} |")
    ind = res_level["independent"]
    if ind:
        dm = [r["delta_mu"] for r in ind]
        pp = [r["p_paper"] for r in ind]
        pc = [r["p_calibrated"] for r in ind]
        kp, n = fpr(ind, "p_paper")
        kc = sum(r["stolen"] for r in ind)
        lines.append(f"| *Independent* ({n} models) | – | {np.median(dm):+.3f} (median; {min(dm):+.3f}…{max(dm):+.3f}) | "
                     f"median {p_fmt(float(np.median(pp)))}, min {p_fmt(min(pp))}: **{kp}/{n} flagged** | "
                     f"median {p_fmt(float(np.median(pc)))}, min {p_fmt(min(pc))} | **{kc}/{n} flagged** |")
    return lines


def detection_summary(res_level):
    rows = [r for r in res_level["rows"] if r["row"] != "Source"]
    return sum(r["stolen"] for r in rows), len(rows)


def run_dataset(dataset, ablations: bool) -> dict:
    log(f"== {dataset}")
    splits = load_splits(dataset)
    main = protect(dataset, splits)
    victim = main.model
    suspects = thefts(dataset, splits, victim)
    indeps = independents(dataset, splits)
    out = {"victim": main.record["victim"], "benign": main.record["benign"][0], "kit_id": main.kit.kit_id,
           "settings": main.record["settings"], "pool": main.record["pool"],
           "meta": {k: main.record[k] for k in ("meta_wb", "meta_bb")},
           "main": evaluate(main.kit, victim, suspects, indeps)}
    if not ablations:
        return out
    # p-value against m (no retraining)
    ms = {"white-box": [5, 10, 20, 50, 100], "probabilities": [10, 20, 50, 100, 200]}
    out["vs_m"] = {lvl: {label: [check(main.kit, model, lvl, m=m)["p"] for m in ms[lvl]]
                         for label, model, _ in suspects if lvl in levels_for(model, victim)} | {"m": ms[lvl]}
                   for lvl in ms}
    # ablations that only change the meta-classifier (models come from the cache)
    abl = {}
    few = [t for t in suspects if t[0] in ("Fine-tuning", "Label-query", "Logit-query", "Distillation")]
    for name, over, lvls in [("raw gradient (Table XV)", dict(grad_mode="raw"), ("white-box",)),
                             ("gradient w.r.t. the input image (ours, any architecture)", dict(grad_layers="input"), ("white-box",)),
                             ("no augmentation (Table XVI)", dict(views="none"), ("probabilities",)),
                             ("rotations (Table XVI)", dict(views="rotate"), ("probabilities",)),
                             ("colour shifts (Table XVI)", dict(views="colour"), ("probabilities",))]:
        log(f"-- ablation {name}")
        r = protect(dataset, splits, modes=lvls, **over)
        abl[name] = evaluate(r.kit, victim, few, indeps, levels=lvls, any_arch="input" in name)
    # the white-patch external feature (Table XIII): a new protected model and new thefts
    log("-- ablation white patch")
    r = protect(dataset, splits, style="patch")
    abl["white patch instead of style (Table XIII)"] = evaluate(
        r.kit, r.model, thefts(dataset, splits, r.model, {"fine-tune", "label-query", "logit-query"}), indeps)
    out["ablations"] = abl
    # p-value against the transformation rate
    rates = {}
    for rate in (0.05, 0.1, 0.2):
        log(f"-- rate {rate}")
        r = main if rate == SCALE[dataset]["protect"].get("rate", 0.1) else protect(dataset, splits, ("probabilities",), rate=rate)
        st = thefts(dataset, splits, r.model, {"label-query", "logit-query"})
        ev = evaluate(r.kit, r.model, st, indeps, levels=("probabilities",))
        rates[str(rate)] = {"victim_accuracy": r.record["victim"]["accuracy"], **ev}
    out["vs_rate"] = rates
    return out


def plots(results: dict) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = []
    with_abl = {d: r for d, r in results.items() if "vs_m" in r}
    if not with_abl:
        return files
    fig, axes = plt.subplots(1, 2 * len(with_abl), figsize=(6 * 2 * len(with_abl), 4), squeeze=False)
    for i, (d, r) in enumerate(with_abl.items()):
        for j, lvl in enumerate(("white-box", "probabilities")):
            ax = axes[0, 2 * i + j]
            series = r["vs_m"][lvl]
            for label, ps in series.items():
                if label != "m":
                    ax.plot(series["m"], np.maximum(ps, 1e-300), marker="o", label=label)
            ax.axhline(0.01, color="k", ls="--", lw=1, label="α = 0.01")
            ax.set_yscale("log")
            ax.set_xscale("log")
            ax.set_xlabel("m (verification images per test)")
            ax.set_ylabel("p-value (calibrated rule, harmonic mean of 5 draws)")
            ax.set_title(f"{d}, {lvl}")
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(HERE / "move_m.png", dpi=100)
    files.append("move_m.png")
    plt.close(fig)
    fig, axes = plt.subplots(1, len(with_abl), figsize=(6 * len(with_abl), 4), squeeze=False)
    for i, (d, r) in enumerate(with_abl.items()):
        ax = axes[0, i]
        rates = sorted(r["vs_rate"], key=float)
        labels = [row["row"] for row in r["vs_rate"][rates[0]]["probabilities"]["rows"] if row["row"] != "Source"]
        for label in labels:
            ps = [next(x["p"] for x in r["vs_rate"][k]["probabilities"]["rows"] if x["row"] == label) for k in rates]
            ax.plot([float(k) for k in rates], np.maximum(ps, 1e-300), marker="o", label=label)
        ind = [min(x["p"] for x in r["vs_rate"][k]["probabilities"]["independent"]) for k in rates]
        ax.plot([float(k) for k in rates], ind, marker="x", ls=":", label="most suspicious independent model")
        ax.axhline(0.01, color="k", ls="--", lw=1, label="α = 0.01")
        ax.set_yscale("log")
        ax.set_xlabel("transformation rate γ")
        ax.set_ylabel("p-value (black-box, calibrated rule)")
        ax.set_title(d)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(HERE / "move_rate.png", dpi=100)
    files.append("move_rate.png")
    plt.close(fig)
    return files


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--datasets", default="fashion-mnist,cifar10")
    ap.add_argument("--ablations-on", default="fashion-mnist", help="Datasets that also get ablations and plots.")
    args = ap.parse_args()
    datasets = args.datasets.split(",")
    cmd = f"python benchmarks/move.py --datasets {args.datasets} --ablations-on {args.ablations_on}"
    # datasets run separately accumulate in move.json; each section names the command, machine and date that made it
    store = HERE / "move.json"
    results = json.loads(store.read_text()) if store.exists() else {}
    for d in datasets:
        results[d] = run_dataset(d, d in args.ablations_on.split(",")) | {"stamp": stamp(cmd)}
        store.write_text(json.dumps(results, indent=2, default=float))
    results = {d: results[d] for d in SCALE if d in results}
    files = plots(results)
    lines = ["# MOVE at CPU scale", "", "Generated by `benchmarks/move.py`; each dataset's section names the command, "
             "machine and date of its run.", "",
             "Every p-value is the harmonic mean over 5 random draws of m verification images (m = 10 white-box, 100 "
             "black-box) from the kit's 400 held-out stylised images. *p (paper)*: the paper's one-sided paired t-test of "
             "the meta-classifier's 'stolen' probability on the suspect against the benign model. *p (calibrated)*: the same "
             "test against the per-image maximum over the kit's independent reference models (trained by the owner, never "
             "shown to the meta-classifier). The verdict (α = 0.01) needs both. *Independent*: models trained from scratch "
             "on the attacker half (disjoint from the owner's data), several seeds, data sizes and architectures, never seen "
             "while protecting; white-box rows only include suspects of the victim's architecture. Δµ = µ_suspect − µ_benign.",
             ""]
    for d, r in results.items():
        v, b = r["victim"], r["benign"]
        s = r["settings"]
        lines += [f"## {d}", "", r["stamp"], "",
                  f"Protected model: {v['arch']} (width {v['width']}), {v['train_samples']} defender images, {v['epochs']} epochs, "
                  f"rate γ = {s['rate']}, style `{s['style']}`: test accuracy **{v['accuracy']:.4f}**; benign model "
                  f"**{b['accuracy']:.4f}** (difference {100 * (v['accuracy'] - b['accuracy']):+.2f} points). Meta-classifiers: "
                  f"{s['benign_models']} benign models as negatives; {s['references']} reference models.", ""]
        for lvl in ("white-box", "probabilities"):
            k, n = detection_summary(r["main"][lvl])
            lines += [f"### {'White-box' if lvl == 'white-box' else 'Black-box'}", "", *table(r["main"][lvl]), "",
                      f"Detected {k} of {n} thefts.", ""]
        if "ablations" in r:
            lines += ["### Ablations", ""]
            for name, ev in r["ablations"].items():
                for lvl, res in ev.items():
                    lines += [f"**{name}** — {lvl}", "", *table(res), ""]
            lines += ["### p-value against the transformation rate (black-box)", "",
                      "| γ | protected accuracy | " + " | ".join(x["row"] for x in r["vs_rate"]["0.1"]["probabilities"]["rows"]
                                                             if x["row"] != "Source") + " | independent flagged |",
                      "|---|---|" + "---|" * (len(r["vs_rate"]["0.1"]["probabilities"]["rows"])) ]
            for rate, ev in sorted(r["vs_rate"].items(), key=lambda kv: float(kv[0])):
                rows = [x for x in ev["probabilities"]["rows"] if x["row"] != "Source"]
                kc = sum(x["stolen"] for x in ev["probabilities"]["independent"])
                lines.append(f"| {rate} | {ev['victim_accuracy']:.4f} | " + " | ".join(p_fmt(x["p"]) for x in rows)
                             + f" | {kc}/{len(ev['probabilities']['independent'])} |")
            lines.append("")
    if FAILED:
        lines += ["## Attacks that failed", ""] + [f"- {f}" for f in FAILED] + [""]
    if files:
        lines += ["## Plots", ""] + [f"![{f}]({f})" for f in files] + [""]
    (HERE / "move.md").write_text("\n".join(lines) + "\n")
    write_section("move", "## MOVE\n\nSee [move.md](move.md): " + "; ".join(f"{d}: {r['stamp']}" for d, r in results.items()))


if __name__ == "__main__":
    main()
