"""Probe (a finding, not a shipped rule): would near-boundary's calibrated rule separate copies from independent models
better if the private samples' distance on a model were normalised by that model's distance on neutral control
images? The idea: a model that is unconfident on unusual images (at CPU scale: the small cnn) puts every
ambiguous image near its boundaries, the owner's private samples included, and the raw rule reads that as
closeness. Controls here: per boundary (S, T), 64 test images of S blended half-and-half with 64 of T ("mix"), and
64 plain test images of S ("src"). Statistics per model: the raw mean distance of the private samples (the rule as
shipped), their ratio, difference and log ratio to the control's, averaged over boundaries; each judged like the
calibrated rule, by a one-sided t prediction test against the owner's reference models. "guarded": as the statistic,
but no suspect is accused whose accuracy on the plain source-class images ("src", labelled S) is below the lowest
of the reference models' (proposed after nb-cifar10-fresh, checked on nb-cifar10-fresh2's independent models).

Run: ``STEALGUARD_CACHE=DIR python benchmarks/probes/nb_control.py SCENARIO [--run]`` (a shipped scenario's name or a
file such as benchmarks/probes/nb-cifar10-fresh.yaml). The scenario must have one near-boundary kit; its run folder is
``runs/bench/NAME`` (``--run`` runs or resumes the scenario there first; the models come from the cache). The page
goes to ``benchmarks/probes/nb_control_NAME.md``: one row per model of the run, each statistic's one-sided p against
the references (alpha 0.05, the calibrated rule's), and per statistic the derived models flagged and the independent
models flagged.
"""

import argparse
import sqlite3
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _report import stamp  # noqa: E402

from stealguard import stats  # noqa: E402
from stealguard.access import open_access  # noqa: E402
from stealguard.bench import load_scenario, run_bench  # noqa: E402
from stealguard.data import load_splits  # noqa: E402
from stealguard.kit import load_kit  # noqa: E402
from stealguard.methods.base import arch_specs  # noqa: E402
from stealguard.methods.near_boundary import NearBoundarySettings, boundary_distance  # noqa: E402
from stealguard.models.files import load_model  # noqa: E402
from stealguard.methods.owner import owner_references  # noqa: E402

ALPHA = 0.05
STATISTICS = {
    "raw": lambda f: f["priv"].mean(),
    "ratio_src": lambda f: (f["priv"] / f["src"]).mean(),
    "ratio_mix": lambda f: (f["priv"] / f["mix"]).mean(),
    "diff_mix": lambda f: (f["priv"] - f["mix"]).mean(),
    "logratio_mix": lambda f: np.log(f["priv"] / f["mix"]).mean(),
}


