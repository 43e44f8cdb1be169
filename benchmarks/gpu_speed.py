"""Images/s of stealguard's training loop on this machine's device (a GPU when present), per architecture.

Sizes the GPU scenarios (how many model-epochs fit in an hour) from a measurement rather than a guess.

Run on the GPU machine: ``python benchmarks/gpu_speed.py --json OUT.json``: for each case it trains once briefly
(warm-up: cuDNN picks its kernels) and then one timed epoch of ``--images`` defender images with the recipes'
random crop + flip, through :func:`stealguard.train.fit` with its default precision (bf16 autocast on a GPU).
``--workers K`` also times K processes training the same case at once on the one device (the benchmark harness's
local executor runs several jobs side by side), reporting their summed images/s.

Anywhere: ``python benchmarks/gpu_speed.py --render OUT.json`` writes the measured table into benchmarks/README.md
(section ``gpu_speed``) with the machine, torch version and date recorded in the JSON.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import platform
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import write_section  # noqa: E402

CASES = [("fashion-mnist", "cnn", 1.0, 128), ("cifar10", "resnet8", 1.0, 128), ("cifar10", "resnet20", 1.0, 128),
         ("cifar10", "resnet18", 1.0, 128), ("cifar10", "vgg16", 1.0, 128), ("cifar10", "mobilenetv2", 1.0, 128)]


def _one(dataset: str, arch: str, width: float, batch: int, images: int, seed: int = 0) -> float:
    import torch

    from stealguard.data import load_splits
    from stealguard.models import build_model, spec_for
    from stealguard.train import TrainConfig, fit

    splits = load_splits(dataset)
    data = splits.defender.take(images, seed=seed)
    warm = splits.defender.take(min(2048, images), seed=seed + 1)
    torch.manual_seed(seed)
    model = build_model(spec_for(splits, arch, width))
    pad = 2 if dataset == "fashion-mnist" else 4
    cfg = dict(batch_size=batch, lr=0.05, schedule="cosine", seed=seed, progress=False, crop_padding=pad, flip=True)
    fit(model, warm, TrainConfig(epochs=1, **cfg))
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    fit(model, data, TrainConfig(epochs=1, **cfg))
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return len(data) / (time.perf_counter() - t0)


def _worker(args, q) -> None:
    q.put(_one(*args))


def measure(images: int, workers: int, path: Path) -> dict:
    import torch

    dev = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"CPU ({torch.get_num_threads()} threads)"
    out = {"device": dev, "torch": torch.__version__, "python": platform.python_version(), "date": date.today().isoformat(),
           "images": images, "workers": workers, "rows": []}
    for dataset, arch, width, batch in CASES:
        row = {"dataset": dataset, "arch": arch, "width": width, "batch": batch}
        try:
            row["one"] = _one(dataset, arch, width, batch, images)
            if workers > 1:
                ctx = mp.get_context("spawn")
                q = ctx.Queue()
                procs = [ctx.Process(target=_worker, args=((dataset, arch, width, batch, images, i), q))
                         for i in range(workers)]
                for p in procs:
                    p.start()
                rates = [q.get(timeout=900) for _ in procs]
                for p in procs:
                    p.join()
                row["parallel_sum"] = sum(rates)
        except Exception as e:  # one failing case must not lose the others' figures
            row["error"] = f"{type(e).__name__}: {e}"
        out["rows"].append(row)
        path.write_text(json.dumps(out, indent=2))  # after each case: a run cut short keeps what it measured
        print(json.dumps(row), flush=True)
    return out


def render(res: dict) -> str:
    k = res["workers"]
    lines = ["## Training speed on a GPU", "",
             f"Command: `python benchmarks/gpu_speed.py --json FILE --workers {k}` on the GPU machine, then "
             "`python benchmarks/gpu_speed.py --render FILE` · machine: "
             f"{res['device']}, torch {res['torch']}, Python {res['python']} · date: {res['date']}", "",
             f"Images/s of `stealguard.train.fit` (default precision: bf16 autocast on a GPU; random crop + flip), one "
             f"timed epoch of {res['images']:,} defender images after a short warm-up epoch. "
             f"'{k} at once' is the summed rate of {k} processes training the same case side by side on the one device "
             "(the harness's local executor runs jobs so).", "",
             f"| dataset | model | batch | one process | {k} at once |", "|---|---|---|---|---|"]
    measured = {(r["dataset"], r["arch"]) for r in res["rows"]}
    rows = res["rows"] + [{"dataset": d, "arch": a, "batch": b, "missing": True} for d, a, _, b in CASES
                          if (d, a) not in measured]
    for r in rows:
        if r.get("missing"):
            lines.append(f"| {r['dataset']} | {r['arch']} | {r['batch']} | not measured: the run's time ran out first | |")
            continue
        if "error" in r:
            lines.append(f"| {r['dataset']} | {r['arch']} | {r['batch']} | failed: {r['error']} | |")
            continue
        par = f"{r['parallel_sum']:,.0f}" if "parallel_sum" in r else "not run"
        lines.append(f"| {r['dataset']} | {r['arch']} (width {r['width']}) | {r['batch']} | {r['one']:,.0f} | {par} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", help="measure here and write the figures to this file")
    ap.add_argument("--render", help="write benchmarks/README.md's section from a file --json wrote")
    ap.add_argument("--images", type=int, default=20000)
    ap.add_argument("--workers", type=int, default=4)
    args = ap.parse_args()
    if bool(args.json) == bool(args.render):
        ap.error("give exactly one of --json and --render")
    if args.json:
        res = measure(args.images, args.workers, Path(args.json))
        print(render(res))
    else:
        write_section("gpu_speed", render(json.loads(Path(args.render).read_text())))


if __name__ == "__main__":
    main()
