"""Probe (a finding, not a shipped rule): is what a MOVE-protected model learns from its style specific to that style?

Rule style-accuracy reads a suspect's accuracy on the kit's stylised verification images; strangers trained with
style augmentation score high there too (benchmarks/probes/move-fmnist-style-strangers). If the protected model had
learnt the kit's style rather than stylised images in general, its accuracy on the same verification images under
other styles ("controls") would stay low while a style-augmented stranger's would not, and the difference (kit style
minus controls) would separate them. This page measures, for every model of a run (the protected model, the thefts,
the independent models): accuracy on the verification originals, on the kit's stylised versions, on the control
styles (mean), and that difference. All 400 verification images; labels only.

Run: ``python benchmarks/probes/move_style_contrast.py NAME [--controls builtin:13,builtin:19,builtin:23]`` with
``runs/bench/NAME`` a finished run of a scenario with one MOVE kit (e.g. after
``python benchmarks/run.py benchmarks/probes/move-fmnist-style-strangers.yaml``). The page goes to
``benchmarks/probes/NAME/style_contrast.md``.
"""

import argparse
import json
import sqlite3
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _report import HERE, stamp  # noqa: E402

from stealguard.access import open_access  # noqa: E402
from stealguard.style import make_stylizer, stylize_cached  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("name")
    ap.add_argument("--controls", default="builtin:13,builtin:19,builtin:23")
    args = ap.parse_args()
    run = Path("runs/bench") / args.name
    kits = sorted(run.glob("kits/*"))
    if not (run / "results.sqlite").exists() or len(kits) != 1:
        sys.exit(f"{run}: needs a finished run with one MOVE kit (python benchmarks/run.py ... first)")
    kit = kits[0]
    orig, y, kit_styled = (np.load(kit / f"verify_{k}.npy") for k in ("original", "labels", "styled"))
    controls = args.controls.split(",")
    control_images = [stylize_cached(make_stylizer(c), orig) for c in controls]
    db = sqlite3.connect(run / "results.sqlite")
    rows = []
    for key, result in db.execute("SELECT key, result FROM jobs WHERE kind IN ('protect', 'steal', 'independent') "
                                  "AND status = 'done' ORDER BY key"):
        r = json.loads(result)
        model = open_access(str(run / r["path"]), "labels")
        acc = [float((model.predict_labels(x) == y).mean()) for x in (orig, kit_styled, *control_images)]
        kind, _, label = key.partition("/")
        name = {"protect": "protected model", "steal": f"theft: {label.rsplit('/', 1)[-1]}"}.get(kind, label)
        rows.append((name, acc[0], acc[1], float(np.mean(acc[2:])), acc[1] - float(np.mean(acc[2:]))))
    rows.sort(key=lambda t: -t[4])
    lines = [f"# MOVE: is the learnt style specific? ({args.name})", "",
             stamp(f"python benchmarks/probes/move_style_contrast.py {args.name} --controls {args.controls}"), "",
             (__doc__ or "").split("\n\n")[1].replace("\n", " "), "",
             f"Verification images: {len(y)} (the kit's held-out stylised images and their originals); control styles: "
             f"{', '.join(controls)}.", "",
             "| model | accuracy: originals | kit's style | control styles (mean) | kit's style − controls |",
             "|---|---|---|---|---|"]
    lines += [f"| {n} | {a:.3f} | {k:.3f} | {c:.3f} | {d:+.3f} |" for n, a, k, c, d in rows]
    out = HERE / "probes" / args.name / "style_contrast.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print(out)


if __name__ == "__main__":
    main()
