"""What a suspect answers: the :class:`Backend` interface every suspect (module, ONNX file, user function, HTTP API)
is wrapped in, and the checks its answers pass before anything uses them (:func:`probability_problem`, the output
settings of an API in :func:`parse_output`). The access levels of :mod:`stealguard.access` sit on top of it; model
files and the HTTP client import it from here, below the access layer.
"""

from __future__ import annotations

import numpy as np
import torch

from .errors import ConfigError

SUM_TOLERANCE = 1e-3  # how far a probability row's sum may be from 1 (float32 softmax outputs); wider for rounded APIs
RANGE_SLACK = 1e-6  # float rounding just outside [0, 1]


def probability_problem(p, sum_tolerance: float = SUM_TOLERANCE) -> str | None:
    """What keeps a matrix of rows (N, K) from being probabilities, as the end of a sentence, or None if nothing does.

    Rows must be finite, in [0, 1] and sum to 1 within ``sum_tolerance``. The one definition every backend that
    answers probabilities is held to (files, user functions, remote APIs): declared probabilities are used as they
    are, never softmaxed again, so a backend that answers logits under that name must be refused, not misread.
    """
    a = np.asarray(p, dtype=np.float64)
    if a.ndim != 2:
        return f"have {a.ndim} dimension(s), expected 2 (inputs x classes)"
    if not a.size:
        return None
    if not np.isfinite(a).all():
        return "contain NaN or infinite values"
    if a.min() < -RANGE_SLACK or a.max() > 1 + RANGE_SLACK:
        return f"leave [0, 1] (min {a.min():.3g}, max {a.max():.3g})"
    worst = float(np.abs(a.sum(1) - 1).max())
    if worst > sum_tolerance:
        return f"do not sum to 1 (off by up to {worst:.3g}, tolerance {sum_tolerance:.3g})"
    return None


class Backend:
    """Computes raw scores for a batch; ``kind`` says whether they are ``logits``, ``probabilities`` or ``labels``
    (one-hot rows from a labels-only API, usable only by a labels access). Rows a backend calls probabilities are
    checked by :func:`probability_problem`, their sums within ``sum_tolerance``; ``probability_hint`` is added to
    that check's refusal (what the user can change, for backends the user configures)."""

    kind: str = "logits"
    sum_tolerance: float = SUM_TOLERANCE
    probability_hint: str = ""
    num_classes: int
    input_shape: tuple[int, int, int]

    def scores(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - interface
        """Raw scores for a batch of prepared inputs (``kind`` says what they are); one row per input."""
        raise NotImplementedError


def parse_output(output: str | None) -> tuple[str, int | None]:
    """Parse an API output setting: ``probabilities``, ``rounded:K`` or ``top1`` -> (level, decimals)."""
    if output in (None, "probabilities"):
        return "probabilities", None
    if output in ("top1", "labels"):
        return "labels", None
    if output.startswith("rounded:"):
        try:
            k = int(output.split(":", 1)[1])
        except ValueError:
            k = -1
        if k < 0:
            raise ConfigError(f"bad API output {output!r}: use rounded:K with K a non-negative integer")
        return "probabilities", k
    raise ConfigError(f"unknown API output {output!r}: use probabilities, rounded:K or top1")
