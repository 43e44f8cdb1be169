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


def _span(lo: float, hi: float, fmt: str = "{:.3f}", dash: str = "–") -> str:
    """``lo–hi``, or one number where both print the same."""
    a, b = fmt.format(lo), fmt.format(hi)
    return a if a == b else f"{a}{dash}{b}"


def _detail_values(verdicts: list[dict], key: str) -> list:
    return [v["_details"][key] for v in verdicts if v["_details"].get(key) is not None]


def _detail_cell(key: str, x: list) -> str:
    """A theft row's cell for a detail column: p-values (keys p_*) the largest, words (e.g. the rule) the distinct
    ones, numbers the mean."""
    if not x:
        return "–"
    if isinstance(x[0], str):
        return _detail_summary(key, x)
    return _p(max(x)) if key.startswith("p_") else f"{float(np.mean(x)):.3f}"


def _detail_summary(key: str, x: list):
    """What verification.csv keeps of a theft row's detail column (as _detail_cell, 5 significant digits)."""
    if isinstance(x[0], str):
        return "/".join(sorted(set(map(str, x))))
    return float(f"{max(x):.5g}") if key.startswith("p_") else round(float(np.mean(x)), 5)


def machine() -> str:
    """One line naming this machine: CPU model and cores, GPU if any, torch and Python versions."""
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


