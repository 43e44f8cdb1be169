"""Statistics shared by every ownership method: hypothesis tests, p-value combination, ROC/AUC, sample sizes.

Conventions: every test returns a :class:`TestResult` whose ``p_value`` is one-sided unless the function says
otherwise; ``alternative="greater"`` means H1 is "the first argument is larger". Degenerate inputs (all
differences equal) are decided exactly instead of returning NaN: a constant positive difference gives p = 0, a
constant non-positive one p = 1.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats as _st

from .errors import ConfigError

ALTERNATIVES = ("greater", "less", "two-sided")


@dataclass(frozen=True)
class TestResult:
    """A test's statistic, p-value, number of samples and (where defined) mean difference."""

    name: str
    statistic: float
    p_value: float
    n: int
    mean_difference: float | None = None

    def to_dict(self) -> dict:
        """The result as a plain dict."""
        return asdict(self)


def check_alpha(alpha: float | None) -> None:
    """Refuse a significance level outside (0, 1) with a one-line error (None: the method's default)."""
    if alpha is not None and not 0 < alpha < 1:
        raise ConfigError(f"alpha must be in (0, 1), got {alpha}")


def _vector(x, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64).ravel()
    if a.size == 0:
        raise ConfigError(f"{name} is empty")
    if not np.isfinite(a).all():
        raise ConfigError(f"{name} holds NaN or infinite values")
    return a


def _check_alternative(alternative: str) -> None:
    if alternative not in ALTERNATIVES:
        raise ConfigError(f"alternative must be one of {', '.join(ALTERNATIVES)}, got {alternative!r}")


def _constant_p(diff: float, alternative: str) -> float:
    if alternative == "greater":
        return 0.0 if diff > 0 else 1.0
    if alternative == "less":
        return 0.0 if diff < 0 else 1.0
    return 1.0 if diff == 0 else 0.0


def paired_t(a, b, alternative: str = "greater", margin: float = 0.0) -> TestResult:
    """Paired t-test of the differences ``a - b - margin``. With the default ``greater``: H0 mean(a - b) <= margin.

    This is MOVE's test (``a``: the meta-classifier's 'stolen' probabilities on the suspect, ``b``: on the benign
    model, paired by image).
    """
    _check_alternative(alternative)
    a, b = _vector(a, "a"), _vector(b, "b")
    if a.shape != b.shape:
        raise ConfigError(f"a paired test needs equal lengths, got {a.size} and {b.size}")
    d = a - b - margin
    if a.size < 2 or np.ptp(d) == 0:
        return TestResult("paired-t", math.copysign(math.inf, d.mean()) if d.mean() else 0.0,
                          _constant_p(float(d.mean()), alternative), a.size, float(np.mean(a - b)))
    r = _st.ttest_1samp(d, 0.0, alternative=alternative)
    return TestResult("paired-t", float(r.statistic), float(r.pvalue), a.size, float(np.mean(a - b)))


def welch_t(a, b, alternative: str = "greater") -> TestResult:
    """Welch's unequal-variance t-test of mean(a) vs mean(b) (dataset inference's test)."""
    _check_alternative(alternative)
    a, b = _vector(a, "a"), _vector(b, "b")
    if a.size < 2 or b.size < 2:
        raise ConfigError("Welch's test needs at least 2 samples per group")
    diff = float(a.mean() - b.mean())
    if np.ptp(a) == 0 and np.ptp(b) == 0:
        return TestResult("welch-t", math.copysign(math.inf, diff) if diff else 0.0, _constant_p(diff, alternative),
                          a.size + b.size, diff)
    r = _st.ttest_ind(a, b, equal_var=False, alternative=alternative)
    return TestResult("welch-t", float(r.statistic), float(r.pvalue), a.size + b.size, diff)


def wilcoxon(d, alternative: str = "greater", margin: float = 0.0) -> TestResult:
    """Wilcoxon signed-rank test of ``d - margin`` (feature-sharing: H0 p - q <= alpha_cert, i.e. margin = 0.3).

    Zero differences are dropped (Wilcoxon's convention); if none remain the result is p = 1. Up to
    ``_EXACT_MAX`` non-zero differences the p-value is exact: the sign-flip distribution of W+ over the (mid)ranks is
    enumerated, which also holds with ties (labels-only answers make many); beyond that SciPy's default applies.
    """
    _check_alternative(alternative)
    x = _vector(d, "d") - margin
    nz = x[x != 0]
    if nz.size == 0:
        return TestResult("wilcoxon", 0.0, 1.0, x.size, float(np.mean(x + margin)))
    if nz.size <= _EXACT_MAX:
        ranks = _st.rankdata(np.abs(nz))
        w = float(ranks[nz > 0].sum())
        signs = (np.arange(2 ** nz.size)[:, None] >> np.arange(nz.size)) & 1  # every sign pattern, equally likely
        null = signs @ ranks
        tol = 1e-9 * ranks.sum()
        p_hi, p_lo = float(np.mean(null >= w - tol)), float(np.mean(null <= w + tol))
        p = {"greater": p_hi, "less": p_lo, "two-sided": min(1.0, 2 * min(p_hi, p_lo))}[alternative]
        return TestResult("wilcoxon", w, p, x.size, float(np.mean(x + margin)))
    r = _st.wilcoxon(nz, alternative=alternative, zero_method="wilcox")
    return TestResult("wilcoxon", float(r.statistic), float(r.pvalue), x.size, float(np.mean(x + margin)))


