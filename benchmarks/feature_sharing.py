"""benchmarks/feature_sharing.md: the feature-sharing paper's Tables 2 and 3 layout (validation and watermark accuracy
of the protected model and of the model stolen by logit-query extraction, WDR) for Baseline / EWE / feature sharing,
ID and OOD watermarks, with the watermark-location and removal plots, and — where a scenario has the thefts
"Logit-query 30k x10" (and "... T4") — the watermarks in copies extracted with every attacker image for 10 epochs,
assembled from harness reports.

Run: ``python benchmarks/feature_sharing.py [SCENARIO ...]`` (default: DEFAULT) after ``python benchmarks/run.py
SCENARIO`` has written ``benchmarks/SCENARIO/``. A scenario qualifies when its methods carry the labels below
("Feature sharing ID", "Baseline OOD", "EWE ID", ...). Nothing is typed by hand: every cell comes from the reports'
CSV files (verification.csv with its details column, protection.csv, attacks.csv) and the scenario file, and each
statement on the paper's findings is computed from them and printed as reproduced or not.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import (HERE, aggregator_args, fmt as _f, fmt_p as _p, model_rows, page_head, report_rows, stamp,  # noqa: E402
                     verification_rows, write_section)

DEFAULT = ["fs-fmnist", "fs-cifar10", "fs-sst2"]
SCHEMES = ("Baseline", "EWE", "Feature sharing")
WATERMARKS = ("ID", "OOD")
STOLEN = "Logit-query"  # the paper's extraction attack
# the strongest extraction at CPU scale (every attacker image, 10 epochs), with the attack's loss and with
# distillation's (temperature 4, alpha 1), where a scenario has them
STRONG = ("Logit-query 30k x10", "Logit-query 30k x10 T4")
QUANT = (("probabilities", "Logit-query"), ("rounded:2", "Logit-query rounded:2"), ("rounded:1", "Logit-query rounded:1"),
         ("top-1 label", "Label-query"))
PRUNE = (("0", "Source"), ("0.5", "Pruning 0.5"), ("0.9", "Pruning 0.9"))


class Report:
    """One scenario's report: verification rows by (method, access, suspect), accuracies by method and theft."""

    def __init__(self, scenario: str):
        self.name = scenario
        self.ver = verification_rows(scenario)
        self.prot = {r["method"]: r for r in report_rows(scenario, "protection.csv")}
        self.acc, self.fid = model_rows(scenario)
        doc = yaml.safe_load((HERE.parent / "scenarios" / f"{scenario}.yaml").read_text())
        self.settings = {m.get("label", m["method"]): m.get("settings", {}) for m in doc["methods"]}
        self.dataset = doc["dataset"]

    def row(self, method: str, suspect: str, access: str = "probabilities") -> dict | None:
        return self.ver.get((method, access, suspect))

    def wa(self, method: str, suspect: str, access: str = "probabilities") -> float | None:
        r = self.row(method, suspect, access)
        return None if r is None else r["details"].get("watermark_accuracy")

    def wdr(self, method: str, suspect: str, access: str = "probabilities") -> float | None:
        r = self.row(method, suspect, access)
        return None if r is None else r["details"].get("wdr")


