"""SAC at CPU scale: SAC Table 1 (AUC of SAC-w and SAC-m per stealing attack against a population of independent
models), the label-only column (Table 4), cosine vs RBF correlation (Table 7), the threshold's detection and
false-positive rates, and the time to build a SAC-m fingerprint and to verify one suspect.

Run: ``.venv/bin/python benchmarks/sac.py [--datasets fashion-mnist,cifar10]`` — writes benchmarks/sac.md,
benchmarks/sac.json and a section in benchmarks/README.md. Every model goes through the artifact cache, so a rerun
only computes what changed; datasets run separately accumulate in sac.json.

Populations (per dataset): stolen models of every attack — fine-tuning (all / last layers), pruning (magnitude at
two rates and fine-pruning), label-query and logit-query extraction and adversarial extraction (each with 3
architectures), transfer learning (all / last layers) — and independent models trained from scratch on the
attacker half (disjoint from the owner's data) with several seeds, data sizes and 4 architectures. None of them is
seen while protecting: the kit's own surrogates and references are trained separately by the owner.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import HERE, independent_models, stamp, write_section  # noqa: E402

from stealguard import stats  # noqa: E402
from stealguard.access import open_access  # noqa: E402
from stealguard.attacks import run_attack  # noqa: E402
from stealguard.data import load_splits  # noqa: E402
from stealguard.errors import StealguardError  # noqa: E402
from stealguard.methods import Sac, SacSettings, verify_suspect  # noqa: E402
from stealguard.methods.sac import threshold as sac_threshold  # noqa: E402
from stealguard.recipes import cpu_recipe, train_classifier  # noqa: E402

KITS = Path("runs/bench-sac")  # kits are the owner's secret material: kept out of the tracked files
FAILED: list[str] = []

# (arch, width) of the three extraction architectures, per dataset
SCALE = {
    "fashion-mnist": {
        "victim": dict(arch="cnn", width=1.0, limit=12000, epochs=3),
        "kit": dict(surrogates=2, references=4, reference_archs="cnn,resnet8", limit=8000, epochs=3),
        "model": dict(limit=8000, epochs=3),  # attacks that modify the victim (fine-tune, prune, transfer)
        "query": dict(limit=8000, epochs=3),
        "extract_archs": [("cnn", 1.0), ("resnet8", 1.0), ("vgg11", 0.25)],
        # (arch, width, seed, training images of the attacker half, epochs)
        "independent": [("cnn", 1.0, 0, 12000, 3), ("cnn", 1.0, 1, 8000, 3), ("cnn", 1.0, 2, 4000, 3), ("cnn", 1.0, 3, 12000, 5),
                        ("cnn", 0.5, 4, 12000, 3), ("resnet8", 1.0, 0, 8000, 3), ("resnet8", 0.5, 1, 12000, 3),
                        ("resnet8", 1.0, 2, 4000, 3), ("vgg11", 0.25, 0, 8000, 3), ("vgg11", 0.25, 1, 12000, 3),
                        ("mobilenetv2", 0.5, 0, 8000, 3), ("mobilenetv2", 0.5, 1, 12000, 3)],
    },
    "cifar10": {
        "victim": dict(arch="resnet8", width=1.0, limit=10000, epochs=4),
        "kit": dict(surrogates=2, references=4, reference_archs="resnet8,cnn", limit=5000, epochs=3),
        "model": dict(limit=5000, epochs=1),
        "query": dict(limit=5000, epochs=3),
        "extract_archs": [("resnet8", 1.0), ("cnn", 1.0), ("vgg11", 0.25)],
        "independent": [("resnet8", 1.0, 0, 10000, 4), ("resnet8", 1.0, 1, 6000, 4), ("resnet8", 1.0, 2, 10000, 3),
                        ("resnet8", 0.5, 3, 10000, 4), ("vgg11", 0.25, 0, 10000, 4), ("vgg11", 0.25, 1, 6000, 3),
                        ("cnn", 1.0, 0, 10000, 4), ("cnn", 1.0, 1, 6000, 3), ("cnn", 0.5, 2, 10000, 4),
                        ("mobilenetv2", 0.5, 0, 6000, 3), ("mobilenetv2", 0.5, 1, 10000, 3)],
    },
}

# Table 1 columns: (column, attack, [per-model overrides])
def attack_grid(c) -> list[tuple[str, str, list[dict]]]:
    ext = [dict(c["query"], arch=a, width=w) for a, w in c["extract_archs"]]
    mod = c["model"]
    return [
        ("Finetune-A", "fine-tune", [dict(mod, layers="all", seed=s) for s in (0, 1)]),
        ("Finetune-L", "fine-tune", [dict(mod, layers="last", seed=s) for s in (0, 1)]),
        ("Pruning", "prune", [dict(mod, method="magnitude", rate=0.3), dict(mod, method="magnitude", rate=0.6),
                              dict(mod, method="fine-pruning", rate=0.3)]),
        ("Extract-L", "label-query", ext),
        ("Extract-P", "logit-query", ext),
        ("Extract-Adv", "adv-extract", [dict(e, epochs=max(1, e["epochs"] - 1), adv_epochs=1) for e in ext]),
        ("Transfer-A", "transfer", [dict(mod, layers="all", seed=s) for s in (0, 1)]),
        ("Transfer-L", "transfer", [dict(mod, layers="last", seed=s) for s in (0, 1)]),
    ]


KIT_VARIANTS = [("SAC-w", dict(variant="w")), ("SAC-m", dict(variant="m")),
                ("SAC-m (RBF)", dict(variant="m", correlation="rbf"))]


def log(*a):
    print(*a, flush=True)


def stolen_population(dataset, splits, victim):
    pop = []
    for column, attack, grid in attack_grid(SCALE[dataset]):
        for over in grid:
            t0 = time.perf_counter()
            try:
                model, rec = run_attack(attack, victim, splits, progress=False, **over)
            except StealguardError as e:  # reported in the tables, not hidden
                FAILED.append(f"{dataset}: {column} {over} failed: {e}")
                log(f"  {column}: FAILED: {e}")
                continue
            fid = "n/a" if rec["fidelity"] is None else f"{rec['fidelity']:.3f}"
            log(f"  {column} {rec['arch']}: fidelity {fid} ({time.perf_counter() - t0:.0f} s)")
            pop.append({"column": column, "model": model, "arch": rec["arch"], "fidelity": rec["fidelity"],
                        "accuracy": rec["accuracy"]})
    return pop


def independent_population(dataset, splits):
    return [{"column": "Independent", "model": model, "arch": rec["arch"], "accuracy": rec["accuracy"], "label": label}
            for label, model, rec in independent_models(dataset, splits, SCALE[dataset]["independent"], log)]


def run_dataset(dataset) -> dict:
    log(f"== {dataset}")
    c = SCALE[dataset]
    splits = load_splits(dataset)
    v = c["victim"]
    victim, vrec = train_classifier(splits, v["arch"], v["width"], cpu_recipe(dataset, epochs=v["epochs"], progress=False),
                                    split="defender", limit=v["limit"])
    log(f"victim {v['arch']}: accuracy {vrec['accuracy']:.4f}")
    kits = {}
    for name, over in KIT_VARIANTS:
        s = SacSettings(**c["kit"], **over)
        t0 = time.perf_counter()
        res = Sac().protect(victim, splits, s, KITS / dataset / name.replace(" ", "").replace("(", "-").replace(")", "") / "kit",
                            echo=log)
        kits[name] = (res.kit, res.record | {"wall_seconds": round(time.perf_counter() - t0, 3)})
    stolen = stolen_population(dataset, splits, victim)
    indep = independent_population(dataset, splits)
    # distances of every suspect under every kit and output
    out = {"victim": {"arch": v["arch"], "width": v["width"], "accuracy": vrec["accuracy"], "train_samples": vrec["train_samples"],
                      "epochs": vrec["epochs"]},
           "kits": {n: {"settings": r["settings"], "sample_seconds": r["sample_seconds"], "protect_seconds": r["wall_seconds"],
                        "fingerprint_seconds": r["fingerprint_seconds"],
                        **{o: {"surrogate_distances": k.array(f"surrogate_distances_{o}").tolist(),
                               "reference_distances": k.array(f"reference_distances_{o}").tolist()} for o in ("probabilities", "labels")}}
                    for n, (k, r) in kits.items()},
           "suspects": []}
    verify_seconds = {n: [] for n in kits}
    for sus in stolen + indep:
        row = {k: sus.get(k) for k in ("column", "arch", "fidelity", "accuracy", "label")}
        for name, (kit, _) in kits.items():
            for level in ("probabilities", "labels"):
                verdict = verify_suspect(kit, open_access(sus["model"], level))
                row[f"{name}/{level}"] = {"distance": verdict.effect, "stolen": verdict.stolen, "p": verdict.p_value,
                                          "queries": verdict.queries}
                if level == "probabilities":
                    verify_seconds[name].append(verdict.seconds)
        out["suspects"].append(row)
    out["verify_seconds"] = {n: float(np.median(s)) for n, s in verify_seconds.items()}
    out["queries"] = {n: out["suspects"][0][f"{n}/probabilities"]["queries"] for n in kits}
    return out


def auc_table(r: dict, columns: list[str], keys: list[tuple[str, str]]) -> list[str]:
    ind = [s for s in r["suspects"] if s["column"] == "Independent"]
    lines = ["| Method | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    for label, key in keys:
        cells = []
        for col in columns:
            st = [s[key]["distance"] for s in r["suspects"] if s["column"] == col]
            cells.append("–" if not st else f"{stats.roc_auc(st, [s[key]['distance'] for s in ind], higher_is_stolen=False):.2f}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def rate_table(r: dict, columns: list[str], kits: list[str]) -> list[str]:
    """Stolen models flagged per attack and independent models flagged, with the kit's threshold under each rule
    (computed by the library's sac.threshold from the kit's own surrogate and reference distances)."""
    ind = [s for s in r["suspects"] if s["column"] == "Independent"]
    lines = ["| Kit, output, rule | threshold | " + " | ".join(columns) + " | Independent flagged (FPR) |",
             "|---|---|" + "---|" * (len(columns) + 1)]
    for name in kits:
        for output in ("probabilities", "labels"):
            kd = r["kits"][name][output]
            for rule in ("calibrated", "paper"):
                t = sac_threshold(kd["surrogate_distances"], kd["reference_distances"], rule)
                key = f"{name}/{output}"
                cells = []
                for col in columns:
                    st = [s[key]["distance"] <= t for s in r["suspects"] if s["column"] == col]
                    cells.append("–" if not st else f"{sum(st)}/{len(st)}")
                k = sum(s[key]["distance"] <= t for s in ind)
                lines.append(f"| {name}, {output}, {rule} | {t:.4f} | " + " | ".join(cells) + f" | **{k}/{len(ind)}** |")
    return lines


def distance_table(r: dict, key: str) -> list[str]:
    kd = r["kits"][key.split("/")[0]][key.split("/")[1]]
    t = sac_threshold(kd["surrogate_distances"], kd["reference_distances"], "calibrated")
    lines = [f"| Suspect | architecture | test accuracy | fidelity | distance | stolen? (calibrated threshold {t:.4f}) |",
             "|---|---|---|---|---|---|"]
    for s in r["suspects"]:
        fid = "–" if s["fidelity"] is None else f"{s['fidelity']:.3f}"
        acc = "–" if s.get("accuracy") is None else f"{s['accuracy']:.3f}"
        name = s["column"] if s["column"] != "Independent" else f"Independent ({s['label']})"
        lines.append(f"| {name} | {s['arch']} | {acc} | {fid} | {s[key]['distance']:.4f} | "
                     f"{'**yes**' if s[key]['distance'] <= t else 'no'} |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--datasets", default="fashion-mnist,cifar10")
    args = ap.parse_args()
    cmd = f"python benchmarks/sac.py --datasets {args.datasets}"
    store = HERE / "sac.json"
    results = json.loads(store.read_text()) if store.exists() else {}
    for d in args.datasets.split(","):
        results[d] = run_dataset(d) | {"stamp": stamp(cmd), "failed": [f for f in FAILED if f.startswith(d)]}
        store.write_text(json.dumps(results, indent=2, default=float))
    results = {d: results[d] for d in SCALE if d in results}
    columns = [c for c, _, _ in attack_grid(SCALE["fashion-mnist"])]
    lines = ["# SAC at CPU scale", "",
             "Generated by `benchmarks/sac.py`; each dataset's section names the command, machine and date of its run.", "",
             "AUC: area under the ROC curve separating the stolen models of one attack from the independent models by "
             "the SAC distance (lower = stolen), scikit-learn's `roc_auc_score`. Independent models are trained from scratch "
             "on the attacker half (disjoint from the owner's data) with several seeds, data sizes and architectures; "
             "neither they nor the stolen models are seen while protecting. *Probabilities*: the suspect's centred "
             "log-probabilities (= logits up to a constant); *labels*: smoothed one-hot top-1 labels (SAC Table 4). The "
             "decision rows use the kit's own threshold, computed from its 2 surrogates' and 4 references' distances with no "
             "knowledge of the population below: *paper* = the mean of the two groups' means (SAC's rule); *calibrated* "
             "(stealguard's default) = midway between the farthest surrogate and the nearest reference, below that "
             "reference. The kit's references are trained on the owner's data (outside the victim's subset), two of the "
             "victim's architecture and two of another.", ""]
    for d, r in results.items():
        v = r["victim"]
        n_ind = sum(s["column"] == "Independent" for s in r["suspects"])
        archs = sorted({s["arch"] for s in r["suspects"] if s["column"] == "Independent"})
        lines += [f"## {d}", "", r["stamp"], "",
                  f"Victim: {v['arch']} (width {v['width']}), {v['train_samples']} owner images, {v['epochs']} epochs, "
                  f"test accuracy {v['accuracy']:.4f}. Population: "
                  + ", ".join(f"{col} {sum(s['column'] == col for s in r['suspects'])} "
                              f"({', '.join(sorted({s['arch'] for s in r['suspects'] if s['column'] == col}))})"
                              for col in columns) + f"; {n_ind} independent models ({', '.join(archs)}).", "",
                  "### AUC per attack (SAC Table 1; probabilities)", "",
                  *auc_table(r, columns, [(n, f"{n}/probabilities") for n in ("SAC-w", "SAC-m")]), "",
                  "### Label-only suspects (SAC Table 4)", "",
                  *auc_table(r, columns, [(n, f"{n}/labels") for n in ("SAC-w", "SAC-m")]), "",
                  "### Cosine vs RBF correlation (SAC Table 7; SAC-m, probabilities)", "",
                  *auc_table(r, columns, [("cosine", "SAC-m/probabilities"), ("RBF", "SAC-m (RBF)/probabilities")]), "",
                  "### Decisions with the kit's threshold: stolen models flagged and independent models flagged", "",
                  *rate_table(r, columns, ["SAC-w", "SAC-m", "SAC-m (RBF)"]), "",
                  "### Time and queries", "",
                  "Fingerprint: building the samples and the victim's correlation matrices on this CPU (SAC-w's samples "
                  "also need its surrogate models, trained beforehand and not counted; the paper reports 4.45 s for SAC-m "
                  "on a GPU). Verify: one suspect, probabilities, median over the population.", "",
                  "| Kit | samples | fingerprint (s) | verify one suspect (s) | queries per verdict |", "|---|---|---|---|---|"]
        for name, k in r["kits"].items():
            lines.append(f"| {name} | {k['settings']['samples']} | {k.get('fingerprint_seconds', k['sample_seconds']):.3f} | "
                         f"{r['verify_seconds'][name]:.3f} | {r['queries'][name]} |")
        lines += ["", "<details><summary>Every suspect's SAC-m distance (probabilities)</summary>", "",
                  *distance_table(r, "SAC-m/probabilities"), "", "</details>", ""]
        if r.get("failed"):
            lines += ["Attacks that failed:", ""] + [f"- {f}" for f in r["failed"]] + [""]
    (HERE / "sac.md").write_text("\n".join(lines) + "\n")
    write_section("sac", "## SAC\n\nSee [sac.md](sac.md): " + "; ".join(f"{d}: {r['stamp']}" for d, r in results.items()))


if __name__ == "__main__":
    main()