def write_report(run: str | Path, folder: str | Path | None = None, command: str | None = None) -> Path:
    """Write the report of run folder ``run`` (see the module docstring) into ``folder`` (default ``RUN/report``);
    returns the path of ``report.md``. ``command``: the command named on the page as the one that made it."""
    run = Path(run)
    if not (run / "results.sqlite").is_file():
        raise ConfigError(f"{run} is not a bench run folder (no results.sqlite)")
    db = ResultsDB(run / "results.sqlite")
    sc = db.scenario()
    models = db.rows("models")
    verdicts = db.rows("verdicts")
    protects = {r["key"]: json.loads(r["result"]) for r in db.rows("jobs", "WHERE kind = 'protect' AND status = 'done'")}
    failed = db.failed()
    total = len(db.rows("jobs"))
    db.close()
    folder = Path(folder) if folder is not None else run / "report"
    folder.mkdir(parents=True, exist_ok=True)
    attack_order = [a["label"] for a in sc["attacks"]]
    row_of = {a["label"]: a.get("row") or a["label"] for a in sc["attacks"]} | {"Source": "Source"}
    row_order = list(dict.fromkeys(row_of[a] for a in attack_order))
    ind_order = [f"{s['arch']} w{s['width']:g} seed {s['seed']}, {s['limit'] or 'all'} imgs, {s['epochs'] or 'default'} ep"
                 for s in sc["independent"]]
    groups = [(m["label"], m["method"], m["access"]) for m in sc["methods"]]
    failed_thefts = _failed_thefts(run, sc, models, verdicts)

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
        failed_note = " — **failed theft**" if (m["grp"], m["seed"], m["label"]) in failed_thefts["models"] else ""
        rows.append([f"{m['label']} (victim {m['grp']}, seed {m['seed']}){failed_note}", m["arch"], _num(m["accuracy"]), _num(m["fidelity"]),
                     f"{m['queries']:,}" if m["queries"] is not None else "–"])
    for m in sorted((m for m in models if m["role"] == "independent"), key=lambda r: ind_order.index(r["label"]) if r["label"] in ind_order else 99):
        f = fid_ind.get(m["label"])
        rows.append([f"*Independent* {m['label']}", m["arch"], _num(m["accuracy"]),
                     _span(min(f), max(f)) if f else _num(None), "0"])
    attacks_md = _write(folder, "attacks", ["model", "architecture", "test accuracy", "fidelity to its victim", "victim queries"], rows)

    # ---- verification tables (MOVE Tables III-VIII layout)
    from ..methods import get_method

    by = defaultdict(list)
    for v in verdicts:
        by[(v["method_label"], v["access"])].append(v)
    ver_md, ver_rows, summary = [], [], []
    for label, method, levels in groups:
        extra = get_method(method).report_details
        for level in levels:
            vs = by.get((label, level), [])
            if not vs:
                continue
            for v in vs:
                v["_details"] = json.loads(v["details"]) if v["details"] else {}
            lines = [f"#### {label} — {level}", "",
                     "| suspect | n | fidelity (mean) | effect (median) | p-value (stolen rows: max; independent: min) | "
                     + "".join(f"{title} | " for _, title in extra) + "verdict |", "|---|---|---|---|---|---|" + "---|" * len(extra)]
            det = [0, 0]
            for row in ["Source"] + row_order:
                rs = [v for v in vs if v["suspect_kind"] != "independent" and row_of.get(v["suspect"]) == row]
                lost = [v for v in rs if v["job"] in failed_thefts["verdicts"]]
                rs = [v for v in rs if v["job"] not in failed_thefts["verdicts"]]
                app = [v for v in rs if v["applicable"]]
                if lost:
                    accs = sorted(failed_thefts["verdicts"][v["job"]] for v in lost)
                    lines.append(f"| {row} | {len(lost)} | – | – | – | " + "– | " * len(extra) + "failed theft (test accuracy "
                                 f"{', '.join(f'{a:.3f}' for a in accs)}, below twice chance): neither a detection nor a miss |")
                if not rs:
                    continue
                if not app:
                    lines.append(f"| {row} | {len(rs)} | – | – | – | " + "– | " * len(extra) + f"not applicable: {rs[0]['note']} |")
                    continue
                k = sum(v["stolen"] for v in app)
                if row != "Source":
                    det[0] += k
                    det[1] += len(app)
                eff = float(np.median([v["effect"] for v in app]))
                ps = [v["p_value"] for v in app if v["p_value"] is not None]
                fid = [v["fidelity"] for v in app if v["fidelity"] is not None]
                word = ("**stolen**" if k == len(app) else "not shown" if k == 0 else f"stolen in {k}/{len(app)}")
                cells = [_detail_cell(key, _detail_values(app, key)) for key, _ in extra]
                lines.append(f"| {row} | {len(app)} | {'1.000' if row == 'Source' else _num(float(np.mean(fid)) if fid else None)} | "
                             f"{eff:+.3f} | {_p(max(ps)) if ps else '–'} | " + "".join(c + " | " for c in cells) + f"{word} |")
                ver_rows.append([label, level, row, len(app), round(eff, 5), max(ps) if ps else None, k,
                                 json.dumps({key: _detail_summary(key, x) for key, x in
                                             ((key, _detail_values(app, key)) for key, _ in extra) if x})])
            ind = [v for v in vs if v["suspect_kind"] == "independent" and v["applicable"]]
            na = [v for v in vs if v["suspect_kind"] == "independent" and not v["applicable"]]
            fp = sum(v["stolen"] for v in ind)
            if ind:
                eff = [v["effect"] for v in ind]
                ps = [v["p_value"] for v in ind if v["p_value"] is not None]
                fid = [v["fidelity"] for v in ind if v["fidelity"] is not None]
                cells, ind_det = [], {}
                for key, _ in extra:  # p-values (keys p_*): the smallest and how many fall below alpha; else the range
                    x = [(v["_details"][key], v["alpha"]) for v in ind if v["_details"].get(key) is not None]
                    if not x:
                        cells.append("–")
                        continue
                    if isinstance(x[0][0], str):  # words (the rule): the distinct ones
                        ind_det[key] = _detail_summary(key, [w for w, _ in x])
                        cells.append(ind_det[key])
                        continue
                    lo, hi = min(p for p, _ in x), max(p for p, _ in x)
                    ind_det[key] = round(float(hi), 5)
                    if key.startswith("p_"):
                        below = sum(p < a for p, a in x)
                        ind_det[f"{key}_min"], ind_det[f"{key}_below_alpha"] = float(f"{lo:.5g}"), below
                        cells.append(f"min {_p(lo)}, {below} below α")
                    else:
                        cells.append(_span(lo, hi))
                lines.append(f"| *Independent* | {len(ind)} | "
                             f"{_span(min(fid), max(fid)) if fid else '–'} | "
                             f"{np.median(eff):+.3f} ({_span(min(eff), max(eff), '{:+.3f}', '…')}) | min {_p(min(ps)) if ps else '–'} | "
                             + "".join(c + " | " for c in cells) + f"**{fp}/{len(ind)} flagged** |")
                ver_rows.append([label, level, "Independent", len(ind), round(float(np.median(eff)), 5), min(ps) if ps else None, fp,
                                 json.dumps(ind_det)])
            if na:
                lines.append(f"| *Independent, not applicable* | {len(na)} | – | – | – | " + "– | " * len(extra) + f"{na[0]['note']} |")
            note = get_method(method).report_note
            lines += ["", f"*{note}*"] if note and any(key in v["_details"] for v in vs for key, _ in extra) else []
            lines.append("")
            ver_md += lines
            summary.append([label, level, f"{det[0]}/{det[1]}", f"{fp}/{len(ind)}",
                            _num(det[0] / det[1] if det[1] else None, "{:.2f}"), _num(fp / len(ind) if ind else None, "{:.2f}")])
    with open(folder / "verification.csv", "w", newline="") as f:
        w = csv.writer(f)
        # details: the method's detail columns as JSON: over a theft row the mean (p-values: the largest, 5 significant
        # digits); over independent models the largest, and for p-values also KEY_min, the smallest, and
        # KEY_below_alpha, how many fall below alpha
        w.writerow(["method", "access", "suspect", "verifications", "effect_median", "p_value_max_or_min", "flagged", "details"])
        w.writerows(ver_rows)
    (folder / "verification.md").write_text("\n".join(ver_md) + "\n")
    summary_md = _write(folder, "summary", ["method", "access", "thefts detected", "independent models flagged",
                                            "detection rate", "false-positive rate"], summary)

    # ---- protection: accuracy cost and time (SAC Table 5 layout)
    prot_rows = []
    for label, method, levels in groups:
        for seed in sc["seeds"]:
            r = protects.get(f"protect/{label}/s{seed}")
            if r is None:
                continue  # failed, or shared with an earlier entry
            vs = [v for v in verdicts if v["method_label"] == label and v["seed"] == seed and v["applicable"]]
            secs = [v["seconds"] for v in vs if v["seconds"] is not None]
            qs = [v["queries"] for v in vs if v["queries"] is not None]
            b = r.get("benign_accuracy")
            prot_rows.append([label, seed, _num(r.get("accuracy"), "{:.4f}"), _num(b, "{:.4f}"),
                              _num(100 * (r["accuracy"] - b) if b is not None and r.get("accuracy") is not None else None, "{:+.2f}"),
                              _num(r.get("protect_seconds") or r.get("seconds"), "{:.0f}"), _num(float(np.mean(secs)) if secs else None, "{:.1f}"),
                              _num(float(np.mean(qs)) if qs else None, "{:.0f}")])
    prot_md = _write(folder, "protection", ["method", "seed", "protected model accuracy", "benign model accuracy",
                                            "difference (points)", "protect seconds", "verify seconds per suspect (mean)",
                                            "queries per verification (mean)"], prot_rows)

    # ---- AUC per attack (SAC Table 1 layout)
    cols = [(label, level) for label, _, levels in groups for level in levels if by.get((label, level))]
    auc_rows = []
    for row in row_order:
        r = [row]
        for key in cols:
            vs = [v for v in by[key] if v["applicable"]]
            for_seed = defaultdict(lambda: ([], []))
            for v in vs:
                if v["suspect_kind"] == "stolen" and row_of.get(v["suspect"]) == row and v["job"] not in failed_thefts["verdicts"]:
                    for_seed[v["seed"]][0].append(v["suspicion"])
                elif v["suspect_kind"] == "independent":
                    for_seed[v["seed"]][1].append(v["suspicion"])
            aucs = [a for a in (_auc(p, n) for p, n in for_seed.values()) if a is not None]
            r.append(_num(float(np.mean(aucs)) if aucs else None, "{:.2f}"))
        auc_rows.append(r)
    auc_md = _write(folder, "auc", ["attack"] + [f"{a} ({b})" for a, b in cols], auc_rows)
    plots = _plots(folder, by, cols, set(failed_thefts["verdicts"]))
    sweeps = _sweeps(folder, sc, by, row_order, row_of)

    when = _dt.date.today().isoformat()
    page = [f"# Benchmark report: {sc['name']}", "",
            f"Scenario `{sc['name']}` ({sc['scale']} scale)" + (f": {sc['description']}" if sc.get("description") else "."), "",
            f"Dataset {sc['dataset']}; victim {sc['victim']['arch']} (width {sc['victim']['width']}), "
            f"{sc['victim']['limit'] or 'all'} defender images, {sc['victim']['epochs'] or 'default'} epochs; seeds "
            f"{', '.join(map(str, sc['seeds']))}; {len(sc['independent'])} independent models trained on the attacker half "
            "(never seen while protecting).", "",
            f"Report written {when} on {machine()} by `{command or 'stealguard bench report ' + str(run)}`; {total} jobs recorded"
            + (f", **{len(failed)} failed**" if failed else "") + ".", "",
            "## Summary: detection and false positives", "", *summary_md, "",
            "## Protection: accuracy cost and time (SAC Table 5 layout)", "",
            "Benign model: the same architecture and data without the protection (methods that train the protected "
            "model). Times are wall-clock seconds of the job on this machine, with the cache's state at the time. "
            "[CSV](protection.csv)", "", *prot_md, "",
            "## Verification (MOVE Tables III–VIII layout)", "", "[CSV](verification.csv)", "", *ver_md,
            "## AUC per attack: stolen copies against independent models (SAC Table 1 layout)", "",
            "Suspicion score: -log10 p for hypothesis-test methods, minus the correlation distance for SAC; the AUC is per "
            "seed, then averaged. [CSV](auc.csv)", "", *auc_md, "",
            "## Stolen and independent models (SAC Table 3 layout)", "", "[CSV](attacks.csv)", "", *attacks_md, ""]
    if sweeps:
        page += ["## Sweeps: p-value against one setting", "",
                 "Method entries that differ in exactly one numeric setting or verify option, plotted against it: each "
                 "theft's p-value (largest over seeds) and the smallest p-value of any independent model.", ""]
        page += [f"![{p}]({p})" for p in sweeps] + [""]
    if plots:
        page += ["## Plots", ""] + [f"![{p}]({p})" for p in plots] + [""]
    if failed:
        page += ["## Failed jobs", ""] + [f"- `{k}`: {e}" for k, e in sorted(failed.items())] + [""]
    (folder / "report.md").write_text("\n".join(page))
    (folder / "report.json").write_text(json.dumps({"scenario": sc["name"], "summary": summary, "auc": auc_rows,
                                                    "date": when}, indent=2))
    return folder / "report.md"


