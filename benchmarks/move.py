"""benchmarks/move.md: MOVE's verification tables (white-box and black-box) at CPU scale, each of the paper's claims
checked against them, the ablations and sweeps, and — from the "-strong" scenarios — the same kit against copies
extracted with every attacker image, assembled from harness reports.

Run: ``python benchmarks/move.py [SCENARIO ...]`` (default: DEFAULT) after ``python benchmarks/run.py SCENARIO`` has
written ``benchmarks/SCENARIO/``. A scenario's method entry "MOVE" gives the main tables; its other entries (ablations,
sweeps) the ablation table. Nothing is typed by hand: every cell comes from the reports' CSV files (verification.csv
with its details column, protection.csv, attacks.csv), and each claim is computed from them and printed as
reproduced or not.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import (HERE, aggregator_args, fmt as _f, fmt_p as _p, model_rows, page_head, report_rows, stamp,  # noqa: E402
                     verification_rows, write_section)

DEFAULT = ["move-fmnist", "move-fmnist-strong", "move-cifar10", "move-cifar10-strong"]
MAIN = "MOVE"  # the method entry of the main tables
DEFAULTS = "MOVE default rules"  # the entry verified with the rule `stealguard verify` picks (no rule given)
THEFTS = ("Distillation", "Zero-shot", "Fine-tuning", "Label-query", "Logit-query")  # the paper's rows
ACCESS = (("white-box", "white-box"), ("probabilities", "black-box"))
ALPHA_PAPER, ALPHA_INDEPENDENT = 0.01, 0.05  # the paper's claims: stolen p < 0.01, independent p > 0.05


class Report:
    """One scenario's report: verification rows by (method, access, suspect), fidelity by theft."""

    def __init__(self, scenario: str):
        self.name = scenario
        self.ver = verification_rows(scenario)
        self.order = list(dict.fromkeys(m for m, _, _ in self.ver))  # method entries in the report's order
        self.prot = {r["method"]: r for r in report_rows(scenario, "protection.csv")}
        _, fid = model_rows(scenario)  # keyed by (method entry, theft): keep the main entry's copies
        self.fid = {t: f for (m, t), f in fid.items() if m == MAIN}
        self.thefts = [s for (m, a, s) in self.ver if m == MAIN and a == "probabilities" and s not in ("Source", "Independent")]
        if not self.thefts:
            sys.exit(f"{scenario}: no method entry '{MAIN}' verified with probabilities")

    def row(self, suspect: str, access: str, method: str = MAIN) -> dict | None:
        return self.ver.get((method, access, suspect))

    def fidelity(self, suspect: str) -> str:
        """A table's fidelity cell: 1 for the source, else the theft's copy's agreement with its victim."""
        return "1.000" if suspect == "Source" else _f(self.fid.get(suspect))


def _verdict(r: dict) -> str:
    return "**stolen**" if int(r["flagged"]) else "not shown"


def _ok(flag: bool) -> str:
    return "**reproduced**" if flag else "**NOT reproduced**"


def main_table(rep: Report, access: str, rows: list[str]) -> list[str]:
    """The paper's table (rows Source, thefts, Independent; Δµ and p of its test against the benign model) with
    stealguard's calibrated p and verdict beside it."""
    lines = ["| suspect | fidelity | Δµ | p (paper: vs benign) | p (calibrated: vs references) | verdict (calibrated) |",
             "|---|---|---|---|---|---|"]
    for s in ["Source", *rows]:
        r = rep.row(s, access)
        if r is None:
            continue
        d = r["details"]
        lines.append(f"| {s} | {rep.fidelity(s)} | {float(r['effect_median']):+.3f} | "
                     f"{_p(d.get('p_paper'))} | {_p(d.get('p_calibrated'))} | "
                     f"{_verdict(r)} |")
    r = rep.row("Independent", access)
    if r is not None:
        d, n = r["details"], int(r["verifications"])
        below = d.get("p_paper_below_alpha")
        lines.append(f"| *Independent* ({n} models) | – | {float(r['effect_median']):+.3f} (median) | "
                     f"min {_p(d.get('p_paper_min'))}" + ("" if below is None else f", {below}/{n} below 0.01") + " | "
                     f"min {_p(r['p_value_max_or_min'])} | **{r['flagged']}/{n} flagged** |")
    return lines


