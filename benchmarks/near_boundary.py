"""Near-boundary data: the paper's tables at CPU scale, from benchmark-harness runs.

Run: ``.venv/bin/python benchmarks/run.py nb-fmnist nb-fmnist-w10 nb-cifar10 nb-cifar10-w1 nb-cifar10-long`` (the grids:
protection, thefts, independent models, verifications), then ``.venv/bin/python benchmarks/near_boundary.py``
(those five scenarios by default, or the ones named) — reads
``runs/bench/SCENARIO/results.sqlite`` and the run's kit and writes benchmarks/near_boundary.md (and
near_boundary_m_SCENARIO.png): Table 1 (accuracy before and after boundary fine-tuning), the near-boundary fraction of each
seed generator, Table 2 under the paper's rule and under the calibrated rule (Δµ and p per derived model and boundary CB1-CB5,
and all boundaries combined), the
independent models (the irrelevant-model control) and Fig. 4 (p-value against the set size m).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import HERE, stamp, write_section  # noqa: E402

from stealguard.kit import load_kit  # noqa: E402
from stealguard.methods.near_boundary import GENERATORS  # noqa: E402


def _fmt_p(p) -> str:
    return "–" if p is None else f"{p:.1e}"


def _rows(db: Path):
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    verdicts = [dict(r) for r in con.execute("SELECT * FROM verdicts WHERE method = 'near-boundary'")]
    jobs = {r["key"]: dict(r) for r in con.execute("SELECT * FROM jobs")}
    models = [dict(r) for r in con.execute("SELECT * FROM models")]
    scenario = json.loads(con.execute("SELECT value FROM meta WHERE key = 'scenario'").fetchone()[0])
    con.close()
    return verdicts, jobs, models, scenario


def _row_label(suspect: str, kinds: dict) -> str:
    """A table row's model name: independent models marked as such."""
    return f"*Independent* {suspect}" if kinds.get(suspect) == "independent" else suspect


