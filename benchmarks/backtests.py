"""Backtest figures of issue 5, measured in one run.

Run: `make bench-backtest`. A champion trained on CMIG4.SA 2018-2022 (validation 2023) in a
temporary store; then:
- CMIG4.SA 2018-2024: the stream engine's wall time, broker start included, beside the
  local engine's;
- MASE, direction accuracy and the Diebold-Mariano p-value for CMIG4 over 2024, and for the
  five tickers in ../shared/data.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
import warnings
from datetime import date
from pathlib import Path

from model_core import print_table  # benchmarks/ is on sys.path when run as a script

from backtest.run import BacktestRequest, run_backtest
from core.config import Settings
from model.training import train
from producers.sources import load_prices

DEFAULT_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
FIVE = ["CMIG4.SA", "PETR4.SA", "VALE3.SA", "ITUB4.SA", "BBDC4.SA"]


def timed(settings: Settings, request: BacktestRequest) -> tuple[dict, float]:
    started = time.perf_counter()
    report = run_backtest(settings, request, lambda _: None)
    return report, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    source = f"csv:{args.data}"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        settings = Settings(
            data={"dir": root}, mlflow={"tracking_uri": f"sqlite:///{root}/mlflow.db"}
        )
        cmig = load_prices(
            source, ["CMIG4.SA"], settings.data, date(2018, 1, 2), date(2024, 12, 30)
        )
        train(
            cmig,
            settings,
            valid_start=date(2023, 1, 1),
            test_start=date(2024, 1, 1),
            progress=False,
        )
        full = (date(2018, 4, 2), date(2024, 12, 30))  # the first 60 closes fill the window
        stream, stream_s = timed(
            settings, BacktestRequest(source, ["CMIG4.SA"], *full, engine="stream")
        )
        local, local_s = timed(
            settings, BacktestRequest(source, ["CMIG4.SA"], *full, engine="local")
        )
        n = stream["metrics"]["CMIG4.SA"]["n"]
        rows.append(
            (
                "CMIG4 2018-2024, stream engine (broker start included)",
                f"{stream_s:.1f} s ({n} forecasts)",
                "<= 15 s",
                "yes" if stream_s <= 15 else "NO",
            )
        )
        rows.append(
            (
                "CMIG4 2018-2024, local engine",
                f"{local_s:.1f} s ({local['metrics']['CMIG4.SA']['n']} forecasts)",
                "<= 3 s",
                "yes" if local_s <= 3 else "NO",
            )
        )
        same = stream["metrics"]["CMIG4.SA"]["mae"] == local["metrics"]["CMIG4.SA"]["mae"]
        rows.append(
            (
                "engines agree (CMIG4 MAE)",
                f"stream {stream['metrics']['CMIG4.SA']['mae']:.6f}",
                f"local {local['metrics']['CMIG4.SA']['mae']:.6f}",
                "yes" if same else "close",
            )
        )
        for label, tickers in (("CMIG4 2024", ["CMIG4.SA"]), ("five tickers 2024", FIVE)):
            report, _ = timed(
                settings,
                BacktestRequest(
                    source, tickers, date(2024, 1, 2), date(2024, 12, 30), engine="local"
                ),
            )
            for ticker, m in report["metrics"].items():
                if label.startswith("CMIG4") and ticker == "overall":
                    continue
                rows.append(
                    (
                        f"{label}: {ticker}",
                        f"MASE {m['mase']:.4f}, direction {m['direction_accuracy']:.1%}, "
                        f"DM p {m['dm_pvalue']:.3f} (stat {m['dm_statistic']:+.2f})",
                        f"naive MASE 1; coin flip 50%; {m['drift_alerts']} drift alerts",
                        "",
                    )
                )
    print_table(
        "tickcast backtests (issue 5) - all figures measured in this run",
        ("figure", "measured", "reference / goal", "met"),
        rows,
    )


if __name__ == "__main__":
    main()
