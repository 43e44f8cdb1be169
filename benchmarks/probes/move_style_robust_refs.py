"""Probe page for benchmarks/probes/move-fmnist-style-robust-refs.yaml (written with it, before its run): a
secret-style agreement rule whose references are the owner's worst innocent case, models trained with all 26 public
builtin styles (the run's independent models of seeds 300-305). Every suspect gets the exact one-sided McNemar test of
its agreement with the protected model's labels on the kit's stylised verification images above that of the
reference agreeing most (alpha 0.01, the test style-agreement decides with), and, in the second reading, also the
model-level test (the suspect's agreement as one more draw from the references', as rule style-agreement-models).
The independent models of seeds 310-327 are the fresh ones the yaml registered; the rest were seen before.

Run: ``python benchmarks/probes/move_style_robust_refs.py [RUN]`` (RUN under ``runs/bench``, default
move-fmnist-style-robust-refs). The page goes to ``benchmarks/probes/move_style_robust_refs.md``.
"""

import argparse
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _report import HERE, stamp  # noqa: E402

from move_secret_style import ALPHA, agreements, p_against  # noqa: E402

REFERENCES = range(300, 306)
FRESH = range(310, 328)


def seed_of(label: str) -> int:
    """The seed in an independent model's label ("cnn w1 seed 101, 8000 imgs, ...")."""
    return int(re.search(r"seed (\d+)", label).group(1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", nargs="?", default="move-fmnist-style-robust-refs")
    args = ap.parse_args()
    thefts, independent = agreements(Path("runs/bench") / args.run)
    refs = {n: a for n, a in independent.items() if seed_of(n) in REFERENCES}
    fresh = {n: a for n, a in independent.items() if seed_of(n) in FRESH}
    seen = {n: a for n, a in independent.items() if n not in refs and n not in fresh}
    if len(refs) != len(REFERENCES) or len(fresh) != len(FRESH):
        sys.exit(f"{args.run}: expected {len(REFERENCES)} references and {len(FRESH)} fresh models, found "
                 f"{len(refs)} and {len(fresh)} (has the run finished?)")
    ref_list = list(refs.values())
    best = max(refs, key=lambda n: refs[n].mean())

    def row(name: str, a, p1: float, p2: float) -> str:
        return (f"| {name} | {a.mean():.3f} | {p1:.2g} | {'**accused/flagged**' if p1 < ALPHA else 'no'} | {p2:.2g} | "
                f"{'**accused/flagged**' if p2 < ALPHA else 'no'} |")

    head = ["| model | agreement | p (McNemar vs best reference) | at 0.01 | p (with the model-level test) | at 0.01 |",
            "|---|---|---|---|---|---|"]
    lines = ["# MOVE: a secret-style rule against references trained with every public style (pre-registered probe)", "",
             stamp(f"python benchmarks/probes/move_style_robust_refs.py {args.run}"), "",
             (__doc__ or "").split("\n\n")[0].replace("\n", " "), "",
             "References (agreement with the protected model's labels on the 400 stylised images): "
             + "; ".join(f"{a.mean():.3f} ({n})" for n, a in refs.items()) + f". Best: {refs[best].mean():.3f}.", ""]
    for title, group in (("Thefts", thefts), (f"Fresh independent models ({len(fresh)})", fresh),
                         (f"Seen independent models ({len(seen)})", seen)):
        ordered = sorted(group.items(), key=lambda t: -t[1].mean()) if group is not thefts else group.items()
        ps = {n: (p_against(ref_list, a, False), p_against(ref_list, a, True)) for n, a in ordered}
        n1, n2 = (sum(p[k] < ALPHA for p in ps.values()) for k in (0, 1))
        lines += [f"## {title}: {n1}/{len(group)} at 0.01 by McNemar, {n2}/{len(group)} with the model-level test", ""]
        lines += head + [row(n, a, *ps[n]) for n, a in ordered] + [""]
    out = HERE / "probes" / "move_style_robust_refs.md"
    out.write_text("\n".join(lines))
    print(out)


if __name__ == "__main__":
    main()
