"""The statistics every method shares, checked against hand-computed cases."""

import math

import numpy as np
import pytest

from stealguard import stats
from stealguard.errors import ConfigError


def test_paired_t_hand_computed():
    # differences 1, 2, 3: mean 2, sd 1, t = 2 / (1 / sqrt 3) = 3.4641; with 2 df the t tail has the closed form
    # p = (1 - t / sqrt(t^2 + 2)) / 2 = (1 - 3.4641 / 3.7417) / 2 = 0.037090
    r = stats.paired_t([2, 4, 6], [1, 2, 3])
    assert r.statistic == pytest.approx(2 * math.sqrt(3), rel=1e-9)
    assert r.p_value == pytest.approx(0.0370900, abs=1e-6)
    assert r.mean_difference == pytest.approx(2.0)
    assert stats.paired_t([1, 2, 3], [2, 4, 6]).p_value == pytest.approx(1 - 0.0370900, abs=1e-6)
    # a margin shifts H0: mean(a - b) <= 2 is not rejected
    assert stats.paired_t([2, 4, 6], [1, 2, 3], margin=2.0).p_value == pytest.approx(0.5)


def test_paired_t_constant_differences_are_decided_not_nan():
    assert stats.paired_t([0.9, 0.9, 0.9], [0.1, 0.1, 0.1]).p_value == 0.0
    assert stats.paired_t([0.1, 0.1], [0.1, 0.1]).p_value == 1.0
    with pytest.raises(ConfigError):
        stats.paired_t([1, 2], [1, 2, 3])
    with pytest.raises(ConfigError):
        stats.paired_t([1, float("nan")], [1, 2])


def test_welch_hand_computed():
    # a = 1..5 (mean 3, var 2.5), b = 0,0,0,0,1 (mean .2, var .2): t = 2.8 / sqrt(.5 + .04) = 3.8103
    # df = .54^2 / (.5^2/4 + .04^2/4) = 4.6370 -> one-sided p = 0.00705 (scipy's t.sf at that df)
    r = stats.welch_t([1, 2, 3, 4, 5], [0, 0, 0, 0, 1])
    assert r.statistic == pytest.approx(2.8 / math.sqrt(0.54), rel=1e-9)
    from scipy.stats import t

    df = 0.54**2 / (0.5**2 / 4 + 0.04**2 / 4)
    assert r.p_value == pytest.approx(t.sf(2.8 / math.sqrt(0.54), df), rel=1e-9)
    assert 0.005 < r.p_value < 0.01


def test_wilcoxon_exact_small_case():
    # 5 positive differences: W+ = 15 is the most extreme of 2^5 sign patterns -> exact one-sided p = 1/32
    r = stats.wilcoxon([0.5, 0.6, 0.7, 0.8, 0.9])
    assert r.p_value == pytest.approx(1 / 32)
    # with the feature-sharing margin 0.3 the differences become 0.2..0.6, still all positive
    assert stats.wilcoxon([0.5, 0.6, 0.7, 0.8, 0.9], margin=0.3).p_value == pytest.approx(1 / 32)
    # below the margin everywhere: nothing rejected
    assert stats.wilcoxon([0.1, 0.2, 0.1, 0.2, 0.1], margin=0.3).p_value > 0.9
    assert stats.wilcoxon([0.3, 0.3], margin=0.3).p_value == 1.0
    # ties (labels-only answers): 8 x +0.7 and 2 x -0.3 have midranks 6.5 and 1.5, so W+ = 52; the exact p-value
    # counts the sign patterns (a of the 0.7 and b of the 0.3 positive) whose W+ is at least that
    d = [0.7] * 8 + [-0.3] * 2
    patterns = [(a, b) for a in range(9) for b in range(3)]  # a of the 0.7 and b of the 0.3 positive
    from math import comb
    hits = sum(comb(8, a) * comb(2, b) for a, b in patterns if 6.5 * a + 1.5 * b >= 52)
    assert stats.wilcoxon(d).p_value == pytest.approx(hits / 2 ** 10)
    assert hits == 4 and stats.wilcoxon(d, "less").p_value == pytest.approx(1021 / 1024)


def test_combinations():
    assert stats.harmonic_mean_p([0.01, 0.04]) == pytest.approx(2 / (100 + 25))
    assert stats.harmonic_mean_p([0.5, 0.0]) == 0.0
    # Fisher: -2 (ln .05 + ln .05) = 11.983 ~ chi2(4): sf = 0.017479
    assert stats.fisher_p([0.05, 0.05]) == pytest.approx(0.0174787, abs=1e-6)
    assert stats.combine([0.2], "fisher") == pytest.approx(0.2)
    with pytest.raises(ConfigError):
        stats.combine([0.2], "mean")
    with pytest.raises(ConfigError):
        stats.harmonic_mean_p([1.5])