def section(name: str) -> list[str]:
    run = Path("runs/bench") / name
    db = run / "results.sqlite"
    if not db.exists():
        raise SystemExit(f"{db} not found: run `python benchmarks/run.py {name}` first")
    verdicts, jobs, models, scenario = _rows(db)
    protect = next(json.loads(j["result"]) for k, j in jobs.items() if j["kind"] == "protect" and j["status"] == "done")
    kit = load_kit(run / protect["kit"])
    meta = kit.meta
    out = [f"## {name} ({meta['dataset']})", ""]
    finished = max((j["finished"] or "") for j in jobs.values())[:10]
    version = kit.method_version
    out += [f"Run finished {finished}; protected by near-boundary version {version}"
            + (" (before the protected model's BatchNorm statistics were re-estimated on the owner's data: version 3; "
               "for a model without BatchNorm, such as the cnn, the two versions build the same model and private set)"
               if version < 3 else " (BatchNorm statistics re-estimated on the owner's data after boundary fine-tuning)")
            + ".", ""]
    out += ["**Table 1** — accuracy of the model before and after boundary fine-tuning (test set):", "",
            "| before | after | change |", "|---|---|---|",
            f"| {protect['benign_accuracy']:.4f} | {protect['accuracy']:.4f} | {100 * (protect['accuracy'] - protect['benign_accuracy']):+.2f} pts |", "",
            f"(boundary fine-tuning, boundary loss weight ft_weight = {meta['settings']['ft_weight']:g}, is "
            f"{meta['settings']['ft_epochs']} more epochs on the owner's data, each clean batch followed by a batch of "
            "generator samples, so part of any change is the extra training.)", ""]
    found = meta["per_boundary"][0]["fractions"]
    gens = [g for g in GENERATORS if g in found] + [g for g in found if g not in GENERATORS]
    out += ["**Seed generators** — share of the targeted adversarial examples (from owner images of class S towards T, "
            f"on the model before fine-tuning) that are near-boundary (top-2 = (S, T), |g_S − g_T| ≤ τ = {meta['tau']}); "
            "the private samples' mean distance d to their boundary before and after boundary fine-tuning:", "",
            "| boundary | " + " | ".join(gens) + " | seeds | private d before | private d after |",
            "|---|" + "---|" * (len(gens) + 3)]
    for i, b in enumerate(meta["per_boundary"]):
        out.append(f"| CB{i + 1} {b['boundary'][0]}→{b['boundary'][1]} | " + " | ".join(f"{b['fractions'][g]:.2f}" for g in gens)
                   + f" | {b['seeds']} | {b['distance_before']:.3f} | {b['distance_after']:.4f} |")
    out.append("")
    # Table 2: label "NB CBk" -> boundary k alone; "NB all CBs" -> combined; "NB m=..." -> Fig. 4
    by = defaultdict(dict)  # suspect -> column -> verdict
    kinds = {}
    for v in verdicts:
        by[v["suspect"]][v["method_label"]] = v
        kinds[v["suspect"]] = v["suspect_kind"]
    cbs = [f"NB CB{i + 1}" for i in range(len(meta["boundaries"]))]
    draws = next((json.loads(v["details"]) for v in verdicts if v["method_label"] == "NB all CBs" and v["applicable"]),
                 {"m": "?", "repeats": "?"})
    rank = {a["label"]: i for i, a in enumerate(scenario["attacks"])}  # the scenario's order, not the finishing order
    order = ["Source"] + sorted((m["label"] for m in models if m["role"] == "stolen"), key=lambda x: rank.get(x, len(rank)))
    independents = [m["label"] for m in models if m["role"] == "independent"]
    head = "| model | " + " | ".join(f"CB{i + 1} Δµ / p" for i in range(len(cbs))) + " | all CBs: Δµ / p | inferred |"
    out += ["**Table 2** (the paper's rule) — ownership inference on each model: Δµ = µ_other − µ_owner (mean distance of the other "
            "party's near-boundary samples minus the owner's private samples) and the p-value of H0: µ_owner ≥ µ_other "
            f"(one-sided Welch t-test, m = {draws['m']} per side, {draws['repeats']} draws, harmonic-mean p); "
            "the owner's claim holds iff p < 0.05. The other party is simulated on each suspect: public test images and "
            "targeted FGSM and CW-L2 examples computed on the suspect, kept where near-boundary on the suspect."
            + ("" if set(cbs) <= {v["method_label"] for v in verdicts} else
               " Per boundary: that boundary's part of the all-boundaries verification (its own draws and test)."), "",
            head, "|---|" + "---|" * (len(cbs) + 2)]

    def cell(v) -> str:
        if v is None:
            return "not run"
        if not v["applicable"]:
            return "n/a"
        return f"{v['effect']:+.3f} / {_fmt_p(v['p_value'])}"

    def boundary_cell(cols: dict, parts: list, k: int) -> str:
        """Boundary k alone: its own verification where the scenario has one (label "NB CBk"), else boundary k's
        part of the all-boundaries verdict (``parts``: the same test on that boundary's draws)."""
        if cbs[k] in cols:
            return cell(cols[cbs[k]])
        if k < len(parts):
            return f"{parts[k]['delta_mu']:+.3f} / {_fmt_p(parts[k]['p_value'])}"
        allv = cols.get("NB all CBs")
        return cell(allv) if allv is not None and not allv["applicable"] else "not run"

    for s in order + independents:
        cols = by.get(s, {})
        allv = cols.get("NB all CBs")
        parts = json.loads(allv["details"]).get("boundaries", []) if allv and allv["applicable"] else []
        label = _row_label(s, kinds)
        verdict = "–" if allv is None or not allv["applicable"] else ("**yes**" if allv["stolen"] else "no")
        out.append(f"| {label} | " + " | ".join(boundary_cell(cols, parts, k) for k in range(len(cbs)))
                   + f" | {cell(allv)} | {verdict} |")
    derived = [by[s]["NB all CBs"] for s in order if "NB all CBs" in by.get(s, {})]
    ind = [by[s]["NB all CBs"] for s in independents if "NB all CBs" in by.get(s, {})]
    out += ["", f"Derived models inferred as the owner's: **{sum(v['stolen'] for v in derived)}/{len(derived)}**; "
            f"independent models inferred (false accusations): **{sum(v['stolen'] for v in ind)}/{len(ind)}**.", ""]
    out += _calibrated_table(by, order, independents, kinds, meta)
    # Fig. 4
    ms = sorted({int(lbl.split("=")[1]) for v in verdicts for lbl in [v["method_label"]] if lbl.startswith("NB m=")})
    if ms:
        cols = [f"NB m={m}" for m in ms] + ["NB all CBs"]
        sizes = ms + [64]
        out += ["**Fig. 4** — p-value (all boundaries combined) against the set size m:", "",
                "| model | " + " | ".join(f"m={m}" for m in sizes) + " |", "|---|" + "---|" * len(sizes)]
        series = {}
        for s in order + independents:
            row = [by.get(s, {}).get(c) for c in cols]
            series[s] = [r["p_value"] if r and r["applicable"] else None for r in row]
            label = _row_label(s, kinds)
            out.append(f"| {label} | " + " | ".join(_fmt_p(p) for p in series[s]) + " |")
        out.append("")
        png = _plot(name, sizes, series, kinds)
        out += [f"![p-value against m]({png})", ""]
    return out


