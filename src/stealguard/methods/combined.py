"""One answer over several kits: every kit's own verdict on the suspect, and a combined verdict whose chance of
accusing a model that was not stolen is at most ``alpha`` over all kits together.

The bound is Holm–Bonferroni's over the kits' p-values: with k verdicts, sorted p_(1) <= ... <= p_(k), the kit of
rank r is rejected when p_(j) <= alpha / (k - j + 1) for every j <= r, and the suspect is called stolen when any kit
is. The family-wise error rate is at most ``alpha`` whatever the dependence between the kits, provided each kit's
p-value is valid for a model that was not stolen. A threshold rule (SAC's) enters with its empirical p-value against
the kit's reference models, which cannot go below 1 / (references + 1): such a kit adds evidence to the combined
verdict only when it holds enough reference models. A verdict without a p-value enters as p = 1.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from ..access import Access
from ..errors import AccessDenied, ConfigError
from ..kit import Kit, load_kit
from ..verdict import Verdict, json_safe
from . import check_alpha, get_method, verify_suspect

BOUND = ("Holm-Bonferroni over the kits' p-values: the chance that any kit accuses a model that was not stolen is "
         "at most alpha, whatever the dependence between kits, when each kit's p-value is valid")


def holm(p_values: list[float], alpha: float) -> tuple[list[bool], list[float]]:
    """Holm's step-down procedure: which hypotheses are rejected at family-wise level ``alpha`` and the adjusted
    p-values (each the smallest family-wise level at which it would be rejected), in the order given."""
    k = len(p_values)
    order = sorted(range(k), key=lambda i: p_values[i])
    adjusted, rejected = [1.0] * k, [False] * k
    running, still = 0.0, True
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (k - rank) * p_values[i]))
        adjusted[i] = running
        still = still and p_values[i] <= alpha / (k - rank)
        rejected[i] = still
    return rejected, adjusted


@dataclass
class CombinedVerdict:
    """The combined decision over several kits. ``p_value``: the smallest Holm-adjusted p-value (stolen iff it is
    <= ``alpha``). ``kits``: per kit its method, kit id, own decision, p-value, adjusted p-value and whether Holm
    rejects it. ``skipped``: kits that could not judge this suspect at its access level, with the reason.
    ``verdicts``: every kit's own :class:`Verdict`. ``mixed``: the reason given for combining kits of different
    protected models, when that was allowed."""

    stolen: bool
    p_value: float | None
    alpha: float
    queries: int
    suspect: str | None
    kits: list[dict]
    skipped: list[dict] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    bound: str = BOUND
    mixed: str | None = None

    def to_dict(self) -> dict:
        """JSON-able dict (the kits' own verdicts in full)."""
        return json_safe(asdict(self))

    def to_json(self) -> str:
        """Indented JSON (what ``verify --json`` prints for several kits)."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def summary(self, width: int = 100) -> str:
        """Every kit's verdict, then the combined one, on short lines."""
        import textwrap

        out = []
        for v in self.verdicts:
            out += [v.summary(width), ""]
        for s in self.skipped:
            out += textwrap.wrap(f"skipped {s['method']} kit {s['kit_id'][:16]}: {s['reason']}", width) + [""]
        word = "STOLEN" if self.stolen else "not shown stolen"
        out.append(f"combined over {len(self.kits)} kit(s): {word}")
        if self.p_value is not None:
            out.append(f"  p = {self.p_value:.3g} (Holm-adjusted, alpha {self.alpha:g} over all kits)")
        for k in self.kits:
            out.append(f"  {k['method']} {k['kit_id'][:16]}: p = {_fmt(k['p_value'])}, adjusted {_fmt(k['adjusted'])}"
                       f"{', rejected' if k['rejected'] else ''}")
        out.append(f"  {self.queries} queries in all")
        if self.suspect:
            out.append(f"  suspect {self.suspect}")
        out += textwrap.wrap(f"Bound: {self.bound}.", width, initial_indent="  ", subsequent_indent="    ")
        if self.mixed:
            out += textwrap.wrap(f"Kits of different protected models, combined because: {self.mixed}", width,
                                 initial_indent="  ", subsequent_indent="    ")
        return "\n".join(out)


def _fmt(p) -> str:
    return "–" if p is None else f"{p:.3g}"


def combine(verdicts: list[Verdict], alpha: float, skipped: list[dict] | None = None,
            mixed: str | None = None) -> CombinedVerdict:
    """The combined verdict of ``verdicts`` (one per kit, on one suspect) at family-wise level ``alpha``."""
    check_alpha(alpha)
    ps = [1.0 if v.p_value is None else float(v.p_value) for v in verdicts]
    rejected, adjusted = holm(ps, alpha) if verdicts else ([], [])
    kits = [{"method": v.method, "kit_id": v.kit_id or "", "stolen": v.stolen, "p_value": v.p_value,
             "adjusted": adjusted[i], "rejected": rejected[i]} for i, v in enumerate(verdicts)]
    suspect = next((v.suspect for v in verdicts if v.suspect), None)
    return CombinedVerdict(any(rejected), min(adjusted) if adjusted else None, alpha, sum(v.queries for v in verdicts),
                           suspect, kits, list(skipped or []), list(verdicts), BOUND, mixed)


def verify_combined(kits: list[Kit | str], suspect: Access, alpha: float = 0.01, allow_mixed: str | None = None,
                    **options) -> CombinedVerdict:
    """Verify ``suspect`` with every kit in ``kits`` and combine the verdicts at family-wise level ``alpha``.

    Kits of different protected models (their manifests name different victims) are refused unless ``allow_mixed``
    says why they belong together. A kit that cannot judge the suspect at its access level is skipped, with the
    reason in ``skipped``. ``options`` go to every kit's method as in :func:`verify_suspect` (not ``alpha``: each
    kit decides at its method's own level; ``alpha`` is the combined one)."""
    if not kits:
        raise ConfigError("no kit given")
    check_alpha(alpha)
    loaded = [k if isinstance(k, Kit) else load_kit(k) for k in kits]
    victims = sorted({k.victim_sha256 for k in loaded if k.victim_sha256})
    if len(victims) > 1 and not allow_mixed:
        raise ConfigError(f"the kits protect {len(victims)} different models ({', '.join(v[:12] for v in victims)}): "
                          "combine them only with --allow-mixed REASON (e.g. the same release fingerprinted twice)")
    verdicts, skipped = [], []
    for kit in loaded:
        method = get_method(kit.method)
        if method.levels and suspect.level not in method.levels:
            skipped.append({"method": kit.method, "kit_id": kit.kit_id,
                            "reason": f"{kit.method} does not verify at access level {suspect.level}"})
            continue
        try:
            verdicts.append(verify_suspect(kit, suspect, **{k: v for k, v in options.items() if k != "alpha"}))
        except AccessDenied as e:
            skipped.append({"method": kit.method, "kit_id": kit.kit_id, "reason": str(e)})
    return combine(verdicts, alpha, skipped, allow_mixed if len(victims) > 1 else None)
