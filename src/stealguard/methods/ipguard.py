"""IPGuard (Cao, Jia and Gong, AsiaCCS 2021): fingerprinting the classification boundary (a baseline).

Protect (an existing model, no retraining): ``samples`` owner images, each with a random class pair (i, j), are
moved by :func:`stealguard.adversarial.boundary_points` until the model classifies them ``j`` with ``i`` the
runner-up, ``k`` logits behind: data points near the (i, j) boundary. They are stored as uint8 images, and the
fingerprint is the model's labels on them as stored (after the rounding).

Verify (labels suffice): the matching rate MR, the share of fingerprint points on which the suspect gives the
victim's label. IPGuard calls a suspect stolen when MR is above a threshold; the paper leaves the threshold to an
ROC. Here the threshold comes from the owner's independent reference models (trained from scratch, never shown to
the fingerprint; :func:`stealguard.recipes.owner_references`): with r the one-sided 95% Clopper-Pearson upper
bound of the highest reference MR (itself measured on only n points), the one-sided binomial test of H0: the
suspect agrees with the victim on a point with probability <= r; stolen iff p < alpha. The effect is MR - r. This
calibration is stealguard's, like MOVE's and SAC's, not the paper's; an unseen independent model more victim-like
than every reference is still possible, which is why the benchmarks count false accusations on models the kit
never saw.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from .. import adversarial
from ..access import Access, WhiteBox
from ..data import Splits, to_tensor, to_uint8
from ..errors import ConfigError
from ..kit import Kit, KitWriter
from ..models import Classifier, model_sha256
from ..verdict import Verdict
from .base import BASELINES, Method, ProtectResult, arch_specs, settings_dict, matching_rate, matching_verdict
from .owner import owner_references

INITS = ("data", "noise")


@dataclass
class IpGuardSettings:
    """Settings of ``protect ipguard`` (CPU-scale defaults)."""

    samples: int = 100  # fingerprint points n
    k: float = 1.0  # logit margin of class j over the runner-up i (small: nearer the boundary)
    steps: int = 100  # Adam steps per batch of points
    lr: float = 0.01
    init: str = "data"  # data: start from owner images; noise: from uniform noise
    references: int = 4  # independent reference models (the decision's r)
    reference_archs: str = ""  # comma-separated ARCH[:WIDTH]; empty: the victim's architecture
    limit: int | None = 8000  # owner images per reference model
    epochs: int | None = 3
    seed: int = 0
    recipe: str = "standard"  # named training recipe of every model it trains (stealguard.recipes.RECIPES)

    def __post_init__(self) -> None:
        if self.init not in INITS:
            raise ConfigError(f"init must be one of {', '.join(INITS)}, got {self.init!r}")
        if self.samples < 1 or self.steps < 1:
            raise ConfigError("samples and steps must be >= 1")
        if self.k < 0 or not self.lr > 0:
            raise ConfigError(f"k must be >= 0 and lr > 0, got k={self.k}, lr={self.lr}")
        if self.references < 1:
            raise ConfigError("IPGuard needs at least one independent reference model for its decision")
        arch_specs(self.reference_archs, 1, "", 1.0)  # validates the ARCH[:WIDTH] list before any training

    def to_dict(self) -> dict:
        """The settings as a plain dict (the cache key and the record)."""
        return settings_dict(self)


def fingerprint_points(model: Classifier, x: np.ndarray, s: IpGuardSettings) -> tuple[np.ndarray, np.ndarray]:
    """The fingerprint: uint8 points near random (i, j) boundaries of ``model``, moved from the uint8 images ``x``
    (or from noise, ``init="noise"``), and their (i, j) pairs."""
    rng = np.random.default_rng(s.seed)
    k = model.spec.num_classes
    first = rng.integers(0, k, len(x))
    second = (first + rng.integers(1, k, len(x))) % k  # a different class
    dev = next(model.parameters()).device
    model.eval()
    out = []
    for a in range(0, len(x), 256):
        start = (to_tensor(x[a : a + 256], dev) if s.init == "data"
                 else torch.rand((min(256, len(x) - a), *to_tensor(x[:1]).shape[1:]),
                                 generator=torch.Generator().manual_seed(s.seed + a)).to(dev))
        pts = adversarial.boundary_points(model, start, torch.as_tensor(first[a : a + 256], device=dev),
                                          torch.as_tensor(second[a : a + 256], device=dev), s.k, s.steps, s.lr)
        out.append(to_uint8(pts))
    return np.concatenate(out), np.stack([first, second], 1)


class IpGuard(Method):
    """IPGuard fingerprint (Cao et al. 2021): points near the victim's class boundaries, labelled by the victim."""
    name = "ipguard"
    version = 1
    levels = ("white-box", "probabilities", "labels")
    summary = "IPGuard: points near the victim's class boundaries; a copy gives the victim's labels on them (Cao et al. 2021)"
    report_details = (("matching_rate", "MR"),)
    Settings = IpGuardSettings

    def protect(self, victim: Classifier, splits: Splits, settings: IpGuardSettings, out_kit, progress: bool = False,
                echo=lambda s: None) -> ProtectResult:
        """Build the fingerprint of an already trained ``victim`` and the reference matching rates. The victim is not
        changed (``ProtectResult.model`` is None)."""
        s = settings
        t0 = time.perf_counter()
        own = splits.defender
        rng = np.random.default_rng(s.seed)
        x = own.x[np.sort(rng.choice(len(own), min(s.samples, len(own)), replace=False))]
        points, pairs = fingerprint_points(victim, x, s)
        labels = WhiteBox(victim).predict_labels(points)
        fingerprint_seconds = time.perf_counter() - t0
        on_j = float((labels == pairs[:, 1]).mean())
        echo(f"{len(points)} fingerprint points ({fingerprint_seconds:.1f} s); {on_j:.0%} classified as their target "
             "class j after rounding to uint8")
        v = victim.spec
        refs = owner_references(splits, arch_specs(s.reference_archs, s.references, v.arch, v.width), s.limit,
                                s.epochs, progress, echo, s.recipe)
        ref_mr = np.array([matching_rate(WhiteBox(m), points, labels) for m in refs])
        echo(f"reference matching rates {np.round(ref_mr, 3).tolist()}")
        kw = KitWriter(self.name, self.version, model_sha256(victim), meta={
            "settings": s.to_dict(), "dataset": splits.dataset, "num_classes": v.num_classes,
            "input_shape": list(v.input_shape)})
        kw.add_array("points", points)
        kw.add_array("labels", labels.astype(np.int64))
        kw.add_array("pairs", pairs.astype(np.int64))
        kw.add_array("reference_matching_rates", ref_mr)
        kit = kw.write(out_kit)
        record = {"method": self.name, "settings": s.to_dict(), "kit_id": kit.kit_id, "points": int(len(points)),
                  "classified_as_target": round(on_j, 4), "reference_matching_rates": ref_mr.round(4).tolist(),
                  "fingerprint_seconds": round(fingerprint_seconds, 3), "seconds": round(time.perf_counter() - t0, 3)}
        return ProtectResult(None, kit, record)

    def verify(self, kit: Kit, suspect: Access, alpha: float = 0.05, sequential: bool = False, round_size: int = 20,
               seed: int = 0, suspect_id: str | None = None) -> Verdict:
        """Matching rate of the suspect on the fingerprint points against the most victim-like reference model
        (one-sided binomial test, see the module docstring); stolen iff p < alpha. ``sequential``: ask the points
        ``round_size`` at a time (seeded order) and stop once decided (:func:`~stealguard.methods.base.matching_verdict`)."""
        return matching_verdict(self, kit, suspect, alpha, suspect_id, "a fingerprint point",
                                "at CPU scale it flagged no distilled, zero-shot, label-query or logit-query copy on "
                                f"Fashion-MNIST and no zero-shot copy on CIFAR-10 {BASELINES}", sequential, round_size, seed)

