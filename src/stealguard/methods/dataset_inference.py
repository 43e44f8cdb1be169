"""Dataset inference (Maini, Yaghini and Papernot, ICLR 2021), the baseline MOVE compares against.

The idea: a model trained on the owner's data — or on anything that carries its knowledge — puts the owner's
training samples farther from its decision boundaries than unseen samples of the same distribution.

Protect (the owner's plain model, unchanged): embed samples by their distances to the model's boundaries —
``mingd`` (white-box: for each class, the L-inf, L2 and L1 length of the gradient walk that first reaches it, sorted
per norm so that the embedding does not depend on which class an image belongs to; 3K numbers) and ``blind`` (labels
only: the L-inf, L2 and L1 lengths of ``walks`` random walks until the label changes; 3 x walks numbers), both from
:mod:`stealguard.adversarial`. A logistic regressor per embedding is trained on the owner model's embeddings of
``fit_samples`` of its training images (1) and of public test images (0). The kit keeps the regressors (as arrays)
and ``verify_samples`` further training and public images for verification.

Verify: the suspect's embeddings of the kit's verification images (mingd for a white-box suspect when the kit holds
its regressor, blind otherwise), scored by the regressor; ``repeats`` draws of ``m`` (default 10, the paper's) per
side, one-sided Welch t-test of H0: mean score of the owner's training images <= that of the public images, combined
by the harmonic mean; stolen iff p < alpha; Δµ = the difference of the mean scores. The details also give ``p_all``,
the same test on all the kit's verification images at once (more power than m = 10, same queries). The method only
works on a model that fits its training images markedly better than unseen ones (see the README's measurements).
MOVE reports that this test also accuses models trained independently on other data of the same distribution; the
benchmarks count it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from .. import adversarial, stats
from ..access import Access, WhiteBox
from ..data import Splits, to_tensor
from ..errors import ConfigError
from ..kit import Kit, KitWriter
from ..models import model_sha256
from ..verdict import Verdict
from .base import BASELINES, Method, OwnModelSettings, ProtectResult
from .owner import owner_plain_model

EMBEDDINGS = ("mingd", "blind")
# step sizes per norm on [0, 1] images (linf, l2, l1): MinGD and blind walk
_MINGD_STEP = {"linf": 0.01, "l2": 0.1, "l1": 1.0}
_BLIND_STEP = {"linf": 0.02, "l2": 0.4, "l1": 8.0}


@dataclass
class DatasetInferenceSettings(OwnModelSettings):
    """Settings of ``protect dataset-inference`` (CPU-scale defaults)."""

    fit_samples: int = 300  # training and public images per side for the regressors
    verify_samples: int = 100  # training and public images per side kept in the kit
    steps: int = 50  # MinGD steps and blind-walk steps per norm
    walks: int = 5  # blind-walk directions per norm
    embeddings: str = "mingd,blind"  # which regressors the kit holds (mingd: white-box suspects; blind: any)

    def __post_init__(self) -> None:
        for name in ("fit_samples", "verify_samples", "steps", "walks"):
            if getattr(self, name) < 2:
                raise ConfigError(f"{name} must be >= 2, got {getattr(self, name)}")
        kinds = [k.strip() for k in self.embeddings.split(",") if k.strip()]
        if not kinds or any(k not in EMBEDDINGS for k in kinds):
            raise ConfigError(f"embeddings must be a comma-separated subset of {', '.join(EMBEDDINGS)}, got {self.embeddings!r}")
        self.embeddings = ",".join(k for k in EMBEDDINGS if k in kinds)


def embed(access: Access, x: np.ndarray, kind: str, steps: int, walks: int, seed: int = 0) -> np.ndarray:
    """The distance embedding of uint8 images ``x`` on ``access``: ``mingd`` needs its module (white-box),
    ``blind`` only its labels."""
    out = []
    gen = torch.Generator().manual_seed(seed)
    for i in range(0, len(x), 128):
        if kind == "mingd":
            module = access.module
            dev = next(module.parameters()).device
            module.eval()
            xb = to_tensor(x[i : i + 128], dev)
            # sorted per norm: class-agnostic (measured on an overfit Fashion-MNIST cnn, 150 training vs 150 public
            # images: cross-validated AUC of the regressor 0.63 sorted, 0.54 in class order)
            feats = [adversarial.min_gd_distances(module, xb, nm, _MINGD_STEP[nm], steps).sort(1).values
                     for nm in adversarial.NORMS]
        else:
            xb = to_tensor(x[i : i + 128])
            feats = [adversarial.blind_walk_distances(access.predict_labels, xb, nm, _BLIND_STEP[nm], steps, walks, gen)
                     for nm in adversarial.NORMS]
        out.append(torch.cat(feats, 1).detach().cpu().numpy())
    return np.concatenate(out).astype(np.float64)


def _fit(pos: np.ndarray, neg: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    from sklearn.linear_model import LogisticRegression

    z = np.concatenate([pos, neg])
    mu, sd = z.mean(0), z.std(0) + 1e-8
    clf = LogisticRegression(max_iter=2000, random_state=seed).fit((z - mu) / sd, np.r_[np.ones(len(pos)), np.zeros(len(neg))])
    return {"mean": mu, "std": sd, "coef": clf.coef_[0].astype(np.float64), "intercept": clf.intercept_.astype(np.float64)}


def _score(reg: dict[str, np.ndarray], z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-(((z - reg["mean"]) / reg["std"]) @ reg["coef"] + reg["intercept"][0])))


class DatasetInference(Method):
    """Dataset inference (Maini et al. 2021): the owner's training images lie farther from a derived model's
    boundaries."""
    name = "dataset-inference"
    version = 1
    levels = ("white-box", "probabilities", "labels")
    summary = "dataset inference: the owner's training images lie farther from a derived model's boundaries (Maini et al. 2021)"
    trains_victim = True
    Settings = DatasetInferenceSettings
    report_details = (("p_all", "p (all verification images)"),)

    def protect(self, splits: Splits, settings: DatasetInferenceSettings, out_kit, modes: tuple[str, ...] = (),
                progress: bool = False, echo=lambda s: None) -> ProtectResult:
        """Train (or load from the cache) the owner's plain model and build the kit: the regressors of both
        embeddings and the verification images. The model itself is not changed."""
        s = settings
        t0 = time.perf_counter()
        _, clean, model, rec = owner_plain_model(splits, s, progress)
        need = s.fit_samples + s.verify_samples
        if len(clean) < need or len(splits.test) < need:
            raise ConfigError(f"dataset inference needs {need} training and {need} test images; lower fit_samples or verify_samples")
        rng = np.random.default_rng(s.seed)
        own = clean.x[rng.choice(len(clean), need, replace=False)]
        pub = splits.test.x[rng.choice(len(splits.test), need, replace=False)]
        kw = KitWriter(self.name, self.version, model_sha256(model), meta={
            "settings": s.to_dict(), "dataset": splits.dataset, "num_classes": model.spec.num_classes,
            "input_shape": list(model.spec.input_shape)})
        record = {"method": self.name, "settings": s.to_dict(), "victim": {"accuracy": rec["accuracy"]}, "fit": {}}
        access = WhiteBox(model)
        for kind in s.embeddings.split(","):
            te = time.perf_counter()
            zo = embed(access, own[: s.fit_samples], kind, s.steps, s.walks, s.seed)
            zp = embed(access, pub[: s.fit_samples], kind, s.steps, s.walks, s.seed + 1)
            reg = _fit(zo, zp, s.seed)
            for key, arr in reg.items():
                kw.add_array(f"{kind}_{key}", arr)
            sep = float(_score(reg, zo).mean() - _score(reg, zp).mean())
            record["fit"][kind] = {"score_gap": round(sep, 4), "seconds": round(time.perf_counter() - te, 3)}
            echo(f"{kind} regressor: mean score of training images minus public images on the owner's model {sep:+.3f}")
        kw.add_array("verify_private", own[s.fit_samples :])
        kw.add_array("verify_public", pub[s.fit_samples :])
        kit = kw.write(out_kit)
        record.update(kit_id=kit.kit_id, seconds=round(time.perf_counter() - t0, 3),
                      benign=[{"accuracy": rec["accuracy"], "role": "the same model (dataset inference changes nothing)"}])
        return ProtectResult(model, kit, record)

    def verify(self, kit: Kit, suspect: Access, m: int = 10, repeats: int = 20, alpha: float = 0.05, seed: int = 0,
               embedding: str | None = None, suspect_id: str | None = None) -> Verdict:
        """Regressor scores of the owner's training images vs public images on the suspect (see the module
        docstring); stolen iff p < alpha."""
        t0 = time.perf_counter()
        self.check_suspect(suspect, kit.meta["input_shape"], kit.meta["num_classes"])
        if m < 2 or repeats < 1:
            raise ConfigError(f"m must be >= 2 and repeats >= 1, got m={m}, repeats={repeats}")
        s = kit.meta["settings"]
        if embedding not in (None, *EMBEDDINGS):
            raise ConfigError(f"embedding must be one of {', '.join(EMBEDDINGS)}, got {embedding!r}")
        held = s.get("embeddings", ",".join(EMBEDDINGS)).split(",")
        kind = embedding or ("mingd" if suspect.level == "white-box" and "mingd" in held else "blind")
        if kind == "mingd" and suspect.level != "white-box":
            raise ConfigError(f"the mingd embedding needs a white-box suspect; this one gives {suspect.level}: use blind")
        if kind not in held:
            raise ConfigError(f"this kit holds no {kind} regressor (it was built with embeddings={','.join(held)})")
        reg = {k: kit.array(f"{kind}_{k}") for k in ("mean", "std", "coef", "intercept")}
        q0 = suspect.queries
        priv = _score(reg, embed(suspect, kit.array("verify_private"), kind, s["steps"], s["walks"], s["seed"] + 2))
        pub = _score(reg, embed(suspect, kit.array("verify_public"), kind, s["steps"], s["walks"], s["seed"] + 3))
        rng = np.random.default_rng(seed)
        mm = min(m, len(priv), len(pub))
        draws = [stats.welch_t(rng.choice(priv, mm, replace=False), rng.choice(pub, mm, replace=False), "greater").p_value
                 for _ in range(repeats)]
        p = stats.combine(draws)
        effect = float(priv.mean() - pub.mean())
        details = {"embedding": kind, "m": mm, "repeats": repeats, "private_score": round(float(priv.mean()), 5),
                   "public_score": round(float(pub.mean()), 5),
                   "p_all": stats.welch_t(priv, pub, "greater").p_value, "samples_per_side": len(priv)}
        return Verdict(self.name, suspect.level, bool(p < alpha), p, effect, alpha, suspect.queries - q0,
                       round(time.perf_counter() - t0, 3), "one-sided Welch t-test of H0: regressor score of the owner's "
                       "training images <= that of public images on the suspect, on repeated draws of m per side "
                       "(harmonic-mean p); stolen iff p < alpha", kit.kit_id, suspect_id, details,
                       blind_spot="at CPU scale, on victims trained as usual, it flagged neither the source model nor its "
                                  "fine-tuned, distilled, zero-shot or label-query copies, on Fashion-MNIST or CIFAR-10 "
                                  f"{BASELINES}: it needs a model that fits its training images markedly better than unseen ones")
