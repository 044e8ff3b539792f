"""Model-core figures of issue 2, each printed beside its reference, all measured in one run.

Run: `make bench` (or `.venv/bin/python benchmarks/model_core.py [--data DIR]`).
Data: ../shared/data. Train 2018-01-02..2022-12-30, validation 2023, test 2024, default
hyperparameters. Everything goes to a temporary MLflow store, not the user's.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
from common import (  # benchmarks/ is on sys.path when run as a script
    END,
    FIVE,
    TEST_START,
    VALID_START,
    Report,
    arguments,
    temporary_settings,
    throughput,
    train_on,
)

from model.drift import assess_drift
from model.evaluation import windows_in_range
from model.metrics import score
from model.predictor import Predictor

STUDENT_MASE, STUDENT_TRAIN_S, STUDENT_EPOCHS = 2.59, 28.0, 50
BATCH = 256


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
    args = arguments(__doc__)
    report = Report("tickcast model core (issue 2)")
    with temporary_settings() as settings:
        started = time.perf_counter()
        cmig, single = train_on(settings, args.data, ["CMIG4.SA"])
        wall = time.perf_counter() - started
        test = single.metrics["CMIG4.SA"]
        test_windows = windows_in_range(cmig, settings.model.window, TEST_START, END)
        moved = np.sign(test_windows.target - test_windows.last)
        up = float(np.mean(moved[moved != 0] > 0))  # direction accuracy of always guessing 'up'
        report.add(
            "CMIG4 test MASE (2024)",
            f"{test.mase:.4f} (shrink weight {test.shrink:.2f})",
            f"student {STUDENT_MASE}; naive 1.0000; unshrunk network {test.mase_unshrunk:.4f}; "
            "goal <= 1.00",
            test.mase <= 1.0,
        )
        report.add(
            "CMIG4 test MAPE", f"{test.mape:.3f}%", f"naive {test.naive_mape:.3f}% (same days)"
        )
        report.add(
            "CMIG4 direction accuracy",
            f"{test.direction_accuracy:.1%}",
            f"coin flip 50%; always 'up' {up:.1%}",
        )
        report.add(
            "training wall time (CSV -> registered)",
            f"{wall:.1f} s, {single.epochs} epochs ({single.train_seconds:.1f} s fitting)",
            f"student {STUDENT_TRAIN_S:.0f} s for {STUDENT_EPOCHS} epochs; goal <= 60 s",
            wall <= 60,
        )

        predictor = Predictor.load(settings, single.model_version)
        windows = windows_in_range(cmig, predictor.window, TEST_START, END)
        moves = np.log(windows.target / windows.last)
        forecast = predictor.bundle.predict_distribution(windows.closes, windows.bars).location
        report.add(
            "CMIG4 network location spread (std, unshrunk)",
            f"{forecast.std():.5f}",
            f"actual {moves.std():.5f}; correlation {np.corrcoef(forecast, moves)[0, 1]:.3f}",
        )
        rate = throughput(predictor, windows.closes, BATCH)
        p50, p99 = latencies_ms(predictor, windows.closes[0])
        report.add(
            f"Predictor.predict, batches of {BATCH}",
            f"{rate:,.0f} forecasts/s",
            f"single window: p50 {p50:.2f} ms, p99 {p99:.2f} ms; goal >= 5,000/s",
            rate >= 5000,
        )

        flagged = [
            assess_drift(c, predictor.bundle.baselines, settings.drift, "CMIG4.SA")
            for c in windows.closes
        ]
        share = np.mean([r.drift for r in flagged])
        notes = np.mean([bool(r.notes) for r in flagged])
        report.add(
            "CMIG4 2024 windows flagged as drift",
            f"{share:.1%}",
            f"student's level check: 100%; level notes here: {notes:.0%}",
        )

        five, multi = train_on(settings, args.data, FIVE, promote=False)
        report.add(
            "5-ticker model: CMIG4 test MASE",
            f"{multi.metrics['CMIG4.SA'].mase:.4f}",
            f"single-ticker model {test.mase:.4f}",
        )
        # "Naive + drift": tomorrow = today x exp(mean training log return). No learning at all.
        train_windows = windows_in_range(five, settings.model.window, None, VALID_START)
        drift = float(np.mean(np.log(train_windows.target / train_windows.last)))
        test_windows = windows_in_range(five, settings.model.window, TEST_START, END)
        drifted = score(test_windows.last, test_windows.target, test_windows.last * np.exp(drift))
        overall = multi.metrics["overall"]
        report.add(
            "5-ticker model: overall test MASE",
            f"{overall.mase:.4f}",
            f"naive 1.0000; naive + training drift {drifted.mase:.4f} on {overall.n} days",
        )
        report.add(
            "5-ticker model: overall direction",
            f"{overall.direction_accuracy:.1%}",
            "coin flip 50%",
        )
    report.print()


if __name__ == "__main__":
    main()
