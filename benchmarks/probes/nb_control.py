"""Probe (not a benchmark page): would near-boundary's calibrated rule separate copies from independent models
better if the private samples' distance on a model were normalised by that model's distance on neutral control
images? The idea: a model that is unconfident on unusual images (at CPU scale: the small cnn) puts every
ambiguous image near its boundaries, the owner's private samples included, and the raw rule reads that as
closeness. Controls here: per boundary (S, T), 64 test images of S blended half-and-half with 64 of T ("mix"), and
64 plain test images of S ("src"). Statistics per model: the raw mean distance of the private samples (the rule as
shipped), their ratio, difference and log ratio to the control's, averaged over boundaries; each judged like the
calibrated rule, by a one-sided t prediction test against the owner's reference models.

Run after a near-boundary scenario has a run folder with one near-boundary kit (its models come from the cache):
``STEALGUARD_CACHE=DIR python benchmarks/probes/nb_control.py SCENARIO RUN_FOLDER`` (e.g. nb-cifar10-w1). It
prints one row per model of the run folder (model files are named by a hash of their job; the suspect behind a row is identified
by its raw distance, which the run's verification table also shows).
"""

import sys
from pathlib import Path

import numpy as np

from stealguard import stats
from stealguard.access import open_access
from stealguard.bench import load_scenario
from stealguard.data import load_splits
from stealguard.kit import load_kit
from stealguard.methods.base import arch_specs
from stealguard.methods.near_boundary import NearBoundarySettings, boundary_distance
from stealguard.models.files import load_model
from stealguard.recipes import owner_references

STATISTICS = {
    "raw": lambda f: f["priv"].mean(),
    "ratio_mix": lambda f: (f["priv"] / f["mix"]).mean(),
    "diff_mix": lambda f: (f["priv"] - f["mix"]).mean(),
    "ratio_src": lambda f: (f["priv"] / f["src"]).mean(),
    "logratio_mix": lambda f: np.log(f["priv"] / f["mix"]).mean(),
}


def main(scenario: str, run_dir: str) -> None:
    sc = load_scenario(scenario)
    run = Path(run_dir)
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
        return {"priv": per(boundary_distance(acc.predict_proba(xp), pp), pp),
                "mix": per(boundary_distance(acc.predict_proba(mix), mixp), mixp),
                "src": per(boundary_distance(acc.predict_proba(src), mixp), mixp)}

    s = NearBoundarySettings(**kit.meta["settings"])
    v = sc.victim
    refs = [features(r) for r in owner_references(splits, arch_specs(s.reference_archs, s.references, v.arch, v.width),
                                                  s.limit, s.epochs)]
    print("references:", {k: [round(float(fn(f)), 3) for f in refs] for k, fn in STATISTICS.items()})
    print(f"{'model file':40s} " + " ".join(f"{k:>18s}" for k in STATISTICS))
    for path in sorted((run / "models").glob("*.safetensors")):
        f = features(load_model(path))
        cells = []
        for fn in STATISTICS.values():
            value = float(fn(f))
            cells.append(f"{value:7.3f} p{stats.prediction_t(value, [fn(r) for r in refs], 'less').p_value:8.1e}")
        print(f"{path.stem[:40]:40s} " + " ".join(f"{c:>18s}" for c in cells))


if __name__ == "__main__":
    main(*sys.argv[1:3])
