"""SAC (Guan et al., NeurIPS 2022): sample-correlation fingerprints.

A fingerprint is a set of n samples; a model's representation is the n x n correlation matrix of its outputs on
them (cosine similarity by default, or a Gaussian RBF kernel); the distance between suspect and victim is
mean |C_suspect - C_victim| (= the L1 norm / n^2). Small distance = stolen.

Samples:

* ``m`` (SAC-m): CutMix — each of n owner images gets a square patch pasted in from another image of the set, at a
  seeded random place, and is flipped horizontally with probability 1/2. No surrogate models.
* ``w`` (SAC-w): owner images that the victim and every surrogate model (distilled copies of the victim, trained
  by the owner) misclassify.
* ``normal``: plain owner images (the ablation's SAC-normal).

Outputs: for ``probabilities`` access (and white-box, so that all suspects are compared on the same footing) the
centred log-probabilities, which are the logits minus their mean — recoverable exactly from probabilities — or,
with ``representation="probabilities"``, the probabilities; for a labels-only suspect the smoothed one-hot
(1 - eps) onehot + eps / K, compared with the victim's labels smoothed the same way — label-only mode never asks for probabilities.

Decision: the kit stores the distances of the surrogate (stolen-like) models and of independent reference models
(trained by the owner from scratch with other seeds and architectures). Stolen iff distance <= d, with d from
:func:`threshold`: ``rule="paper"`` is SAC's, the mean of the two groups' mean distances; ``rule="calibrated"`` (the
default) is the midpoint between the farthest surrogate and the *nearest* reference, and always below that
reference — with references of several architectures, the paper's mean is pulled up by the far ones and can lie
above the owner's own same-architecture references, i.e. accuse independent models (measured in
benchmarks/sac-fmnist/report.md, rows "paper threshold"). ``--threshold`` gives d directly. The verdict's p-value is the empirical
p-value of the distance against the independent references, (1 + #{ref <= d}) / (1 + n_ref) — its floor is
1 / (n_ref + 1), so it is reported as evidence, not used for the decision.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .. import stats
from ..access import Access, WhiteBox
from ..data import Splits
from ..errors import ConfigError
from ..kit import Kit, KitWriter
from ..models import Classifier, model_sha256
from ..train import labels_of
from ..verdict import Verdict, score
from .base import BASELINES, Method, ProtectResult, arch_specs, settings_dict
from .owner import owner_references, owner_surrogates

VARIANTS = ("m", "w", "normal")
OUTPUTS = ("probabilities", "labels")


@dataclass
class SacSettings:
    """Settings of ``protect sac`` (CPU-scale defaults)."""

    variant: str = "m"
    samples: int = 100
    patch: int = 0  # CutMix patch side in pixels (0: a quarter of the image side)
    flip: bool = True
    correlation: str = "cosine"  # cosine | rbf
    representation: str = "logits"  # logits (centred log-probabilities) | probabilities
    gamma: float = 0.0  # RBF: exp(-gamma * ||a - b||^2); 0: 1 / the median squared distance of the victim's outputs
    epsilon: float = 0.1  # label smoothing of label-only outputs
    surrogates: int = 2  # distilled copies of the victim (SAC-w samples; stolen-side references for the threshold)
    surrogate_archs: str = ""  # comma-separated ARCH[:WIDTH]; empty: the victim's architecture
    references: int = 4  # independent reference models
    reference_archs: str = ""  # comma-separated ARCH[:WIDTH]; empty: the victim's architecture
    limit: int | None = 8000  # owner images for surrogates and references
    epochs: int | None = 3
    seed: int = 0
    recipe: str = "standard"  # named training recipe of every model it trains (stealguard.recipes.RECIPES)

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ConfigError(f"variant must be one of {', '.join(VARIANTS)}, got {self.variant!r}")
        if self.correlation not in ("cosine", "rbf"):
            raise ConfigError(f"correlation must be cosine or rbf, got {self.correlation!r}")
        if self.representation not in ("logits", "probabilities"):
            raise ConfigError(f"representation must be logits or probabilities, got {self.representation!r}")
        if self.samples < 2:
            raise ConfigError(f"samples must be >= 2, got {self.samples}")
        if not 0 <= self.epsilon < 1:
            raise ConfigError(f"epsilon must be in [0, 1), got {self.epsilon}")
        if self.variant == "w" and self.surrogates < 1:
            raise ConfigError("SAC-w needs at least one surrogate model")
        if self.references < 1:
            raise ConfigError("SAC needs at least one independent reference model for its threshold and p-value")
        for text in (self.surrogate_archs, self.reference_archs):  # validates ARCH[:WIDTH] lists before any training
            arch_specs(text, 1, "", 1.0)

    def to_dict(self) -> dict:
        """The settings as a plain dict (the cache key and the record)."""
        return settings_dict(self)


# --------------------------------------------------------------------------------------------------- pieces
def cutmix(x: np.ndarray, patch: int, flip: bool, seed: int) -> np.ndarray:
    """SAC-m samples: paste a ``patch`` x ``patch`` square from another image of the set (a seeded derangement)
    at a random place, then flip horizontally with probability 1/2."""
    rng = np.random.default_rng(seed)
    n, h, w, _ = x.shape
    patch = min(patch, h, w)
    out = x.copy()
    partner = (np.arange(n) + rng.integers(1, max(n, 2), size=1)[0]) % n if n > 1 else np.zeros(1, int)
    for i in range(n):
        r, c = rng.integers(0, h - patch + 1), rng.integers(0, w - patch + 1)
        out[i, r : r + patch, c : c + patch] = x[partner[i], r : r + patch, c : c + patch]
        if flip and rng.random() < 0.5:
            out[i] = out[i, :, ::-1]
    return out


def smoothed_onehot(labels: np.ndarray, k: int, eps: float) -> np.ndarray:
    """(1 - eps) * onehot + eps / k: the representation of a labels-only answer."""
    out = np.full((len(labels), k), eps / k)
    out[np.arange(len(labels)), labels] += 1 - eps
    return out


def correlation(outputs: np.ndarray, kind: str = "cosine", gamma: float = 1.0) -> np.ndarray:
    """n x n correlation matrix of per-sample output vectors."""
    o = np.asarray(outputs, dtype=np.float64)
    if kind == "cosine":
        u = o / np.maximum(np.linalg.norm(o, axis=1, keepdims=True), 1e-12)
        return u @ u.T
    sq = (o**2).sum(1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * o @ o.T, 0)
    return np.exp(-gamma * d2)


def distance(c_suspect: np.ndarray, c_victim: np.ndarray) -> float:
    """SAC's distance: ||C_s - C_v||_1 / n^2."""
    return float(np.abs(c_suspect - c_victim).mean())