def _calibrated_table(by: dict, order: list, independents: list, kinds: dict, meta: dict) -> list[str]:
    """Table 2 under the calibrated rule: per boundary and all combined, Δµ = the reference models' mean distance
    minus the suspect's, and the p-value of the one-sided t prediction test."""
    rows = {s: by.get(s, {}).get("NB calibrated") for s in order + independents}
    if not any(v and v["applicable"] for v in rows.values()):
        return []
    refs = meta.get("references", [])
    n = len(meta["boundaries"])
    out = ["**Table 2, calibrated rule** (stealguard's, probabilities only) — the suspect's mean distance d of the "
           f"owner's private samples against the mean distances of {len(refs)} independent reference models the owner "
           "trained (" + ", ".join(f"{r['arch']} w{r['width']:g}: {r['mean_distance']:.3f}" for r in refs) + "); "
           "Δµ = references' mean − suspect's, p of the one-sided t prediction test (H0: the suspect is one more "
           "independent model); stolen iff p < alpha (this run: "
           + ", ".join(sorted({f"{v['alpha']:g}" for v in rows.values() if v and v["applicable"]}))
           + "; the default is 0.01 since 2026-12-01: at 0.05 it accused 3 of 18 independent models unseen by these "
           "scenarios, benchmarks/probes/nb_control_nb-cifar10-fresh*.md). Per boundary the same test on that boundary's samples.", "",
           "| model | suspect d | " + " | ".join(f"CB{i + 1} Δµ / p" for i in range(n))
           + " | all CBs: Δµ / p | stolen (α 0.05) | stolen (α 0.01) |",
           "|---|---|" + "---|" * (n + 3)]
    for s in order + independents:
        v = rows[s]
        label = _row_label(s, kinds)
        if v is None or not v["applicable"]:
            out.append(f"| {label} | – |" + " – |" * (n + 3))
            continue
        d = json.loads(v["details"])
        cells = [f"{b['delta_mu']:+.3f} / {_fmt_p(b['p_value'])}" for b in d["boundaries"]]
        out.append(f"| {label} | {d['owner_distance']:.3f} | " + " | ".join(cells)
                   + f" | {v['effect']:+.3f} / {_fmt_p(v['p_value'])} | "
                   + " | ".join("**yes**" if v["p_value"] < a else "no" for a in (0.05, 0.01)) + " |")
    derived = [rows[s] for s in order if rows[s] and rows[s]["applicable"]]
    ind = [rows[s] for s in independents if rows[s] and rows[s]["applicable"]]
    count = lambda vs, a: sum(v["p_value"] < a for v in vs)
    out = ["", *out, ""]
    for a in (0.05, 0.01):
        out += [f"Calibrated rule at α {a}: derived models flagged **{count(derived, a)}/{len(derived)}**; "
                f"independent models flagged (false accusations): **{count(ind, a)}/{len(ind)}**.", ""]
    return out


def _plot(name: str, sizes: list[int], series: dict, kinds: dict) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for s, ps in series.items():
        pts = [(m, max(p, 1e-30)) for m, p in zip(sizes, ps) if p is not None]
        if pts:
            ax.plot(*zip(*pts), marker="o", ls="--" if kinds.get(s) == "independent" else "-",
                    color="grey" if kinds.get(s) == "independent" else None, label=None if kinds.get(s) == "independent" else s)
    ax.axhline(0.05, color="red", lw=0.8)
    ax.set(xscale="log", yscale="log", xlabel="set size m", ylabel="p-value", title=f"{name}: derived (solid), independent (grey)")
    ax.set_xticks(sizes, [str(m) for m in sizes])
    ax.set_xticks([], minor=True)
    ax.legend(fontsize=7)
    fig.tight_layout()
    out = f"near_boundary_m_{name}.png"
    fig.savefig(HERE / out, dpi=110)
    plt.close(fig)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("scenarios", nargs="*", default=["nb-fmnist", "nb-fmnist-w10", "nb-cifar10", "nb-cifar10-w1", "nb-cifar10-long"])
    args = ap.parse_args()
    cmd = "python benchmarks/run.py " + " ".join(args.scenarios) + " && python benchmarks/near_boundary.py " + " ".join(args.scenarios)
    lines = ["# Near-boundary data: ownership inference at CPU scale", "", stamp(cmd), "",
             "Generated by `benchmarks/near_boundary.py` from the harness runs; never edited by hand.", ""]
    summary = []
    for name in args.scenarios:
        sec = section(name)
        lines += sec
        summary += [f"- {name}: " + x for x in sec if x.startswith(("Derived models inferred", "Calibrated rule:"))]
    (HERE / "near_boundary.md").write_text("\n".join(lines) + "\n")
    write_section("near_boundary", "\n".join(["## near_boundary", "", f"[near_boundary.md](near_boundary.md) — {stamp(cmd)}", ""] + summary))
    print(HERE / "near_boundary.md")


if __name__ == "__main__":
    main()
