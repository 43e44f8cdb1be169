"""The contract every ownership method follows.

A method has two verbs: ``protect(...) -> ProtectResult`` (the protected model, if the method changes training, and
the kit) and ``verify(kit, suspect_access, **options) -> Verdict``; it declares the access levels its verify works
with. Everything verify needs lives in the kit. Methods never import one another's internals; shared pieces come
from :mod:`stealguard.stats`, :mod:`stealguard.kit`, :mod:`stealguard.verdict`, :mod:`stealguard.adversarial`
and :mod:`stealguard.data.transforms`.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .. import stats
from ..access import Access
from ..errors import ConfigError
from ..kit import Kit
from ..models import Classifier
from ..verdict import Verdict, score


def settings_dict(settings) -> dict:
    """A method's settings as a plain dict (the cache key and the record); ``recipe`` left out when standard, so keys
    made before it existed still match. Checks that the recipe is a known one."""
    from ..recipes import RECIPES

    d = dataclasses.asdict(settings)
    if d.get("recipe") not in RECIPES:
        raise ConfigError(f"unknown training recipe {d.get('recipe')!r}: choose one of {', '.join(RECIPES)}")
    if d["recipe"] == "standard":
        del d["recipe"]
    return d


@dataclass
class OwnModelSettings:
    """The protected model a method trains itself: dataset, architecture, width, owner images (None: the whole
    defender half), epochs of the plain model (None: the dataset's CPU recipe) and seed. Methods' settings extend it."""

    dataset: str = "fashion-mnist"
    arch: str = "cnn"
    width: float = 1.0
    limit: int | None = None
    epochs: int | None = None
    seed: int = 0
    recipe: str = "standard"  # named training recipe of every model it trains (stealguard.recipes.RECIPES)

    def to_dict(self) -> dict:
        """The settings as a plain dict (the cache key and the record)."""
        return settings_dict(self)


@dataclass
class ProtectResult:
    """What ``protect`` produced: the model to release (None for fingerprints), other models worth keeping
    (name -> model, e.g. MOVE's benign reference), the kit, and a record of what was done and measured."""

    model: Classifier | None
    kit: Kit
    record: dict
    extra_models: dict[str, Classifier] = field(default_factory=dict)


class Method:
    """Base class. Subclasses set ``name``, ``version``, ``levels``, ``summary`` and a ``Settings`` dataclass."""

    name = ""
    version = 1  # of the protection: a change in what protect builds gets a new version (and new cache entries)
    kit_versions: tuple[int, ...] = ()  # earlier versions whose kits ``verify`` still reads (kits of ``version`` always)
    levels: tuple[str, ...] = ()
    summary = ""
    trains_victim = False  # True: protect trains the protected model itself; False: it protects a trained one
    # True: a protection that trains its own model starts from the plain victim (methods.owner.owner_plain_model), so the
    # benchmark harness trains that victim once, before such protections, instead of each training it at once
    starts_from_plain = True
    # True: what protect builds depends on the access levels it is asked for (MOVE trains one meta-classifier per
    # level); False: one protection serves every level, so the benchmark harness builds it once for all of them
    protect_uses_modes = False
    report_details: tuple[tuple[str, str], ...] = ()  # (verdict detail key, column title) shown in benchmark tables
    report_note: str = ""  # what a benchmark table's reader must know about those columns (printed under each table)
    Settings: type = object

    def verify(self, kit: Kit, suspect: Access, **options) -> Verdict:  # pragma: no cover - interface
        """Verify ``suspect`` against ``kit``; return a :class:`~stealguard.verdict.Verdict` (the method's options in
        its own docstring)."""
        raise NotImplementedError

    def verify_options(self) -> set[str]:
        """The options this method's ``verify`` takes besides the kit, the suspect and its id."""
        import inspect

        return set(inspect.signature(self.verify).parameters) - {"self", "kit", "suspect", "suspect_id"}

    @staticmethod
    def suspicion(p_value: float | None, effect: float | None) -> float:
        """A score of a verdict that grows with the evidence of theft, for ROC curves and AUC: -log10 of the
        p-value (methods that decide on a distance override this)."""
        import math

        return -math.log10(max(float(p_value), 1e-300))

    @staticmethod
    def check_suspect(suspect: Access, input_shape, num_classes: int | None) -> None:
        """Refuse a suspect whose input shape or class count differs from the protected model's (both from the kit).
        ``num_classes=None``: any class count (methods that also catch transfer learning to a new label space)."""
        if tuple(suspect.input_shape) != tuple(input_shape):
            raise ConfigError(f"the suspect takes inputs of shape {tuple(suspect.input_shape)}, the kit's are {tuple(input_shape)}")
        if num_classes is not None and suspect.num_classes != num_classes:
            raise ConfigError(f"the suspect has {suspect.num_classes} classes, the protected task {num_classes}")


def arch_specs(text: str, n: int, arch: str, width: float, other_width: float | None = 1.0) -> list[tuple[str, float | None]]:
    """``n`` (architecture, width) pairs from a comma-separated ``ARCH[:WIDTH]`` list, used in turn; an empty list
    means (``arch``, ``width``), the victim's. A missing width is ``width`` for ``arch`` itself and ``other_width``
    for any other architecture (methods training their own helper models of several architectures use this)."""
    specs = []
    for part in [p.strip() for p in text.split(",") if p.strip()]:
        name, _, w = part.partition(":")
        try:
            wd = float(w) if w else (width if name == arch else other_width)
        except ValueError:
            wd = -1.0
        if wd is not None and wd <= 0:
            raise ConfigError(f"bad architecture {part!r}: use ARCH or ARCH:WIDTH, e.g. vgg11:0.25")
        specs.append((name, wd))
    specs = specs or [(arch, width)]
    return [specs[k % len(specs)] for k in range(n)]


# where the baselines' measured misses (Verdict.blind_spot) come from
BASELINES = "(benchmarks/baselines.md, 2026-11-25)"


def matching_rate(access: Access, points, labels) -> float:
    """Share of ``points`` on which ``access`` answers ``labels`` (labels only are asked for): the score of the
    fingerprints that match labels (IPGuard, CAE)."""
    return float((access.predict_labels(points) == labels).mean())


def run_sequential(test: stats.SequentialBinomial, order: np.ndarray, round_size: int, suspect: Access,
                   outcomes_of: Callable[[np.ndarray], np.ndarray],
                   possible_successes: Callable[[np.ndarray], int]) -> dict:
    """Ask the suspect about the items of ``order`` in rounds of ``round_size`` (one query each), feeding
    ``outcomes_of(items)`` (the 0/1 trials those answers give) to ``test``, and stop as soon as the decision is
    reached either way: ``test`` rejects, or it could no longer reject even if every trial still possible
    (``possible_successes(items left)``) were a success. A query budget (``suspect.max_queries``) ends it too, with a
    valid verdict on what was asked. Returns what the verdict records: rounds, items asked and why it stopped."""
    if round_size < 1:
        raise ConfigError(f"round size must be >= 1, got {round_size}")
    used, stop = 0, "every item asked"
    while used < len(order):
        left = None if suspect.max_queries is None else suspect.max_queries - suspect.queries
        if left is not None and left <= 0:
            stop = "query budget reached"
            break
        items = order[used : used + (round_size if left is None else min(round_size, left))]
        test.update(outcomes_of(items))
        used += len(items)
        if test.rejected:
            stop = "rejected"
            break
        if not test.reachable(possible_successes(order[used:])):
            stop = "cannot reach alpha with the items left"
            break
    return {"round_size": round_size, "rounds": test.looks, "items": used, "of": int(len(order)), "stop": stop,
            "trials": test.n, "successes": test.successes}


def matching_verdict(method: Method, kit: Kit, suspect: Access, alpha: float, suspect_id: str | None,
                     what: str, blind_spot: str = "", sequential: bool = False, round_size: int = 20,
                     seed: int = 0) -> Verdict:
    """The verify of the label-matching fingerprints (IPGuard, CAE): the kit's ``points`` with the victim's
    ``labels`` and the ``reference_matching_rates`` of independent models; the suspect's matching rate against the
    95% upper bound r of the highest reference rate (:func:`stealguard.stats.matching_test`); stolen iff p < alpha.
    ``sequential``: the points are asked in a seeded random order, ``round_size`` at a time, and an always-valid test
    of the same H0 (:class:`stealguard.stats.SequentialBinomial`) stops as soon as it decides (:func:`run_sequential`).
    ``what`` names a point in the verdict's test description; ``blind_spot``: the method's measured misses."""
    t0 = time.perf_counter()
    method.check_suspect(suspect, kit.meta["input_shape"], kit.meta["num_classes"])
    points, labels = kit.array("points"), kit.array("labels")
    refs = kit.array("reference_matching_rates")
    q0 = suspect.queries
    n = len(points)
    r = stats.rate_upper_bound(float(refs.max()), n)
    seq = None
    if sequential:
        test = stats.SequentialBinomial(min(r, 1.0), alpha)
        seq = run_sequential(test, np.random.default_rng(seed).permutation(n), round_size, suspect,
                             lambda i: suspect.predict_labels(points[i]) == labels[i], len)
        matches, asked, p = test.successes, test.n, test.p_value
    else:
        matches, asked = int((suspect.predict_labels(points) == labels).sum()), n
        p, r = stats.matching_test(matches, n, refs)
    mr = matches / asked if asked else 0.0
    details = {"matching_rate": mr, "matches": matches, "points": asked, "reference_matching_rates": refs.tolist(),
               "reference_max": float(refs.max()), "reference_bound": r,
               "score": score("matching rate: share of the kit's points answered with the victim's label", mr, refs,
                              threshold=r), **({"sequential": seq} if seq else {})}
    test_text = (f"one-sided binomial test of H0: the suspect matches the victim's label on {what} with probability "
                 "<= r, the 95% upper confidence bound of the highest matching rate of the kit's independent reference "
                 "models; stolen iff p < alpha")
    if seq:
        test_text += ("; asked sequentially, the p-value always-valid (mixture likelihood ratio, uniform alternative "
                      "above r): it may stop after any round")
    return Verdict(method.name, suspect.level, bool(p < alpha), p, mr - r, alpha, suspect.queries - q0,
                   round(time.perf_counter() - t0, 3), test_text, kit.kit_id, suspect_id, details,
                   blind_spot=blind_spot)


def settings_from(cls: type, **overrides):
    """Build a settings dataclass, refusing unknown names with the list of known ones."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise ConfigError(f"unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}")
    return cls(**{k: v for k, v in overrides.items() if v is not None})