_EXACT_MAX = 16


def harmonic_mean_p(p_values) -> float:
    """The harmonic mean p-value, n / sum(1/p_i) (Wilson 2019; used in MOVE's repeated draws).

    Robust to dependence between the tests; slightly anti-conservative for small alpha, so report it as such.
    """
    p = _vector(p_values, "p-values")
    if ((p < 0) | (p > 1)).any():
        raise ConfigError("p-values must lie in [0, 1]")
    if (p == 0).any():
        return 0.0
    return float(min(1.0, p.size / np.sum(1.0 / p)))


def fisher_p(p_values) -> float:
    """Fisher's combination: -2 sum log p_i ~ chi2(2n) under H0 (valid for independent tests)."""
    p = _vector(p_values, "p-values")
    if ((p < 0) | (p > 1)).any():
        raise ConfigError("p-values must lie in [0, 1]")
    if (p == 0).any():
        return 0.0
    return float(_st.chi2.sf(-2.0 * np.sum(np.log(p)), 2 * p.size))


def combine(p_values, how: str = "harmonic") -> float:
    """Combine p-values of repeated tests: ``harmonic`` (default) or ``fisher``."""
    if how == "harmonic":
        return harmonic_mean_p(p_values)
    if how == "fisher":
        return fisher_p(p_values)
    raise ConfigError(f"combination must be 'harmonic' or 'fisher', got {how!r}")


def empirical_p(score: float, reference, higher_is_stolen: bool = True) -> float:
    """Permutation-style p-value of ``score`` against reference scores of independent models:
    (1 + #{reference at least as extreme}) / (1 + n). Its smallest possible value is 1 / (n + 1)."""
    r = _vector(reference, "reference scores")
    extreme = (r >= score) if higher_is_stolen else (r <= score)
    return float((1 + extreme.sum()) / (1 + r.size))


def prediction_t(score: float, reference, alternative: str = "less") -> TestResult:
    """Test of one new value against a sample of reference values (the t prediction-interval test): H0: ``score``
    is another draw from the normal population of ``reference``; with ``less``, H1: it lies below it.
    T = (score - mean) / (sd * sqrt(1 + 1/n)) with n - 1 degrees of freedom (n >= 2 references). Near-boundary's
    calibrated rule: a suspect's mean distance against those of the owner's independent reference models."""
    _check_alternative(alternative)
    r = _vector(reference, "reference values")
    x = _vector([score], "score")[0]
    if r.size < 2:
        raise ConfigError(f"a prediction test needs at least 2 reference values, got {r.size}")
    diff = float(x - r.mean())
    sd = float(r.std(ddof=1))
    if sd == 0:
        return TestResult("prediction-t", math.copysign(math.inf, diff) if diff else 0.0, _constant_p(diff, alternative),
                          r.size, diff)
    t = diff / (sd * math.sqrt(1 + 1 / r.size))
    lo, hi = float(_st.t.cdf(t, r.size - 1)), float(_st.t.sf(t, r.size - 1))
    p = {"less": lo, "greater": hi, "two-sided": min(1.0, 2 * min(lo, hi))}[alternative]
    return TestResult("prediction-t", float(t), p, r.size, diff)


def rate_upper_bound(rate: float, n: int, level: float = 0.95) -> float:
    """One-sided Clopper-Pearson upper bound at ``level`` of a rate ``rate`` measured on ``n`` trials."""
    if n < 1 or not 0 <= rate <= 1:
        raise ConfigError(f"a rate needs n >= 1 trials and a value in [0, 1], got rate={rate}, n={n}")
    hits = int(round(rate * n))
    return 1.0 if hits >= n else float(_st.beta.ppf(level, hits + 1, n - hits))


def _check_binomial(hits: int, n: int, rate: float) -> None:
    if n < 1 or not 0 <= hits <= n or not 0 <= rate <= 1:
        raise ConfigError(f"a binomial test needs 0 <= hits <= n, n >= 1 and a rate in [0, 1], got hits={hits}, n={n}, rate={rate}")


