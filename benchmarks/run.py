"""Method benchmarks through the benchmark harness: run shipped scenarios and write their reports under benchmarks/.

Run: ``.venv/bin/python benchmarks/run.py SCENARIO [SCENARIO ...] [--executor local|ray|inline] [--workers N]``
(e.g. ``move-fmnist move-cifar10``); ``--fresh`` starts a run folder afresh after its scenario file changed;
``--report-only`` writes the report from the jobs already in the run folder (after a run was cut short). Each
scenario runs into ``runs/bench/SCENARIO`` (its results database and the owner's kits stay there, out of the
tracked files) and its report — tables as Markdown and CSV, plots as PNG — is written to ``benchmarks/SCENARIO/``,
with the command, the machine and the date on the page and in
benchmarks/README.md. Every model goes through the artifact cache and the run resumes where it stopped, so a rerun
only computes what is missing.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import HERE, stamp, write_section  # noqa: E402

from stealguard.bench import ResultsDB, load_scenario, run_bench, write_report  # noqa: E402
from stealguard.bench.grid import expand  # noqa: E402
from stealguard.errors import StealguardError  # noqa: E402


def run_status(sc, run: Path) -> dict:
    """What ``run_bench`` would report about ``run`` without running anything (for ``--report-only``)."""
    if not (run / "results.sqlite").exists():
        raise StealguardError(f"no run folder {run}: nothing to report")
    jobs = expand(sc)
    db = ResultsDB(run / "results.sqlite")
    try:
        done, failed = db.done(), db.failed()
    finally:
        db.close()
    n_done = sum(j.key in done for j in jobs)
    return {"jobs": len(jobs), "done": n_done, "failed": failed, "complete": n_done == len(jobs)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("scenarios", nargs="+")
    ap.add_argument("--executor", default="local", choices=("local", "ray", "inline"))
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--fresh", action="store_true",
                    help="start the scenario's run folder afresh (after its file changed); trained models stay cached")
    ap.add_argument("--report-only", action="store_true",
                    help="run nothing: write the report from the jobs the run folder holds (marked incomplete if some are missing)")
    args = ap.parse_args()
    for name in args.scenarios:
        try:
            sc = load_scenario(name)
            run = Path("runs/bench") / sc.name
            if args.fresh and run.exists():
                shutil.rmtree(run)
            res = run_status(sc, run) if args.report_only else run_bench(sc, run, executor=args.executor, workers=args.workers)
        except StealguardError as e:
            sys.exit(f"{name}: {e}")
        except KeyboardInterrupt:
            sys.exit(f"{name}: interrupted; finished jobs are kept in {run / 'results.sqlite'}: rerun the same command to continue")
        if res["failed"]:
            print(f"{sc.name}: {len(res['failed'])} jobs failed (listed in the report)", file=sys.stderr)
        # a scenario given as a file (a probe in benchmarks/probes/) keeps its report beside that file
        as_file = Path(name).suffix in (".yaml", ".yml")
        dest = Path(name).resolve().parent / sc.name if as_file else HERE / sc.name
        cmd = f"python benchmarks/run.py {Path(name).resolve().relative_to(HERE.parent) if as_file else sc.name}"
        page = write_report(run, dest, command=cmd)
        with open(page.parent / "summary.csv") as f:
            rows = list(csv.DictReader(f))
        link = (dest / "report.md").relative_to(HERE)
        lines = [f"## {sc.name}", "", f"{sc.description}. Report: [{link}]({link}).", "",
                 stamp(cmd) + ("" if res["complete"] else f" · **incomplete: {res['done']}/{res['jobs']} jobs**"), "",
                 "| method | access | thefts detected | independent models flagged |", "|---|---|---|---|"]
        lines += [f"| {r['method']} | {r['access']} | {r['thefts detected']} | {r['independent models flagged']} |" for r in rows]
        write_section(sc.name, "\n".join(lines))
        print(f"{sc.name}: {page.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
