"""Sequential verification against the fixed test on the same suspects: benchmarks/sequential.md.

Run: ``.venv/bin/python benchmarks/sequential.py RUN [--round-size N] [--out PAGE]`` where RUN is a harness run
folder (``runs/bench/SCENARIO``, or ``runs/demo/bench`` after ``stealguard demo``) that holds a MOVE kit with style
reference models and a plain victim. Every suspect of the run (the protected model or victim, each theft of it, every
independent model) is verified twice at labels-only access, with the fixed test and with ``sequential=True``:
MOVE's rule style-agreement with the run's own MOVE kit, and IPGuard with a kit this script builds on the run's plain
victim (its reference models: the SAC-m entry's architectures, limit and epochs, so the artifact cache shares them).
A theft whose test accuracy is below twice chance is a failed theft, listed but left out of the counts.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _population import failed_theft, fingerprint, load_run, suspects  # noqa: E402
from _report import HERE, stamp  # noqa: E402

from stealguard.verdict import json_safe  # noqa: E402


def measure(run: Path, round_size: int) -> dict:
    """Fixed and sequential verdicts of every suspect, per method."""
    from stealguard.access import open_access
    from stealguard.kit import load_kit
    from stealguard.methods import verify_suspect
    from stealguard.models import load_model

    sc, res = load_run(run)
    move = next(k for k in res if k.startswith("protect/MOVE/"))
    kits = {"MOVE (style-agreement)": (load_kit(run / res[move]["kit"]), suspects(res, move, "steal/MOVE/"),
                                       {"rule": "style-agreement"}),
            "IPGuard": (fingerprint(run, sc, "ipguard", res["victim/s0"]["path"], "ipguard-victim"),
                        suspects(res, "victim/s0", "steal/plain/"), {})}
    out = {"scenario": sc["name"], "round_size": round_size, "methods": {}}
    for label, (kit, group, options) in kits.items():
        rows, classes = [], kit.meta.get("num_classes") or len(kit.meta["classes"])
        for name, kind, path, acc in group:
            model = load_model(run / path)
            row = {"suspect": name, "kind": kind, "accuracy": acc, "failed": failed_theft(kind, acc, classes)}
            for mode, seq in (("fixed", False), ("sequential", True)):
                v = verify_suspect(kit, open_access(model, "labels"), sequential=seq, round_size=round_size, **options)
                row[mode] = {"stolen": v.stolen, "p": v.p_value, "queries": v.queries, "alpha": v.alpha,
                             "stop": v.details.get("sequential", {}).get("stop")}
            rows.append(row)
        out["methods"][label] = rows
    return out


def page(data: dict, command: str) -> str:
    lines = ["# Sequential verification: queries to a verdict", "", stamp(command), "",
             f"Population: the harness run of scenario `{data['scenario']}`. Each suspect is verified at labels-only "
             "access twice: with the method's fixed test (every verification query asked) and with `--sequential` "
             f"(rounds of {data['round_size']} queries; an always-valid mixture likelihood-ratio test of the same null "
             "hypothesis, stopped as soon as it rejects or can no longer reject with the queries left). Both decide at "
             "the method's own alpha (MOVE 0.01, IPGuard 0.05).", ""]
    lines += ["## Summary", "",
              "| method | suspects | detected (fixed / sequential) | queries on source and thefts: median, max (fixed) "
              "| (sequential) | ratio of medians | independents flagged (fixed / sequential) | queries on independents: "
              "median (fixed / sequential) |", "|---|---|---|---|---|---|---|---|"]
    for label, rows in data["methods"].items():
        own = [r for r in rows if r["kind"] != "independent" and not r["failed"]]
        ind = [r for r in rows if r["kind"] == "independent"]
        qf, qs = [r["fixed"]["queries"] for r in own], [r["sequential"]["queries"] for r in own]
        det = f"{sum(r['fixed']['stolen'] for r in own)} / {sum(r['sequential']['stolen'] for r in own)} of {len(own)}"
        fp = f"{sum(r['fixed']['stolen'] for r in ind)} / {sum(r['sequential']['stolen'] for r in ind)} of {len(ind)}"
        iq = (f"{statistics.median(r['fixed']['queries'] for r in ind):g} / "
              f"{statistics.median(r['sequential']['queries'] for r in ind):g}") if ind else "–"
        lines.append(f"| {label} | {len(rows)} | {det} | {statistics.median(qf):g}, {max(qf)} | "
                     f"{statistics.median(qs):g}, {max(qs)} | {statistics.median(qs) / statistics.median(qf):.2f} | {fp} | {iq} |")
    accs = [r["accuracy"] for rows in data["methods"].values() for r in rows]
    lines += ["", f"Reading: the suspects' test accuracy spans {min(accs):.3f}-{max(accs):.3f}. Queries are counted on "
              "the source and every theft that worked, caught or not (a missed theft costs queries too).", ""]
    for label, rows in data["methods"].items():
        own = [r for r in rows if r["kind"] != "independent" and not r["failed"]]
        lost = [r["suspect"] for r in own if r["fixed"]["stolen"] and not r["sequential"]["stolen"]]
        won = [r["suspect"] for r in own if r["sequential"]["stolen"] and not r["fixed"]["stolen"]]
        lines.append(f"- {label}: sequential asks {statistics.median(r['sequential']['queries'] for r in own):g} queries "
                     f"(median) where the fixed test asks {statistics.median(r['fixed']['queries'] for r in own):g}"
                     + (f"; it misses what the fixed test caught: {', '.join(lost)}" if lost else
                        "; it catches every suspect the fixed test caught")
                     + (f"; it catches what the fixed test missed: {', '.join(won)}" if won else "") + ".")
    for label, rows in data["methods"].items():
        lines += ["", f"## {label}", "",
                  "| suspect | kind | test accuracy | fixed: verdict | p | queries | sequential: verdict | p | queries | "
                  "stopped because |", "|---|---|---|---|---|---|---|---|---|---|"]
        for r in rows:
            f, s = r["fixed"], r["sequential"]
            kind = "stolen — **failed theft**" if r["failed"] else r["kind"]
            lines.append(f"| {r['suspect']} | {kind} | {r['accuracy']:.4f} | {'stolen' if f['stolen'] else 'not shown'} | "
                         f"{f['p']:.3g} | {f['queries']} | {'stolen' if s['stolen'] else 'not shown'} | {s['p']:.3g} | "
                         f"{s['queries']} | {s['stop']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", type=Path, help="a harness run folder, e.g. runs/bench/fmnist-real or runs/demo/bench")
    ap.add_argument("--round-size", type=int, default=20)
    ap.add_argument("--out", type=Path, default=HERE / "sequential.md")
    args = ap.parse_args()
    if not (args.run / "results.sqlite").exists():
        sys.exit(f"{args.run}: no results.sqlite (run the scenario or the demo first)")
    data = measure(args.run, args.round_size)
    cmd = f"python benchmarks/sequential.py {args.run.as_posix()}" + (
        f" --round-size {args.round_size}" if args.round_size != 20 else "")
    args.out.write_text(page(data, cmd))
    args.out.with_suffix(".json").write_text(json.dumps(json_safe(data), indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
