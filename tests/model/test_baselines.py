"""Baseline interval forecasters: shapes, no look-ahead, calibration on i.i.d. Gaussian returns."""

from __future__ import annotations

import numpy as np
import pytest
from arch import arch_model
from scipy import stats
from threadpoolctl import threadpool_limits

from core.errors import InputError
from model.baselines import (
    BASELINES,
    BaselineForecast,
    _empirical,
    baseline_forecasts,
    linear_constraints,
)
from model.intervals import LEVELS, covered


def _returns(n: int, seed: int) -> np.ndarray:
    """Returns with volatility clustering and fat tails, like a stock's (about 2.2% a day).

    Simulated GARCH(1,1) with unit-variance Student-t(5) shocks:
    sigma2[t+1] = 1e-5 + 0.08 r[t]^2 + 0.9 sigma2[t], unconditional 1e-5 / 0.02 = 5e-4.
    """
    shocks = np.random.default_rng(seed).standard_t(5, n) / np.sqrt(5 / 3)
    returns = np.empty(n)
    sigma2 = 5e-4
    for t in range(n):
        returns[t] = np.sqrt(sigma2) * shocks[t]
        sigma2 = 1e-5 + 0.08 * returns[t] ** 2 + 0.9 * sigma2
    return returns


@pytest.fixture(scope="module")
def gaussian() -> dict[str, BaselineForecast]:
    """i.i.d. N(0, 0.02^2): fit on the first 2000, forecast the last 1000."""
    returns = np.random.default_rng(11).normal(0.0, 0.02, 3000)
    forecasts = baseline_forecasts(returns, 2000, np.arange(2000, 3000))
    forecasts["_y"] = BaselineForecast(quantiles=returns[2000:, None], point=returns[2000:])
    return forecasts


def test_shapes_and_names() -> None:
    returns = _returns(600, seed=1)
    targets = np.arange(400, 600, 3)
    forecasts = baseline_forecasts(returns, 400, targets)
    assert tuple(forecasts) == BASELINES == ("ewma", "empirical", "garch")
    for forecast in forecasts.values():
        assert forecast.quantiles.shape == (targets.size, len(LEVELS))
        assert forecast.point.shape == (targets.size,)
        assert np.all(np.isfinite(forecast.quantiles))
        assert np.all(np.diff(forecast.quantiles, axis=1) > 0)
    custom = baseline_forecasts(returns, 400, targets, levels=(0.1, 0.9))
    assert custom["garch"].quantiles.shape == (targets.size, 2)


def test_no_look_ahead() -> None:
    returns = _returns(800, seed=2)
    targets = np.arange(500, 800)
    cut = 650
    perturbed = returns.copy()
    perturbed[cut:] = np.random.default_rng(3).normal(0.0, 0.1, 800 - cut)
    before = baseline_forecasts(returns, 500, targets)
    after = baseline_forecasts(perturbed, 500, targets)
    known = targets <= cut
    for name in BASELINES:
        np.testing.assert_array_equal(before[name].quantiles[known], after[name].quantiles[known])
        np.testing.assert_array_equal(before[name].point[known], after[name].point[known])
        # the perturbation is real: later forecasts (which may use it) do move
        assert not np.array_equal(before[name].quantiles[~known], after[name].quantiles[~known])


def test_ewma_matches_a_plain_recursion() -> None:
    returns = _returns(400, seed=4)
    targets = np.array([300, 301, 399])
    forecast = baseline_forecasts(returns, 300, targets)["ewma"]
    sigma2 = np.var(returns[:300], ddof=1)  # starts at index 0, before r_0
    expected = {}
    for t in range(400):
        expected[t] = np.sqrt(sigma2)
        sigma2 = 0.94 * sigma2 + 0.06 * returns[t] ** 2
    z = stats.norm.ppf(LEVELS)
    for row, j in enumerate(targets):
        assert forecast.quantiles[row] == pytest.approx(expected[j] * z, rel=1e-10)
    assert np.all(forecast.point == 0.0)


def test_empirical_uses_the_last_250_returns() -> None:
    returns = _returns(700, seed=5)
    targets = np.array([500, 573, 650])
    forecast = baseline_forecasts(returns, 500, targets)["empirical"]
    for row, j in enumerate(targets):
        window = returns[j - 250 : j]
        # the same bits as numpy's own figures of that window alone
        assert np.array_equal(forecast.quantiles[row], np.quantile(window, LEVELS))
        assert forecast.point[row] == np.median(window)


def test_empirical_short_history_uses_all_past_returns() -> None:
    returns = _returns(100, seed=6)
    taus = np.asarray(LEVELS)
    forecast = _empirical(returns, np.array([20, 60]), taus)
    assert forecast.quantiles[1] == pytest.approx(np.quantile(returns[:60], taus))
    with pytest.raises(InputError):
        _empirical(returns, np.array([19]), taus)


