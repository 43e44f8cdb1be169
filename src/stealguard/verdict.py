"""The one result every ownership method returns: :class:`Verdict`."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field


def json_safe(v):
    """JSON-safe: numpy scalars to Python, non-finite floats to strings."""
    if hasattr(v, "item") and not isinstance(v, (list, dict)):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    if isinstance(v, dict):
        return {str(k): json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [json_safe(x) for x in v]
    return v


def score(name: str, suspect: float, independent, stolen_like=(), threshold: float | None = None,
          higher_is_stolen: bool = True) -> dict:
    """The ``details["score"]`` entry of a verdict whose kit holds per-model reference scores: the suspect's score
    (``name`` says what it is) beside those of the kit's ``independent`` reference models and of its ``stolen_like``
    models (e.g. SAC's surrogates), and the decision ``threshold`` when the rule has one. The evidence report plots it."""
    return {"name": name, "suspect": float(suspect), "independent": [float(v) for v in independent],
            "stolen_like": [float(v) for v in stolen_like], "threshold": None if threshold is None else float(threshold),
            "higher_is_stolen": bool(higher_is_stolen)}


@dataclass
class Verdict:
    """What a method concluded about one suspect, with the evidence a third party needs to check it.

    ``stolen``: the decision. ``p_value``: the p-value the decision was taken on (stolen iff ``p_value < alpha``
    for hypothesis-test methods). ``effect``: the method's effect size (MOVE: delta-mu; SAC: the distance).
    ``queries``: suspect queries spent. ``details``: everything else the method measured (per-test p-values,
    thresholds, reference statistics; ``details["score"]``, see :func:`score`, where the kit holds per-model
    reference scores). ``kit_id``/``suspect``: the SHA-256 of the kit manifest and an identifier of
    the suspect (file hash or URL), so the verdict can be tied to exactly what was compared. ``caveat``: a measured
    way the method's rule can accuse an innocent model, said with every verdict of that rule (and in its summary
    line when it accuses). ``blind_spot``: the other side, a measured way the rule misses thefts, said with every
    verdict (and in its summary line when it does not accuse): "not shown stolen" is not a finding of innocence.
    """

    method: str
    access: str
    stolen: bool
    p_value: float | None
    effect: float | None
    alpha: float | None
    queries: int
    seconds: float
    decision: str = ""
    kit_id: str | None = None
    suspect: str | None = None
    details: dict = field(default_factory=dict)
    caveat: str = ""
    blind_spot: str = ""

    def to_dict(self) -> dict:
        """The verdict as a JSON-able dict (numpy scalars as Python numbers, non-finite floats as strings)."""
        return json_safe(asdict(self))

    def to_json(self) -> str:
        """The verdict as indented JSON (what ``--json`` prints)."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def summary(self, width: int = 100) -> str:
        """The decision and its evidence for a person: one short line each (decision, p, effect, queries, the rule,
        the kit's and the suspect's identity), the caveat or the blind spot wrapped to ``width`` columns."""
        import textwrap

        word = "STOLEN" if self.stolen else "not shown stolen"
        lines = [f"{self.method} ({self.access}): {word}"]
        if self.p_value is not None:
            lines.append(f"p = {self.p_value:.3g}" + (f" (alpha {self.alpha:g})" if self.alpha is not None else ""))
        if self.effect is not None:
            lines.append(f"effect = {self.effect:.4g}")
        lines.append(f"{self.queries} queries, {self.seconds:.1f} s")
        if self.kit_id:
            lines.append(f"kit sha256 {self.kit_id}")
        if self.suspect:
            hashed = len(self.suspect) == 64 and all(c in "0123456789abcdef" for c in self.suspect)
            lines.append(f"suspect {'sha256 ' if hashed else ''}{self.suspect}")
        wrap = dict(width=width, initial_indent="  ", subsequent_indent="    ", break_on_hyphens=False)
        out = [lines[0]] + [f"  {line}" for line in lines[1:]]
        if self.decision:
            out += textwrap.wrap(f"Rule: {self.decision}", **wrap)
        if self.stolen and self.caveat:
            out += textwrap.wrap(f"Caveat: {self.caveat}", **wrap)
        if not self.stolen and self.blind_spot:
            out += textwrap.wrap(f"Known to miss: {self.blind_spot}", **wrap)
        return "\n".join(out)