def default_table(rep: Report, access: str, rows: list[str]) -> list[str]:
    """The same suspects under the entry verified with stealguard's default rule for this kit and access level:
    the rule's p and verdict, for rule style-agreement the suspect's agreement with the protected model's labels on
    the stylised verification images against the best style reference model's, and the model-level p (reported,
    not decided on)."""
    lines = ["| suspect | fidelity | rule | effect | agreement (best style reference) | p | p (model level, reported) | verdict |",
             "|---|---|---|---|---|---|---|---|"]
    for s in ["Source", *rows]:
        r = rep.row(s, access, DEFAULTS)
        if r is None:
            continue
        d = r["details"]
        agree = ("–" if d.get("suspect_agreement") is None
                 else f"{d['suspect_agreement']:.3f} ({d.get('best_style_reference_agreement', float('nan')):.3f})")
        lines.append(f"| {s} | {rep.fidelity(s)} | {d.get('rule', '–')} | "
                     f"{float(r['effect_median']):+.3f} | {agree} | {_p(r['p_value_max_or_min'])} | "
                     f"{_p(d.get('p_model_level'))} | {_verdict(r)} |")
    r = rep.row("Independent", access, DEFAULTS)
    if r is not None:
        d, n = r["details"], int(r["verifications"])
        agree = "–" if d.get("suspect_agreement") is None else f"max {d['suspect_agreement']:.3f}"
        lines.append(f"| *Independent* ({n} models) | – | {d.get('rule', '–')} | {float(r['effect_median']):+.3f} (median) | "
                     f"{agree} | min {_p(r['p_value_max_or_min'])} | "
                     f"{'–' if d.get('p_model_level_min') is None else 'min ' + _p(d['p_model_level_min'])} | "
                     f"**{r['flagged']}/{n} flagged** |")
    return lines


def default_claims(rep: Report, access: str, word: str, rows: list[str]) -> list[str]:
    """What stealguard's default rule flags on one access level."""
    src = rep.row("Source", access, DEFAULTS)
    if src is None:
        return []
    got = [s for s in rows if rep.row(s, access, DEFAULTS) is not None]
    caught = [s for s in got if int(rep.row(s, access, DEFAULTS)["flagged"])]
    ind = rep.row("Independent", access, DEFAULTS)
    return [f"- {word}, stealguard's default rule ({src['details'].get('rule', '?')}): stolen rows flagged {len(caught)}/{len(got)}"
            + (f" ({', '.join(caught)})" if caught else "")
            + (f"; independent models flagged {ind['flagged']}/{ind['verifications']}" if ind is not None else "")]


def claims(rep: Report, access: str, word: str) -> list[str]:
    """The paper's claims for one access level, and stealguard's calibrated rule on the same models."""
    out = []
    rows = [s for s in THEFTS if rep.row(s, access) is not None]
    miss = [s for s in rows if not float(rep.row(s, access)["details"].get("p_paper", 1.0)) < ALPHA_PAPER]
    out.append(f"- {word}: every stolen row p < 0.01 under the paper's test: {_ok(not miss)}"
               + (f" (not: {', '.join(miss)})" if miss else f" ({len(rows)} rows)"))
    ind = rep.row("Independent", access)
    if ind is not None:
        d, n = ind["details"], int(ind["verifications"])
        lo = d.get("p_paper_min")
        if lo is not None:
            out.append(f"- {word}: independent models p > 0.05 under the paper's test: {_ok(lo > ALPHA_INDEPENDENT)} "
                       f"(smallest {_p(lo)}; {d.get('p_paper_below_alpha', '?')}/{n} below 0.01)")
        eff = float(ind["effect_median"])
        out.append(f"- {word}: independent models' Δµ ≈ 0 (median within ±0.1): {_ok(abs(eff) <= 0.1)} (median {eff:+.3f})")
    src = rep.row("Source", access)
    if src is not None:
        out.append(f"- {word}: Source Δµ near 1 (≥ 0.9): {_ok(float(src['effect_median']) >= 0.9)} "
                   f"({float(src['effect_median']):+.3f})")
    caught = [s for s in rows if int(rep.row(s, access)["flagged"])]
    out.append(f"- {word}, stealguard's calibrated rule: stolen rows flagged {len(caught)}/{len(rows)}"
               + (f" ({', '.join(caught)})" if caught else "")
               + (f"; independent models flagged {ind['flagged']}/{ind['verifications']}" if ind is not None else ""))
    return out


def accuracy(rep: Report) -> tuple[list[str], list[str]]:
    p = rep.prot.get(MAIN)
    if p is None:
        return [], []
    diff = float(p["difference (points)"])
    return ([f"Protected victim {p['protected model accuracy']} vs benign model {p['benign model accuracy']} "
             f"({p['difference (points)']} points; test set).", ""],
            [f"- protected victim within 1 point of the benign model: {_ok(abs(diff) <= 1.0)} ({diff:+.2f} points)"])