def _failed_thefts(run: Path, sc: dict, models: list[dict], verdicts: list[dict]) -> dict:
    """Stolen models whose test accuracy is below twice chance (a theft that did not produce a working model, e.g. a
    data-free copy at CPU scale) and the verdicts on them: ``{"models": {(group, seed, label): accuracy}, "verdicts":
    {verdict job: accuracy}}``. Such a verdict counts neither as a detection nor as a miss."""
    from ..models import read_spec
    from .grid import victim_groups

    stolen = [m for m in models if m["role"] == "stolen" and m["accuracy"] is not None]
    if not stolen:
        return {"models": {}, "verdicts": {}}
    try:
        classes = read_spec(run / stolen[0]["path"])[0].num_classes
    except Exception:  # noqa: BLE001 - a moved or pruned run folder: no model file to read the class count from
        return {"models": {}, "verdicts": {}}
    failed = {(m["grp"], m["seed"], m["label"]): m["accuracy"] for m in stolen if m["accuracy"] < 2.0 / classes}
    shared = victim_groups([(m["label"], m["method"], m["settings"], m["access"]) for m in sc["methods"]])
    group_of = {label: group for label, (_, group) in shared.items()}  # as the grid assigns them
    out = {}
    for v in verdicts:
        key = (group_of.get(v["method_label"]), v["seed"], v["suspect"])
        if v["suspect_kind"] == "stolen" and key in failed:
            out[v["job"]] = failed[key]
    return {"models": failed, "verdicts": out}


