"""Test accuracy against training time for the named training recipes, and the training loop's images/s against a
bare PyTorch loop. Writes benchmarks/train_speed.md (and train_speed.json, the raw curves).

Run: ``.venv/bin/python benchmarks/train_speed.py [--only NAME ...] [--force]`` on a machine with nothing else running
(one process, every core). Each curve is one training run on the defender half (CIFAR-10: 25,000 images; Fashion-MNIST:
30,000) with test accuracy read after every epoch; its evaluation time is not counted. Finished curves are kept in
train_speed.json and skipped when the script runs again (``--force`` retrains them), so an interrupted run resumes.

A reading after epoch e of an E-epoch run is taken before the schedule has annealed: a run told to stop at e would
end higher, so the times to 80 / 85 / 88% read off these curves are upper bounds.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from pathlib import Path

import stealguard  # noqa: F401 - sets OMP_WAIT_POLICY before torch is imported
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import HERE, stamp  # noqa: E402

from stealguard.data import load_splits, to_tensor  # noqa: E402
from stealguard.models import build_model, count_parameters, spec_for  # noqa: E402
from stealguard.recipes import cpu_recipe  # noqa: E402
from stealguard.errors import StealguardError  # noqa: E402
from stealguard.train import accuracy, fit, seed_everything  # noqa: E402

# name: (dataset, arch, width, recipe, epochs[, overrides]). The standard recipe at the widths and epochs the CPU-scale
# benchmark scenarios use (move-cifar10: resnet8 1.0, vgg11 0.25, cnn 1.0, mobilenetv2 0.5, 12-15 epochs); the fast
# recipe at the realistic presets' settings, including the presets' resnet8 / vgg11 models, which keep the standard
# optimizer (SGD_OVERRIDES) inside the fast schedule.
SGD_OVERRIDES = {"lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4}
CURVES = {
    "cifar10/airbench-0.5/fast": ("cifar10", "airbench", 0.5, "fast", 16),
    "cifar10/resnet8-1/standard": ("cifar10", "resnet8", 1.0, "standard", 15),
    "cifar10/vgg11-0.25/standard": ("cifar10", "vgg11", 0.25, "standard", 15),
    "cifar10/cnn-1/standard": ("cifar10", "cnn", 1.0, "standard", 15),
    "cifar10/mobilenetv2-0.5/standard": ("cifar10", "mobilenetv2", 0.5, "standard", 4),
    "cifar10/vgg11-0.5/fast-sgd": ("cifar10", "vgg11", 0.5, "fast", 12, SGD_OVERRIDES),
    "cifar10/resnet8-2/fast-sgd": ("cifar10", "resnet8", 2.0, "fast", 12, SGD_OVERRIDES),
    "fashion-mnist/airbench-0.5/fast": ("fashion-mnist", "airbench", 0.5, "fast", 8),
    "fashion-mnist/cnn-1/standard": ("fashion-mnist", "cnn", 1.0, "standard", 5),
    "fashion-mnist/resnet8-1/standard": ("fashion-mnist", "resnet8", 1.0, "standard", 5),
    "fashion-mnist/vgg11-0.25/standard": ("fashion-mnist", "vgg11", 0.25, "standard", 5),
    "fashion-mnist/mobilenetv2-0.5/standard": ("fashion-mnist", "mobilenetv2", 0.5, "standard", 2),
}
GOALS = {"cifar10": (0.80, 0.85, 0.88), "fashion-mnist": (0.90, 0.92, 0.93)}
TARGET = {"cifar10": (0.88, 15), "fashion-mnist": (0.93, 3)}  # the project's goal: accuracy within minutes of training
JSON = HERE / "train_speed.json"
PAGE = HERE / "train_speed.md"
_SPLITS: dict = {}


def splits_of(dataset: str):
    if dataset not in _SPLITS:
        _SPLITS[dataset] = load_splits(dataset)
    return _SPLITS[dataset]


def curve(dataset: str, arch: str, width: float, recipe: str, epochs: int, overrides: dict | None = None) -> dict:
    """One training run with the test accuracy after every epoch."""
    splits = splits_of(dataset)
    config = cpu_recipe(dataset, recipe, epochs=epochs, seed=0, progress=False, device="cpu", **(overrides or {}))
    label = recipe + (" (" + ", ".join(f"{k} {v:g}" for k, v in overrides.items()) + ")" if overrides else "")
    seed_everything(0)
    model = build_model(spec_for(splits, arch, width))
    points = []

    def read(epoch, m):
        points.append(accuracy(m, splits.test))
        print(f"  {dataset} {arch} {width} {recipe}: epoch {epoch + 1}/{epochs} test {points[-1]:.4f}", flush=True)
        return {"test_accuracy": points[-1]}

    head = {"dataset": dataset, "arch": arch, "width": width, "recipe": label, "epochs": epochs}
    try:
        result = fit(model, splits.defender, config, on_epoch=read)
    except StealguardError as e:  # a recipe that diverges on this model is a result too
        print(f"  {e}", flush=True)
        return head | {"diverged": str(e), "config": config.recipe(), "points": []}
    return head | {"train_images": len(splits.defender), "parameters": count_parameters(model),
            "config": config.recipe(), "seconds": round(result.seconds, 1),
            "images_per_second": round(result.images_per_second, 1),
            "points": [{"epoch": h["epoch"], "seconds": h["seconds"], "test_accuracy": h["test_accuracy"]}
                       for h in result.history]}


def time_to(points: list[dict], goal: float) -> float | None:
    return next((p["seconds"] for p in points if p["test_accuracy"] >= goal), None)


# ------------------------------------------------------------------------------------------------- throughput
THROUGHPUT = [("cifar10", "airbench", 0.5, 256, 5000, "fast"), ("cifar10", "resnet8", 1.0, 128, 5000, "standard"),
              ("fashion-mnist", "cnn", 1.0, 64, 10000, "standard")]
TP_EPOCHS, TP_REPEATS = 1, 3


def bare_loop(model, x, y, batch_size, epochs, seed, channels_last) -> float:
    """The plainest loop: a DataLoader over float tensors, the same SGD, cross-entropy; no augmentation."""
    torch.manual_seed(seed)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=batch_size, shuffle=True)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.05, momentum=0.9, nesterov=True,
                          weight_decay=5e-4)
    model.train()
    t0 = time.perf_counter()
    for _ in range(epochs):
        for xb, yb in loader:
            if channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(xb), yb).backward()
            opt.step()
    return len(x) * epochs / (time.perf_counter() - t0)


def ours(model, data, batch_size, epochs, seed, recipe=None) -> float:
    """``fit`` with the same optimizer and no augmentation, or with the whole named ``recipe``."""
    if recipe is None:
        cfg = cpu_recipe(data_name(data), "standard", epochs=epochs, batch_size=batch_size, lr=0.05, schedule="none",
                         crop_padding=0, flip=False, seed=seed, progress=False, device="cpu")
    else:
        cfg = cpu_recipe(data_name(data), recipe, epochs=epochs, batch_size=batch_size, seed=seed, progress=False,
                         device="cpu")
    return fit(model, data, cfg).images_per_second


def data_name(data) -> str:
    return "fashion-mnist" if data.channels == 1 else "cifar10"


def throughput() -> list[dict]:
    out = []
    for dataset, arch, width, bs, n, recipe in THROUGHPUT:
        splits = splits_of(dataset)
        data = splits.defender.take(n, seed=0)
        x, y = to_tensor(data.x), torch.as_tensor(data.y)
        torch.manual_seed(0)
        init = build_model(spec_for(splits, arch, width))
        bare, flat, plain, whole = [], [], [], []
        for r in range(TP_REPEATS):  # alternating, so drifts of the machine hit both loops alike
            bare.append(bare_loop(copy.deepcopy(init), x, y, bs, TP_EPOCHS, r, channels_last=True))
            flat.append(bare_loop(copy.deepcopy(init), x, y, bs, TP_EPOCHS, r, channels_last=False))
            plain.append(ours(copy.deepcopy(init), data, bs, TP_EPOCHS, r))
            whole.append(ours(copy.deepcopy(init), data, bs, TP_EPOCHS, r, recipe))
        row = {"dataset": dataset, "arch": arch, "width": width, "batch": bs, "images": n, "recipe": recipe,
               "bare": statistics.median(bare), "bare_contiguous": statistics.median(flat), "fit": statistics.median(plain),
               "fit_recipe": statistics.median(whole), "raw": {"bare": bare, "bare_contiguous": flat, "fit": plain,
                                                                "fit_recipe": whole}}
        print(f"  throughput {dataset} {arch}: bare {row['bare']:.0f}, fit {row['fit']:.0f}, "
              f"fit+{recipe} {row['fit_recipe']:.0f} img/s", flush=True)
        out.append(row)
    return out


LAYOUT = [("cifar10", "airbench", 0.5, 256), ("cifar10", "resnet8", 1.0, 128), ("cifar10", "vgg11", 0.25, 128),
          ("cifar10", "cnn", 1.0, 128), ("cifar10", "mobilenetv2", 0.5, 128)]


def layout() -> list[dict]:
    """Images/s of the bare loop in the default layout and in channels_last for each architecture the benchmarks use
    (1,024 CIFAR-10 images, median of 3 alternating repetitions): where channels_last helps."""
    out = []
    splits = splits_of("cifar10")
    data = splits.defender.take(1024, seed=0)
    x, y = to_tensor(data.x), torch.as_tensor(data.y)
    for dataset, arch, width, bs in LAYOUT:
        torch.manual_seed(0)
        init = build_model(spec_for(splits, arch, width))
        bare_loop(copy.deepcopy(init), x[:bs], y[:bs], bs, 1, 0, channels_last=True)  # warm-up
        flat, last = [], []
        for r in range(3):
            flat.append(bare_loop(copy.deepcopy(init), x, y, bs, 1, r, channels_last=False))
            last.append(bare_loop(copy.deepcopy(init), x, y, bs, 1, r, channels_last=True))
        out.append({"arch": arch, "width": width, "batch": bs, "contiguous": statistics.median(flat),
                    "channels_last": statistics.median(last)})
        print(f"  layout {arch} {width}: {out[-1]}", flush=True)
    return out


def compile_check() -> dict:
    """torch.compile against eager on the fast recipe's model (bare loop, channels_last, batch 256, 5,000 CIFAR-10
    images): seconds of the first epoch (compilation included) and images/s of the second."""
    splits = splits_of("cifar10")
    data = splits.defender.take(5000, seed=0)
    x, y = to_tensor(data.x), torch.as_tensor(data.y)
    torch.manual_seed(0)
    init = build_model(spec_for(splits, "airbench", 0.5))
    out = {}
    for name in ("eager", "compiled"):
        model = copy.deepcopy(init)
        run = torch.compile(model) if name == "compiled" else model
        t0 = time.perf_counter()
        try:
            bare_loop(run, x, y, 256, 1, 0, channels_last=True)
        except Exception as e:  # noqa: BLE001 - a compiler that cannot run here is a result too
            out[name] = {"error": f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"}
            continue
        first = time.perf_counter() - t0
        out[name] = {"first_epoch_seconds": round(first, 1),
                     "images_per_second": round(bare_loop(run, x, y, 256, 1, 1, channels_last=True), 1)}
        print(f"  {name}: {out[name]}", flush=True)
    return out


def profile() -> list[tuple[str, float]]:
    """Where the fast recipe's time goes: the share of CPU time per operator over 30 training steps."""
    from torch.profiler import ProfilerActivity, profile as torch_profile

    splits = splits_of("cifar10")
    data = splits.defender.take(256 * 32, seed=0)
    model = build_model(spec_for(splits, "airbench", 0.5))
    cfg = cpu_recipe("cifar10", "fast", epochs=1, seed=0, progress=False, device="cpu")
    fit(copy.deepcopy(model), data.take(512, seed=1), cfg)  # warm-up
    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        fit(model, data, cfg)
    events = [e for e in prof.key_averages() if e.key.startswith("aten::") or "Backward" in e.key]
    total = sum(e.self_cpu_time_total for e in events)
    top = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[:10]
    return [(e.key, e.self_cpu_time_total / total) for e in top]


