"""MOVE's accuracy cost over seeds: is the protected victim's gap to the benign model noise of one seed?

Run: ``.venv/bin/python benchmarks/move_seeds.py [SCENARIO] [--seeds 0 1 2] [--epochs E ...] [--embed replace add]``
(default move-cifar10; ``--epochs`` and ``--embed`` add training lengths and embeddings to compare with the
scenario's own). For each setting and seed,
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
    ap.add_argument("--epochs", type=int, nargs="+", default=None,
                    help="also measure these training lengths (default: the scenario's)")
    ap.add_argument("--embed", nargs="+", choices=["replace", "add"], default=None,
                    help="also measure these embeddings (default: the scenario's)")
    args = ap.parse_args()
    sc = load_scenario(args.scenario)
    spec = next((m for m in sc.methods if m.method == "move"), None)
    if spec is None:
        sys.exit(f"scenario {args.scenario} has no MOVE entry")
    splits = load_splits(sc.dataset)
    v = sc.victim
    main_setting = (v.epochs, spec.settings.get("embed", "replace"))
    settings = [(e, m) for e in (args.epochs or [v.epochs]) for m in (args.embed or [main_setting[1]])]
    rows = []
    for epochs, embed in settings:
        for seed in args.seeds:
            s = entry_settings(Move, {**spec.settings, "embed": embed}, sc.dataset, seed,
                               {**dataclasses.asdict(v), "epochs": epochs})
            emb = embed_external_features(splits, s, make_stylizer(s.style, s.style_work_size, s.style_strength))
            config = move_recipe(splits, s)
            _, vrec = train_on(emb.protected, splits, s.arch, s.width, config, emb.tag)
            _, brec = train_on(emb.clean, splits, s.arch, s.width, config, benign_tag(s))
            rows.append((epochs, embed, seed, len(emb.ids), len(emb.clean), vrec["accuracy"], brec["accuracy"]))
            print(f"{epochs} epochs, embed {embed}, seed {seed}: protected {vrec['accuracy']:.4f}, "
                  f"benign {brec['accuracy']:.4f}", flush=True)
    command = (f"python benchmarks/move_seeds.py {args.scenario} --seeds {' '.join(map(str, args.seeds))}"
               + (f" --epochs {' '.join(map(str, args.epochs))}" if args.epochs else "")
               + (f" --embed {' '.join(args.embed)}" if args.embed else ""))
    lines = [f"# MOVE's accuracy cost over seeds: {args.scenario}", "", stamp(command), "",
             f"Victim {v.arch} (width {v.width}), {v.limit} defender images on {sc.dataset}; style "
             f"`{spec.settings.get('style', 'builtin:0')}`, rate {s.rate}; the scenario trains {v.epochs} epochs with "
             f"embed `{main_setting[1]}`. Embed `replace`: the stylised copies take their originals' place (the "
             "paper's modified training set); `add`: the victim trains on all the images plus the stylised copies "
             "(so each of its epochs has that many more images). Per seed: the protected victim (its stylised images keep their labels) against the benign model trained "
             "on the same images without the style, same recipe and seed — the two models MOVE's harmlessness "
             "compares. Seeds change the image subset, the stylised images and the initialisation.", "",
             "| epochs | embed | seed | stylised images | protected accuracy | benign accuracy | difference (points) |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} of {r[4]} | {r[5]:.4f} | {r[6]:.4f} | {100 * (r[5] - r[6]):+.2f} |"
              for r in rows]
    summary = []
    for epochs, embed in settings:
        d = np.array([100 * (r[5] - r[6]) for r in rows if (r[0], r[1]) == (epochs, embed)])
        mark = " (the scenario's settings)" if (epochs, embed) == main_setting else ""
        within = ("within the MOVE issue's 1 point in every seed" if d.min() >= -1 else
                  "beyond the MOVE issue's 1 point in every seed" if d.max() < -1 else
                  "beyond the MOVE issue's 1 point in some seeds")
        summary.append(f"{epochs} epochs, embed {embed}{mark}: mean {d.mean():+.2f} points over {len(d)} seeds, "
                       f"range {d.min():+.2f} to {d.max():+.2f}; {within}")
    lines += [""] + [f"- {x}." for x in summary] + [""]
    out = HERE / f"move_seeds_{args.scenario}.md"
    out.write_text("\n".join(lines))
    write_section(f"move_seeds_{args.scenario}", f"## MOVE accuracy cost over seeds ({args.scenario})\n\n"
                  f"[{out.name}]({out.name}) — {stamp(command)}\n\n" + "\n".join(f"- {x}." for x in summary))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