def test_garch_matches_arch_filtered_with_fixed_parameters() -> None:
    returns = _returns(1200, seed=8)
    targets = np.arange(800, 1200, 7)
    forecast = baseline_forecasts(returns, 800, targets)["garch"]
    with threadpool_limits(limits=1, user_api="blas"):  # as tickcast fits: the same bits
        fit = arch_model(100 * returns[:800], mean="Constant", vol="GARCH", p=1, q=1, dist="t").fit(
            disp="off"
        )
    fixed = arch_model(100 * returns, mean="Constant", vol="GARCH", p=1, q=1, dist="t").fix(
        fit.params
    )
    mu, nu = fit.params["mu"], fit.params["nu"]
    z = stats.t.ppf(LEVELS, nu) * np.sqrt((nu - 2) / nu)
    sigma = np.asarray(fixed.conditional_volatility)[targets]
    np.testing.assert_allclose(forecast.quantiles, (mu + sigma[:, None] * z) / 100, rtol=1e-8)
    np.testing.assert_allclose(forecast.point, mu / 100)


@pytest.mark.parametrize("name", BASELINES)
def test_calibrated_on_iid_gaussian_returns(
    gaussian: dict[str, BaselineForecast], name: str
) -> None:
    y = gaussian["_y"].point
    q = gaussian[name].quantiles
    coverage_80 = np.mean(covered(y, q[:, LEVELS.index(0.1)], q[:, LEVELS.index(0.9)]))
    coverage_95 = np.mean(covered(y, q[:, LEVELS.index(0.025)], q[:, LEVELS.index(0.975)]))
    assert 0.75 <= coverage_80 <= 0.85
    assert 0.92 <= coverage_95 <= 0.98
    # the 80% interval of N(0, 0.02^2) is +-1.2816 * 0.02 = +-0.0256 wide
    width = np.mean(q[:, LEVELS.index(0.9)] - q[:, LEVELS.index(0.1)])
    assert width == pytest.approx(2 * 1.2816 * 0.02, rel=0.1)


def test_ewma_point_is_zero(gaussian: dict[str, BaselineForecast]) -> None:
    assert np.all(gaussian["ewma"].point == 0.0)
    assert np.abs(gaussian["garch"].point).max() < 0.002  # mu is near 0 on zero-mean data


def test_garch_refuses_too_little_training_data() -> None:
    returns = _returns(30, seed=9)
    with pytest.raises(InputError, match="GARCH"):
        baseline_forecasts(returns, 25, np.arange(25, 30))


@pytest.mark.parametrize(
    ("fit_end", "targets"),
    [
        (300, [299, 300]),  # a target inside the training split
        (300, [310, 305]),  # not increasing
        (300, [300, 400]),  # past the end
        (300, []),
        (1, [300]),
    ],
)
def test_bad_targets_are_refused(fit_end: int, targets: list[int]) -> None:
    with pytest.raises(InputError):
        baseline_forecasts(_returns(400, seed=10), fit_end, np.array(targets, dtype=np.int64))


def _numerical(a: np.ndarray, b: np.ndarray) -> list[dict]:
    """The constraints as arch gives them: functions alone, differenced by SciPy."""
    return [{k: v for k, v in c.items() if k != "jac"} for c in linear_constraints(a, b)]


@pytest.mark.parametrize("seed", [3, 8, 21])
def test_garch_fits_with_exact_constraint_jacobians_reach_the_same_optimum(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each constraint's Jacobian is its row; the fit given them ends where SciPy's
    finite differences end, to SLSQP's tolerance."""
    from arch.univariate import base

    a = np.array([[0.0, 1.0, 0.0], [0.0, -1.0, -1.0]])
    b = np.array([0.0, -1.0])
    for given, row, value in zip(linear_constraints(a, b), a, b, strict=True):
        x = np.array([0.3, 0.2, 0.5])
        assert given["fun"](x) == pytest.approx(row @ x - value)
        assert np.array_equal(given["jac"](x), row)
    returns = 100 * _returns(800, seed)
    fits = {}
    for name, constraints in (("numerical", _numerical), ("exact", linear_constraints)):
        monkeypatch.setattr(base, "constraint", constraints)
        model = arch_model(returns, mean="Constant", vol="GARCH", p=1, q=1, dist="t")
        fits[name] = model.fit(disp="off")
    numerical, exact = fits["numerical"], fits["exact"]
    assert exact.convergence_flag == numerical.convergence_flag == 0
    assert exact.loglikelihood == pytest.approx(numerical.loglikelihood, abs=1e-5)
    np.testing.assert_allclose(exact.params, numerical.params, rtol=1e-2)
