"""benchmarks/baselines.md: every method and baseline side by side, assembled from the harness reports.

Run: ``python benchmarks/baselines.py [SCENARIO ...]`` (default: the DEFAULT scenarios below) after
``python benchmarks/run.py SCENARIO`` has written ``benchmarks/SCENARIO/``. Nothing is typed by hand: the tables are
the reports' CSV files (verification.csv, auc.csv, summary.csv, protection.csv) side by side, and each statement on
the papers' findings is a check computed from them, printed as reproduced or not. Methods appear in the scenario
that judged them; within one scenario every method saw the same victim, the same thefts and the same independent
models.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import HERE, report_rows, stamp, write_section  # noqa: E402

DEFAULT = ["baselines-fmnist", "fingerprints-fmnist", "backdoor-meta-fmnist", "baselines-cifar10"]
MOVE_ROWS = ("Source", "Distillation", "Zero-shot", "Fine-tuning", "Label-query", "Logit-query", "Independent")
ALIASES = {"Distilling": "Distillation"}  # row names that differ between scenarios
# SAC Table 5, on a GPU (seconds to build the fingerprint / watermark)
PAPER_SECONDS = {"IPGuard": 456, "CAE": 25537, "EWE": 277, "SAC-w": 2380, "SAC-m": 4.45}


_rows = report_rows


def _p(x: str) -> str:
    v = float(x)
    return f"{v:.1e}" if v < 1e-3 else f"{v:.3f}"


def _verification(scenarios: list[str]) -> tuple[list[str], dict]:
    """Columns '(scenario) method (access)' and cells {(column, row): row dict}."""
    cols, cells = [], {}
    for sc in scenarios:
        for r in _rows(sc, "verification.csv"):
            col = f"{r['method']} ({r['access']})"
            key = (sc, col)
            if key not in cols:
                cols.append(key)
            cells[(key, ALIASES.get(r["suspect"], r["suspect"]))] = r
    return cols, cells


def _cell(r: dict | None) -> str:
    if r is None:
        return "–"
    eff = float(r["effect_median"])
    flag = int(r["flagged"])
    n = int(r["verifications"])
    word = ("" if flag == 0 else " ✔" if flag == n else f" {flag}/{n}")
    return f"{eff:+.2f} / {_p(r['p_value_max_or_min'])}{word}"


def _checks(cells: dict, aucs: dict, prot: dict) -> list[tuple[str, str, bool | None]]:
    """(paper finding, what was measured, reproduced?) — computed, never typed."""

    def find(method: str, row: str, access: str | None = None, scenarios=None):
        hits = [r for (key, rw), r in cells.items() if rw == row and key[1].startswith(method + " (")
                and (access is None or key[1].endswith(f"({access})")) and (scenarios is None or key[0] in scenarios)]
        return hits

    out = []
    steal_rows = ("Distillation", "Zero-shot", "Fine-tuning", "Label-query", "Logit-query")
    move = [r for row in steal_rows for r in find("MOVE", row, "probabilities")]
    if move:
        k = sum(int(r["flagged"]) == int(r["verifications"]) for r in move)
        out.append(("MOVE (Table III/V): every stolen model is flagged (p < 0.01)",
                    f"MOVE black-box flags {k} of {len(move)} theft rows", k == len(move)))
    # BadNets claims only where the backdoor was embedded (its own test flags the source)
    embedded = {key[0] for (key, rw), r in cells.items() if rw == "Source" and key[1].startswith("BadNets (")
                and int(r["flagged"])}
    failed = sorted({key[0] for (key, rw) in cells if rw == "Source" and key[1].startswith("BadNets (")} - embedded)
    if failed:
        out.append(("BadNets: the backdoor is embedded (the watermarked model itself is flagged)",
                    f"not in {', '.join(failed)}: its own test does not flag the source (see its attack success rate)", False))
    bn = [r for row in ("Distillation", "Label-query", "Logit-query") for r in find("BadNets", row, scenarios=embedded)]
    if bn:
        k = sum(int(r["flagged"]) > 0 for r in bn)
        out.append(("MOVE: the BadNets watermark does not survive distillation or query extraction",
                    f"BadNets flags {k} of {len(bn)} such (row, access) cells", k == 0))
    zs = find("BadNets", "Zero-shot", scenarios=embedded)
    if zs:
        k = sum(int(r["flagged"]) > 0 for r in zs)
        out.append(("MOVE Table II: the backdoor's success collapses on a zero-shot copy",
                    f"BadNets flags the zero-shot copy in {k} of {len(zs)} (scenario, access) cells, its attack success rate stays high (see the reports)", k == 0))
    fps = {}
    for (key, rw), r in cells.items():
        if rw == "Independent":
            f = fps.setdefault(key[1].split(" (")[0], [0, 0])
            f[0] += int(r["flagged"])
            f[1] += int(r["verifications"])
    if fps:
        bad = {m: f for m, f in fps.items() if f[0]}
        out.append(("(stealguard's rule) no independent model is accused",
                    "accusations: " + (", ".join(f"{m} {f[0]} of {f[1]} verifications" for m, f in bad.items()) or "none")
                    + "; every other method 0 (independent verifications of all scenarios and access levels)", not bad))
    both = {key[0] for (key, _) in cells if key[1].startswith("BadNets + meta-classifier (")}
    plain = [r for row in steal_rows for r in find("BadNets", row, scenarios=both)]
    meta = [r for row in steal_rows for r in find("BadNets + meta-classifier", row, scenarios=both)]
    if plain and meta:
        kp = sum(int(r["flagged"]) == int(r["verifications"]) for r in plain)
        km = sum(int(r["flagged"]) == int(r["verifications"]) for r in meta)
        fp = sum(int(r["flagged"]) for r in find("BadNets + meta-classifier", "Independent", scenarios=both))
        out.append(("MOVE Table XIV: MOVE's meta-classifier on top of the BadNets watermark catches more thefts than "
                    "BadNets' own test",
                    f"(theft row, access) cells flagged: meta-classifier {km} of {len(meta)}, BadNets' test {kp} of "
                    f"{len(plain)}; independent models flagged by the meta-classifier: {fp}", km > kp * len(meta) / len(plain)))
    di = find("Dataset inference", "Independent")
    if di:
        fp = sum(int(r["flagged"]) for r in di)
        n = sum(int(r["verifications"]) for r in di)
        out.append(("MOVE §4.1: dataset inference wrongly accuses independent models of the same distribution",
                    f"dataset inference flags {fp} of {n} independent models", fp > 0))
        src = find("Dataset inference", "Source")
        if src:
            out.append(("Dataset inference flags the owner's own model",
                        "source p = " + ", ".join(_p(r["p_value_max_or_min"]) for r in src) + " (m = 10 draws; one per scenario)",
                        all(int(r["flagged"]) > 0 for r in src)))
    if move:  # MOVE's comparative claim, within the scenarios that judged MOVE beside the others
        with_move = {key[0] for (key, _) in cells if key[1].startswith("MOVE (")}
        counts = {}
        for m in ("MOVE", "BadNets", "EWE ID", "Dataset inference"):
            rs = [r for row in steal_rows for r in find(m, row, scenarios=with_move)]
            if rs:
                counts[m] = (sum(int(r["flagged"]) == int(r["verifications"]) for r in rs), len(rs))
        if len(counts) > 1 and "MOVE" in counts:
            rate = {m: k / n for m, (k, n) in counts.items()}
            out.append(("MOVE (Table III/V): MOVE catches more thefts than the backdoor watermarks and dataset inference",
                        "(theft row, access) cells flagged: " + ", ".join(f"{m} {k} of {n}" for m, (k, n) in counts.items()),
                        all(rate["MOVE"] > v for m, v in rate.items() if m != "MOVE")))
    queries = ("Label-query", "Logit-query", "Extract-L", "Extract-P")

    def auc_means(method: str) -> dict:
        """{scenario: [AUCs on query extraction]} of a method's columns ('EWE' covers 'EWE ID')."""
        got = {}
        for (col, attack), v in aucs.items():
            name, sc = col.split(" (")[0], col.rsplit("[", 1)[-1].rstrip("]")
            if name in (method, method + " ID") and attack in queries and v:
                got.setdefault(sc, []).append(float(v))
        return got

    sac_m = auc_means("SAC-m")
    for fp_method in ("IPGuard", "CAE", "EWE"):
        other = auc_means(fp_method)
        shared = sorted(set(other) & set(sac_m))  # the same thefts: scenarios that judged both
        vals = [v for sc in shared for v in other[sc]]
        sac = [v for sc in shared for v in sac_m[sc]]
        if vals and sac:
            out.append((f"SAC Table 1: SAC-m beats {fp_method} on query extraction (AUC)",
                        f"mean AUC on label/logit-query ({', '.join(shared)}): SAC-m {sum(sac) / len(sac):.2f}, "
                        f"{fp_method} {sum(vals) / len(vals):.2f}", sum(sac) / len(sac) > sum(vals) / len(vals)))
    secs = {m: float(r["protect seconds"]) for m, r in prot.items()  # the fingerprints of SAC Table 5
            if m.replace(" ID", "") in PAPER_SECONDS and r.get("protect seconds") not in (None, "", "–")}
    if "CAE" in secs and "SAC-m" in secs:
        slowest = max(secs, key=secs.get)
        out.append(("SAC Table 5: CAE is the slowest to build of IPGuard, CAE, EWE, SAC-w and SAC-m, SAC-m the fastest",
                    f"slowest here: {slowest} ({secs[slowest]:.0f} s); SAC-m {secs['SAC-m']:.0f} s",
                    slowest == "CAE" and secs["SAC-m"] <= min(secs.values())))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("scenarios", nargs="*", default=DEFAULT)
    args = ap.parse_args()
    cmd = "python benchmarks/baselines.py" + ("" if args.scenarios == DEFAULT else " " + " ".join(args.scenarios))
    lines = ["# Baselines side by side", "", stamp(cmd), "",
             "Assembled from the harness reports of " + ", ".join(f"[{s}]({s}/report.md)" for s in args.scenarios)
             + " (each report states its own command, machine and date; per-suspect details are there). Within one "
             "scenario every method judged the same victim, thefts and independent models; the scenarios differ "
             "in their victim (see each report). CPU scale: small models, few epochs — not the papers' numbers.", ""]

    cols, cells = _verification(args.scenarios)
    lines += ["## MOVE Table III/V layout: Δµ (effect, median) / p-value per suspect", "",
              "Cell: effect / p-value (stolen rows: the largest over the row's models; Independent: the smallest), "
              "✔ = flagged (k/n: flagged in k of n). Effects are each method's own statistic (MOVE, BadNets, "
              "dataset inference: Δµ; feature sharing, EWE: p − q; SAC: distance margin; IPGuard, CAE: matching rate "
              "minus bound), so compare verdicts across columns, not effect sizes.", ""]
    for sc in args.scenarios:
        sc_cols = [c for c in cols if c[0] == sc]
        lines += [f"### {sc}", "", "| suspect | " + " | ".join(c[1] for c in sc_cols) + " |",
                  "|---|" + "---|" * len(sc_cols)]
        rows = [r for r in MOVE_ROWS if any((c, r) in cells for c in sc_cols)]
        rows += sorted({rw for (c, rw) in cells if c in sc_cols and rw not in MOVE_ROWS})
        for row in rows:
            lines.append(f"| {row} | " + " | ".join(_cell(cells.get((c, row))) for c in sc_cols) + " |")
        lines.append("")

    aucs, auc_cols, attacks = {}, [], []
    for sc in args.scenarios:
        for r in _rows(sc, "auc.csv"):
            attack = ALIASES.get(r["attack"], r["attack"])
            if attack not in attacks:
                attacks.append(attack)
            for col, v in r.items():
                if col == "attack":
                    continue
                key = f"{col} [{sc}]"
                if key not in auc_cols:
                    auc_cols.append(key)
                aucs[(key, attack)] = v
    lines += ["## SAC Table 1 layout: AUC per attack (stolen copies vs the independent models)", "",
              "| attack | " + " | ".join(auc_cols) + " |", "|---|" + "---|" * len(auc_cols)]
    for a in attacks:
        lines.append(f"| {a} | " + " | ".join(aucs.get((c, a)) or "–" for c in auc_cols) + " |")
    lines.append("")

    lines += ["## Detection and false positives", "",
              "| scenario | method | access | thefts detected | independent models flagged | detection rate | false-positive rate |",
              "|---|---|---|---|---|---|---|"]
    for sc in args.scenarios:
        for r in _rows(sc, "summary.csv"):
            lines.append(f"| {sc} | {r['method']} | {r['access']} | {r['thefts detected']} | "
                         f"{r['independent models flagged']} | {r['detection rate']} | {r['false-positive rate']} |")
    lines.append("")

    prot = {}
    lines += ["## Time to protect and to verify one suspect (SAC Table 5 layout)", "",
              "Wall-clock seconds of the harness job on this machine (2 CPU cores; models already in the artifact "
              "cache are not retrained, so shared helper models count once); the paper's build times are on a GPU.", "",
              "| scenario | method | protect seconds | verify seconds per suspect | queries per verification | paper (GPU) build seconds |",
              "|---|---|---|---|---|---|"]
    for sc in args.scenarios:
        for r in _rows(sc, "protection.csv"):
            prot.setdefault(r["method"], r)
            paper = PAPER_SECONDS.get(r["method"].replace(" ID", ""))
            lines.append(f"| {sc} | {r['method']} | {r['protect seconds']} | {r['verify seconds per suspect (mean)']} | "
                         f"{r['queries per verification (mean)']} | {paper if paper is not None else '–'} |")
    lines.append("")

    lines += ["## The papers' findings (and stealguard's no-false-accusation rule), checked", "", "| finding | measured here | holds here |", "|---|---|---|"]
    for claim, measured, ok in _checks(cells, aucs, prot):
        lines.append(f"| {claim} | {measured} | {'yes' if ok else '**no**'} |")
    lines.append("")
    (HERE / "baselines.md").write_text("\n".join(lines))
    write_section("baselines", "## Baselines side by side\n\nSee [baselines.md](baselines.md): " + stamp(cmd))
    print("benchmarks/baselines.md")


if __name__ == "__main__":
    main()
