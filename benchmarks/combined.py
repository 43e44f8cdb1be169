"""The combined verdict over several kits of one released model against each kit alone: benchmarks/combined.md.

Run: ``.venv/bin/python benchmarks/combined.py RUN [--access labels|probabilities] [--alpha A] [--out PAGE]`` where
RUN is a harness run folder holding a MOVE-protected model (``runs/bench/SCENARIO``, or ``runs/demo/bench`` after
``stealguard demo``). The owner of the MOVE-protected model also fingerprints it with SAC-m and IPGuard (kits built
here, their reference models as the run's SAC-m entry's, so the cache shares them). Every suspect of the MOVE model
(the source, each theft of it, every independent model) is verified with each kit alone, at its method's own rule and
level, and with all three at once (:func:`stealguard.methods.combined.verify_combined`, Holm-Bonferroni at ``alpha``
over the kits). A theft whose test accuracy is below twice chance is a failed theft, listed but not counted.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _population import failed_theft, fingerprint, load_run, suspects  # noqa: E402
from _report import HERE, stamp  # noqa: E402

from stealguard.verdict import json_safe  # noqa: E402


def measure(run: Path, access: str, alpha: float) -> dict:
    """Each kit's verdict and the combined one on every suspect of the run's MOVE-protected model."""
    from stealguard.access import open_access
    from stealguard.kit import load_kit
    from stealguard.methods.combined import verify_combined
    from stealguard.models import load_model

    sc, res = load_run(run)
    move = next(k for k in res if k.startswith("protect/MOVE/"))
    protected = res[move]["path"]
    kits = {"MOVE": load_kit(run / res[move]["kit"]),
            "SAC-m": fingerprint(run, sc, "sac", protected, "sac-m-protected", variant="m"),
            "IPGuard": fingerprint(run, sc, "ipguard", protected, "ipguard-protected")}
    classes = kits["IPGuard"].meta["num_classes"]
    rows = []
    for name, kind, path, acc in suspects(res, move, "steal/MOVE/"):
        c = verify_combined(list(kits.values()), open_access(load_model(run / path), access), alpha)
        by_id = {v.kit_id: v for v in c.verdicts}
        own = {label: {"stolen": by_id[k.kit_id].stolen, "p": by_id[k.kit_id].p_value, "alpha": by_id[k.kit_id].alpha,
                       "queries": by_id[k.kit_id].queries} if k.kit_id in by_id else None for label, k in kits.items()}
        rows.append({"suspect": name, "kind": kind, "accuracy": acc, "failed": failed_theft(kind, acc, classes),
                     "kits": own, "combined": {"stolen": c.stolen, "p": c.p_value, "queries": c.queries},
                     "skipped": [s["method"] for s in c.skipped]})
    return {"scenario": sc["name"], "access": access, "alpha": alpha, "kits": list(kits), "rows": rows}


def page(data: dict, command: str) -> str:
    kits, rows = data["kits"], data["rows"]
    word = lambda d: "✓" if d["stolen"] else "✗"  # noqa: E731
    lines = ["# Combined verdict: several kits of one released model", "", stamp(command), "",
             f"Population: the harness run of scenario `{data['scenario']}`. The owner of its MOVE-protected model "
             "also fingerprinted that model with SAC-m and IPGuard; every suspect of it is verified at "
             f"{data['access']} access by each kit alone (its method's own rule and level) and by the three together "
             f"(Holm–Bonferroni over the kits' p-values at family-wise alpha {data['alpha']:g}). ✓: called stolen; "
             "p: the kit's p-value (SAC: empirical against its reference models) or the smallest Holm-adjusted one.", "",
             "| suspect | kind | test accuracy | " + " | ".join(kits) + " | combined | combined p | queries |",
             "|---|---|---|" + "---|" * len(kits) + "---|---|---|"]
    for r in rows:
        kind = "stolen — **failed theft**" if r["failed"] else r["kind"]
        cells = [f"{word(r['kits'][k])} (p {r['kits'][k]['p']:.2g})" if r["kits"][k] else "skipped" for k in kits]
        lines.append(f"| {r['suspect']} | {kind} | {r['accuracy']:.4f} | " + " | ".join(cells)
                     + f" | {word(r['combined'])} | {r['combined']['p']:.3g} | {r['combined']['queries']} |")
    own = [r for r in rows if r["kind"] != "independent" and not r["failed"]]
    ind = [r for r in rows if r["kind"] == "independent"]
    said = lambda r, k: bool(r["kits"][k] and r["kits"][k]["stolen"])  # noqa: E731
    per_kit = {k: (sum(said(r, k) for r in own), sum(said(r, k) for r in ind)) for k in kits}
    best = max(per_kit.values())[0]
    worst_fp = max(fp for _, fp in per_kit.values())
    lost = [r["suspect"] for r in own if not r["combined"]["stolen"] and any(said(r, k) for k in kits)]
    fp = sum(r["combined"]["stolen"] for r in ind)
    lines += ["", "## Counts", "", "| | " + " | ".join(kits) + " | combined |", "|---|" + "---|" * (len(kits) + 1),
              f"| source and working thefts called stolen (of {len(own)}) | "
              + " | ".join(str(per_kit[k][0]) for k in kits) + f" | {sum(r['combined']['stolen'] for r in own)} |",
              f"| independent models called stolen (of {len(ind)}) | "
              + " | ".join(str(per_kit[k][1]) for k in kits) + f" | {fp} |", "",
              "Reading: " + (f"the combined verdict calls {fp} of {len(ind)} independent models stolen (at most alpha "
                             f"of them expected; the worst single kit: {worst_fp}); ")
              + (f"it catches {sum(r['combined']['stolen'] for r in own)} of {len(own)} where the best single kit "
                 f"catches {best}")
              + (f"; a suspect some kit alone calls stolen but the combined verdict does not: {', '.join(lost)} "
                 "(Holm divides alpha among the kits, and each kit alone decides at its own level)" if lost else "")
              + ". The population is small (one victim, its thefts and the run's independent models), so these "
                "counts say what happened here, not a rate."]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", type=Path, help="a harness run folder, e.g. runs/bench/fmnist-real or runs/demo/bench")
    ap.add_argument("--access", choices=["labels", "probabilities"], default="labels")
    ap.add_argument("--alpha", type=float, default=0.01)
    ap.add_argument("--out", type=Path, default=HERE / "combined.md")
    args = ap.parse_args()
    if not (args.run / "results.sqlite").exists():
        sys.exit(f"{args.run}: no results.sqlite (run the scenario or the demo first)")
    data = measure(args.run, args.access, args.alpha)
    cmd = (f"python benchmarks/combined.py {args.run.as_posix()}" + (f" --access {args.access}" if args.access != "labels" else "")
           + (f" --alpha {args.alpha:g}" if args.alpha != 0.01 else ""))
    args.out.write_text(page(data, cmd))
    args.out.with_suffix(".json").write_text(json.dumps(json_safe(data), indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
