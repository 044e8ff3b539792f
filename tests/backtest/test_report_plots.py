"""The report charts set the model beside naive persistence, in the lines and the legend."""

from __future__ import annotations

from datetime import date

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from backtest.plots import draw_ticker, plot_ticker
from backtest.report import QUANTILES, as_scored
from model.plots import NAIVE_LABEL, draw_fan, fan_chart
from schemas.messages import DriftAlert

DAYS = [date(2024, 1, d) for d in (2, 3, 4, 5, 8)]
CLOSES = [10.0, 10.4, 10.1, 10.6, 10.9, 11.2]  # the close of each as_of, then one more


def rows(ticker: str = "AAA") -> pd.DataFrame:
    """One scored forecast per day: as_of DAYS[i], target DAYS[i + 1]."""
    n = len(DAYS) - 1
    frame = pd.DataFrame(
        {
            "ticker": ticker,
            "as_of": DAYS[:n],
            "date": DAYS[1:],
            "last": CLOSES[:n],
            "forecast": [c * 1.01 for c in CLOSES[:n]],
            "actual": CLOSES[1 : n + 1],
            "location": np.nan,
        }
    )
    for q, value in zip(QUANTILES, (-0.04, -0.02, 0.0, 0.02, 0.04), strict=True):
        frame[q] = value
    return frame


def lines(ax: plt.Axes) -> dict[str, np.ndarray]:
    return {line.get_label(): np.asarray(line.get_ydata(), dtype=float) for line in ax.lines}


def legend(ax: plt.Axes) -> list[str]:
    return ax.get_legend_handles_labels()[1]


@pytest.fixture
def ax():
    fig, axes = plt.subplots()
    yield axes
    plt.close(fig)


def test_the_backtest_chart_draws_naive_at_the_last_close(ax) -> None:
    other = rows("BBB").assign(last=1.0)  # another ticker's rows stay off this chart
    alert = DriftAlert(
        ticker="AAA",
        as_of=DAYS[1],
        state="entered",
        statistics=[],
        model_name="m",
        model_version="1",
    )
    draw_ticker(ax, pd.concat([rows(), other]), [alert], "AAA")
    drawn = lines(ax)
    assert set(drawn) == {"actual close", NAIVE_LABEL, "forecast"}
    assert drawn[NAIVE_LABEL].tolist() == CLOSES[:4]  # tomorrow's forecast is today's close
    assert drawn["actual close"].tolist() == CLOSES[1:5]
    assert legend(ax) == ["actual close", NAIVE_LABEL, "forecast", "drift"]


def test_the_fan_chart_draws_naive_beside_the_model(ax) -> None:
    draw_fan(ax, as_scored(rows()), "AAA")
    drawn = lines(ax)
    assert drawn[NAIVE_LABEL].tolist() == CLOSES[:4]
    assert NAIVE_LABEL in legend(ax) and "forecast" in legend(ax)


def test_both_charts_write_their_png(tmp_path) -> None:
    backtest = plot_ticker(rows(), [], "AAA", tmp_path / "AAA.png")
    fan = fan_chart(as_scored(rows()), "AAA", tmp_path / "AAA.fan.png", "test")
    for path in (backtest, fan):
        assert path.read_bytes().startswith(b"\x89PNG")
