"""Backtest figures of issue 5, measured in one run.

Run: `make bench-backtest`. A champion trained on CMIG4.SA 2018-2022 (validation 2023) in a
temporary store; then:
- CMIG4.SA 2018-2024: the stream engine's wall time, broker start included, beside the
  local engine's;
- MASE, direction accuracy and the Diebold-Mariano p-value for CMIG4 over 2024, and for the
  five tickers in ../shared/data.
"""

from __future__ import annotations

import time
from datetime import date

from common import (  # benchmarks/ is on sys.path when run as a script
    END,
    FIVE,
    Report,
    arguments,
    temporary_settings,
    train_on,
)

from backtest.run import BacktestRequest, run_backtest
from core.config import Settings


def timed(settings: Settings, request: BacktestRequest) -> tuple[dict, float]:
    """The backtest's report and its wall time in seconds, everything included."""
    started = time.perf_counter()
    report = run_backtest(settings, request, lambda _: None)
    return report, time.perf_counter() - started


def main() -> None:
    args = arguments(__doc__)
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
    report.print()


if __name__ == "__main__":
    main()