def binomial_below(hits: int, n: int, rate: float) -> float:
    """One-sided exact binomial test of H0: success probability >= ``rate``, against less, for ``hits`` successes in
    ``n`` trials: P(X <= hits) for X ~ Binomial(n, rate)."""
    _check_binomial(hits, n, rate)
    return float(_st.binom.cdf(hits, n, rate))


def binomial_above(hits: int, n: int, rate: float) -> float:
    """One-sided exact binomial test of H0: success probability <= ``rate``, against greater, for ``hits`` successes
    in ``n`` trials: P(X >= hits) for X ~ Binomial(n, rate)."""
    _check_binomial(hits, n, rate)
    return float(_st.binom.sf(hits - 1, n, rate))


def mcnemar_above(a, b) -> TestResult:
    """Exact one-sided McNemar test on paired successes: ``a`` and ``b`` are 0/1 outcomes of two models on the same
    items. With n10 items only ``a`` gets right and n01 only ``b``, H0: ``a``'s success probability is at most
    ``b``'s, against greater: P(X >= n10) for X ~ Binomial(n10 + n01, 1/2) (1 when no item is discordant).
    ``statistic`` is n10 - n01, ``mean_difference`` the difference of the two success rates."""
    x, y = _vector(a, "outcomes a"), _vector(b, "outcomes b")
    if x.shape != y.shape or not np.isin(x, (0, 1)).all() or not np.isin(y, (0, 1)).all():
        raise ConfigError("a McNemar test needs two 0/1 vectors of the same length")
    n10, n01 = int(((x == 1) & (y == 0)).sum()), int(((x == 0) & (y == 1)).sum())
    p = float(_st.binom.sf(n10 - 1, n10 + n01, 0.5)) if n10 + n01 else 1.0
    return TestResult("mcnemar", float(n10 - n01), p, int(x.size), float(x.mean() - y.mean()))


def matching_test(matches: int, n: int, reference_rates, level: float = 0.95) -> tuple[float, float]:
    """The decision of the matching-rate fingerprints (IPGuard, CAE): with r = :func:`rate_upper_bound` of the
    highest matching rate of independent reference models (each measured on the same ``n`` points), the one-sided
    binomial test of H0: the suspect matches on a point with probability <= r. Returns ``(p_value, r)``."""
    refs = _vector(reference_rates, "reference matching rates")
    r = rate_upper_bound(float(refs.max()), n, level)
    return (1.0 if r >= 1.0 else binomial_above(matches, n, r)), r


def mixture_log_evidence(successes: int, n: int, theta0: float) -> float:
    """log of the mixture likelihood ratio of ``successes`` in ``n`` Bernoulli trials against H0: theta <= theta0,
    with the alternative theta uniform on (theta0, 1): the integral of theta^s (1 - theta)^(n - s) over (theta0, 1),
    divided by (1 - theta0) theta0^s (1 - theta0)^(n - s). Under any theta <= theta0 it is a nonnegative
    supermartingale in n, so by Ville's inequality it exceeds 1 / alpha at *any* time with probability <= alpha."""
    from scipy.special import betainc, betaln

    if n == 0:
        return 0.0
    _check_binomial(successes, n, theta0)
    if theta0 >= 1.0:
        return -math.inf
    if theta0 <= 0.0:
        return math.inf if successes == n else -math.inf
    a, b = successes + 1, n - successes + 1
    with np.errstate(divide="ignore"):
        upper = float(np.log(betainc(b, a, 1.0 - theta0)))  # share of the Beta(a, b) mass above theta0
    return betaln(a, b) + upper - math.log1p(-theta0) - successes * math.log(theta0) - (n - successes) * math.log1p(-theta0)


class SequentialBinomial:
    """An always-valid one-sided test of H0: theta <= ``theta0`` on Bernoulli outcomes seen in rounds (the mixture
    test of :func:`mixture_log_evidence`). Its p-value, 1 / the largest evidence seen so far, is valid however often it
    is looked at and whenever the looking stops (after a rejection, a query budget, or at any round), so
    ``rejected`` at level ``alpha`` accuses a model that was not stolen with probability at most ``alpha``.
    :meth:`reachable` tells whether ``more`` further trials could still reach rejection (all of them successes):
    when not, the decision "not shown stolen" is final and the remaining queries are not needed."""

    def __init__(self, theta0: float, alpha: float):
        check_alpha(alpha)
        self.theta0, self.alpha = float(theta0), float(alpha)
        self.successes = self.n = self.looks = 0
        self.best = 0.0  # largest log evidence so far (0: none, the martingale starts at 1)

    def update(self, outcomes) -> None:
        """Add one round of 0/1 outcomes."""
        x = np.asarray(outcomes).ravel()
        if x.size and not np.isin(x, (0, 1)).all():
            raise ConfigError("a sequential binomial test takes 0/1 outcomes")
        self.successes += int(x.sum())
        self.n += int(x.size)
        self.looks += 1
        self.best = max(self.best, mixture_log_evidence(self.successes, self.n, self.theta0))

    @property
    def p_value(self) -> float:
        """The always-valid p-value so far."""
        return float(min(1.0, math.exp(-self.best)))

    @property
    def rejected(self) -> bool:
        """Whether H0 is rejected at ``alpha``."""
        return self.best >= math.log(1.0 / self.alpha)

    def reachable(self, more: int) -> bool:
        """Whether ``more`` further trials, all successes, would reject (adding a success only raises the evidence)."""
        return self.rejected or mixture_log_evidence(self.successes + more, self.n + more, self.theta0) >= math.log(1.0 / self.alpha)