def _plots(folder: Path, by: dict, cols: list, failed: set = frozenset()) -> list[str]:
    if not cols:
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve

    n = len(cols)
    fig, axes = plt.subplots(1, n, figsize=(4 * n, 4), squeeze=False)
    for ax, key in zip(axes[0], cols):
        vs = [v for v in by[key] if v["applicable"] and v["suspect_kind"] != "source" and v["job"] not in failed]
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


def _sweep_groups(methods: list[dict]) -> list[tuple[str, str, list[tuple[float, str]]]]:
    """Groups of method entries (same method and access) differing in exactly one numeric setting or verify option:
    ``[(method, key, [(value, label), ...])]`` with at least three values."""
    out = []
    flat = [(m, {**{f"settings.{k}": v for k, v in m["settings"].items()}, **{f"verify.{k}": v for k, v in m["verify"].items()}})
            for m in methods]
    seen = set()
    for m, f in flat:
        for key, val in f.items():
            if not isinstance(val, (int, float)) or isinstance(val, bool) or (m["method"], key) in seen:
                continue
            rest = {k: v for k, v in f.items() if k != key}
            members = [(float(f2[key]), m2["label"]) for m2, f2 in flat
                       if m2["method"] == m["method"] and isinstance(f2.get(key), (int, float)) and not isinstance(f2.get(key), bool)
                       and {k: v for k, v in f2.items() if k != key} == rest]
            if len({v for v, _ in members}) >= 3:
                seen.add((m["method"], key))
                out.append((m["method"], key, sorted(set(members))))
    return out