def run_models(run: Path) -> list[dict]:
    """The run's models (role, label, fidelity, file), from its results database."""
    con = sqlite3.connect(run / "results.sqlite")
    try:
        rows = con.execute("SELECT role, label, fidelity, path FROM models").fetchall()
    finally:
        con.close()
    keys = ("role", "label", "fidelity", "path")
    order = {"protected": 0, "stolen": 1, "independent": 2, "victim": 3}
    out = [dict(zip(keys, r)) for r in rows]
    return sorted(out, key=lambda m: (order.get(m["role"], 4), str(m["label"])))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("scenario")
    ap.add_argument("--run", action="store_true", help="run (or resume) the scenario first")
    args = ap.parse_args()
    sc = load_scenario(args.scenario)
    run = Path("runs/bench") / sc.name
    if args.run:
        run_bench(sc, run)
    if not (run / "results.sqlite").exists():
        sys.exit(f"no run folder {run}: run the scenario first (--run)")
    splits = load_splits(sc.dataset, seed=sc.split_seed)
    kits = sorted(run.rglob("manifest.json"))
    if len(kits) != 1:
        sys.exit(f"expected one kit under {run}, found {len(kits)}")
    kit = load_kit(kits[0].parent)
    xp, pp = kit.array("private"), kit.array("private_pairs")
    pairs = [tuple(p) for p in kit.meta["boundaries"]]
    rng = np.random.default_rng(0)
    mix, mixp, src = [], [], []
    for s_, t_ in pairs:
        ia = rng.choice(np.flatnonzero(splits.test.y == s_), 64, replace=False)
        ib = rng.choice(np.flatnonzero(splits.test.y == t_), 64, replace=False)
        blend = 0.5 * splits.test.x[ia].astype(float) + 0.5 * splits.test.x[ib].astype(float)
        mix.append(np.clip(np.round(blend), 0, 255).astype(splits.test.x.dtype))
        src.append(splits.test.x[ia])
        mixp.append(np.tile([s_, t_], (64, 1)))
    mix, mixp, src = np.concatenate(mix), np.concatenate(mixp), np.concatenate(src)

    def features(model) -> dict:
        acc = open_access(model.eval(), "probabilities")
        per = lambda d, rows: np.array([d[np.all(rows == np.array(q), 1)].mean() for q in pairs])
        ps = acc.predict_proba(src)
        return {"priv": per(boundary_distance(acc.predict_proba(xp), pp), pp),
                "mix": per(boundary_distance(acc.predict_proba(mix), mixp), mixp),
                "src": per(boundary_distance(ps, mixp), mixp), "acc": float((ps.argmax(1) == mixp[:, 0]).mean())}

    s = NearBoundarySettings(**kit.meta["settings"])
    v = sc.victim
    specs = arch_specs(s.reference_archs, s.references, v.arch, v.width)
    refs = [features(r) for r in owner_references(splits, specs, s.limit, s.epochs)]
    ref_values = {k: [float(fn(f)) for f in refs] for k, fn in STATISTICS.items()}
    acc_floor = min(f["acc"] for f in refs)
    lines = [f"# Probe: near-boundary distances normalised by controls ({sc.name})", "",
             stamp(f"python benchmarks/probes/nb_control.py {args.scenario}" + (" --run" if args.run else "")), "",
             (__doc__ or "").split("\n\n")[0].replace("\n", " "), "",
             "Statistics (each averaged over the kit's boundaries, lower = closer to the owner's model): raw = the "
             "private samples' mean distance (the calibrated rule as shipped); ratio_src = that divided by the mean "
             "distance of 64 plain test images of the boundary's source class; ratio_mix, diff_mix, logratio_mix = "
             "against 64 test images of S blended half-and-half with 64 of T. Each is judged like the calibrated "
             f"rule: a one-sided t prediction test against the owner's {len(refs)} reference models, flagged when "
             f"p < {ALPHA}. acc (src) = accuracy on the plain source-class images; guarded rows of the summary clear "
             f"a suspect below the references' lowest, {acc_floor:.3f}.", "",
             "| reference | acc (src) | " + " | ".join(STATISTICS) + " |", "|---|---|" + "---|" * len(STATISTICS)]
    for i, (spec, f) in enumerate(zip(specs, refs)):
        lines.append(f"| {spec[0]}:{spec[1]:g} | {f['acc']:.3f} | "
                     + " | ".join(f"{ref_values[k][i]:.3f}" for k in STATISTICS) + " |")
    lines += ["", "| model | role | fidelity | acc (src) | " + " | ".join(STATISTICS) + " |",
              "|---|---|---|---|" + "---|" * len(STATISTICS)]
    guarded = ("raw", "ratio_src")
    flagged = {k: {"stolen": [], "independent": []} for k in [*STATISTICS, *(f"{g} guarded" for g in guarded)]}
    for m in run_models(run):
        if m["role"] not in ("protected", "stolen", "independent") or not m["path"]:
            continue
        f = features(load_model(run / m["path"]))  # paths are relative to the run folder
        cells = []
        for k, fn in STATISTICS.items():
            value = float(fn(f))
            p = stats.prediction_t(value, ref_values[k], "less").p_value
            role = "independent" if m["role"] == "independent" else "stolen"
            flagged[k][role].append(p)
            if k in guarded:  # a cleared suspect counts as p = 1
                flagged[f"{k} guarded"][role].append(p if f["acc"] >= acc_floor else 1.0)
            cells.append(("**" if p < ALPHA else "") + f"{value:.3f} (p {p:.1e})" + ("**" if p < ALPHA else ""))
        fid = "" if m["fidelity"] is None else f"{m['fidelity']:.3f}"
        lines.append(f"| {m['label']} | {m['role']} | {fid} | {f['acc']:.3f} | " + " | ".join(cells) + " |")
    lines += ["", "Independent models flagged count p < 0.05; a guarded statistic counts a cleared suspect as not flagged.", "",
              "| statistic | derived models flagged (source included) | independent models flagged | smallest independent p "
              "| derived flagged at p < 0.01 | independent flagged at p < 0.01 |", "|---|---|---|---|---|---|"]
    for k, d in flagged.items():
        st, ind = np.array(d["stolen"]), np.array(d["independent"])
        lines.append(f"| {k} | {int((st < ALPHA).sum())}/{st.size} | {int((ind < ALPHA).sum())}/{ind.size} | "
                     + (f"{ind.min():.2g}" if ind.size else "–") + f" | {int((st < 0.01).sum())}/{st.size} "
                     f"| {int((ind < 0.01).sum())}/{ind.size} |")
    out = Path(__file__).resolve().parent / f"nb_control_{sc.name}.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines[-len(flagged) - 2:]))
    print(f"page: {out}")


if __name__ == "__main__":
    main()