def outputs_of(access: Access, x: np.ndarray, output: str, k: int, eps: float, representation: str = "logits") -> np.ndarray:
    """The per-sample vectors the correlation is computed on.

    ``labels``: smoothed one-hot labels (only ``predict_labels`` is called). Otherwise the suspect's probabilities,
    as centred log-probabilities (``representation="logits"``: log p - mean log p, which equals the logits minus their
    mean, so a probabilities-only API reveals them exactly up to rounding) or as the probabilities themselves.
    """
    if output == "labels":
        return smoothed_onehot(access.predict_labels(x), k, eps)
    p = access.predict_proba(x)
    if representation == "probabilities":
        return p
    lp = np.log(np.clip(p, 1e-12, None))
    return lp - lp.mean(axis=1, keepdims=True)


# --------------------------------------------------------------------------------------------------- method
class Sac(Method):
    """SAC (Guan et al. 2022): the suspect's sample correlation matrix compared with the victim's."""
    name = "sac"
    version = 1
    levels = ("white-box", "probabilities", "labels")
    summary = "sample-correlation fingerprint: the suspect's output correlations match the victim's (Guan et al. 2022)"
    Settings = SacSettings

    @staticmethod
    def suspicion(p_value: float | None, effect: float | None) -> float:
        """The negated correlation distance (SAC decides on the distance; its empirical p-value is coarse)."""
        return -float(effect)

    def protect(self, victim: Classifier, splits: Splits, settings: SacSettings, out_kit, progress: bool = False,
                echo=lambda s: None) -> ProtectResult:
        """Build the fingerprint of an already trained ``victim``: samples, its correlation matrices, reference
        distances and the threshold. The victim itself is not changed (``ProtectResult.model`` is None)."""
        s = settings
        t0 = time.perf_counter()
        k = victim.spec.num_classes
        own = splits.defender
        rng = np.random.default_rng(s.seed)
        # surrogates of another architecture take the victim's width (None: run_attack fills it in); references 1.0
        v = victim.spec
        surrogates = owner_surrogates(victim, splits, arch_specs(s.surrogate_archs, s.surrogates, v.arch, v.width,
                                                                 other_width=None), s.limit, s.epochs, progress, echo, s.recipe)
        tb = time.perf_counter()
        if s.variant == "w":
            wrong = labels_of(victim, own.x) != own.y
            for m in surrogates:
                wrong &= labels_of(m, own.x) != own.y
            idx = np.flatnonzero(wrong)
            if len(idx) < s.samples:
                raise ConfigError(f"only {len(idx)} owner images are misclassified by the victim and every surrogate; "
                                  f"lower --samples (asked {s.samples})")
            x = own.x[np.sort(rng.choice(idx, s.samples, replace=False))]
        else:
            x = own.x[np.sort(rng.choice(len(own), s.samples, replace=False))]
            if s.variant == "m":
                x = cutmix(x, s.patch or max(2, own.image_size[0] // 4), s.flip, s.seed)
        build_seconds = time.perf_counter() - tb  # sample construction (surrogate training excluded)
        refs = owner_references(splits, arch_specs(s.reference_archs, s.references, v.arch, v.width), s.limit,
                                s.epochs, progress, echo, s.recipe)
        kw = KitWriter(self.name, self.version, model_sha256(victim), meta={
            "settings": s.to_dict(), "dataset": splits.dataset, "classes": list(own.classes), "num_classes": k,
            "input_shape": list(victim.spec.input_shape)})
        kw.add_array("samples", x)
        record = {"method": self.name, "settings": s.to_dict(), "sample_seconds": round(build_seconds, 3)}
        fingerprint_seconds = build_seconds
        for output in OUTPUTS:
            tf = time.perf_counter()
            ov = outputs_of(WhiteBox(victim), x, output, k, s.epsilon, s.representation)
            gamma = s.gamma or _auto_gamma(ov)
            kw.meta.setdefault("gamma", {})[output] = gamma
            cv = correlation(ov, s.correlation, gamma)
            fingerprint_seconds += time.perf_counter() - tf
            kw.add_array(f"victim_corr_{output}", cv)

            def dist(m):
                return distance(correlation(outputs_of(WhiteBox(m), x, output, k, s.epsilon, s.representation),
                                            s.correlation, gamma), cv)

            d_sur = np.array([dist(m) for m in surrogates])
            d_ref = np.array([dist(m) for m in refs])
            t_paper, t_cal = threshold(d_sur, d_ref, "paper"), threshold(d_sur, d_ref, "calibrated")
            kw.add_array(f"surrogate_distances_{output}", d_sur)
            kw.add_array(f"reference_distances_{output}", d_ref)
            record[output] = {"surrogate_distances": d_sur.round(5).tolist(), "reference_distances": d_ref.round(5).tolist(),
                              "threshold": round(t_paper, 5), "threshold_calibrated": round(t_cal, 5)}
            echo(f"{output}: surrogates {np.round(d_sur, 4).tolist()}, references {np.round(d_ref, 4).tolist()}, "
                 f"threshold {t_cal:.4f} (paper's rule: {t_paper:.4f})")
        kit = kw.write(out_kit)
        # fingerprint_seconds: the samples plus the victim's correlation matrices (no surrogate or reference model)
        record.update(kit_id=kit.kit_id, seconds=round(time.perf_counter() - t0, 3),
                      fingerprint_seconds=round(fingerprint_seconds, 3))
        return ProtectResult(None, kit, record)

    def verify(self, kit: Kit, suspect: Access, threshold: float | None = None, rule: str = "calibrated",
               suspect_id: str | None = None) -> Verdict:
        """Distance of the suspect's correlation matrix to the victim's; stolen iff it is <= the threshold (given, or
        from the kit's distances by ``rule``: calibrated or paper, see :func:`threshold`)."""
        t0 = time.perf_counter()
        s = SacSettings(**kit.meta["settings"])
        x = kit.array("samples")
        # any class count: a model transferred to a new label space is compared on the same samples (n x n matrices)
        self.check_suspect(suspect, kit.meta["input_shape"], None)
        output = "labels" if suspect.level == "labels" else "probabilities"
        q0 = suspect.queries
        d = distance(correlation(outputs_of(suspect, x, output, suspect.num_classes, s.epsilon, s.representation), s.correlation,
                                 float(kit.meta["gamma"][output])), kit.array(f"victim_corr_{output}"))
        refs = kit.array(f"reference_distances_{output}")
        sur = kit.array(f"surrogate_distances_{output}")
        t = float(_threshold(sur, refs, rule) if threshold is None else threshold)
        p = stats.empirical_p(d, refs, higher_is_stolen=False)
        details = {"variant": s.variant, "output": output, "threshold": t, "rule": "given" if threshold is not None else rule,
                   "samples": int(len(x)), "reference_distances": refs.tolist(), "surrogate_distances": sur.tolist(),
                   "correlation": s.correlation,
                   "score": score(f"correlation distance to the victim ({output})", d, refs, sur, t, higher_is_stolen=False)}
        return Verdict(self.name, suspect.level, bool(d <= t), p, d, None, suspect.queries - q0,
                       round(time.perf_counter() - t0, 3), "stolen iff distance <= threshold (calibrated: midway between the "
                       "farthest surrogate and the nearest reference, below that reference; paper: the mean of the two groups' "
                       "means); p_value: empirical, against the reference models",
                       kit.kit_id, suspect_id, details,
                       blind_spot=f"at CPU scale it flagged no zero-shot copy, on Fashion-MNIST or CIFAR-10 {BASELINES}")


def threshold(surrogate_distances, reference_distances, rule: str = "calibrated") -> float:
    """The decision threshold d (stolen iff distance <= d) from the kit's surrogate (stolen-like) and independent
    reference distances. ``paper``: (mean surrogate + mean reference) / 2. ``calibrated``: (farthest surrogate +
    nearest reference) / 2, capped just below the nearest reference, so no reference model is ever called stolen."""
    sur, ref = np.asarray(surrogate_distances, float), np.asarray(reference_distances, float)
    if ref.size == 0:
        raise ConfigError("a SAC threshold needs at least one reference distance")
    if rule == "paper":
        return float((sur.mean() + ref.mean()) / 2 if sur.size else ref.min() / 2)
    if rule == "calibrated":
        near = float(ref.min())
        mid = (float(sur.max()) + near) / 2 if sur.size else near / 2
        return min(mid, float(np.nextafter(near, 0)))
    raise ConfigError(f"rule must be calibrated or paper, got {rule!r}")


_threshold = threshold  # verify's parameter of the same name shadows it


def _auto_gamma(o: np.ndarray) -> float:
    sq = (o**2).sum(1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * o @ o.T, 0)[np.triu_indices(len(o), 1)]
    med = float(np.median(d2)) if d2.size else 0.0
    return 1.0 / med if med > 0 else 1.0


