"""Probe page for benchmarks/probes/move-fmnist-style-refs-protect.yaml (written with it, before its run): MOVE's
opt-in ``style_reference_styles`` as shipped -- style references trained by ``protect`` with all 26 public builtin
styles on the owner's images -- read from the verdicts the harness stored (rule style-agreement, alpha 0.01, exactly
what ``stealguard verify`` returns). No rule is computed here: the page only sorts and counts the run's verdicts.
The independent models of seeds 330-341 are the fresh ones the yaml registered; the rest were seen before.

Run: ``python benchmarks/probes/move_style_refs_protect.py [RUN]`` (RUN under ``runs/bench``, default
move-fmnist-style-refs-protect). The page goes to ``benchmarks/probes/move_style_refs_protect.md``.
"""

import argparse
import json
import sqlite3
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _report import HERE, stamp  # noqa: E402

from move_style_robust_refs import seed_of  # noqa: E402

FRESH = range(330, 342)
CLOSEST = 8  # seen independent models listed per entry (the most agreeing)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", nargs="?", default="move-fmnist-style-refs-protect")
    args = ap.parse_args()
    db = Path("runs/bench") / args.run / "results.sqlite"
    if not db.exists():
        sys.exit(f"{db} is missing: run `python benchmarks/run.py benchmarks/probes/{args.run}.yaml` first")
    with sqlite3.connect(db) as c:
        rows = c.execute("select method_label, suspect, suspect_kind, stolen, p_value, details from verdicts "
                         "order by rowid").fetchall()
        expected = c.execute("select count(*) from jobs where kind = 'verify'").fetchone()[0]
    if len(rows) != expected or not rows:
        sys.exit(f"{args.run}: {len(rows)} verdicts of {expected} verify jobs (has the run finished?)")
    entries: dict[str, list] = {}
    for method, suspect, kind, stolen, p, details in rows:
        entries.setdefault(method, []).append((suspect, kind, bool(stolen), p, json.loads(details)))

    def row(name: str, stolen: bool, p: float, d: dict) -> str:
        return (f"| {name} | {d['suspect_agreement']:.3f} | {d['best_style_reference_agreement']:.3f} | {p:.2g} | "
                f"{'**flagged/accused**' if stolen else 'no'} |")

    head = ["| model | agreement | best reference | p (style-agreement) | at 0.01 |", "|---|---|---|---|---|"]
    lines = ["# MOVE: the opt-in public-style references, built by protect (pre-registered probe)", "",
             stamp(f"python benchmarks/probes/move_style_refs_protect.py {args.run}"), "",
             (__doc__ or "").split("\n\n")[0].replace("\n", " "), ""]
    for method, vs in entries.items():
        d0 = vs[0][4]
        refs = d0["style_reference_agreement"]
        thefts = [v for v in vs if v[1] != "independent"]
        ind = [v for v in vs if v[1] == "independent"]
        fresh = sorted((v for v in ind if seed_of(v[0]) in FRESH), key=lambda v: -v[4]["suspect_agreement"])
        seen = sorted((v for v in ind if seed_of(v[0]) not in FRESH), key=lambda v: -v[4]["suspect_agreement"])
        lines += [f"## {method}", "",
                  f"Style references ({d0['style_references_trained_with']}): agreement with the protected model's "
                  f"labels on the {d0['images']} stylised images " + ", ".join(f"{a:.3f}" for a in refs)
                  + f"; best {max(refs):.3f}.", "",
                  f"Thefts flagged: {sum(v[2] for v in thefts if v[1] == 'stolen')}/"
                  f"{sum(v[1] == 'stolen' for v in thefts)}; fresh independent models accused: "
                  f"{sum(v[2] for v in fresh)}/{len(fresh)}; seen independent models accused: "
                  f"{sum(v[2] for v in seen)}/{len(seen)}.", "",
                  "### Source and thefts", ""] + head + [row(n, s, p, d) for n, _, s, p, d in thefts] + [""]
        lines += [f"### Fresh independent models ({len(fresh)})", ""] + head
        lines += [row(n, s, p, d) for n, _, s, p, d in fresh] + [""]
        lines += [f"### Seen independent models: the {CLOSEST} most agreeing of {len(seen)}", ""] + head
        lines += [row(n, s, p, d) for n, _, s, p, d in seen[:CLOSEST]] + [""]
    out = HERE / "probes" / "move_style_refs_protect.md"
    out.write_text("\n".join(lines))
    print(out)


if __name__ == "__main__":
    main()
