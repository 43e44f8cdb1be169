"""Probe page (exploratory, on models already seen): what a secret-style agreement rule might do.

MOVE's rule style-agreement compares a suspect's agreement with the protected model's labels on the kit's stylised
verification images against style reference models trained with the kit's own style: an innocent who used the same
style. With a private style image no innocent can have, and on benchmarks/probes/move-fmnist-private-extraction
copies extracted with 30,000 queries out-agreed every independent model. This page asks what a rule that compares
against reference models trained WITHOUT the kit's style would do, by resampling that run's own independent models:
each split draws K of them as the owner's references and treats the others as strangers; every stranger and every
theft gets the exact one-sided McNemar test of its agreement against the reference agreeing most on the same images
(the test style-agreement uses), at alpha 0.01; a second table also needs the model-level test (the suspect's
agreement as one more draw from the K references', t prediction test, as rule style-agreement-models). The models were seen before this page was written, so it sizes a
rule for a fresh test; it is not one.

Run: ``python benchmarks/probes/move_secret_style.py [RUN] [--splits N]`` (RUN under ``runs/bench``, default
move-fmnist-private-extraction). The page goes to ``benchmarks/probes/move_secret_style.md``.
"""

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _report import HERE, stamp  # noqa: E402

from move_forced_agreement import move_kits  # noqa: E402

from stealguard import stats  # noqa: E402
from stealguard.access import open_access  # noqa: E402

ALPHA = 0.01
KS = (3, 6, 12)


def agreements(run: Path) -> tuple[dict, dict]:
    """Per-image agreement (0/1) with the protected model's labels on the kit's stylised images: thefts, independents
    (the run's one MOVE kit)."""
    (_, _, kit, _, thefts, independent), = move_kits(run)
    styled, victim = kit.array("verify_styled"), kit.array("victim_styled_labels")

    def agree(path: Path) -> np.ndarray:
        return (open_access(str(path), "labels").predict_labels(styled) == victim).astype(np.int64)

    return {n: agree(p) for n, p in thefts.items()}, {n: agree(p) for n, p in independent.items()}


def p_against(refs: list[np.ndarray], suspect: np.ndarray, models: bool) -> float:
    """McNemar p of the suspect's agreement above the best reference's, on the same images; with ``models`` the
    larger of that and the model-level p (intersection-union test)."""
    p = stats.mcnemar_above(suspect, max(refs, key=lambda a: a.mean())).p_value
    if models:
        p = max(p, stats.prediction_t(float(suspect.mean()), np.array([a.mean() for a in refs]), "greater").p_value)
    return p


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", nargs="?", default="move-fmnist-private-extraction")
    ap.add_argument("--splits", type=int, default=200)
    args = ap.parse_args()
    thefts, independent = agreements(Path("runs/bench") / args.run)
    names = list(independent)
    lines = ["# MOVE: a secret-style agreement rule, sized on seen models (exploratory)", "",
             stamp(f"python benchmarks/probes/move_secret_style.py {args.run} --splits {args.splits}"), "",
             (__doc__ or "").split("\n\n")[1].replace("\n", " "), "",
             f"{len(independent)} independent models ({sum('styles ' in n for n in names)} trained with public styles, "
             f"none with the kit's); {args.splits} random splits per K.", "",
             "| K references | strangers per split | stranger verdicts accusing (share) | splits with an accusation | "
             + " | ".join(f"{t} ({a.mean():.3f}) flagged" for t, a in thefts.items()) + " |",
             "|---|---|---|---|" + "---|" * len(thefts)]
    header = len(lines) - 2
    for models in (False, True):
        if models:
            lines += ["", "With the model-level test too (intersection-union):", "", lines[header], lines[header + 1]]
        rng = np.random.default_rng(0)  # the same splits in both tables
        for k in KS:
            accused = verdicts = splits_bad = 0
            flagged = {t: 0 for t in thefts}
            for _ in range(args.splits):
                pick = set(rng.choice(len(names), k, replace=False).tolist())
                refs = [independent[names[i]] for i in sorted(pick)]
                hits = sum(p_against(refs, independent[names[i]], models) < ALPHA
                           for i in range(len(names)) if i not in pick)
                accused, verdicts, splits_bad = accused + hits, verdicts + len(names) - k, splits_bad + (hits > 0)
                for t, a in thefts.items():
                    flagged[t] += p_against(refs, a, models) < ALPHA
            lines.append(f"| {k} | {len(names) - k} | {accused}/{verdicts} ({accused / verdicts:.3f}) | "
                         f"{splits_bad}/{args.splits} | "
                         + " | ".join(f"{flagged[t] / args.splits:.2f}" for t in thefts) + " |")
    top = sorted(((a.mean(), n) for n, a in independent.items()), reverse=True)[:5]
    lines += ["", "Highest independent agreements: " + "; ".join(f"{v:.3f} ({n})" for v, n in top) + "."]
    out = HERE / "probes" / "move_secret_style.md"
    out.write_text("\n".join(lines) + "\n")
    print(out)


if __name__ == "__main__":
    main()
