"""Scale-free features: log returns, the train-only scaler, window features and targets."""

from __future__ import annotations

import numpy as np
import pytest

from model.features import (
    ReturnScaler,
    daily_variance,
    log_returns,
    returns_to_prices,
    scale_prior,
    window_features,
    window_targets,
)


def _gbm(n: int, seed: int = 0, vol: float = 0.015, start: float = 100.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return start * np.exp(np.concatenate([[0.0], np.cumsum(rng.normal(0.0003, vol, n - 1))]))


def test_log_returns_gives_one_fewer_value_along_the_last_axis() -> None:
    closes = np.array([[100.0, 110.0, 99.0], [1.0, 2.0, 4.0]])
    returns = log_returns(closes)
    assert returns.shape == (2, 2)
    # log(110/100), log(99/110); log(2/1), log(4/2)
    np.testing.assert_allclose(
        returns, [[np.log(1.1), np.log(0.9)], [np.log(2.0), np.log(2.0)]], rtol=1e-12
    )


def test_round_trip_reconstructs_the_prices() -> None:
    prices = _gbm(300, seed=1)
    returns = log_returns(prices)
    scaler = ReturnScaler.fit(returns[:200])
    scaled = scaler.transform(returns)
    assert abs(scaled[:200].mean()) < 1e-9  # standardised on what it was fit on
    back = scaler.inverse_transform(scaled)
    # one step at a time: each close from the previous one
    np.testing.assert_allclose(returns_to_prices(prices[:-1], back), prices[1:], rtol=1e-9)
    # or the whole path from the first close
    np.testing.assert_allclose(returns_to_prices(prices[0], np.cumsum(back)), prices[1:], rtol=1e-9)


def test_fit_uses_only_the_returns_it_is_given() -> None:
    rng = np.random.default_rng(2)
    returns = np.concatenate([rng.normal(0.001, 0.01, 500), rng.normal(-0.002, 0.04, 500)])
    train = returns[:500]
    on_train, on_all = ReturnScaler.fit(train), ReturnScaler.fit(returns)
    assert on_train.mean == pytest.approx(train.mean(), rel=1e-12)
    assert on_train.std == pytest.approx(train.std(), rel=1e-12)
    assert on_train.std < 0.5 * on_all.std
    assert on_train.mean != pytest.approx(on_all.mean, abs=1e-4)


def test_fit_skips_non_finite_returns() -> None:
    assert ReturnScaler.fit([0.01, np.nan, 0.03, np.inf]) == ReturnScaler.fit([0.01, 0.03])
    # mean 0.02, population std 0.01
    scaler = ReturnScaler.fit([0.01, 0.03])
    assert scaler.mean == pytest.approx(0.02)
    assert scaler.std == pytest.approx(0.01)


@pytest.mark.parametrize(
    ("returns", "message"),
    [
        ([], "at least two"),
        ([0.01], "at least two"),
        ([0.01, np.nan, np.inf], "at least two"),
        ([0.0] * 10, "zero variance"),
        (log_returns(np.full(30, 37.1)), "zero variance"),  # prices that never move
    ],
)
def test_fit_rejects_too_few_or_constant_returns(returns: list[float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ReturnScaler.fit(returns)


@pytest.mark.parametrize("returns", [[0.02] * 10, log_returns(100 * np.exp(0.01 * np.arange(30)))])
def test_fit_rejects_constant_non_zero_returns(returns: list[float]) -> None:
    with pytest.raises(ValueError, match="zero variance"):
        ReturnScaler.fit(returns)


def test_scaler_dict_round_trip() -> None:
    scaler = ReturnScaler(mean=0.0004, std=0.017)
    assert scaler.to_dict() == {"mean": 0.0004, "std": 0.017}
    assert ReturnScaler(**scaler.to_dict()) == scaler


@pytest.mark.parametrize("factor", [10.0, 1000.0, 0.01])
def test_window_features_are_scale_free(factor: float) -> None:
    windows = np.stack([_gbm(60, seed=s) for s in range(4)])
    bars = np.stack([windows * 0.999, windows * 1.01, windows * 0.985], axis=-1)
    scaler = ReturnScaler(mean=0.0003, std=0.015)
    steps, prior, ranged = window_features(windows, scaler, bars)
    steps2, prior2, ranged2 = window_features(windows * factor, scaler, bars * factor)
    assert steps.shape == steps2.shape == (4, 59, 3) and prior.shape == (4, 4)
    assert steps.dtype == prior.dtype == np.float32
    np.testing.assert_allclose(steps2, steps, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(prior2, prior, rtol=1e-5, atol=1e-5)
    assert ranged.all() and ranged2.all()


def test_window_feature_channels() -> None:
    windows = np.stack([_gbm(20, seed=s) for s in range(3)])
    scaler = ReturnScaler(mean=0.001, std=0.02)
    features, _, ranged = window_features(windows, scaler)
    assert features.shape == (3, 19, 3) and not ranged.any()
    expected_returns = (np.diff(np.log(windows), axis=1) - 0.001) / 0.02
    np.testing.assert_allclose(features[..., 0], expected_returns, rtol=1e-5, atol=1e-5)
    # level: log(close / last close) / (std * sqrt(19)); the last step is today, so 0
    expected_level = np.log(windows[:, 1:] / windows[:, -1:]) / (0.02 * np.sqrt(19))
    np.testing.assert_allclose(features[..., 1], expected_level, rtol=1e-5, atol=1e-6)
    assert np.all(features[:, -1, 1] == 0.0)
    # without bars the variance channel reads squared returns, relative to the window's EWMA
    # (lambda 0.94, started at the window's mean), all in units of the training variance
    variance = np.diff(np.log(windows), axis=1) ** 2 / 0.02**2 + 0.05
    ewma = variance.mean(axis=1)
    for day in range(variance.shape[1]):
        ewma = 0.94 * ewma + 0.06 * variance[:, day]
    expected = np.log(variance) - np.log(ewma)[:, None]
    np.testing.assert_allclose(features[..., 2], expected, rtol=1e-5, atol=1e-5)


def test_daily_variance_is_the_overnight_gap_plus_garman_klass() -> None:
    closes = np.array([[100.0, 102.0]])
    bars = np.array([[[np.nan] * 3, [101.0, 103.0, 99.0]]])  # open 101, high 103, low 99
    variance, consistent = daily_variance(closes, bars)
    # overnight log(101/100)^2 = 0.00995033^2 = 9.90091e-05
    # 0.5 * log(103/99)^2 = 0.5 * 0.0396091^2 = 7.84440e-04
    # (2 ln 2 - 1) * log(102/101)^2 = 0.386294 * 0.00985229^2 = 3.74957e-05
    assert variance[0, 0] == pytest.approx(9.90091e-05 + 7.84440e-04 - 3.74957e-05, rel=1e-4)
    assert consistent.tolist() == [[True]]


@pytest.mark.parametrize(
    "bar",
    [[np.nan, np.nan, np.nan], [101.0, 100.0, 99.0], [101.0, 103.0, 102.5], [0.0, 103.0, 99.0]],
    ids=["missing", "high below close", "low above close", "non-positive"],
)
def test_a_day_without_a_consistent_bar_falls_back_to_its_squared_return(bar) -> None:
    closes = np.array([[100.0, 102.0]])
    variance, consistent = daily_variance(closes, np.array([[[np.nan] * 3, bar]]))
    assert variance[0, 0] == pytest.approx(np.log(1.02) ** 2)
    assert consistent.tolist() == [[False]]


def test_the_scale_prior_of_a_steady_window_is_its_own_volatility() -> None:
    variance = np.full((2, 59), 4.0)  # in units of the training variance
    prior = scale_prior(variance, 0.05)
    np.testing.assert_allclose(prior[:, 0], 0.5 * np.log(4.05))  # log sd of the EWMA
    np.testing.assert_allclose(prior[:, 1:], 0.0, atol=1e-12)  # day, week, month: no change
    calm_then_wild = np.r_[np.full(54, 1.0), np.full(5, 9.0)][None]
    day, week = scale_prior(calm_then_wild, 0.05)[0, 1:3]
    assert day > 0 and week > 0  # a volatile last week reads above the EWMA


def test_window_targets_are_the_scaled_next_log_return() -> None:
    scaler = ReturnScaler(mean=0.001, std=0.02)
    last, nxt = np.array([100.0, 50.0, 7.0]), np.array([110.0, 45.0, 7.0])
    targets = window_targets(last, nxt, scaler)
    assert targets.dtype == np.float32
    # (log(110/100) - 0.001) / 0.02 = (0.0953102 - 0.001) / 0.02 = 4.71551
    # (log(45/50) - 0.001) / 0.02 = (-0.1053605 - 0.001) / 0.02 = -5.31803
    # (log(7/7) - 0.001) / 0.02 = -0.05
    np.testing.assert_allclose(targets, [4.715510, -5.318026, -0.05], rtol=1e-5)
    np.testing.assert_allclose(
        targets, scaler.transform(np.log(nxt / last)).astype(np.float32), rtol=1e-7
    )
