"""Run a scenario's grid: schedule ready jobs on an executor, record each result as it arrives, resume a stopped run.

``run_bench(scenario, out)`` is resumable at any point: jobs already in the results database are skipped, a job
that was running when the run stopped starts again (its models come from the artifact cache where they were
finished), and the finished database equals that of an uninterrupted run (``ResultsDB.snapshot``).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import yaml

from .db import ResultsDB
from .executors import make_executor
from .grid import expand
from .scenario import Scenario

TICK = 60.0  # seconds: the progress line is refreshed at least this often
# A guess of each job kind's time relative to training the victim, used by the progress estimate until a job of the
# kind has finished: a protection trains several models (the protected one, benign, reference or surrogate models), a
# theft or an independent model about one, usually on less data or for fewer epochs, a verification none.
PRIOR = {"victim": 1.0, "protect": 3.0, "steal": 0.4, "independent": 0.6, "verify": 0.02}


class Progress:
    """done / running / left, elapsed and an estimate of the time left, on one refreshed line (a terminal) or a line
    per event (a finished job, or a minute without one).

    The estimate learns from the jobs this run finished: each waiting job is expected to take the mean time of the
    finished jobs of its kind (victim, protect, steal, independent, verify), a running job that mean less what it has
    run, and the sum is shared by the workers. Until a job of a kind has finished, the kind's time is guessed from
    :data:`PRIOR` (its cost relative to training the victim) scaled by the jobs that did finish.
    """

    def __init__(self, total: int, stream=None, workers: int = 1):
        self.total, self.t0 = total, time.perf_counter()
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.workers = max(1, workers)
        self.seconds: dict[str, list[float]] = {}

    def finished(self, kind: str, seconds: float) -> None:
        """Learn from a finished job of ``kind`` that took ``seconds``."""
        self.seconds.setdefault(kind, []).append(seconds)

    def estimate(self, waiting: list[str], running: list[tuple[str, float]]) -> float | None:
        """Seconds left for ``waiting`` jobs (their kinds) and ``running`` ones ((kind, seconds run so far)); None
        before any job finished."""
        if not self.seconds:
            return None
        scale = (sum(sum(ts) for ts in self.seconds.values())
                 / sum(PRIOR.get(k, 1.0) * len(ts) for k, ts in self.seconds.items()))

        def mean(kind: str) -> float:
            ts = self.seconds.get(kind)
            return sum(ts) / len(ts) if ts else PRIOR.get(kind, 1.0) * scale

        work = sum(mean(k) for k in waiting) + sum(max(mean(k) - ran, 0.0) for k, ran in running)
        return work / min(self.workers, max(1, len(waiting) + len(running)))

    def update(self, done: int, running: int, failed: int, last: str = "", left_seconds: float | None = None) -> None:
        """Show one progress line: jobs done, running, waiting and failed, elapsed time and the estimate of what is
        left (``left_seconds``, from :meth:`estimate`)."""
        el = time.perf_counter() - self.t0
        left = self.total - done - failed
        eta = f", ~{_dur(left_seconds)} left" if left_seconds is not None and left else ""
        line = (f"[bench] {done}/{self.total} done, {running} running, {left - running} waiting"
                + (f", {failed} failed" if failed else "") + f" · {_dur(el)} elapsed{eta}")
        if self.tty:
            self.stream.write("\r\033[K" + line + (f" · {last}" if last else ""))
            self.stream.flush()
        else:
            print(line + (f" · {last}" if last else ""), file=self.stream, flush=True)

    def close(self) -> None:
        """End the progress display."""
        if self.tty:
            self.stream.write("\n")


def _dur(s: float) -> str:
    s = int(round(s))
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


def run_bench(scenario: Scenario, out: str | Path, executor: str = "local", address: str | None = None,
              workers: int | None = None, threads: int | None = None, progress: bool = True,
              stop_after: int | None = None, data_dir=None) -> dict:
    """Run (or continue) ``scenario`` into the run folder ``out``; returns a summary. ``data_dir``: as the CLI's
    ``--data-dir`` (workers are told where this process found the data). ``stop_after``: stop once that many new
    jobs finished (what a test uses to interrupt a run)."""
    import os

    from .. import __version__
    from ..paths import data_dir as find_data

    os.environ["STEALGUARD_DATA"] = str(find_data(data_dir))  # inherited by local workers, passed on to Ray

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    db = ResultsDB(out / "results.sqlite")
    sc = scenario.to_dict()
    db.bind_scenario(sc, scenario.digest(), __version__)
    (out / "scenario.yaml").write_text(yaml.safe_dump(sc, sort_keys=False))
    jobs = expand(scenario)
    by_key = {j.key: j for j in jobs}
    db.keep_only(by_key)
    done = db.done()
    failed: dict[str, str] = {}
    blocked: set[str] = set()
    ex, threads = make_executor(executor, workers, threads, address)
    prog = Progress(len(jobs), None, ex.workers) if progress else None
    if prog:  # after the database accepted the scenario: a refused run prints only its error
        print(f"bench {scenario.name}: {len(jobs)} jobs ({len(done)} done before) in {out}, executor {executor}",
              file=prog.stream, flush=True)
    running: dict = {}  # handle -> job
    running_keys: set[str] = set()
    started: dict = {}  # handle -> when it was submitted (a worker was free: when it started)

    def show(last: str) -> None:
        now = time.perf_counter()
        waiting = [j.kind for j in jobs if j.key not in done and j.key not in failed and j.key not in blocked
                   and j.key not in running_keys]
        prog.update(len(done), len(running), len(failed), last,
                    prog.estimate(waiting, [(j.kind, now - started[h]) for h, j in running.items()]))

    new = 0
    last = "resumed" if done else ""
    t0 = time.perf_counter()
    try:
        while True:
            for j in jobs:  # submit every ready job, in grid order, up to the executor's width
                if len(running) >= max(ex.workers, 1):
                    break
                if j.key in done or j.key in failed or j.key in blocked or j.key in running_keys:
                    continue
                if any(d in failed or d in blocked for d in j.deps):
                    blocked.add(j.key)
                    continue
                if all(d in done for d in j.deps):
                    handle = ex.submit(j, sc, str(out.resolve()), threads, {d: done[d] for d in j.deps})
                    running[handle], started[handle] = j, time.perf_counter()
                    running_keys.add(j.key)
            if not running:
                break
            if prog and last:
                show(last)
                last = ""
            finished = ex.wait(list(running), timeout=TICK)
            if not finished and prog:  # a minute without a finished job: the estimate, refreshed
                show("")
            for handle, result, error in finished:
                j = running.pop(handle)
                running_keys.discard(j.key)
                if prog:
                    prog.finished(j.kind, time.perf_counter() - started.pop(handle))
                if error is None:
                    db.record(j, result)
                    done[j.key] = result
                    new += 1
                    last = f"{j.key} ({result.get('seconds', 0):.0f} s)"
                else:
                    msg = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
                    db.record_failure(j, msg)
                    failed[j.key] = msg
                    last = f"FAILED {j.key}: {msg}"
            if stop_after is not None and new >= stop_after:
                break
    except KeyboardInterrupt:
        ex.shutdown(cancel=True)
        if prog:
            prog.close()
        db.close()
        raise
    ex.shutdown(cancel=bool(running))
    if prog:
        if last:
            show(last)
        prog.close()
    summary = {"run": str(out), "jobs": len(jobs), "done": len(done), "new": new, "failed": failed,
               "blocked": sorted(blocked), "seconds": round(time.perf_counter() - t0, 1),
               "complete": len(done) == len(jobs)}
    db.close()
    return summary

