"""Model-core figures of issue 2, each printed beside its reference, all measured in one run.

Run: `make bench` (or `.venv/bin/python benchmarks/model_core.py [--data DIR]`).
Data: ../shared/data. Train 2018-01-02..2022-12-30, validation 2023, test 2024, default
hyperparameters. Everything goes to a temporary MLflow store, not the user's.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
import warnings
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from core.config import Settings
from model.drift import assess_drift
from model.evaluation import score_by_ticker, windows_in_range
from model.predictor import Predictor
from model.training import train
from producers.sources import load_prices

logger = logging.getLogger(__name__)

DEFAULT_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
FIVE = ["CMIG4.SA", "PETR4.SA", "VALE3.SA", "ITUB4.SA", "BBDC4.SA"]
START, END = date(2018, 1, 2), date(2024, 12, 30)
VALID_START, TEST_START = date(2023, 1, 1), date(2024, 1, 1)
STUDENT_MASE, STUDENT_TRAIN_S, STUDENT_EPOCHS = 2.59, 28.0, 50
BATCH = 256


@dataclass
class Row:
    figure: str
    measured: str
    reference: str
    goal: str
    ok: bool | None = None


def rss_mb(pid: int) -> float:
    """Resident memory of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def print_table(title: str, columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    """One table of figures; every benchmark prints its results this way."""
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    Console(width=170).print(table)


def throughput(
    predictor: Predictor, windows: np.ndarray, batch: int = BATCH, seconds: float = 3.0
) -> float:
    """Forecasts per second over batches of `batch` windows, after a warm-up."""
    chunk = np.resize(windows, (batch, windows.shape[1]))
    predictor.predict(chunk)
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        predictor.predict(chunk)
        done += batch
    return done / (time.perf_counter() - started)


def latencies_ms(predictor: Predictor, window: np.ndarray, runs: int = 300) -> tuple[float, float]:
    """p50 and p99 of one-window predict calls, validation included."""
    predictor.predict([window])
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        predictor.predict([window])
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), float(np.percentile(samples, 99))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="Folder of TICKER.csv")
    args = parser.parse_args()
    if not args.data.is_dir():
        raise SystemExit(f"{args.data}: no such folder; the benchmark needs ../shared/data")
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    source = f"csv:{args.data}"
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            data={"dir": Path(tmp)}, mlflow={"tracking_uri": f"sqlite:///{tmp}/mlflow.db"}
        )
        rows: list[Row] = []

        cmig = load_prices(source, ["CMIG4.SA"], settings.data, START, END)
        started = time.perf_counter()
        single = train(
            cmig, settings, valid_start=VALID_START, test_start=TEST_START, progress=False
        )
        wall = time.perf_counter() - started
        test = single.test["CMIG4.SA"]
        test_windows = windows_in_range(cmig, settings.model.window, TEST_START, END)
        moved = np.sign(test_windows.target - test_windows.last)
        up = float(np.mean(moved[moved != 0] > 0))  # direction accuracy of always guessing 'up'
        rows += [
            Row(
                "CMIG4 test MASE (2024)",
                f"{test.mase:.4f}",
                f"student {STUDENT_MASE}; naive 1.0000",
                "<= 1.00",
                test.mase <= 1.0,
            ),
            Row(
                "CMIG4 test MAPE",
                f"{test.mape:.3f}%",
                f"naive {test.naive_mape:.3f}% (same days)",
                "-",
            ),
            Row(
                "CMIG4 direction accuracy",
                f"{test.direction_accuracy:.1%}",
                f"coin flip 50%; always 'up' {up:.1%}",
                "-",
            ),
            Row(
                "training wall time (data -> registered)",
                f"{wall:.1f} s, {single.epochs} epochs ({single.train_seconds:.1f} s fitting)",
                f"student {STUDENT_TRAIN_S:.0f} s for {STUDENT_EPOCHS} epochs",
                "<= 60 s",
                wall <= 60,
            ),
        ]

        predictor = Predictor.load(settings, single.model_version)
        windows = windows_in_range(cmig, predictor.window, TEST_START, END)
        moves = np.log(windows.target / windows.last)
        forecast = predictor.predict_returns(windows.closes)
        rows.append(
            Row(
                "CMIG4 forecast log-return spread (std)",
                f"{forecast.std():.5f}",
                f"actual {moves.std():.5f}; correlation {np.corrcoef(forecast, moves)[0, 1]:.3f}",
                "-",
            )
        )
        rate = throughput(predictor, windows.closes)
        p50, p99 = latencies_ms(predictor, windows.closes[0])
        rows += [
            Row(
                f"Predictor.predict, batches of {BATCH}",
                f"{rate:,.0f} forecasts/s",
                f"single window: p50 {p50:.2f} ms, p99 {p99:.2f} ms",
                ">= 5,000/s",
                rate >= 5000,
            ),
        ]

        flagged = [
            assess_drift(c, predictor.drift_baseline, settings.drift, "CMIG4.SA")
            for c in windows.closes
        ]
        share = np.mean([r.drift for r in flagged])
        notes = np.mean([bool(r.notes) for r in flagged])
        rows.append(
            Row(
                "CMIG4 2024 windows flagged as drift",
                f"{share:.1%}",
                f"student's level check: 100%; level notes here: {notes:.0%}",
                "-",
            )
        )

        five = load_prices(source, FIVE, settings.data, START, END)
        multi = train(
            five,
            settings,
            valid_start=VALID_START,
            test_start=TEST_START,
            progress=False,
            promote=False,
        )
        rows.append(
            Row(
                "5-ticker model: CMIG4 test MASE",
                f"{multi.test['CMIG4.SA'].mase:.4f}",
                f"single-ticker model {test.mase:.4f}",
                "-",
            )
        )
        # "Naive + drift": tomorrow = today x exp(mean training log return). No learning at all.
        train_windows = windows_in_range(five, settings.model.window, None, VALID_START)
        drift = float(np.mean(np.log(train_windows.target / train_windows.last)))
        test_windows = windows_in_range(five, settings.model.window, TEST_START, END)
        drifted = score_by_ticker(test_windows, test_windows.last * np.exp(drift))["overall"]
        rows.append(
            Row(
                "5-ticker model: overall test MASE",
                f"{multi.test['overall'].mase:.4f}",
                f"naive 1.0000; naive + training drift {drifted.mase:.4f} "
                f"on {multi.test['overall'].n} days",
                "-",
            )
        )
        rows.append(
            Row(
                "5-ticker model: overall direction",
                f"{multi.test['overall'].direction_accuracy:.1%}",
                "coin flip 50%",
                "-",
            )
        )

    print_table(
        "tickcast model core (issue 2) - all figures measured in this run",
        ("figure", "measured", "reference", "goal", "met"),
        [
            (
                r.figure,
                r.measured,
                r.reference,
                r.goal,
                "" if r.ok is None else ("yes" if r.ok else "NO"),
            )
            for r in rows
        ],
    )


if __name__ == "__main__":
    main()
