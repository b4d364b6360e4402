"""The rule for counts that agree (counts.py), on values worked out by hand.

Every expected figure below is arithmetic on the counts written beside it, done on
paper (to four significant digits) before the test was run, never by the code under test.
"""

from __future__ import annotations

import math

import pytest

from perfgate.compare.counts import agree, compare_counts, spread

T = 0.01  # the default instructions threshold


def test_counts_that_repeat_exactly_are_judged_by_their_ratio_alone() -> None:
    c = compare_counts("instructions", [1000] * 3, [1020] * 3, T)
    assert c.verdict == "regression"
    assert c.change == pytest.approx(0.02)
    assert c.ci == pytest.approx((0.02, 0.02))
    assert c.detectable_change == pytest.approx(0.01)  # the threshold: nothing varies
    assert math.isnan(c.p_value) and c.alpha is None
    assert compare_counts("instructions", [1000] * 3, [1005] * 3, T).verdict == "unchanged"
    assert compare_counts("instructions", [1000] * 3, [980] * 3, T).verdict == "improvement"
    # Exactly the threshold is not past it.
    assert compare_counts("instructions", [1000] * 3, [1010] * 3, T).verdict == "unchanged"


def test_the_interval_is_every_ratio_widened_by_the_larger_spread() -> None:
    """base 1000..1002 (spread 2/1001 = 0.1998%), head 1020..1022 (2/1021, smaller):
    low = 1020/1002 / 1.001998 - 1 = +1.593%, high = 1022/1000 * 1.001998 - 1 = +2.404%."""
    c = compare_counts("instructions", [1000, 1001, 1002], [1020, 1021, 1022], T)
    assert c.ci == pytest.approx((0.01593, 0.02404), abs=5e-6)
    assert c.change == pytest.approx(1021 / 1001 - 1)  # the medians' ratio: +1.998%
    assert c.verdict == "regression"
    assert c.base_median == 1001 and c.head_median == 1021


def test_a_change_within_the_spread_of_the_threshold_is_inconclusive() -> None:
    """head 1010..1012: low = 1010/1002 / 1.001998 - 1 = +0.597%, high = +1.402%:
    the interval straddles the threshold."""
    c = compare_counts("instructions", [1000, 1001, 1002], [1010, 1011, 1012], T)
    assert c.ci == pytest.approx((0.005974, 0.01402), abs=5e-6)
    assert c.verdict == "inconclusive"
    # A regression here needs 1.01 * 1.001998 * 1002/1000 - 1 = +1.404% on every count.
    assert c.detectable_change == pytest.approx(0.01404, abs=5e-6)


def test_counts_agree_from_three_runs_within_a_quarter_of_the_threshold() -> None:
    assert spread([1000, 1003, 1001]) == pytest.approx(3 / 1001)
    assert not agree([1000, 1000], T)  # two runs cannot show how much a count varies
    assert agree([1000, 1000, 1000], T)
    assert agree([1000, 1002, 1001], T)  # 0.1998% <= 0.25%
    assert not agree([1000, 1003, 1001], T)  # 0.2997% > 0.25%
    assert agree([1000, 1003, 1001], 0.02)  # <= 0.5%
    assert not agree([0, 0, 0], T)
