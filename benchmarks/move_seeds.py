"""MOVE's accuracy cost over seeds: is the protected victim's gap to the benign model noise of one seed?

Run: ``.venv/bin/python benchmarks/move_seeds.py [SCENARIO] [--seeds 0 1 2]`` (default move-cifar10). For each seed,
exactly what ``protect move`` trains first — the defender's images with ``rate`` of them stylised (the scenario's
style) for the protected victim, the same images without the style for the benign model, the same recipe and seed
(artifact cache shared with the harness) — and the test accuracy of both. Writes benchmarks/move_seeds_SCENARIO.md
and its README section. The reference models, meta-classifiers and thefts are not trained here.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import HERE, stamp, write_section  # noqa: E402

from stealguard.bench.scenario import entry_settings, load_scenario  # noqa: E402
from stealguard.data import load_splits  # noqa: E402
from stealguard.methods import Move  # noqa: E402
from stealguard.methods.move import benign_tag, embed_external_features, move_recipe  # noqa: E402
from stealguard.recipes import train_on  # noqa: E402
from stealguard.style import make_stylizer  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scenario", nargs="?", default="move-cifar10")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = ap.parse_args()
    sc = load_scenario(args.scenario)
    spec = next((m for m in sc.methods if m.method == "move"), None)
    if spec is None:
        sys.exit(f"scenario {args.scenario} has no MOVE entry")
    splits = load_splits(sc.dataset)
    v = sc.victim
    rows = []
    for seed in args.seeds:
        s = entry_settings(Move, spec.settings, sc.dataset, seed, dataclasses.asdict(v))
        emb = embed_external_features(splits, s, make_stylizer(s.style, s.style_work_size, s.style_strength))
        config = move_recipe(splits, s)
        _, vrec = train_on(emb.protected, splits, s.arch, s.width, config, emb.tag)
        _, brec = train_on(emb.clean, splits, s.arch, s.width, config, benign_tag(s))
        rows.append((seed, len(emb.ids), len(emb.clean), vrec["accuracy"], brec["accuracy"]))
        print(f"seed {seed}: protected {vrec['accuracy']:.4f}, benign {brec['accuracy']:.4f}", flush=True)
    diffs = np.array([100 * (r[3] - r[4]) for r in rows])
    command = f"python benchmarks/move_seeds.py {args.scenario} --seeds {' '.join(map(str, args.seeds))}"
    lines = [f"# MOVE's accuracy cost over seeds: {args.scenario}", "", stamp(command), "",
             f"Victim {v.arch} (width {v.width}), {v.limit} defender images, {v.epochs} epochs on {sc.dataset}; style "
             f"`{spec.settings.get('style', 'builtin:0')}`, rate {s.rate}. Per seed: the protected victim (its stylised "
             "images keep their labels) against the benign model trained on the same images without the style, same "
             "recipe and seed — the two models MOVE's harmlessness compares. Seeds change the image subset, the "
             "stylised images and the initialisation.", "",
             "| seed | stylised images | protected accuracy | benign accuracy | difference (points) |",
             "|---|---|---|---|---|"]
    lines += [f"| {r[0]} | {r[1]} of {r[2]} | {r[3]:.4f} | {r[4]:.4f} | {100 * (r[3] - r[4]):+.2f} |" for r in rows]
    summary = (f"Difference over {len(rows)} seeds: mean {diffs.mean():+.2f} points, range {diffs.min():+.2f} to "
               f"{diffs.max():+.2f} (MOVE issue: at most 1 point).")
    lines += ["", summary, ""]
    out = HERE / f"move_seeds_{args.scenario}.md"
    out.write_text("\n".join(lines))
    write_section(f"move_seeds_{args.scenario}", f"## MOVE accuracy cost over seeds ({args.scenario})\n\n"
                  f"[{out.name}]({out.name}) — {stamp(command)}\n\n- {summary}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
