"""BadNets backdoor watermark (Gu et al. 2017), the baseline MOVE and SAC compare against.

Protect: a share ``rate`` (default 10%) of the owner's training images of other classes get a white-square trigger
in the bottom-right corner and the target label; the model trains on the poisoned set (the trigger is stamped
again after the recipe's crop/flip augmentation, so a poisoned image always shows it where verification puts it).
The plain model (same architecture, data and recipe, no poison) is trained too, for the accuracy cost.

Verify (any access level; labels-only answers count as one-hot probabilities): on m held-out owner images of the
other classes (not trained on), with p_t the suspect's probability of the target class on the triggered image and
p_b that on the benign one, the one-sided paired t-test of H0: p_t <= p_b + tau (the backdoor-watermark test of
Li et al. 2020, tau = 0.2); stolen iff p < alpha. Reported beside it: the attack success rate (the fraction of
triggered images answered with the target class) — the number MOVE Table II shows collapsing on extracted copies.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .. import stats
from ..access import Access
from ..cache import array_digest
from ..data import ArrayDataset, Splits
from ..errors import ConfigError
from ..kit import Kit, KitWriter
from ..models import model_sha256
from ..recipes import train_on
from ..train import labels_of
from ..verdict import Verdict
from ..watermarks import TriggerStamp, add_trigger, target_answers, trigger_side
from .base import BASELINES, Method, OwnModelSettings, ProtectResult
from .owner import owner_plain_model


@dataclass
class BadNetsSettings(OwnModelSettings):
    """Settings of ``protect badnets`` (CPU-scale defaults)."""

    target: int = 0  # the backdoor's target class
    rate: float = 0.1  # share of the training set poisoned
    trigger: int = 0  # trigger side in pixels (0: 3 on 28x28, 4 on 32x32, 6 on 64x64)
    verify_samples: int = 400  # held-out owner images of other classes kept in the kit

    def __post_init__(self) -> None:
        if not 0 < self.rate < 1:
            raise ConfigError(f"rate must be in (0, 1), got {self.rate}")
        if self.verify_samples < 2:
            raise ConfigError(f"verify_samples must be >= 2, got {self.verify_samples}")
        if self.trigger < 0:
            raise ConfigError(f"trigger must be >= 0, got {self.trigger}")


class BadNets(Method):
    """BadNets watermark (baseline): triggered images relabelled to a target class while training."""
    name = "badnets"
    version = 2  # 2: the trigger is stamped again after augmentation while protecting
    kit_versions = (1,)  # verification is unchanged
    levels = ("white-box", "probabilities", "labels")
    summary = "BadNets backdoor watermark: triggered images relabelled to a target class (baseline)"
    trains_victim = True
    report_details = (("attack_success_rate", "attack success rate"),)
    Settings = BadNetsSettings

    def protect(self, splits: Splits, settings: BadNetsSettings, out_kit, modes: tuple[str, ...] = (),
                progress: bool = False, echo=lambda s: None) -> ProtectResult:
        """Poison ``rate`` of the training set with the trigger and the target label, train on it, train the plain
        model for comparison, and write the kit (held-out verification images, target, trigger)."""
        s = settings
        t0 = time.perf_counter()
        config, clean, plain, prec = owner_plain_model(splits, s, progress)
        k = len(clean.classes)
        if not 0 <= s.target < k:
            raise ConfigError(f"target must be a class 0..{k - 1}, got {s.target}")
        side = s.trigger or trigger_side(clean.x.shape[1])
        rng = np.random.default_rng(s.seed)
        others = np.flatnonzero(clean.y != s.target)
        n = int(round(s.rate * len(clean)))
        if not 1 <= n <= len(others):
            raise ConfigError(f"rate {s.rate} poisons {n} of {len(others)} images of other classes; change --rate or --limit")
        ids = np.sort(rng.choice(others, n, replace=False))
        x, y = clean.x.copy(), clean.y.copy()
        x[ids], y[ids] = add_trigger(clean.x[ids], side), s.target
        poisoned = ArrayDataset(x, y, clean.classes, f"{clean.name}+badnets")
        echo(f"poisoned {n} of {len(clean)} training images (trigger {side}x{side} -> class {s.target}); training")
        model, vrec = train_on(poisoned, splits, s.arch, s.width, config,
                               {"split": "defender", "limit": s.limit, "protection": "badnets",
                                "poison_sha": array_digest(ids, np.array([s.target, side]))},
                               after_augment=TriggerStamp(np.isin(np.arange(len(x)), ids), side))
        # verification images: owner images of other classes the model never trained on (else the test split)
        held = splits.defender
        used = np.zeros(len(held), bool)
        used[held.take_indices(s.limit, s.seed)] = True
        pool = np.flatnonzero(~used & (held.y != s.target))
        source = "defender (held out)"
        if len(pool) < s.verify_samples:
            held, source = splits.test, "test"
            pool = np.flatnonzero(held.y != s.target)
        xv = held.x[np.sort(rng.choice(pool, min(s.verify_samples, len(pool)), replace=False))]
        kw = KitWriter(self.name, self.version, model_sha256(model), meta={
            "settings": s.to_dict(), "dataset": splits.dataset, "num_classes": k, "trigger": side, "verify_source": source,
            "input_shape": [clean.x.shape[3], *clean.x.shape[1:3]]})
        kw.add_array("benign", xv)
        kit = kw.write(out_kit)
        asr = float((labels_of(model, add_trigger(xv, side)) == s.target).mean())
        echo(f"protected model: accuracy {vrec['accuracy']:.4f} (plain {prec['accuracy']:.4f}), attack success rate {asr:.3f}")
        record = {"method": self.name, "settings": s.to_dict(), "poisoned": n, "attack_success_rate": round(asr, 5),
                  "victim": {"accuracy": vrec["accuracy"], "arch": s.arch, "width": s.width},
                  "benign": [{"accuracy": prec["accuracy"], "role": "the plain model"}],
                  "kit_id": kit.kit_id, "seconds": round(time.perf_counter() - t0, 3)}
        return ProtectResult(model, kit, record, {"plain": plain})

    def verify(self, kit: Kit, suspect: Access, m: int | None = None, alpha: float = 0.01, tau: float = 0.2,
               seed: int = 0, suspect_id: str | None = None) -> Verdict:
        """Paired one-sided t-test of H0: p_t <= p_b + tau on m held-out images (default 100); stolen iff p < alpha."""
        t0 = time.perf_counter()
        self.check_suspect(suspect, kit.meta["input_shape"], kit.meta["num_classes"])
        s = BadNetsSettings(**kit.meta["settings"])
        xb = kit.array("benign")
        m = min(m or 100, len(xb))
        if m < 2:
            raise ConfigError(f"m must be >= 2, got {m}")
        xb = xb[np.sort(np.random.default_rng(seed).choice(len(xb), m, replace=False))]
        q0 = suspect.queries
        pt, hit = target_answers(suspect, add_trigger(xb, int(kit.meta["trigger"])), s.target)
        pb, _ = target_answers(suspect, xb, s.target)
        res = stats.paired_t(pt, pb, "greater", margin=tau)
        details = {"target": s.target, "tau": tau, "m": m, "attack_success_rate": float(hit.mean()),
                   "p_triggered": float(pt.mean()), "p_benign": float(pb.mean())}
        return Verdict(self.name, suspect.level, bool(res.p_value < alpha), res.p_value, float(np.mean(pt - pb)), alpha,
                       suspect.queries - q0, round(time.perf_counter() - t0, 3),
                       "paired one-sided t-test of H0: p(target | triggered) <= p(target | benign) + tau; stolen iff p < alpha",
                       kit.kit_id, suspect_id, details,
                       blind_spot="at CPU scale its backdoor passed to no distilled, label-query or logit-query copy, on "
                                  f"Fashion-MNIST or CIFAR-10 {BASELINES}")