def ablations(rep: Report) -> list[str]:
    """Every other method entry (ablations, sweeps): calibrated p (paper's p) per theft, independents flagged."""
    entries = [m for m in rep.order if m not in (MAIN, DEFAULTS)]
    if not entries:
        return []
    cols = ["Source", *[t for t in THEFTS if any(rep.row(t, a, m) for m in rep.order for a, _ in ACCESS)]]
    lines = ["Other entries of the scenario (ablations and sweeps): calibrated p (the paper's p in brackets); "
             "**bold** where the entry's rule flags the suspect (MOVE guarded: the calibrated p, but no suspect less accurate "
             "than the weakest reference model is accused).", "",
             "| entry | access | " + " | ".join(cols) + " | independent models flagged |",
             "|---|---|" + "---|" * (len(cols) + 1)]
    for m in [MAIN, *entries]:
        for access, word in ACCESS:
            if rep.row("Source", access, m) is None:
                continue
            cells = []
            for c in cols:
                r = rep.row(c, access, m)
                if r is None:
                    cells.append("–")
                    continue
                txt = f"{_p(r['details'].get('p_calibrated'))} ({_p(r['details'].get('p_paper'))})"
                cells.append(f"**{txt}**" if int(r["flagged"]) else txt)
            ind = rep.row("Independent", access, m)
            lines.append(f"| {m} | {word} | " + " | ".join(cells) + " | "
                         + (f"{ind['flagged']}/{ind['verifications']}" if ind else "–") + " |")
    sweeps = sorted((HERE / rep.name).glob("sweep_*.png"))
    if sweeps:
        lines += ["", "p-value against the transformation rate γ and against m (each theft's p and the smallest p of "
                  "any independent model; from the scenario's report):", ""]
        lines += [f"![{p.stem}]({rep.name}/{p.name})" for p in sweeps]
    return lines + [""]


def main(argv: list[str] | None = None) -> None:
    scenarios, command = aggregator_args("move.py", __doc__, DEFAULT, argv)
    md = page_head("MOVE: verification tables at CPU scale", command, scenarios,
                   "Δµ = µ_S − µ_B, the mean meta-classifier probability of 'stolen' on the suspect minus that on the "
                   "benign model (median over independent models). *p (paper)* is the paper's paired one-sided t-test "
                   "against the benign model; *p (calibrated)* is stealguard's decision, the suspect's scores against "
                   "independent reference models the owner trained (an empirical null), stolen iff p < 0.01. White-box "
                   "compares weight gradients and needs the victim's architecture, so it sees only the independent models "
                   "of that architecture; black-box sees all of them. Independent models are never seen while protecting. "
                   "Where a scenario has the entry 'MOVE default rules', a second table gives the rule `stealguard "
                   "verify` picks for that kit: white-box *style-and-calibrated* (the calibrated rule and the suspect's "
                   "accuracy on the stylised images both significant), black-box *style-agreement* (labels only: the "
                   "suspect agrees with the protected model's labels on the stylised verification images significantly "
                   "more often than the best of the kit's style reference models, independent models trained with the "
                   "kit's own style; exact one-sided McNemar test, effect = (agreement − best) / (1 − best)); the "
                   "model-level p (the suspect's agreement as one more draw from the style references') is reported, "
                   "not decided on.")
    summary = []
    for sc in scenarios:
        rep = Report(sc)
        main_rows = [t for t in THEFTS if t in rep.thefts]
        strong = [t for t in rep.thefts if t not in THEFTS]
        made = json.loads((HERE / sc / "report.json").read_text()).get("date", "?")
        md += [f"## {sc}", "", f"Scenario run of {made} (`python benchmarks/run.py {sc}`).", ""]
        acc_md, acc_claim = accuracy(rep)
        md += acc_md
        found = list(acc_claim)
        for access, word in ACCESS:
            if rep.row("Source", access) is None:
                continue
            md += [f"### {sc}: {word}", "", *main_table(rep, access, main_rows + strong), ""]
            if rep.row("Source", access, DEFAULTS) is not None:
                md += [f"The same suspects under stealguard's default rule for this kit (entry '{DEFAULTS}': "
                       "`stealguard verify` without `--rule`):", "", *default_table(rep, access, main_rows + strong), ""]
            if main_rows:
                found += claims(rep, access, word)
            found += default_claims(rep, access, word, main_rows + strong)
            if strong:
                caught = [t for t in strong if int(rep.row(t, access)["flagged"])]
                ind = rep.row("Independent", access)
                found.append(f"- {word}, stronger thefts ({', '.join(f'{t} fidelity {rep.fidelity(t)}' for t in strong)}): "
                             f"calibrated rule flags {len(caught)}/{len(strong)}" + (f" ({', '.join(caught)})" if caught else "")
                             + (f"; independent models flagged {ind['flagged']}/{ind['verifications']}" if ind else ""))
        md += ["Claims, checked:", "", *found, ""]
        md += ablations(rep) if main_rows else []
        summary += [f"{sc}: {x[2:]}" for x in found]
    (HERE / "move.md").write_text("\n".join(md).rstrip() + "\n")
    write_section("move", "\n".join(["## MOVE tables", "", f"See [move.md](move.md): {stamp(command)}", "",
                                     *[f"- {x}" for x in summary]]))
    print(f"wrote {HERE / 'move.md'}")


if __name__ == "__main__":
    main()
