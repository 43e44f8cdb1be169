"""Probe page: did each MOVE kit's protected model learn its style? The premise the style rules now check on a kit
(stealguard.methods.move.style_learnt): the protected model is right on the kit's stylised verification images
significantly more often than the benign model (exact one-sided McNemar test at 0.01), and its balanced accuracy
there (mean per-class accuracy) lies at least a quarter of the way from chance to 1. This page reads the kits of
finished harness runs and lists, per distinct kit: its style, the protected and benign models' accuracy on the
stylised verification images, the McNemar p-value, the protected model's balanced accuracy, the share of its most
common answer there (kits with style references, which store its answers) and whether the style rules accept the kit.

Run: ``python benchmarks/probes/move_style_learnt.py [NAME ...]`` (default: every run under ``runs/bench`` holding
a MOVE kit of version 3; each from ``python benchmarks/run.py ...`` first). The page goes to
``benchmarks/probes/move_style_learnt.md``.
"""

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _report import HERE, stamp  # noqa: E402

from stealguard.kit import KitError, load_kit  # noqa: E402
from stealguard.methods.move import STYLE_LEARNT_LEVEL, kit_style_learnt  # noqa: E402


def top_answer_share(kit) -> float:
    """The share of the protected model's most common answer on the kit's stylised verification images (kits with
    style references, which store its answers)."""
    answers = np.bincount(kit.array("victim_styled_labels"))
    return float(answers.max() / answers.sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="*")
    args = ap.parse_args()
    runs = [Path("runs/bench") / n for n in args.names] if args.names else sorted(Path("runs/bench").glob("*"))
    seen, rows = {}, []
    for run in runs:
        for folder in sorted(run.glob("kits/*")):
            try:
                kit = load_kit(folder, method="move")
            except KitError:  # another method's kit, or an unreadable one: not this page's business
                continue
            if not kit.has_array("benign_styled_correct"):
                continue
            if kit.kit_id in seen:  # the same kit, reused by another run
                seen[kit.kit_id][1].append(run.name)
                continue
            r = kit_style_learnt(kit)
            if kit.has_array("victim_styled_labels"):  # kits with style references: how concentrated its answers are
                r = r | {"top_share": top_answer_share(kit)}
            s = kit.meta["settings"]
            seen[kit.kit_id] = (r, [run.name], kit.meta.get("style"), kit.meta["victim_spec"]["arch"], s.get("rate"))
    for kit_id, (r, names, style, arch, rate) in seen.items():
        rows.append((", ".join(names), kit_id[:8], arch, str(style), rate, r))
    rows.sort(key=lambda t: (t[5]["learnt"], -t[5]["p_value"]))
    lines = ["# MOVE: did the protected model learn its style? (every kit of the runs read)", "",
             stamp("python benchmarks/probes/move_style_learnt.py" + "".join(f" {n}" for n in args.names)), "",
             (__doc__ or "").split("\n\n")[0].replace("\n", " "), "",
             "| runs | kit | protected model | style | rate | protected: right on stylised | benign: right on stylised "
             f"| McNemar p (< {STYLE_LEARNT_LEVEL:g}) | protected: balanced accuracy (≥ floor) | protected: its most common "
             "answer's share | style rules accept |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {n} | {k} | {a} | {st if len(st) <= 40 else st[:37] + '...'} | {rate} | {r['protected_accuracy']:.3f} | "
              f"{r['benign_accuracy']:.3f} | {r['p_value']:.2g} | {r['protected_balanced_accuracy']:.3f} (≥ {r['balanced_floor']:.3f}) | "
              f"{format(r['top_share'], '.2f') if 'top_share' in r else '–'} | "
              f"{'yes' if r['learnt'] else '**no**'} |"
              for n, k, a, st, rate, r in rows]
    out = HERE / "probes" / "move_style_learnt.md"
    out.write_text("\n".join(lines) + "\n")
    print(out)


if __name__ == "__main__":
    main()
