"""Forecast metrics against hand-computed values on tiny arrays."""

from __future__ import annotations

import math

import numpy as np
import pytest

from model.metrics import direction_accuracy, mae, mape, rmse, score

ACTUAL = np.array([10.0, 20.0, 40.0])
PREDICTED = np.array([11.0, 18.0, 40.0])
# errors: |10-11| = 1, |20-18| = 2, |40-40| = 0


def test_mae() -> None:
    # (1 + 2 + 0) / 3 = 1
    assert mae(ACTUAL, PREDICTED) == pytest.approx(1.0)


def test_rmse() -> None:
    # sqrt((1 + 4 + 0) / 3) = sqrt(5/3) = 1.290994
    assert rmse(ACTUAL, PREDICTED) == pytest.approx(math.sqrt(5 / 3))
    assert rmse(ACTUAL, PREDICTED) == pytest.approx(1.2909944, rel=1e-6)


def test_mape_is_in_percent_of_the_actual() -> None:
    # 100 * (1/10 + 2/20 + 0/40) / 3 = 100 * 0.2 / 3 = 6.6667
    assert mape(ACTUAL, PREDICTED) == pytest.approx(20 / 3)
    # the denominator is the actual, not the forecast: 100 * |10-20| / 10 = 100
    assert mape([10.0], [20.0]) == pytest.approx(100.0)


def test_perfect_forecast_scores_zero() -> None:
    assert mae(ACTUAL, ACTUAL) == rmse(ACTUAL, ACTUAL) == mape(ACTUAL, ACTUAL) == 0.0


def test_direction_accuracy_leaves_flat_days_out() -> None:
    last = np.array([10.0, 10.0, 10.0, 10.0, 10.0])
    actual = np.array([11.0, 9.0, 10.0, 12.0, 8.0])  # moves: up, down, FLAT, up, down
    predicted = np.array([12.0, 11.0, 15.0, 10.0, 7.0])  # guesses: up, up, up, flat, down
    # day 2 is flat and left out; of the 4 moving days, days 0 and 4 are right,
    # day 1 is wrong (up vs down), day 3 is wrong (flat forecast on a moving day): 2/4
    assert direction_accuracy(last, actual, predicted) == pytest.approx(0.5)


def test_naive_forecast_has_no_direction() -> None:
    last = np.array([10.0, 10.0, 10.0])
    actual = np.array([11.0, 9.0, 10.0])
    # every predicted move is flat, so every moving day counts as wrong: 0 / 2
    assert direction_accuracy(last, actual, last) == 0.0


def test_direction_accuracy_of_only_flat_days_is_nan() -> None:
    last = np.array([5.0, 6.0])
    assert math.isnan(direction_accuracy(last, last, np.array([7.0, 1.0])))


def test_score_by_hand() -> None:
    last = np.array([10.0, 20.0, 40.0])
    actual = np.array([12.0, 18.0, 44.0])
    predicted = np.array([11.0, 19.0, 42.0])
    result = score(last, actual, predicted)
    assert result.n == 3
    # model errors 1, 1, 2: mae 4/3, rmse sqrt(6/3) = sqrt(2)
    assert result.mae == pytest.approx(4 / 3)
    assert result.rmse == pytest.approx(math.sqrt(2))
    # mape 100 * (1/12 + 1/18 + 2/44) / 3 = 6.1448
    assert result.mape == pytest.approx(100 * (1 / 12 + 1 / 18 + 2 / 44) / 3)
    assert result.mape == pytest.approx(6.1448, rel=1e-4)
    # naive errors 2, 2, 4: mae 8/3, rmse sqrt(24/3) = sqrt(8)
    assert result.naive_mae == pytest.approx(8 / 3)
    assert result.naive_rmse == pytest.approx(math.sqrt(8))
    # naive mape 100 * (2/12 + 2/18 + 4/44) / 3 = 12.2896
    assert result.naive_mape == pytest.approx(100 * (2 / 12 + 2 / 18 + 4 / 44) / 3)
    # mase = (4/3) / (8/3) = 0.5
    assert result.mase == pytest.approx(0.5)
    # moves up, down, up; guesses up, down, up: 3/3
    assert result.direction_accuracy == pytest.approx(1.0)


def test_mase_of_the_naive_forecast_is_exactly_one() -> None:
    rng = np.random.default_rng(0)
    last = 100 * np.exp(rng.normal(0, 0.02, 50))
    actual = last * np.exp(rng.normal(0, 0.02, 50))
    result = score(last, actual, last)
    assert result.mase == 1.0
    assert result.mae == result.naive_mae
    assert result.direction_accuracy == 0.0


def test_mase_is_nan_when_naive_is_perfect() -> None:
    prices = np.array([10.0, 11.0])
    assert math.isnan(score(prices, prices, prices + 1).mase)


@pytest.mark.parametrize(
    ("last", "actual", "predicted"),
    [
        ([1.0, 2.0], [1.0, 2.0, 3.0], [1.0, 2.0]),
        ([1.0, 2.0], [1.0, 2.0], [1.0]),
        ([[1.0, 2.0]], [[1.0, 2.0]], [[1.0, 2.0]]),  # 2-D
        ([], [], []),
    ],
    ids=["actual-longer", "predicted-shorter", "two-dimensional", "empty"],
)
def test_score_rejects_bad_shapes(last: list, actual: list, predicted: list) -> None:
    with pytest.raises(ValueError):
        score(last, actual, predicted)


def test_score_names_the_problem() -> None:
    with pytest.raises(ValueError, match="same length"):
        score([1.0], [1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="no targets"):
        score([], [], [])
