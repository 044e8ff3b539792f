"""The drift settings' evidence, measured in one run (`make bench-drift`).

- Volatility-ratio bounds: the ratio's spread over 2018-2022 training windows of five tickers.
- Alert hysteresis: seeded regime changes (calm, 80 closes at 4x volatility, calm) that give
  exactly one `entered` and one `recovered` alert, for the default and for (1, 5).
- The fast KS p-value against scipy's exact one: speed and largest difference.
"""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import numpy as np
from common import (  # benchmarks/ is on sys.path when run as a script
    FIVE,
    START,
    Report,
    arguments,
    temporary_settings,
)
from scipy import stats

from core.config import DriftSettings
from model.drift import ReturnBaseline, assess_drift, build_baselines, ks_two_sample
from model.features import log_returns
from producers.sources import load_prices
from streams.alerts import DriftState, step

WINDOW, SEEDS = 60, 200


def vol_ratio_spread(data_dir: Path) -> np.ndarray:
    """Each training window's return volatility over its ticker's whole training volatility."""
    with temporary_settings() as settings:
        data = load_prices(f"csv:{data_dir}", FIVE, settings.data, START, date(2022, 12, 30))
    ratios = []
    for frame in data.frames.values():
        closes = frame["close"].to_numpy()
        baseline_std = log_returns(closes).std(ddof=1)
        windows = np.lib.stride_tricks.sliding_window_view(closes, WINDOW)
        ratios.append(log_returns(windows).std(axis=1, ddof=1) / baseline_std)
    return np.concatenate(ratios)


def clean_regime_changes(enter_after: int, recover_after: int) -> float:
    """Share of seeds whose one regime change gives exactly [entered, recovered]."""
    settings = DriftSettings(enter_after=enter_after, recover_after=recover_after)
    clean = 0
    for seed in range(SEEDS):
        rng = np.random.default_rng(seed)
        baselines = build_baselines({"X": 20 * np.exp(np.cumsum(rng.normal(0, 0.01, 1200)))})
        vol = np.r_[np.full(150, 0.01), np.full(80, 0.04), np.full(200, 0.01)]
        closes = 20 * np.exp(np.cumsum(rng.normal(0, 1, vol.size) * vol))
        state, alerts = DriftState(), []
        for end in range(WINDOW, closes.size + 1):
            report = assess_drift(closes[end - WINDOW : end], baselines, settings, "X")
            state, alert = step(state, report.drift, enter_after, recover_after)
            alerts += [alert] if alert else []
        clean += alerts == ["entered", "recovered"]
    return clean / SEEDS


def ks_speed() -> tuple[float, float, float]:
    """Microseconds per p-value, fast and scipy's exact, and their largest difference."""
    rng = np.random.default_rng(0)
    baseline = ReturnBaseline(rng.standard_t(4, 1200) * 0.02, 1.0, 2.0)
    windows = [rng.standard_t(4, 59) * 0.02 * rng.uniform(0.4, 2.5) for _ in range(300)]
    started = time.perf_counter()
    fast = [ks_two_sample(w, baseline)[1] for w in windows]
    fast_us = (time.perf_counter() - started) / len(windows) * 1e6
    started = time.perf_counter()
    exact = [stats.ks_2samp(w, baseline.returns).pvalue for w in windows]
    exact_us = (time.perf_counter() - started) / len(windows) * 1e6
    return fast_us, exact_us, float(np.max(np.abs(np.subtract(fast, exact))))


def main() -> None:
    args = arguments(__doc__)
    report = Report("tickcast drift settings")
    ratios = vol_ratio_spread(args.data)
    p5, p95 = np.percentile(ratios, [5, 95])
    inside = np.mean((ratios >= 0.5) & (ratios <= 2.0))
    report.add(
        "volatility ratio, 2018-2022 training windows, 5 tickers",
        f"5th-95th percentile {p5:.2f}-{p95:.2f}; {inside:.1%} inside [0.5, 2.0]",
        f"{ratios.size:,} windows",
    )
    default = DriftSettings()
    report.add(
        f"regime changes with exactly one entered + one recovered ({SEEDS} seeds)",
        f"enter {default.enter_after} / recover {default.recover_after}: "
        f"{clean_regime_changes(default.enter_after, default.recover_after):.0%}",
        f"enter 1 / recover 5: {clean_regime_changes(1, 5):.0%}",
    )
    fast_us, exact_us, worst = ks_speed()
    report.add(
        "KS p-value per window (59 vs 1,200 returns)",
        f"fast {fast_us:.0f} us (max |p - exact| {worst:.3f})",
        f"scipy exact {exact_us:.0f} us ({exact_us / fast_us:.1f}x slower)",
    )
    report.print()


if __name__ == "__main__":
    main()
