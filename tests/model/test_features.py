"""Scale-free features: log returns, the train-only scaler, window features and targets."""

from __future__ import annotations

import numpy as np
import pytest

from model.features import (
    ReturnScaler,
    log_returns,
    returns_to_prices,
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
    scaler = ReturnScaler(mean=0.0003, std=0.015)
    base = window_features(windows, scaler)
    scaled = window_features(windows * factor, scaler)
    assert base.shape == scaled.shape == (4, 59, 2)
    assert base.dtype == scaled.dtype == np.float32
    np.testing.assert_allclose(scaled, base, rtol=1e-6, atol=1e-6)


def test_window_feature_channels() -> None:
    windows = np.stack([_gbm(20, seed=s) for s in range(3)])
    scaler = ReturnScaler(mean=0.001, std=0.02)
    features = window_features(windows, scaler)
    assert features.shape == (3, 19, 2)
    expected_returns = (np.diff(np.log(windows), axis=1) - 0.001) / 0.02
    np.testing.assert_allclose(features[..., 0], expected_returns, rtol=1e-5, atol=1e-5)
    # level: log(close / last close) / (std * sqrt(19)); the last step is today, so 0
    expected_level = np.log(windows[:, 1:] / windows[:, -1:]) / (0.02 * np.sqrt(19))
    np.testing.assert_allclose(features[..., 1], expected_level, rtol=1e-5, atol=1e-6)
    assert np.all(features[:, -1, 1] == 0.0)


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