def test_empirical_p_and_auc():
    assert stats.empirical_p(0.9, [0.1, 0.2, 0.3]) == pytest.approx(1 / 4)
    assert stats.empirical_p(0.2, [0.1, 0.2, 0.3]) == pytest.approx(3 / 4)
    assert stats.empirical_p(0.05, [0.1, 0.2], higher_is_stolen=False) == pytest.approx(1 / 3)
    assert stats.roc_auc([0.9, 0.8], [0.1, 0.2, 0.3]) == 1.0
    assert stats.roc_auc([0.1], [0.2, 0.05]) == 0.5
    # SAC: smaller distance = stolen
    assert stats.roc_auc([0.01, 0.02], [0.1, 0.2], higher_is_stolen=False) == 1.0
    fpr, tpr = stats.roc_curve([0.9, 0.8], [0.1, 0.85])
    assert fpr[-1] == 1.0 and tpr[-1] == 1.0


def test_prediction_t_hand_computed():
    # references 1, 2, 3: mean 2, sd 1; score 0: T = -2 / sqrt(1 + 1/3) = -sqrt(3); with 2 degrees of freedom the
    # t distribution's CDF has the closed form 1/2 + t / (2 sqrt(2 + t^2)) = 1/2 - sqrt(3) / (2 sqrt(5))
    r = stats.prediction_t(0.0, [1, 2, 3])
    assert r.statistic == pytest.approx(-3 ** 0.5) and r.n == 3 and r.mean_difference == pytest.approx(-2)
    assert r.p_value == pytest.approx(0.5 - 3 ** 0.5 / (2 * 5 ** 0.5))
    assert stats.prediction_t(4.0, [1, 2, 3], "greater").p_value == pytest.approx(r.p_value)
    assert stats.prediction_t(2.0, [1, 2, 3]).p_value == pytest.approx(0.5)
    assert stats.prediction_t(0.1, [0.5, 0.5]).p_value == 0.0  # identical references: decided, not NaN
    with pytest.raises(ConfigError, match="at least 2"):
        stats.prediction_t(0.1, [0.5])


def test_matching_rate_bound_and_binomial_test():
    # no hit in n trials: the one-sided 95% Clopper-Pearson bound has the closed form 1 - 0.05 ** (1 / n)
    assert stats.rate_upper_bound(0.0, 10) == pytest.approx(1 - 0.05 ** 0.1)
    # n hits in n: 0.05 ** (1 / n) is the lower bound, the upper one is 1
    assert stats.rate_upper_bound(1.0, 50) == 1.0
    assert stats.rate_upper_bound(0.35, 100) == pytest.approx(0.4365, abs=2e-3)
    # all 10 points matched against r: p = r ** 10; a reference that matched everything leaves p = 1
    p, r = stats.matching_test(10, 10, [0.0, 0.0])
    assert r == pytest.approx(1 - 0.05 ** 0.1) and p == pytest.approx(r ** 10)
    assert stats.matching_test(10, 10, [1.0, 0.2]) == (1.0, 1.0)
    with pytest.raises(ConfigError):
        stats.rate_upper_bound(1.5, 10)
    # P(X <= 2) for X ~ Binomial(10, 1/2) = (1 + 10 + 45) / 1024; no trial can fall below zero hits at rate 1
    assert stats.binomial_below(2, 10, 0.5) == pytest.approx(56 / 1024)
    assert stats.binomial_below(10, 10, 0.9) == 1.0 and stats.binomial_below(9, 10, 1.0) == 0.0
    with pytest.raises(ConfigError):
        stats.binomial_below(11, 10, 0.5)
    # P(X >= 8) for X ~ Binomial(10, 1/2) = (45 + 10 + 1) / 1024; zero hits are always reached
    assert stats.binomial_above(8, 10, 0.5) == pytest.approx(56 / 1024)
    assert stats.binomial_above(0, 10, 0.9) == 1.0 and stats.binomial_above(1, 10, 0.0) == 0.0
    with pytest.raises(ConfigError):
        stats.binomial_above(3, 10, 1.2)