def table(rep: Report) -> tuple[list[str], dict]:
    """Tables 2/3 rows for one scenario and the numbers the findings check."""
    lines = [f"### {rep.name} ({rep.dataset})", "",
             "| watermark | scheme | protected: val. acc. (Δ vs plain) | protected: WM acc. | protected: WDR | "
             f"stolen ({STOLEN}): val. acc. | stolen: WM acc. | stolen: WDR | stolen: p | stolen by labels ({'Label-query'}): WM acc. / p | "
             "independent: max WM acc. / max WDR / flagged |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    nums = {}
    for wm in WATERMARKS:
        for scheme in SCHEMES:
            label = f"{scheme} {wm}"
            if (label, "probabilities", "Source") not in rep.ver:
                continue
            prot = rep.prot.get(label, {})
            src, st, lab, ind = (rep.row(label, s) for s in ("Source", STOLEN, "Label-query", "Independent"))
            nums[(wm, scheme)] = {"wa": rep.wa(label, STOLEN), "wdr": rep.wdr(label, STOLEN),
                                  "lost": 0.0 - float(prot["difference (points)"]) if prot else None,
                                  "p": float(st["p_value_max_or_min"]) if st else None,
                                  "fp": int(ind["flagged"]) if ind else None}
            lines.append(
                f"| {wm} | {scheme} | {prot.get('protected model accuracy', '–')} ({prot.get('difference (points)', '–')}) | "
                f"{_f(rep.wa(label, 'Source'))} | {_f(rep.wdr(label, 'Source'))} | {_f(rep.acc.get((label, STOLEN)))} | "
                f"{_f(rep.wa(label, STOLEN))} | {_f(rep.wdr(label, STOLEN))} | {_p(st['p_value_max_or_min']) if st else '–'} | "
                f"{_f(rep.wa(label, 'Label-query'))} / {_p(lab['p_value_max_or_min']) if lab else '–'} | "
                + (f"{_f(ind['details'].get('watermark_accuracy'))} / {_f(ind['details'].get('wdr'))} / "
                   f"{ind['flagged']}/{ind['verifications']} |" if ind else "– |"))
            del src
    return lines, nums


def strong_extraction(rep: Report) -> list[str]:
    """The schemes' watermarks in copies extracted with every attacker image for 10 epochs (the thefts ``STRONG``),
    beside the default extraction: does a closer copy carry more of the watermark? Empty where the scenario has none."""
    rows = [(wm, scheme, t) for wm in WATERMARKS for scheme in SCHEMES for t in STRONG if rep.row(f"{scheme} {wm}", t) is not None]
    if not rows:
        return []
    lines = [f"Stronger extraction (every attacker image, 10 epochs; T4: distillation's loss, temperature 4 and alpha 1) "
             f"against the default ({STOLEN}):", "",
             f"| watermark | scheme | {STOLEN}: fidelity / WM acc. / WDR | stronger theft | val. acc. | fidelity | WM acc. | WDR | p |",
             "|---|---|---|---|---|---|---|---|---|"]
    for wm, scheme, t in rows:
        label = f"{scheme} {wm}"
        st = rep.row(label, t)
        lines.append(f"| {wm} | {scheme} | {_f(rep.fid.get((label, STOLEN)))} / {_f(rep.wa(label, STOLEN))} / "
                     f"{_f(rep.wdr(label, STOLEN))} | {t} | {_f(rep.acc.get((label, t)))} | {_f(rep.fid.get((label, t)))} | "
                     f"{_f(rep.wa(label, t))} | {_f(rep.wdr(label, t))} | {_p(st['p_value_max_or_min'])} |")
    return lines + [""]


def findings(nums: dict) -> list[str]:
    """The paper's claims, checked per watermark type: feature sharing's stolen WM acc. and WDR clearly beat each
    baseline (by at least 0.1), with at most 1 point of validation accuracy lost; no independent model flagged."""
    out = []
    for (wm, scheme), n in sorted(nums.items()):
        if scheme != "Feature sharing":
            continue
        for base in ("Baseline", "EWE"):
            o = nums.get((wm, base))
            if o is None:
                continue
            beats = None not in (n["wa"], o["wa"], n["wdr"], o["wdr"]) and n["wa"] >= o["wa"] + 0.1 and n["wdr"] >= o["wdr"] + 0.1
            out.append(f"- {wm}: feature sharing's stolen ({STOLEN}) watermark accuracy and WDR beat {base}'s by ≥ 0.1: "
                       f"**{'reproduced' if beats else 'NOT reproduced'}** (feature sharing {_f(n['wa'], '{:.2f}')} / "
                       f"{_f(n['wdr'], '{:.2f}')}, {base} {_f(o['wa'], '{:.2f}')} / {_f(o['wdr'], '{:.2f}')})")
        lost = n["lost"]
        out.append(f"- {wm}: feature sharing loses ≤ 1 point of validation accuracy: "
                   f"**{'reproduced' if lost is not None and lost <= 1.0 else 'NOT reproduced'}** ({_f(lost, '{:+.2f}')} points lost)")
    fps = [(k, n["fp"]) for k, n in sorted(nums.items()) if n["fp"]]
    out.append(f"- No independent model flagged by any scheme: **{'holds' if not fps else 'does NOT hold'}**"
               + ("" if not fps else " (" + ", ".join(f"{s} {w}: {f}" for (w, s), f in fps) + ")"))
    return out


def location_finding(rep: Report) -> list[str]:
    """Paper Fig. 3/4: the stolen watermark accuracy rises as the watermark moves up (more blocks frozen), among the
    entries whose protected model learned the watermark (WM acc. ≥ 0.8)."""
    loc = [(k, rep.wa(label, STOLEN)) for k, label in _location_entries(rep)
           if (rep.wa(label, "Source") or 0) >= 0.8 and rep.wa(label, STOLEN) is not None]
    if len(loc) < 2:
        return []
    rises = all(b[1] >= a[1] for a, b in zip(loc, loc[1:])) and loc[-1][1] > loc[0][1]
    return [f"- ID: the stolen watermark accuracy rises as the watermark moves to the top (Fig. 3/4), over the entries "
            f"that learned it: **{'reproduced' if rises else 'NOT reproduced'}** ("
            + ", ".join(f"{k} frozen: {w:.2f}" for k, w in loc) + ")"]


def _location_entries(rep: Report) -> list[tuple[int, str]]:
    return sorted((k, label) for label in rep.settings if label.startswith(("Baseline ID", "Feature sharing ID", "ID freeze"))
                  for k in [_freeze_blocks(rep, label)] if k is not None)


def _freeze_blocks(rep: Report, label: str) -> int | None:
    s = rep.settings.get(label)
    if s is None or "freeze" not in s:
        return None
    return 2 if s["freeze"] == -1 else int(s["freeze"])  # -1: the extractor, 2 parameterised blocks of cnn and mlp


def plots(rep: Report, out: Path) -> list[str]:
    """Watermark location vs transferability, and removal (pruning, fine-pruning, API output quantization) vs
    the stolen model's watermark accuracy. Returns Markdown lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    md = []
    loc = _location_entries(rep)
    if loc:
        fig, ax = plt.subplots(figsize=(5, 3.4))
        for theft in ("Source", STOLEN, "Label-query"):
            pts = [(k, rep.wa(label, theft)) for k, label in loc if rep.wa(label, theft) is not None]
            ax.plot([k for k, _ in pts], [w for _, w in pts], marker="o", label=theft)
        ax.set_xlabel("blocks frozen in step 2 (0 = Baseline)")
        ax.set_ylabel("watermark accuracy")
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(f"{rep.name}: watermark location (ID)")
        ax.legend(fontsize=8)
        fig.tight_layout()
        name = f"feature_sharing_location_{rep.name}.png"
        fig.savefig(HERE / name, dpi=110)
        plt.close(fig)
        md += [f"![watermark location]({name})", "",
               "| blocks frozen | method entry | " + " | ".join(f"{t} WM acc." for t in ("Source", STOLEN, "Label-query")) + " |",
               "|---|---|---|---|---|"]
        md += [f"| {k} | {label} | " + " | ".join(_f(rep.wa(label, t)) for t in ("Source", STOLEN, "Label-query")) + " |"
               for k, label in loc]
        md.append("")
    labels = [f"{s} {w}" for w in WATERMARKS for s in SCHEMES if (f"{s} {w}", "probabilities", "Source") in rep.ver]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.4))
    for label in labels:
        axes[0].plot([float(r) for r, _ in PRUNE], [rep.wa(label, t) for _, t in PRUNE], marker="o", label=label)
        fp = rep.wa(label, "Fine-pruning 0.5")
        if fp is not None:
            axes[0].scatter([0.5], [fp], marker="x", s=40, color=axes[0].lines[-1].get_color())
        axes[1].plot(range(len(QUANT)), [rep.wa(label, t) for _, t in QUANT], marker="o", label=label)
    axes[0].set_xlabel("magnitude pruning rate (x: fine-pruning 0.5)")
    axes[0].set_ylabel("watermark accuracy")
    axes[1].set_xticks(range(len(QUANT)), [q for q, _ in QUANT])
    axes[1].set_xlabel("API output the thief extracts from")
    axes[1].set_ylabel("stolen watermark accuracy")
    for ax in axes:
        ax.set_ylim(-0.02, 1.02)
    axes[1].legend(fontsize=7, bbox_to_anchor=(1.02, 1), loc="upper left")
    fig.suptitle(f"{rep.name}: removal attacks")
    fig.tight_layout()
    name = f"feature_sharing_removal_{rep.name}.png"
    fig.savefig(HERE / name, dpi=110)
    plt.close(fig)
    md += [f"![removal attacks]({name})", "",
           "| scheme | " + " | ".join(f"pruning {r}" for r, _ in PRUNE) + " | fine-pruning 0.5 | "
           + " | ".join(f"extracted from {q}" for q, _ in QUANT) + " |",
           "|---|" + "---|" * (len(PRUNE) + 1 + len(QUANT))]
    md += [f"| {label} | " + " | ".join(_f(rep.wa(label, t)) for _, t in PRUNE) + f" | {_f(rep.wa(label, 'Fine-pruning 0.5'))} | "
           + " | ".join(_f(rep.wa(label, t)) for _, t in QUANT) + " |" for label in labels]
    return md + [""]


def main(argv: list[str] | None = None) -> None:
    scenarios, command = aggregator_args("feature_sharing.py", __doc__, DEFAULT, argv)
    md = page_head("Feature-sharing watermark: Tables 2 and 3 at CPU scale", command, scenarios,
                   "Validation accuracy is the test-set accuracy; WM acc. is the fraction of watermark inputs answered "
                   "with the target class; WDR the fraction of 200 random tenths of the watermark on which the Wilcoxon "
                   "test (α_cert 0.3) rejects at 0.05; p the test on all watermark inputs. Probabilities access unless "
                   "said. Text models are the frozen all-MiniLM-L6-v2 encoder with an mlp on top (the encoder is not "
                   "fine-tuned: 'feature extractor' and 'Baseline' refer to the mlp's layers).")
    all_find = []
    for sc in scenarios:
        rep = Report(sc)
        lines, nums = table(rep)
        md += lines + [""]
        f = findings(nums) + location_finding(rep)
        md += ["Paper's findings, checked:", "", *f, ""]
        md += strong_extraction(rep)
        all_find += [f"{sc}: {x[2:]}" for x in f]
        md += [f"#### {sc}: watermark location and removal attacks", "", *plots(rep, HERE)]
    (HERE / "feature_sharing.md").write_text("\n".join(md).rstrip() + "\n")
    write_section("feature_sharing", "\n".join([
        "## Feature-sharing watermark (Tables 2 and 3)", "",
        f"See [feature_sharing.md](feature_sharing.md): {stamp(command)}", "", *[f"- {x}" for x in all_find]]))
    print(f"wrote {HERE / 'feature_sharing.md'}")


if __name__ == "__main__":
    main()
