"""The pair-randomization p-value as scipy computes it: the reference the tests check
compare/pairs.py against, written once."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats as scipy_stats


def head_rank_sum(x, y, axis=-1):
    """The head runs' rank sum in the pooled ranking, vectorized for permutation_test."""
    both = scipy_stats.rankdata(np.concatenate([x, y], axis=axis), axis=axis)
    return both[..., x.shape[axis] :].sum(axis=axis)


def pair_swap_p(xs: Sequence[float], ys: Sequence[float]) -> float:
    """One-sided p of the head rank sum over all 2^n within-pair label swaps (scipy's
    exact permutation test over paired samples); xs and ys in pair order."""
    return scipy_stats.permutation_test(
        (np.asarray(xs), np.asarray(ys)), head_rank_sum, permutation_type="samples",
        n_resamples=np.inf, vectorized=True, alternative="greater",
    ).pvalue  # fmt: skip
