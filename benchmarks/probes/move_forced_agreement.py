"""Probe page: what MOVE's rule style-agreement would say on every suspect of a run if the kit check did not stop it.
Since 2026-12-02 the style rules refuse a kit whose protected model did not learn its style
(stealguard.methods.move.style_learnt); a refused kit's verdicts read "not applicable" in the harness report, so
the report cannot say whether the refusal prevented false accusations or only cost detection. This page runs the
rule itself (the method's own ``_verify_style_agreement``, the code ``verify`` calls once the check passes; alpha
0.01, every verification image) on each MOVE kit that holds style reference models, against the run's source
model, its thefts and its independent models, and puts the check's decision beside what the rule would have done.
A reading aid for the check, not a way around it: users cannot skip the check.

Run: ``python benchmarks/probes/move_forced_agreement.py NAME [NAME ...] [--out FILE]`` (runs under ``runs/bench``,
each from ``python benchmarks/run.py ...`` first). The page goes to ``benchmarks/probes/move_forced_agreement.md``, or
to ``--out`` (a page for runs read on another day, when the runs of the default page are no longer on the machine).
"""

import argparse
import sys
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _report import HERE, stamp  # noqa: E402

from stealguard.access import open_access  # noqa: E402
from stealguard.bench.db import ResultsDB  # noqa: E402
from stealguard.kit import KitError, load_kit  # noqa: E402
from stealguard.methods import get_method  # noqa: E402
from stealguard.methods.move import kit_style_learnt  # noqa: E402

from move_style_learnt import top_answer_share  # noqa: E402

ALPHA = 0.01


def forced(method, kit, path: Path):
    """The rule's verdict on one suspect file, labels only, past the kit check."""
    access = open_access(str(path), "labels")
    return method._verify_style_agreement(kit, access, None, 1, ALPHA, 0, "harmonic", None, time.perf_counter())


def move_kits(run: Path):
    """Each MOVE kit of a finished run with the files of its models: (label, seed, kit, source path, {theft: path},
    {independent model: path}); the thefts are those of the kit's own protect job (label and seed)."""
    done = ResultsDB(run / "results.sqlite").done()
    for key, res in sorted(done.items()):
        if not key.startswith("protect/") or "kit" not in res:
            continue
        try:
            kit = load_kit(run / res["kit"], method="move")
        except KitError:  # another method's kit
            continue
        label, seed = key.split("/")[1], key.split("/")[2]  # protect/LABEL/sSEED: the thefts of this seed's kit
        thefts = {k.split("/")[-1]: run / r["path"] for k, r in sorted(done.items())
                  if k.startswith(f"steal/{label}/{seed}/") and "path" in r}
        independent = {k.split("/", 1)[1]: run / r["path"] for k, r in sorted(done.items())
                       if k.startswith("independent/") and "path" in r}
        yield label, seed, kit, run / res["path"], thefts, independent


def kit_rows(run: Path, method) -> list[dict]:
    rows = []
    for label, seed, kit, source, thefts, independent in move_kits(run):
        if not kit.has_array("style_reference_agreement"):
            continue
        learnt = kit_style_learnt(kit)
        rows.append({"run": run.name, "label": f"{label} {seed}", "kit": kit.kit_id[:8],
                     "arch": kit.meta["victim_spec"]["arch"], "style": str(kit.meta.get("style")), "learnt": learnt,
                     "top_share": top_answer_share(kit), "source": forced(method, kit, source),
                     "thefts": {n: forced(method, kit, p) for n, p in thefts.items()},
                     "independent": {n: forced(method, kit, p) for n, p in independent.items()}})
        print(f"{run.name} {label}: checked", file=sys.stderr)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="+")
    ap.add_argument("--out", help="the page to write (default benchmarks/probes/move_forced_agreement.md)")
    args = ap.parse_args()
    method = get_method("move")
    rows = [r for n in args.names for r in kit_rows(Path("runs/bench") / n, method)]
    lines = ["# MOVE: rule style-agreement past the kit check (every kit with style references of the runs read)", "",
             stamp("python benchmarks/probes/move_forced_agreement.py " + " ".join(args.names)
                   + (f" --out {args.out}" if args.out else "")), "",
             (__doc__ or "").split("\n\n")[0].replace("\n", " "), "",
             "| run | kit | protected model | style | check: balanced accuracy (floor) / McNemar p | most common answer's "
             f"share | check | source p | thefts flagged (p < {ALPHA:g}) | independent models accused | highest "
             "independent agreement (its best style reference's) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lr, inds = r["learnt"], r["independent"]
        accused = [n for n, v in inds.items() if v.stolen]
        top = max(inds.items(), key=lambda t: t[1].details["suspect_agreement"]) if inds else None
        thefts = ", ".join(f"{n} {v.p_value:.2g}" + (" **flagged**" if v.stolen else "") for n, v in r["thefts"].items())
        style = r["style"] if len(r["style"]) <= 40 else r["style"][:37] + "..."
        lines.append(
            f"| {r['run']} | {r['label']} ({r['kit']}) | {r['arch']} | {style} | "
            f"{lr['protected_balanced_accuracy']:.3f} ({lr['balanced_floor']:.3f}) / {lr['p_value']:.2g} | "
            f"{r['top_share']:.2f} | {'accepts' if lr['learnt'] else '**refuses**'} | {r['source'].p_value:.2g} | "
            f"{sum(v.stolen for v in r['thefts'].values())}/{len(r['thefts'])}: {thefts} | "
            f"**{len(accused)}/{len(inds)}**" + (f": {'; '.join(accused)}" if accused else "") + " | "
            + (f"{top[1].details['suspect_agreement']:.3f} ({top[1].details['best_style_reference_agreement']:.3f}; "
               f"{top[0]})" if top else "–") + " |")
    lines += ["", "Each suspect's agreement with the protected model's labels on the kit's stylised verification images, "
              "against the independent models' (how many of them agree at least as much; those trained with a style, "
              "any style, are counted apart: none was trained with a private image's style).", "",
              "| run | kit | best style reference | source | thefts | independent models with a style: highest 3 "
              "(of n) | without a style: highest 3 (of n) | thefts above every independent model |",
              "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        inds = {n: v.details["suspect_agreement"] for n, v in r["independent"].items()}
        styled = sorted((a for n, a in inds.items() if "styles " in n), reverse=True)
        plain = sorted((a for n, a in inds.items() if "styles " not in n), reverse=True)
        top = max(inds.values(), default=0.0)
        agree = {n: v.details["suspect_agreement"] for n, v in r["thefts"].items()}
        best = r["source"].details["best_style_reference_agreement"]
        lines.append(
            f"| {r['run']} | {r['label']} ({r['kit']}) | {best:.3f} | {r['source'].details['suspect_agreement']:.3f} | "
            + ", ".join(f"{n} {a:.3f} ({sum(x >= a for x in inds.values())} at least as high)" for n, a in agree.items())
            + f" | {', '.join(f'{a:.3f}' for a in styled[:3])} (of {len(styled)}) | "
            f"{', '.join(f'{a:.3f}' for a in plain[:3])} (of {len(plain)}) | "
            f"{sum(a > top for a in agree.values())}/{len(agree)} |")
    out = Path(args.out) if args.out else HERE / "probes" / "move_forced_agreement.md"
    out.write_text("\n".join(lines) + "\n")
    print(out)


if __name__ == "__main__":
    main()
