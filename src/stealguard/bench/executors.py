"""Where jobs run: in this process (``inline``), in a pool of local processes (``local``) or on a Ray cluster
(``ray``). All three run the same :func:`stealguard.bench.grid.run_job`; only the coordinating process writes the
results database. Every job gets the same number of torch threads whatever the executor, so results agree.

On a Ray cluster of several machines the run folder and the artifact cache (``STEALGUARD_CACHE``) must be on a
filesystem every node sees, and the data directory (``STEALGUARD_DATA``) must exist on each node.
"""

from __future__ import annotations

import os
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor
from concurrent.futures import wait as wait_futures

from ..errors import ConfigError
from .grid import run_job

EXECUTORS = ("local", "ray", "inline")
_ENV = ("STEALGUARD_CACHE", "STEALGUARD_DATA", "STEALGUARD_NO_CACHE", "HF_HUB_OFFLINE")


def _init_worker(threads: int) -> None:
    import signal

    import torch

    # Ctrl-C reaches the whole process group: only the coordinator handles it (and stops the workers), so an
    # interrupted run never records a worker's KeyboardInterrupt or a broken pool as a job failure
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(threads)


class Executor:
    """``submit(job, ...) -> handle``; ``wait(handles) -> [(handle, result, error)]`` for those that finished."""

    workers = 1

    def submit(self, job, scenario, run_dir, threads, upstream):  # pragma: no cover - interface
        """Start ``job`` (with the scenario, run folder, torch threads and its dependencies' results); return a
        handle."""
        raise NotImplementedError

    def wait(self, handles: list, timeout: float | None = None) -> list:  # pragma: no cover - interface
        """Block until at least one of ``handles`` finished (or ``timeout`` seconds passed: then possibly none);
        return (handle, result, error) for each finished one."""
        raise NotImplementedError

    def shutdown(self, cancel: bool = False) -> None:
        """Release the workers; ``cancel`` stops running jobs instead of waiting for them."""
        pass


class InlineExecutor(Executor):
    """One job at a time in this process (debugging; no parallelism)."""

    def __init__(self):
        self._results = {}

    def submit(self, job, scenario, run_dir, threads, upstream):
        try:
            self._results[job.key] = (run_job(job, scenario, run_dir, threads, upstream), None)
        except Exception as e:  # reported per job by the runner
            self._results[job.key] = (None, e)
        return job.key

    def wait(self, handles, timeout=None):
        return [(h, *self._results.pop(h)) for h in handles]


class LocalExecutor(Executor):
    """A pool of ``workers`` processes (started fresh, not forked, so torch state never leaks between jobs)."""

    def __init__(self, workers: int, threads: int):
        import multiprocessing as mp

        self.workers = workers
        self.pool = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                                        initializer=_init_worker, initargs=(threads,))

    def submit(self, job, scenario, run_dir, threads, upstream) -> Future:
        return self.pool.submit(run_job, job, scenario, run_dir, threads, upstream)

    def wait(self, handles, timeout=None):
        done, _ = wait_futures(handles, timeout=timeout, return_when=FIRST_COMPLETED)
        return [(f, *(_outcome(f))) for f in done]

    def shutdown(self, cancel: bool = False) -> None:
        if cancel:
            for p in list(getattr(self.pool, "_processes", {}).values()):
                p.terminate()
        self.pool.shutdown(wait=not cancel, cancel_futures=cancel)


def _outcome(f: Future):
    try:
        return f.result(), None
    except Exception as e:  # noqa: BLE001 - reported per job
        return None, e


class RayExecutor(Executor):
    """Jobs as Ray tasks, each reserving ``threads`` CPUs; a local cluster when ``address`` is None."""

    def __init__(self, address: str | None, workers: int, threads: int):
        try:
            import ray
        except ImportError:
            raise ConfigError("--executor ray needs Ray: pip install 'ray>=2.9' (or stealguard[ray])") from None
        self.ray = ray
        env = {k: os.environ[k] for k in _ENV if k in os.environ}
        kw = dict(include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": env} if env else None)
        try:
            if address:
                ray.init(address=address, **kw)
            else:
                ray.init(num_cpus=workers * threads, **kw)
        except Exception as e:  # noqa: BLE001 - Ray raises many kinds; the user needs one line
            raise ConfigError(f"cannot start or reach the Ray cluster{f' at {address}' if address else ''}: "
                              f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
        self.workers = max(1, int(ray.cluster_resources().get("CPU", workers * threads) // threads))
        self.task = ray.remote(num_cpus=threads, max_retries=0)(run_job)

    def submit(self, job, scenario, run_dir, threads, upstream):
        return self.task.remote(job, scenario, run_dir, threads, upstream)

    def wait(self, handles, timeout=None):
        ready, _ = self.ray.wait(handles, num_returns=1, timeout=timeout)
        out = []
        for ref in ready:
            try:
                out.append((ref, self.ray.get(ref), None))
            except Exception as e:  # noqa: BLE001
                cause = getattr(e, "cause", None)
                out.append((ref, None, cause if isinstance(cause, Exception) else e))
        return out

    def shutdown(self, cancel: bool = False) -> None:
        self.ray.shutdown()


def make_executor(kind: str, workers: int | None = None, threads: int | None = None, address: str | None = None):
    """The executor ``kind`` with ``workers`` parallel jobs of ``threads`` torch threads each (defaults: as many
    single-thread workers as cores)."""
    if kind not in EXECUTORS:
        raise ConfigError(f"executor must be one of {', '.join(EXECUTORS)}, got {kind!r}")
    if address and kind != "ray":
        raise ConfigError("--address is for --executor ray")
    cores = os.cpu_count() or 1
    threads = threads or 1
    workers = workers or max(1, cores // threads)
    if workers < 1 or threads < 1:
        raise ConfigError("workers and threads must be >= 1")
    if kind == "inline":
        return InlineExecutor(), threads
    if kind == "local":
        return LocalExecutor(workers, threads), threads
    return RayExecutor(address, workers, threads), threads