def test_mcnemar_counts_only_the_discordant_items():
    # 6 items only a gets right, 1 only b, 3 both: P(X >= 6) for X ~ Binomial(7, 1/2) = (7 + 1) / 128
    a = [1] * 6 + [0] + [1] * 3
    b = [0] * 6 + [1] + [1] * 3
    r = stats.mcnemar_above(a, b)
    assert r.p_value == pytest.approx(8 / 128) and r.statistic == 5 and r.mean_difference == pytest.approx(0.5)
    # the other direction: P(X >= 1) = 1 - 1/128; no discordant item: nothing to reject
    assert stats.mcnemar_above(b, a).p_value == pytest.approx(127 / 128)
    assert stats.mcnemar_above([1, 0, 1], [1, 0, 1]).p_value == 1.0
    with pytest.raises(ConfigError):
        stats.mcnemar_above([1, 2], [1, 0])
    with pytest.raises(ConfigError):
        stats.mcnemar_above([1, 0], [1, 0, 1])


def test_sample_size_matches_the_normal_approximation():
    # one-sided alpha .05, power .8, d = .5: normal approximation (1.645 + .842)^2 / .25 = 24.7; t needs 27
    n = stats.paired_t_sample_size(0.5, alpha=0.05, power=0.8)
    assert n == 27
    assert stats.paired_t_sample_size(2.0, alpha=0.01, power=0.9) < 10
    with pytest.raises(ConfigError):
        stats.paired_t_sample_size(0.0)


def test_move_theorem_1():
    # a perfect meta-classifier: mu = 1, variance 0 -> any m >= 2 suffices
    assert stats.move_claim_margin(2, 0.0, 0.0) == pytest.approx(1.0)
    assert stats.move_min_samples(0.0, 0.0) == 2
    # beta1 = beta2 = 0.1: mu = .8, s = sqrt(.18) = .42426; at m = 5: 2 * .8 - t_.01(4) * .42426
    from scipy.stats import t

    assert stats.move_claim_margin(5, 0.1, 0.1, 0.01) == pytest.approx(2 * 0.8 - t.ppf(0.99, 4) * math.sqrt(0.18))
    m = stats.move_min_samples(0.1, 0.1, 0.01)
    assert stats.move_claim_margin(m, 0.1, 0.1) > 0 >= stats.move_claim_margin(m - 1, 0.1, 0.1)
    assert m == 5  # margin at 4: sqrt3 * .8 - 4.541 * .424 < 0; at 5: 1.6 - 3.747 * .424 = 0.010 > 0
    # a useless meta-classifier can never claim ownership
    assert stats.move_min_samples(0.5, 0.5) is None
    with pytest.raises(ConfigError):
        stats.move_claim_margin(1, 0.1, 0.1)


def test_sequential_binomial_is_always_valid_and_stops_early():
    """The mixture test: under H0 (theta = theta0) it rejects at most alpha of the time though it looks after every
    round of 10 (40 looks); at theta = 0.9 it rejects within a fraction of the trials; the evidence of all-successes
    is the closed form (1 - theta0^(n+1)) / ((n + 1) (1 - theta0) theta0^n); reachable() is exact curtailment."""
    from stealguard.stats import SequentialBinomial, mixture_log_evidence

    for n in (1, 5, 12):
        closed = (1 - 0.6 ** (n + 1)) / ((n + 1) * 0.4 * 0.6**n)
        assert math.exp(mixture_log_evidence(n, n, 0.6)) == pytest.approx(closed, rel=1e-9)
    assert mixture_log_evidence(0, 0, 0.5) == 0.0 and mixture_log_evidence(3, 3, 1.0) == -math.inf
    rng = np.random.default_rng(0)
    rejections, used = 0, []
    for _ in range(1000):
        t = SequentialBinomial(0.5, 0.05)
        for _ in range(40):
            t.update(rng.random(10) < 0.5)
            if t.rejected:
                rejections += 1
                break
        assert 0 <= t.p_value <= 1
    assert rejections / 1000 <= 0.05, rejections
    for _ in range(200):
        t = SequentialBinomial(0.5, 0.01)
        while not t.rejected:
            t.update(rng.random(10) < 0.9)
        used.append(t.n)
    assert np.median(used) <= 30 and max(used) <= 80, (np.median(used), max(used))
    t = SequentialBinomial(0.5, 0.01)
    t.update([0] * 10)
    k = next(k for k in range(1, 200) if t.reachable(k))  # the fewest further successes that could still reject
    assert not t.reachable(k - 1) and math.exp(mixture_log_evidence(k, 10 + k, 0.5)) >= 100
    with pytest.raises(ConfigError):
        SequentialBinomial(0.5, 1.5)
    with pytest.raises(ConfigError):
        t.update([0, 2])
