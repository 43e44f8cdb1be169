"""Images/s of stealguard's training loop against a bare PyTorch loop on the same model, batch and data.

Run: ``.venv/bin/python benchmarks/train_speed.py`` (rewrites its section of benchmarks/README.md and
benchmarks/train_speed.json). Both loops train the same initial weights with the same optimizer (SGD, momentum
0.9, Nesterov, weight decay 5e-4) on the same images in the same batch size, without augmentation; the bare loop
uses a TensorDataset + DataLoader of pre-converted float tensors. Each loop runs ``EPOCHS`` epochs per repetition,
repetitions alternate between the two, and the median is reported.
"""

from __future__ import annotations

import copy
import json
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import HERE, stamp, write_section  # noqa: E402

from stealguard.data import load_splits, to_tensor  # noqa: E402
from stealguard.models import build_model, spec_for  # noqa: E402
from stealguard.train import TrainConfig, fit  # noqa: E402

CASES = [("fashion-mnist", "cnn", 1.0, 64, 10000), ("cifar10", "resnet8", 1.0, 128, 5000)]
EPOCHS, REPEATS = 2, 3


def bare_loop(model, x, y, batch_size, epochs, seed) -> float:
    torch.manual_seed(seed)
    loader = DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    model.train()
    t0 = time.perf_counter()
    for _ in range(epochs):
        for xb, yb in loader:
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(xb), yb).backward()
            opt.step()
    return len(x) * epochs / (time.perf_counter() - t0)


def ours(model, data, batch_size, epochs, seed, augment=False) -> float:
    cfg = TrainConfig(epochs=epochs, batch_size=batch_size, lr=0.05, schedule="cosine", seed=seed, progress=False,
                      crop_padding=2 if augment else 0, flip=augment, device="cpu")
    return fit(model, data, cfg).images_per_second


def main() -> None:
    torch.set_num_threads(torch.get_num_threads())
    rows, raw = [], {}
    for dataset, arch, width, bs, n in CASES:
        splits = load_splits(dataset)
        data = splits.defender.take(n, seed=0)
        x, y = to_tensor(data.x), torch.as_tensor(data.y)
        torch.manual_seed(0)
        init = build_model(spec_for(splits, arch, width))
        ours_ips, bare_ips, aug_ips = [], [], []
        for r in range(REPEATS):
            bare_ips.append(bare_loop(copy.deepcopy(init), x, y, bs, EPOCHS, r))
            ours_ips.append(ours(copy.deepcopy(init), data, bs, EPOCHS, r))
            aug_ips.append(ours(copy.deepcopy(init), data, bs, EPOCHS, r, augment=True))
        o, b, a = statistics.median(ours_ips), statistics.median(bare_ips), statistics.median(aug_ips)
        raw[f"{dataset}/{arch}"] = {"ours": ours_ips, "bare": bare_ips, "ours_augmented": aug_ips}
        rows.append(f"| {dataset} | {arch} (width {width}) | {bs} | {n} | {b:,.0f} | {o:,.0f} | **{o / b:.2f}×** | {a:,.0f} |")
        print(rows[-1], flush=True)
    body = "\n".join([
        "## Training loop speed",
        "",
        stamp("python benchmarks/train_speed.py"),
        "",
        f"Images/s, median of {REPEATS} alternating repetitions of {EPOCHS} epochs each, CPU. Same initial weights, "
        "optimizer and batches; no augmentation in either loop (the last column adds our random crop + flip). "
        "Target: ours ≥ 0.9× the bare loop.",
        "",
        "| dataset | model | batch | images | bare PyTorch loop | `stealguard.train.fit` | ratio | fit + crop/flip |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
    ])
    write_section("train_speed", body)
    (HERE / "train_speed.json").write_text(json.dumps(raw, indent=2))


if __name__ == "__main__":
    main()
