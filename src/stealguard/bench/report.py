"""Tables and plots of a benchmark run, from its results database alone.

``write_report(run)`` writes into ``RUN/report/``:

- ``report.md``: the page linking everything below, with the scenario, the machine and the date;
- ``attacks.md/.csv``: accuracy, fidelity and queries of every stolen model and independent model (SAC Table 3);
- ``verification.md/.csv``: per method and access level, rows Source, each attack and Independent with the
  effect (MOVE: Δµ; SAC: distance), the p-value and the verdict (MOVE Tables III–VIII), and the false-positive rate
  on the independent models;
- ``auc.md/.csv``: AUC per attack of each method's suspicion score, stolen copies against independent models
  (SAC Tables 1 and 4);
- ``roc.png`` (ROC curves) and ``scores.png`` (every suspect's score with the decision).
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
import os
import platform
from collections import defaultdict
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from .db import ResultsDB


def _p(p) -> str:
    if p is None:
        return "–"
    return "0" if p == 0 else f"{p:.1e}" if p < 1e-3 else f"{p:.3f}"


def _num(x, fmt="{:.3f}") -> str:
    return "–" if x is None else fmt.format(x)


def machine() -> str:
    import torch

    cpu = platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    dev = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{os.cpu_count()} cores ({cpu}), {dev}, torch {torch.__version__}, Python {platform.python_version()}"


def _write(folder: Path, name: str, header: list[str], rows: list[list], intro: str = "") -> list[str]:
    with open(folder / f"{name}.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    md = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    md += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    (folder / f"{name}.md").write_text((intro + "\n\n" if intro else "") + "\n".join(md) + "\n")
    return md


def _auc(pos: list[float], neg: list[float]) -> float | None:
    if not pos or not neg:
        return None
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score([1] * len(pos) + [0] * len(neg), pos + neg))


def write_report(run: str | Path) -> Path:
    """Write the report of run folder ``run`` (see the module docstring); returns the path of ``report.md``."""
    run = Path(run)
    if not (run / "results.sqlite").is_file():
        raise ConfigError(f"{run} is not a bench run folder (no results.sqlite)")
    db = ResultsDB(run / "results.sqlite")
    sc = db.scenario()
    models = db.rows("models")
    verdicts = db.rows("verdicts")
    failed = db.failed()
    total = len(db.rows("jobs"))
    db.close()
    folder = run / "report"
    folder.mkdir(exist_ok=True)
    attack_order = [a["label"] for a in sc["attacks"]]
    ind_order = [f"{s['arch']} w{s['width']:g} seed {s['seed']}, {s['limit'] or 'all'} imgs, {s['epochs'] or 'default'} ep"
                 for s in sc["independent"]]
    groups = [(m["label"], m["method"], m["access"]) for m in sc["methods"]]

    # ---- attacks (SAC Table 3 layout)
    rows = []
    fid_ind = defaultdict(list)  # independent label -> fidelities against each victim
    for v in verdicts:
        if v["suspect_kind"] == "independent" and v["fidelity"] is not None:
            fid_ind[v["suspect"]].append(v["fidelity"])
    for m in sorted((m for m in models if m["role"] in ("victim", "protected")), key=lambda r: (r["grp"] or "", r["seed"])):
        rows.append([f"**Victim** ({m['grp'] or 'plain'}, seed {m['seed']})", m["arch"], _num(m["accuracy"]), "1.000", "–"])
    for m in sorted((m for m in models if m["role"] == "stolen"),
                    key=lambda r: (r["grp"], r["seed"], attack_order.index(r["label"]) if r["label"] in attack_order else 99)):
        rows.append([f"{m['label']} (victim {m['grp']}, seed {m['seed']})", m["arch"], _num(m["accuracy"]), _num(m["fidelity"]),
                     f"{m['queries']:,}" if m["queries"] is not None else "–"])
    for m in sorted((m for m in models if m["role"] == "independent"), key=lambda r: ind_order.index(r["label"]) if r["label"] in ind_order else 99):
        f = fid_ind.get(m["label"])
        rows.append([f"*Independent* {m['label']}", m["arch"], _num(m["accuracy"]),
                     f"{min(f):.3f}–{max(f):.3f}" if f and len(set(f)) > 1 else _num(f[0] if f else None), "0"])
    attacks_md = _write(folder, "attacks", ["model", "architecture", "test accuracy", "fidelity to its victim", "victim queries"], rows)

    # ---- verification tables (MOVE Tables III-VIII layout)
    by = defaultdict(list)
    for v in verdicts:
        by[(v["method_label"], v["access"])].append(v)
    ver_md, ver_rows, summary = [], [], []
    for label, method, levels in groups:
        for level in levels:
            vs = by.get((label, level), [])
            if not vs:
                continue
            lines = [f"#### {label} — {level}", "", "| suspect | seeds | effect (median) | p-value (stolen rows: max over seeds; independent: min) | verdict |",
                     "|---|---|---|---|---|"]
            det = [0, 0]
            for row in ["Source"] + attack_order:
                rs = [v for v in vs if v["suspect"] == row and v["suspect_kind"] != "independent"]
                app = [v for v in rs if v["applicable"]]
                if not rs:
                    continue
                if not app:
                    lines.append(f"| {row} | {len(rs)} | – | – | not applicable: {rs[0]['note']} |")
                    continue
                k = sum(v["stolen"] for v in app)
                if row != "Source":
                    det[0] += k
                    det[1] += len(app)
                eff = float(np.median([v["effect"] for v in app]))
                ps = [v["p_value"] for v in app if v["p_value"] is not None]
                word = ("**stolen**" if k == len(app) else "not shown" if k == 0 else f"stolen in {k}/{len(app)}")
                lines.append(f"| {row} | {len(app)} | {eff:+.3f} | {_p(max(ps)) if ps else '–'} | {word} |")
                ver_rows.append([label, level, row, len(app), round(eff, 5), max(ps) if ps else None, k])
            ind = [v for v in vs if v["suspect_kind"] == "independent" and v["applicable"]]
            na = [v for v in vs if v["suspect_kind"] == "independent" and not v["applicable"]]
            fp = sum(v["stolen"] for v in ind)
            if ind:
                eff = [v["effect"] for v in ind]
                ps = [v["p_value"] for v in ind if v["p_value"] is not None]
                lines.append(f"| *Independent* ({len(ind)} verifications) | {len({v['seed'] for v in ind})} | "
                             f"{np.median(eff):+.3f} ({min(eff):+.3f}…{max(eff):+.3f}) | min {_p(min(ps)) if ps else '–'} | "
                             f"**{fp}/{len(ind)} flagged** |")
                ver_rows.append([label, level, "Independent", len(ind), round(float(np.median(eff)), 5), min(ps) if ps else None, fp])
            if na:
                lines.append(f"| *Independent, not applicable* | {len(na)} | – | – | {na[0]['note']} |")
            lines.append("")
            ver_md += lines
            summary.append([label, level, f"{det[0]}/{det[1]}", f"{fp}/{len(ind)}",
                            _num(det[0] / det[1] if det[1] else None, "{:.2f}"), _num(fp / len(ind) if ind else None, "{:.2f}")])
    with open(folder / "verification.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["method", "access", "suspect", "verifications", "effect_median", "p_value_max_or_min", "flagged"])
        w.writerows(ver_rows)
    (folder / "verification.md").write_text("\n".join(ver_md) + "\n")
    summary_md = _write(folder, "summary", ["method", "access", "thefts detected", "independent models flagged",
                                            "detection rate", "false-positive rate"], summary)

    # ---- AUC per attack (SAC Table 1 layout)
    cols = [(label, level) for label, _, levels in groups for level in levels if by.get((label, level))]
    auc_rows = []
    for row in attack_order:
        r = [row]
        for key in cols:
            vs = [v for v in by[key] if v["applicable"]]
            for_seed = defaultdict(lambda: ([], []))
            for v in vs:
                if v["suspect"] == row and v["suspect_kind"] == "stolen":
                    for_seed[v["seed"]][0].append(v["suspicion"])
                elif v["suspect_kind"] == "independent":
                    for_seed[v["seed"]][1].append(v["suspicion"])
            aucs = [a for a in (_auc(p, n) for p, n in for_seed.values()) if a is not None]
            r.append(_num(float(np.mean(aucs)) if aucs else None, "{:.2f}"))
        auc_rows.append(r)
    auc_md = _write(folder, "auc", ["attack"] + [f"{a} ({b})" for a, b in cols], auc_rows)
    plots = _plots(folder, by, cols)

    when = _dt.date.today().isoformat()
    page = [f"# Benchmark report: {sc['name']}", "",
            f"Scenario `{sc['name']}` ({sc['scale']} scale)" + (f": {sc['description']}" if sc.get("description") else "."), "",
            f"Dataset {sc['dataset']}; victim {sc['victim']['arch']} (width {sc['victim']['width']}), "
            f"{sc['victim']['limit'] or 'all'} defender images, {sc['victim']['epochs'] or 'default'} epochs; seeds "
            f"{', '.join(map(str, sc['seeds']))}; {len(sc['independent'])} independent models trained on the attacker half "
            "(never seen while protecting).", "",
            f"Report written {when} on {machine()} by `stealguard bench report {run.name}`; {total} jobs recorded"
            + (f", **{len(failed)} failed**" if failed else "") + ".", "",
            "## Summary: detection and false positives", "", *summary_md, "",
            "## Verification (MOVE Tables III–VIII layout)", "", f"[CSV](verification.csv)", "", *ver_md,
            "## AUC per attack: stolen copies against independent models (SAC Table 1 layout)", "",
            "Suspicion score: -log10 p for hypothesis-test methods, minus the correlation distance for SAC; the AUC is per "
            "seed, then averaged. [CSV](auc.csv)", "", *auc_md, "",
            "## Stolen and independent models (SAC Table 3 layout)", "", "[CSV](attacks.csv)", "", *attacks_md, ""]
    if plots:
        page += ["## Plots", ""] + [f"![{p}]({p})" for p in plots] + [""]
    if failed:
        page += ["## Failed jobs", ""] + [f"- `{k}`: {e}" for k, e in sorted(failed.items())] + [""]
    (folder / "report.md").write_text("\n".join(page))
    (folder / "report.json").write_text(json.dumps({"scenario": sc["name"], "summary": summary, "auc": auc_rows,
                                                    "date": when}, indent=2))
    return folder / "report.md"


def _plots(folder: Path, by: dict, cols: list) -> list[str]:
    if not cols:
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve

    n = len(cols)
    fig, axes = plt.subplots(1, n, figsize=(4 * n, 4), squeeze=False)
    for ax, key in zip(axes[0], cols):
        vs = [v for v in by[key] if v["applicable"] and v["suspect_kind"] != "source"]
        y = [int(v["suspect_kind"] == "stolen") for v in vs]
        s = [v["suspicion"] for v in vs]
        if len(set(y)) == 2:
            fpr, tpr, _ = roc_curve(y, s)
            ax.plot(fpr, tpr, marker=".", label=f"AUC {_auc([a for a, b in zip(s, y) if b], [a for a, b in zip(s, y) if not b]):.2f}")
        ax.plot([0, 1], [0, 1], color="grey", ls=":", lw=1)
        ax.set_xlabel("false-positive rate (independent models)")
        ax.set_ylabel("true-positive rate (stolen copies)")
        ax.set_title(f"{key[0]} ({key[1]})")
        ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(folder / "roc.png", dpi=90)
    plt.close(fig)
    fig, axes = plt.subplots(1, n, figsize=(5 * n, 4.5), squeeze=False)
    for ax, key in zip(axes[0], cols):
        vs = sorted((v for v in by[key] if v["applicable"]), key=lambda v: ("source", "stolen", "independent").index(v["suspect_kind"]))
        colours = {"source": "tab:red", "stolen": "tab:orange", "independent": "tab:blue"}
        for i, v in enumerate(vs):
            ax.scatter(i, v["suspicion"], color=colours[v["suspect_kind"]], marker="x" if v["stolen"] else "o")
        ax.set_xticks(range(len(vs)))
        ax.set_xticklabels([v["suspect"][:18] for v in vs], rotation=75, fontsize=6)
        ax.set_ylabel("suspicion (-log10 p, or -distance); x = judged stolen")
        ax.set_title(f"{key[0]} ({key[1]})")
        for kind, c in colours.items():
            ax.scatter([], [], color=c, label=kind)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(folder / "scores.png", dpi=90)
    plt.close(fig)
    return ["roc.png", "scores.png"]