def _sweeps(folder: Path, sc: dict, by: dict, row_order: list[str], row_of: dict) -> list[str]:
    groups = _sweep_groups(sc["methods"])
    if not groups:
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = []
    access = {m["label"]: m["access"] for m in sc["methods"]}
    for method, key, members in groups:
        levels = sorted(lvl for lvl in {x for _, label in members for x in access[label]}
                        if sum(lvl in access[label] for _, label in members) >= 2)
        if not levels:
            continue
        fig, axes = plt.subplots(1, len(levels), figsize=(5.5 * len(levels), 4), squeeze=False)
        for ax, level in zip(axes[0], levels):
            xs = [(x, label) for x, label in members if by.get((label, level))]
            for row in row_order + ["Independent (smallest)"]:
                pts = []
                for x, label in xs:
                    vs = [v for v in by[(label, level)] if v["applicable"] and v["p_value"] is not None
                          and (v["suspect_kind"] == "independent" if row.startswith("Independent")
                               else v["suspect_kind"] == "stolen" and row_of.get(v["suspect"]) == row)]
                    if vs:
                        p = min(v["p_value"] for v in vs) if row.startswith("Independent") else max(v["p_value"] for v in vs)
                        pts.append((x, max(p, 1e-300)))
                if pts:
                    ax.plot(*zip(*pts), marker="x" if row.startswith("Independent") else "o",
                            ls=":" if row.startswith("Independent") else "-", label=row)
            alphas = [v["alpha"] for _, label in xs for v in by[(label, level)] if v["alpha"] is not None]
            if alphas:
                ax.axhline(alphas[0], color="k", ls="--", lw=1, label=f"α = {alphas[0]:g}")
            ax.set_yscale("log")
            ax.set_xlabel(key)
            ax.set_ylabel("p-value")
            ax.set_title(f"{method}, {level}")
            ax.legend(fontsize=7)
        fig.tight_layout()
        name = f"sweep_{method}_{key.replace('.', '_')}.png"
        fig.savefig(folder / name, dpi=90)
        plt.close(fig)
        files.append(name)
    return files