# ------------------------------------------------------------------------------------------------- page
def fmt_time(s: float | None) -> str:
    return "not reached" if s is None else f"{s / 60:.1f} min"


def page(results: dict, command: str) -> str:
    lines = ["# Training speed: accuracy against training time on 2 CPU cores", "", stamp(command), "",
             "Each curve is one run on the defender half (CIFAR-10 25,000 images, test 10,000; Fashion-MNIST 30,000, "
             "test 10,000), seed 0, test accuracy read after every epoch (plain predictions, no test-time augmentation; "
             "the CIFAR-10 files are JPEG quality 75 copies, see ../shared/data/README.md). Seconds count training "
             "only. A reading after epoch e of a longer run comes before its schedule has annealed, so the times to a "
             "goal are upper bounds. `fast` is the airbench-style recipe (`stealguard.recipes.cpu_recipe(dataset, "
             "'fast')`), `standard` the CPU-scale default of the quick scenarios.", ""]
    for dataset in ("cifar10", "fashion-mnist"):
        goals = GOALS[dataset]
        rows = [r for r in results["curves"].values() if r["dataset"] == dataset]
        if not rows:
            continue
        lines += [f"## {dataset}", "",
                  "| model | recipe | parameters | epochs | training time | images/s | final test accuracy | best | "
                  + " | ".join(f"time to {g:.0%}" for g in goals) + " |",
                  "|---|---|---|---|---|---|---|---|" + "---|" * len(goals)]
        for r in sorted(rows, key=lambda r: -r["points"][-1]["test_accuracy"] if r["points"] else 0):
            if not r["points"]:
                lines.append(f"| {r['arch']} (width {r['width']:g}) | {r['recipe']} | – | {r['epochs']} | – | – | "
                             f"diverged: {r['diverged'].split(': ', 1)[-1]} | – | " + " | ".join("–" for _ in goals) + " |")
                continue
            best = max(p["test_accuracy"] for p in r["points"])
            lines.append(f"| {r['arch']} (width {r['width']:g}) | {r['recipe']} | {r['parameters']:,} | {r['epochs']} | "
                         f"{r['seconds'] / 60:.1f} min | {r['images_per_second']:,.0f} | "
                         f"**{r['points'][-1]['test_accuracy']:.4f}** | {best:.4f} | "
                         + " | ".join(fmt_time(time_to(r["points"], g)) for g in goals) + " |")
        goal, minutes = TARGET[dataset]
        within = [(p["test_accuracy"], r) for r in rows for p in r["points"] if p["seconds"] <= minutes * 60]
        best, who = max(within, key=lambda t: t[0]) if within else (None, None)
        overall = max(((p["test_accuracy"], r, p["seconds"]) for r in rows for p in r["points"]), key=lambda t: t[0],
                      default=(None, None, None))
        lines += ["", f"Goal: {goal:.0%} within {minutes} min of training. Best reading within {minutes} min: "
                  + (f"{best:.4f} ({who['arch']} {who['width']:g}, {who['recipe']})" if who else "none")
                  + (" — reached." if best is not None and best >= goal else " — **not reached**.")
                  + (f" Best reading at any time: {overall[0]:.4f} ({overall[1]['arch']} {overall[1]['width']:g}, "
                     f"{overall[1]['recipe']}, after {overall[2] / 60:.1f} min)."
                     if overall[1] else "")]
        if dataset == "cifar10":  # the project's other goal: independent models of three architectures at 85%
            best_by_arch = {}
            for r in rows:
                for p in r["points"]:
                    best_by_arch[r["arch"]] = max(best_by_arch.get(r["arch"], 0.0), p["test_accuracy"])
            reached = sorted(a for a, b in best_by_arch.items() if b >= 0.85)
            lines += ["", "Goal: independent models of at least three architectures at 85% or more. Best reading per "
                      "architecture: " + ", ".join(f"{a} {b:.4f}" for a, b in sorted(best_by_arch.items(), key=lambda t: -t[1]))
                      + f" — {len(reached)} architecture(s) at 85% or more"
                      + (" — reached." if len(reached) >= 3 else " — **not reached**.")]
        lines += ["", "Test accuracy after each epoch (minutes of training, accuracy):", ""]
        for r in rows:
            if not r["points"]:
                continue
            pts = ", ".join(f"{p['seconds'] / 60:.1f}: {p['test_accuracy']:.3f}" for p in r["points"])
            lines.append(f"- {r['arch']} {r['width']:g} {r['recipe']}: {pts}" + (f" ({r['note']})" if r.get("note") else ""))
        lines.append("")
    if results.get("figure"):
        lines += [f"![test accuracy against training time]({results['figure']})", ""]
    missing = [name for name in CURVES if name not in results["curves"]]
    missing += [piece for piece in ("throughput", "layout", "profile", "compile") if not results.get(piece)]
    if missing:
        lines += ["Not measured in this run (`python benchmarks/train_speed.py` measures what is missing): "
                  + ", ".join(f"`{m}`" for m in missing) + ".", ""]
    if results.get("throughput"):
        lines += ["## Training loop throughput", "",
                  f"Images/s, median of {TP_REPEATS} alternating repetitions of {TP_EPOCHS} epoch each; same initial "
                  "weights, batch size and SGD. The bare loop is a DataLoader over pre-converted float tensors with no "
                  "augmentation, in channels_last (and in the default layout, to show what channels_last gives); `fit` "
                  "plain uses the same optimizer and no augmentation (channels_last: its default on a CPU); the last "
                  "column is `fit` with the whole named recipe (augmentation, lookahead, schedule).",
                  "", "| dataset | model | batch | images | bare loop, default layout | bare loop, channels_last | `fit` | "
                  "ratio to the bare channels_last loop | `fit` with the recipe |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for t in results["throughput"]:
            lines.append(f"| {t['dataset']} | {t['arch']} (width {t['width']:g}) | {t['batch']} | {t['images']:,} | "
                         f"{t.get('bare_contiguous', float('nan')):,.0f} | {t['bare']:,.0f} | {t['fit']:,.0f} | "
                         f"**{t['fit'] / t['bare']:.2f}×** | {t['fit_recipe']:,.0f} ({t['recipe']}) |")
        lines.append("")
    if results.get("layout"):
        lines += ["## channels_last by architecture", "",
                  "Images/s of the bare loop (SGD, no augmentation) on 1,024 CIFAR-10 images in the default memory "
                  "layout and in channels_last, median of 3 alternating repetitions.", "",
                  "| model | batch | default layout | channels_last | ratio |", "|---|---|---|---|---|"]
        for t in results["layout"]:
            lines.append(f"| {t['arch']} (width {t['width']:g}) | {t['batch']} | {t['contiguous']:,.0f} | "
                         f"{t['channels_last']:,.0f} | **{t['channels_last'] / t['contiguous']:.2f}×** |")
        lines.append("")
    if results.get("compile"):
        c = results["compile"]
        lines += ["## torch.compile", "",
                  "The fast recipe's model in a bare loop (channels_last, batch 256, 5,000 CIFAR-10 images), eager and "
                  "compiled with `torch.compile` (default mode): seconds of the first epoch, compilation included, and "
                  "images/s of the second.", "", "| mode | first epoch | images/s after |", "|---|---|---|"]
        for mode in ("eager", "compiled"):
            r = c.get(mode, {})
            lines.append(f"| {mode} | " + (f"failed: {r['error']} | – |" if "error" in r else
                                           f"{r.get('first_epoch_seconds', '–')} s | {r.get('images_per_second', '–')} |"))
        e, k = c.get("eager", {}), c.get("compiled", {})
        victim = results["curves"].get("cifar10/airbench-0.5/fast")
        if "images_per_second" in e and "images_per_second" in k and victim and victim.get("seconds"):
            ratio = k["images_per_second"] / e["images_per_second"]
            overhead = k["first_epoch_seconds"] - e["first_epoch_seconds"]
            saved = victim["seconds"] * (1 - 1 / ratio)
            lines += ["", f"Compiled, the loop runs {ratio:.2f}× as fast once compiled, after {overhead:.0f} s more in its "
                      f"first epoch. On the fast recipe's {victim['seconds'] / 60:.1f}-minute CIFAR-10 run that would save "
                      f"about {saved:.0f} s against {overhead:.0f} s of compiling (each new model compiles again), so "
                      + ("training stays eager." if saved < 2 * overhead else "compiling would pay off.")]
        lines.append("")
    if results.get("profile"):
        lines += ["## Where the fast recipe's time goes", "",
                  "Share of CPU time by operator (self time) over one epoch of 32 batches, airbench width 0.5, "
                  "`torch.profiler`:", "", "| operator | share |", "|---|---|"]
        lines += [f"| `{k}` | {v:.1%} |" for k, v in results["profile"]]
        lines.append("")
    return "\n".join(lines)


def figure(results: dict) -> str | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, dataset in zip(axes, ("cifar10", "fashion-mnist")):
        for r in results["curves"].values():
            if r["dataset"] == dataset and r["points"]:
                ax.plot([p["seconds"] / 60 for p in r["points"]], [p["test_accuracy"] for p in r["points"]], marker=".",
                        label=f"{r['arch']} {r['width']:g} ({r['recipe']})")
        for g in GOALS[dataset]:
            ax.axhline(g, color="grey", lw=0.5, ls=":")
        ax.set_title(dataset)
        ax.set_xlabel("minutes of training (2 CPU cores)")
        ax.set_ylabel("test accuracy")
        ax.set_ylim(0.5 if dataset == "cifar10" else 0.8, 1.0)
        ax.legend(fontsize=7)
    fig.tight_layout()
    name = "train_speed.png"
    fig.savefig(HERE / name, dpi=90)
    return name


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", nargs="*", help="curve names to (re)run (default: all missing); 'throughput', 'layout', "
                    "'profile', 'compile'")
    ap.add_argument("--force", action="store_true", help="rerun what is already in train_speed.json")
    ap.add_argument("--page", action="store_true", help="only rewrite the page (and figure) from train_speed.json")
    args = ap.parse_args(argv)
    results = json.loads(JSON.read_text()) if JSON.exists() else {}
    if "curves" not in results:
        results = {"curves": {}}
    wanted = [] if args.page else args.only or list(CURVES) + ["throughput", "layout", "profile", "compile"]
    for name in wanted:
        if name in CURVES and (args.force or name not in results["curves"]):
            print(f"curve {name}", flush=True)
            results["curves"][name] = curve(*CURVES[name])
        elif name == "throughput" and (args.force or "throughput" not in results):
            results["throughput"] = throughput()
        elif name == "profile" and (args.force or "profile" not in results):
            results["profile"] = profile()
        elif name == "compile" and (args.force or "compile" not in results):
            results["compile"] = compile_check()
        elif name == "layout" and (args.force or "layout" not in results):
            results["layout"] = layout()
        elif name not in CURVES and name not in ("throughput", "layout", "profile", "compile"):
            sys.exit(f"unknown name {name!r}: choose from {', '.join(CURVES)}, throughput, layout, profile, compile")
        JSON.write_text(json.dumps(results, indent=1))  # after every piece: an interrupted run keeps what it made
    results["figure"] = figure(results)
    JSON.write_text(json.dumps(results, indent=1))
    PAGE.write_text(page(results, "python benchmarks/train_speed.py"))
    print(f"wrote {PAGE}", flush=True)


if __name__ == "__main__":
    main()
