"""CAE (Lukas, Zhang and Kerschbaum, ICLR 2021): conferrable adversarial examples as a fingerprint (a baseline).

Protect (an existing model, no retraining): the owner distils ``surrogates`` copies of the victim (models derived
from it, as a thief's would be) and trains ``references`` independent models from scratch. From ``candidates`` owner
images, :func:`stealguard.adversarial.conferrable_examples` searches, within an L-infinity ball of ``eps``, for
adversarial examples of the victim whose new label the surrogates share and the references do not (high
*conferrability*). The ``samples`` most conferrable ones that the victim labels differently from the clean image are
the fingerprint, stored as uint8 images with the victim's labels on them as stored.

Verify (labels suffice): the matching rate MR (the paper's fingerprint retention) of the suspect on the fingerprint.
The decision is the one IPGuard's uses (:func:`stealguard.stats.matching_test`): the one-sided binomial test of the
suspect's matches against the 95% upper confidence bound of the highest MR of ``calibration`` further independent
reference models. Those are held out: the generation references are what the examples were optimised *not* to
transfer to, so their MR understates an unseen independent model's and would make a biased threshold. The paper
decides with a threshold on MR chosen on validation models; this calibration is stealguard's.
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
from .owner import owner_references, owner_surrogates


@dataclass
class CaeSettings:
    """Settings of ``protect cae`` (CPU-scale defaults)."""

    samples: int = 100  # fingerprint size n
    candidates: int = 500  # owner images optimised; the n most conferrable adversarial ones are kept
    eps: float = 0.1  # L-infinity bound of the perturbation (pixels in [0, 1])
    steps: int = 100  # Adam steps
    lr: float = 0.01
    surrogates: int = 3  # distilled copies of the victim
    surrogate_archs: str = ""  # comma-separated ARCH[:WIDTH]; empty: the victim's architecture
    references: int = 3  # independent models the examples must not transfer to
    calibration: int = 2  # further independent models, held out, that set the decision's bound
    reference_archs: str = ""  # comma-separated ARCH[:WIDTH] (generation and calibration references in turn)
    limit: int | None = 8000  # owner images per surrogate and reference model
    epochs: int | None = 3
    seed: int = 0
    recipe: str = "standard"  # named training recipe of every model it trains (stealguard.recipes.RECIPES)

    def __post_init__(self) -> None:
        if self.samples < 1 or self.steps < 1:
            raise ConfigError("samples and steps must be >= 1")
        if self.candidates < self.samples:
            raise ConfigError(f"candidates ({self.candidates}) must be at least samples ({self.samples})")
        if not 0 < self.eps <= 1 or not self.lr > 0:
            raise ConfigError(f"eps must be in (0, 1] and lr > 0, got eps={self.eps}, lr={self.lr}")
        if self.surrogates < 1 or self.references < 1:
            raise ConfigError("CAE needs at least one surrogate and one reference model")
        if self.calibration < 1:
            raise ConfigError("CAE needs at least one held-out calibration model for its decision")
        for text in (self.surrogate_archs, self.reference_archs):  # validates ARCH[:WIDTH] lists before any training
            arch_specs(text, 1, "", 1.0)

    def to_dict(self) -> dict:
        """The settings as a plain dict (the cache key and the record)."""
        return settings_dict(self)


class Cae(Method):
    """CAE fingerprint (Lukas et al. 2021): conferrable adversarial examples that transfer to copies, not to
    independent models."""
    name = "cae"
    version = 1
    levels = ("white-box", "probabilities", "labels")
    summary = "CAE: adversarial examples that transfer to the victim's copies but not to independent models (Lukas et al. 2021)"
    report_details = (("matching_rate", "MR"),)
    Settings = CaeSettings

    def protect(self, victim: Classifier, splits: Splits, settings: CaeSettings, out_kit, progress: bool = False,
                echo=lambda s: None) -> ProtectResult:
        """Build the CAE fingerprint of an already trained ``victim`` and the calibration models' matching rates.
        The victim is not changed (``ProtectResult.model`` is None)."""
        s = settings
        t0 = time.perf_counter()
        v = victim.spec
        surrogates = owner_surrogates(victim, splits, arch_specs(s.surrogate_archs, s.surrogates, v.arch, v.width,
                                                                 other_width=None), s.limit, s.epochs, progress, echo, s.recipe)
        refs = owner_references(splits, arch_specs(s.reference_archs, s.references + s.calibration, v.arch, v.width),
                                s.limit, s.epochs, progress, echo, s.recipe)
        generation, held_out = refs[: s.references], refs[s.references:]
        tg = time.perf_counter()
        own = splits.defender
        rng = np.random.default_rng(s.seed)
        x = own.x[np.sort(rng.choice(len(own), min(s.candidates, len(own)), replace=False))]
        models = [victim, *surrogates, *generation]
        modes = [m.training for m in models]
        for m in models:
            m.eval()
        dev = next(victim.parameters()).device
        points = []
        try:
            for a in range(0, len(x), 256):
                adv = adversarial.conferrable_examples(victim, surrogates, generation, to_tensor(x[a : a + 256], dev),
                                                       s.eps, s.steps, s.lr)
                points.append(to_uint8(adv))
        finally:
            for m, mode in zip(models, modes):
                m.train(mode)
        points = np.concatenate(points)
        # score what is stored: the uint8 points, the victim's labels on them
        labels = WhiteBox(victim).predict_labels(points)
        clean = WhiteBox(victim).predict_labels(x)
        with torch.no_grad():
            xt = to_tensor(points, dev)
            probs = lambda ms: [torch.softmax(m(xt), 1) for m in ms]  # noqa: E731
            scores = adversarial.conferrability(probs(surrogates), probs(generation),
                                                torch.as_tensor(labels, device=dev)).cpu().numpy()
        adversarial_mask = labels != clean
        order = np.argsort(-np.where(adversarial_mask, scores, -1.0), kind="stable")[: s.samples]
        if adversarial_mask.sum() < s.samples:
            raise ConfigError(f"only {int(adversarial_mask.sum())} of {len(x)} candidates became adversarial for the "
                              f"victim within eps={s.eps}; raise --eps, --steps or --candidates (samples {s.samples})")
        order = np.sort(order)
        points, labels, scores = points[order], labels[order], scores[order]
        fingerprint_seconds = time.perf_counter() - tg
        mr = lambda ms: np.array([matching_rate(WhiteBox(m), points, labels) for m in ms])  # noqa: E731
        sur_mr, gen_mr, cal_mr = mr(surrogates), mr(generation), mr(held_out)
        echo(f"{len(points)} conferrable examples ({fingerprint_seconds:.1f} s; mean conferrability {scores.mean():.3f}); "
             f"matching rates: surrogates {np.round(sur_mr, 3).tolist()}, generation references "
             f"{np.round(gen_mr, 3).tolist()}, held-out references {np.round(cal_mr, 3).tolist()}")
        kw = KitWriter(self.name, self.version, model_sha256(victim), meta={
            "settings": s.to_dict(), "dataset": splits.dataset, "num_classes": v.num_classes,
            "input_shape": list(v.input_shape)})
        kw.add_array("points", points)
        kw.add_array("labels", labels.astype(np.int64))
        kw.add_array("conferrability", scores.astype(np.float64))
        kw.add_array("reference_matching_rates", cal_mr)
        kit = kw.write(out_kit)
        record = {"method": self.name, "settings": s.to_dict(), "kit_id": kit.kit_id, "points": int(len(points)),
                  "adversarial_candidates": int(adversarial_mask.sum()), "conferrability_mean": round(float(scores.mean()), 4),
                  "surrogate_matching_rates": sur_mr.round(4).tolist(),
                  "generation_reference_matching_rates": gen_mr.round(4).tolist(),
                  "reference_matching_rates": cal_mr.round(4).tolist(),
                  "fingerprint_seconds": round(fingerprint_seconds, 3), "seconds": round(time.perf_counter() - t0, 3)}
        return ProtectResult(None, kit, record)

    def verify(self, kit: Kit, suspect: Access, alpha: float = 0.05, sequential: bool = False, round_size: int = 20,
               seed: int = 0, suspect_id: str | None = None) -> Verdict:
        """Matching rate of the suspect on the conferrable examples against the most victim-like held-out reference
        model (one-sided binomial test, see the module docstring); stolen iff p < alpha. ``sequential``: ask the points
        ``round_size`` at a time (seeded order) and stop once decided (:func:`~stealguard.methods.base.matching_verdict`)."""
        return matching_verdict(self, kit, suspect, alpha, suspect_id, "a conferrable example",
                                "at CPU scale it flagged no zero-shot copy, on Fashion-MNIST or CIFAR-10, nor the "
                                f"Fashion-MNIST label-query copy {BASELINES}", sequential, round_size, seed)
