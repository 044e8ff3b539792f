"""The micro-batch's drift statistics, computed at once, are each window's own to the bit."""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from core.config import DriftSettings, Settings
from model.drift import (
    ReturnBaseline,
    assess_drift,
    assess_drift_many,
    baseline_for,
    build_baselines,
    ks_many,
    ks_two_sample,
)
from model.features import log_returns
from producers.sources import load_prices
from schemas.drift import DriftReport

FIVE = ["CMIG4.SA", "PETR4.SA", "VALE3.SA", "ITUB4.SA", "BBDC4.SA"]
WINDOW = 60


def bits(report: DriftReport) -> list[str]:
    """Every number of a report, exactly: float.hex tells apart what == might round away."""
    return [s.value.hex() for s in report.statistics]


def by_definition(
    closes: np.ndarray, baselines: dict[str, ReturnBaseline], ticker: str
) -> list[str]:
    """One window's KS p, volatility ratio and mean z, one window at a time by their
    definitions (the arithmetic of the per-window code the batch replaced), as bits."""
    _, baseline = baseline_for(baselines, ticker)
    returns = log_returns(np.asarray(closes, dtype=np.float64))
    n = returns.size
    _, p = ks_two_sample(returns, baseline)
    mean = float(returns.sum()) / n
    deviations = returns - mean
    ratio = math.sqrt(float(deviations @ deviations) / (n - 1)) / baseline.std
    z = (mean - baseline.mean) / (baseline.std / math.sqrt(n))
    return [p.hex(), ratio.hex(), z.hex()]


def assert_same(batched: list[DriftReport], alone: list[DriftReport]) -> None:
    assert len(batched) == len(alone)
    for i, (many, one) in enumerate(zip(batched, alone, strict=True)):
        assert many == one, f"window {i}"
        assert bits(many) == bits(one), f"window {i}"


@pytest.mark.shared_data
def test_real_windows_get_the_reports_of_one_window_at_a_time(shared_data: Path, tmp_path) -> None:
    settings = Settings(data={"dir": tmp_path})
    prices = load_prices(
        f"csv:{shared_data}", FIVE, settings.data, date(2018, 1, 2), date(2024, 12, 30)
    )
    closes = {t: f["close"].to_numpy(dtype=np.float64) for t, f in prices.frames.items()}
    # Trained on two tickers up to 2022: the others are read against the pooled baseline.
    cut = np.datetime64("2023-01-01")
    training = {
        t: prices.frames[t].loc[prices.frames[t]["date"] < cut, "close"].to_numpy(np.float64)
        for t in FIVE[:2]
    }
    baselines = build_baselines(training)
    windows, tickers = [], []
    for ticker, series in closes.items():
        for end in range(WINDOW, len(series) + 1, 3):
            windows.append(series[end - WINDOW : end])
            tickers.append(ticker)
    windows = np.asarray(windows)
    thresholds = DriftSettings()
    pairs = zip(windows, tickers, strict=True)
    alone = [assess_drift(w, baselines, thresholds, t) for w, t in pairs]
    batched = []
    for first in range(0, len(windows), 500):  # the worker's batch size
        batched += assess_drift_many(
            windows[first : first + 500], baselines, thresholds, tickers[first : first + 500]
        )
    assert_same(batched, alone)
    assert [bits(r) for r in alone] == [
        by_definition(w, baselines, t) for w, t in zip(windows, tickers, strict=True)
    ]
    # Both baselines, and both verdicts, were exercised.
    assert {r.baseline for r in alone} == {"CMIG4.SA", "PETR4.SA", "overall"}
    assert {r.statistics[0].drift for r in alone} == {True, False}


def test_ties_and_windows_outside_the_baseline_agree_too() -> None:
    rng = np.random.default_rng(7)
    base = ReturnBaseline(np.round(rng.normal(0.0, 0.02, 800), 3), 1.0, 100.0)
    flat = np.full(59, 0.0)  # a suspended stock: every return the same
    rounded = np.round(rng.normal(0.0, 0.02, 59), 2)  # many ties, also with the baseline's
    above = np.abs(rng.normal(0.5, 0.01, 59))  # every return above the baseline's largest
    below = -above  # and below its smallest
    mixed = np.concatenate([np.full(30, base.sorted_returns[0]), np.full(29, 1.0)])
    samples = np.stack([flat, rounded, above, below, mixed, rng.normal(0.0, 0.02, 59)])
    d, p = ks_many(samples, base)
    for i, sample in enumerate(samples):
        assert (d[i].hex(), p[i].hex()) == tuple(x.hex() for x in ks_two_sample(sample, base))
    assert d[2] == d[3] == 1.0


def test_a_report_does_not_depend_on_the_rest_of_its_batch() -> None:
    rng = np.random.default_rng(1)
    baselines = build_baselines({"AAA": 100 * np.exp(np.cumsum(rng.normal(0, 0.015, 900)))})
    windows = 50 * np.exp(np.cumsum(rng.normal(0, 0.03, (40, WINDOW)), axis=1))
    tickers = ["AAA", "ZZZ"] * 20
    together = assess_drift_many(windows, baselines, DriftSettings(), tickers)
    apart = [
        assess_drift_many(windows[i : i + 1], baselines, DriftSettings(), tickers[i : i + 1])[0]
        for i in range(len(windows))
    ]
    assert_same(together, apart)
