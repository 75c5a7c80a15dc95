"""Numbers are rounded to what their intervals justify, in one place."""

from __future__ import annotations

import math

import numpy as np

from factory.core.base.rounding import rounded, rounded_row


def test_a_score_keeps_one_digit_finer_than_its_interval():
    assert rounded(0.903456, width=0.02) == 0.903
    assert rounded(0.903456, width=0.2) == 0.9
    assert rounded(0.903456, width=0.002) == 0.9035
    assert rounded(142.34, width=1.0) == 142.3  # a duration: one decimal


def test_without_an_interval_three_significant_digits():
    assert rounded(0.0123456) == 0.0123
    assert rounded(1234.5) == 1230.0
    assert rounded(-0.98765) == -0.988
    assert rounded(np.float64(0.333333)) == 0.333 and type(rounded(np.float64(0.3))) is float


def test_what_is_not_a_finite_float_passes_through():
    for value in (None, 7, True, "0.123456"):
        assert rounded(value) is value
    assert math.isnan(rounded(float("nan")))
    assert rounded(0.0) == 0.0 and rounded(0.5, width=0.0) == 0.5


def test_a_row_rounds_each_score_by_its_own_interval():
    row = {"auc": 0.912345, "auc_low": 0.901234, "auc_high": 0.923456, "f1": 0.765432, "rows": 4572}
    row |= {"bs_auc": 0.712345, "bs_auc_low": 0.61, "bs_auc_high": 0.81, "seconds": 12.345, "model": "lgbm"}
    assert rounded_row(row) == {
        "auc": 0.912,
        "auc_low": 0.901,
        "auc_high": 0.923,
        "f1": 0.765,
        "rows": 4572,
        "bs_auc": 0.71,
        "bs_auc_low": 0.61,
        "bs_auc_high": 0.81,
        "seconds": 12.3,
        "model": "lgbm",
    }