def roc_auc(stolen_scores, independent_scores, higher_is_stolen: bool = True) -> float:
    """Area under the ROC curve separating stolen from independent suspects by a score (scikit-learn)."""
    from sklearn.metrics import roc_auc_score

    s, i = _vector(stolen_scores, "stolen scores"), _vector(independent_scores, "independent scores")
    y = np.r_[np.ones(s.size), np.zeros(i.size)]
    x = np.r_[s, i] * (1 if higher_is_stolen else -1)
    return float(roc_auc_score(y, x))


def roc_curve(stolen_scores, independent_scores, higher_is_stolen: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(false-positive rates, true-positive rates) of the ROC curve."""
    from sklearn.metrics import roc_curve as _roc

    s, i = _vector(stolen_scores, "stolen scores"), _vector(independent_scores, "independent scores")
    y = np.r_[np.ones(s.size), np.zeros(i.size)]
    fpr, tpr, _ = _roc(y, np.r_[s, i] * (1 if higher_is_stolen else -1))
    return fpr, tpr


def paired_t_sample_size(effect_size: float, alpha: float = 0.01, power: float = 0.9, max_n: int = 100_000) -> int:
    """Smallest number of pairs for a one-sided paired t-test to reach ``power`` at ``alpha`` when the true mean
    difference is ``effect_size`` standard deviations (Cohen's d), computed with the noncentral t distribution."""
    if not effect_size > 0:
        raise ConfigError(f"effect size must be positive, got {effect_size}")
    _check_unit("alpha", alpha)
    _check_unit("power", power)
    for n in range(2, max_n + 1):
        crit = _st.t.ppf(1 - alpha, n - 1)
        if _st.nct.sf(crit, n - 1, effect_size * math.sqrt(n)) >= power:
            return n
    raise ConfigError(f"no sample size up to {max_n} reaches power {power}")


def _check_unit(name: str, v: float) -> None:
    if not 0 < v < 1:
        raise ConfigError(f"{name} must lie strictly between 0 and 1, got {v}")


def move_claim_margin(m: int, type1: float, type2: float, alpha: float = 0.01) -> float:
    """MOVE Theorem 1 as a margin: ownership can be claimed with m verification samples when this is > 0.

    Model: the meta-classifier calls a benign model's feature 'stolen' with probability ``type1`` (beta_1) and a
    stolen model's feature 'benign' with probability ``type2`` (beta_2), independently per sample. The paired
    difference then has mean mu = 1 - beta_1 - beta_2 and variance s2 = beta_1 (1 - beta_1) + beta_2 (1 - beta_2), and
    the paired t-test rejects H0 at ``alpha`` when sqrt(m - 1) mu - t_alpha(m - 1) sqrt(s2) > 0 (the t statistic with
    the per-sample variance estimated over m samples).
    """
    if m < 2:
        raise ConfigError(f"m must be >= 2, got {m}")
    for name, v in (("type-I error", type1), ("type-II error", type2)):
        if not 0 <= v <= 1:
            raise ConfigError(f"{name} must lie in [0, 1], got {v}")
    _check_unit("alpha", alpha)
    mu = 1.0 - type1 - type2
    s2 = type1 * (1 - type1) + type2 * (1 - type2)
    return math.sqrt(m - 1) * mu - _st.t.ppf(1 - alpha, m - 1) * math.sqrt(s2)


def move_min_samples(type1: float, type2: float, alpha: float = 0.01, max_m: int = 100_000) -> int | None:
    """The smallest m for which :func:`move_claim_margin` is positive, or None when none is (mu <= 0)."""
    if 1.0 - type1 - type2 <= 0:
        return None
    for m in range(2, max_m + 1):
        if move_claim_margin(m, type1, type2, alpha) > 0:
            return m
    return None
