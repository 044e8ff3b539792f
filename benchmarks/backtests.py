"""Backtest figures of issue 5, measured in one run.

Run: `make bench-backtest`. A champion trained on CMIG4.SA 2018-2022 (validation 2023) in a
temporary store; then:
- CMIG4.SA 2018-2024: the stream engine's wall time, broker start included, beside the
  local engine's;
- MASE, direction accuracy and the Diebold-Mariano p-value for CMIG4 over 2024, and for the
  five tickers in ../shared/data;
- issue 15: `tickcast backtest --engine local` over N synthetic tickers for one year (2024),
  timed as a whole process, for each N of `--tickers` (default 100,1000): the seconds, the
  cost per ticker (flat when the cost is linear in tickers), beside the issue's 245 s and the
  60 s goal at 1,000. Plots are skipped above TICKCAST_BACKTEST__MAX_PLOTS (20) tickers. Each
  is a first run on its prices: no GARCH fit kept on disk from an earlier one.

Whole-command timings (`--help`, evaluate, both engines, beside commit d5c4046) are in
benchmarks/commands.py.
"""

from __future__ import annotations

import shutil
import time
from datetime import date

from common import (  # benchmarks/ is on sys.path when run as a script
    END,
    FIVE,
    Report,
    arguments,
    local_backtest,
    temporary_settings,
    train_on,
)

from backtest.run import BacktestRequest, run_backtest
from core.config import Settings
from model.baselines import GARCH_FITS
from model.training import train
from producers.sources import load_prices

YEAR = ("2024-01-02", "2024-12-30")
ISSUE_1000_S, GOAL_1000_S = 245.0, 60.0
SYNTHETIC_EPOCHS = 3  # the model's quality does not matter here, only its shape


def timed(settings: Settings, request: BacktestRequest) -> tuple[dict, float]:
    """The backtest's report and its wall time in seconds, everything included."""
    started = time.perf_counter()
    report = run_backtest(settings, request, lambda _: None)
    return report, time.perf_counter() - started


def many_tickers(settings: Settings, sizes: list[int], report: Report) -> None:
    """`tickcast backtest --engine local` over N synthetic tickers, one year, whole process."""
    quick = settings.model_copy(
        update={"model": settings.model.model_copy(update={"max_epochs": SYNTHETIC_EPOCHS})}
    )
    prices = load_prices(
        "synthetic", ["SYNA", "SYNB"], quick.data, date(2018, 1, 2), date(2023, 12, 29)
    )
    train(prices, quick, progress=False)  # takes the synthetic alias: the first of the store
    per_ticker = {}
    for n in sizes:
        # The first backtest of these prices: no GARCH fit kept from an earlier run.
        shutil.rmtree(settings.data.cache_dir / GARCH_FITS, ignore_errors=True)
        seconds, done = local_backtest(settings, [f"S{i:04d}" for i in range(n)], *YEAR)
        if done.returncode != 0:
            report.add(
                f"local backtest, {n} synthetic tickers, one year",
                "failed",
                done.stderr[-160:],
                False,
            )
            continue
        per_ticker[n] = seconds / n
        goal = f"<= {GOAL_1000_S:.0f} s; issue {ISSUE_1000_S:.0f} s" if n == 1000 else ""
        report.add(
            f"local backtest, {n} synthetic tickers, one year (whole command)",
            f"{seconds:.1f} s ({1000 * seconds / n:.0f} ms per ticker)",
            goal,
            seconds <= GOAL_1000_S if n == 1000 else None,
        )
    if len(per_ticker) >= 2:
        small, large = min(per_ticker), max(per_ticker)
        ratio = per_ticker[large] / per_ticker[small]
        report.add(
            f"cost per ticker at {large} over at {small} tickers",
            f"{ratio:.2f}",
            "about 1 or below when linear (start-up spreads over more tickers)",
            ratio <= 1.25,
        )


def main() -> None:
    args = arguments(__doc__, tickers="100,1000")
    source = f"csv:{args.data}"
    report = Report("tickcast backtests (issue 5)")
    with temporary_settings() as settings:
        train_on(settings, args.data, ["CMIG4.SA"])
        full = (date(2018, 4, 2), END)  # the first 60 closes fill the window
        stream, stream_s = timed(
            settings, BacktestRequest(source, ["CMIG4.SA"], *full, engine="stream")
        )
        local, local_s = timed(
            settings, BacktestRequest(source, ["CMIG4.SA"], *full, engine="local")
        )
        by_stream, by_local = stream["metrics"]["CMIG4.SA"], local["metrics"]["CMIG4.SA"]
        report.add(
            "CMIG4 2018-2024, stream engine (broker start included)",
            f"{stream_s:.1f} s ({by_stream['n']} forecasts)",
            "<= 15 s",
            stream_s <= 15,
        )
        report.add(
            "CMIG4 2018-2024, local engine",
            f"{local_s:.1f} s ({by_local['n']} forecasts)",
            "<= 3 s",
            local_s <= 3,
        )
        # One forecast path, one window per network call: both engines give the same bits.
        report.add(
            "engines agree (CMIG4 MAE, to the bit)",
            f"stream {by_stream['mae']:.6f}",
            f"local {by_local['mae']:.6f}",
            by_stream["mae"] == by_local["mae"],
        )
        for label, tickers in (("CMIG4 2024", ["CMIG4.SA"]), ("five tickers 2024", FIVE)):
            scored, _ = timed(
                settings,
                BacktestRequest(source, tickers, date(2024, 1, 2), END, engine="local"),
            )
            for ticker, m in scored["metrics"].items():
                if label.startswith("CMIG4") and ticker == "overall":
                    continue
                report.add(
                    f"{label}: {ticker}",
                    f"MASE {m['mase']:.4f}, direction {m['direction_accuracy']:.1%}, "
                    f"DM p {m['dm_pvalue']:.3f} (stat {m['dm_statistic']:+.2f})",
                    f"naive MASE 1; coin flip 50%; {m['drift_alerts']} drift alerts",
                )
        sizes = [int(n) for n in str(args.tickers).split(",") if n.strip()]
        if sizes:
            many_tickers(settings, sizes, report)
    report.print()


if __name__ == "__main__":
    main()
