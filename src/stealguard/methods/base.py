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
from dataclasses import dataclass, field

from .. import stats
from ..access import Access
from ..errors import ConfigError
from ..kit import Kit
from ..models import Classifier
from ..verdict import Verdict


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


def matching_verdict(method: Method, kit: Kit, suspect: Access, alpha: float, suspect_id: str | None,
                     what: str, blind_spot: str = "") -> Verdict:
    """The verify of the label-matching fingerprints (IPGuard, CAE): the kit's ``points`` with the victim's
    ``labels`` and the ``reference_matching_rates`` of independent models; the suspect's matching rate against the
    95% upper bound of the highest reference rate (:func:`stealguard.stats.matching_test`); stolen iff p < alpha.
    ``what`` names a point in the verdict's test description; ``blind_spot``: the method's measured misses."""
    t0 = time.perf_counter()
    method.check_suspect(suspect, kit.meta["input_shape"], kit.meta["num_classes"])
    points, labels = kit.array("points"), kit.array("labels")
    refs = kit.array("reference_matching_rates")
    q0 = suspect.queries
    matches = int((suspect.predict_labels(points) == labels).sum())
    n = len(points)
    p, r = stats.matching_test(matches, n, refs)
    mr = matches / n
    details = {"matching_rate": mr, "matches": matches, "points": n, "reference_matching_rates": refs.tolist(),
               "reference_max": float(refs.max()), "reference_bound": r}
    return Verdict(method.name, suspect.level, bool(p < alpha), p, mr - r, alpha, suspect.queries - q0,
                   round(time.perf_counter() - t0, 3), f"one-sided binomial test of H0: the suspect matches the victim's "
                   f"label on {what} with probability <= r, the 95% upper confidence bound of the highest matching rate "
                   "of the kit's independent reference models; stolen iff p < alpha", kit.kit_id, suspect_id, details,
                   blind_spot=blind_spot)


def settings_from(cls: type, **overrides):
    """Build a settings dataclass, refusing unknown names with the list of known ones."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise ConfigError(f"unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}")
    return cls(**{k: v for k, v in overrides.items() if v is not None})
