"""The backtest's PNGs: per ticker, its forecasts against naive and the actual closes with drift
shaded, then the fan chart and reliability diagram every report draws.

Imported only when plots are written: matplotlib alone costs about 0.3 s of start-up.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.axes import Axes

from backtest.scoring import drift_mask
from model.plots import figure, plot_naive, report_plots, save
from model.reports import Scored
from schemas.messages import DriftAlert


def draw_ticker(ax: Axes, rows: pd.DataFrame, alerts: list[DriftAlert], ticker: str) -> None:
    """Actual closes, the model's forecast and naive's at each target date, drift shaded."""
    part = rows[rows["ticker"] == ticker].sort_values("date")
    dates = pd.to_datetime(part["date"])
    ax.plot(dates, part["actual"], color="black", lw=1.1, label="actual close")
    plot_naive(ax, dates, part["last"])
    ax.plot(dates, part["forecast"], color="tab:blue", lw=0.9, label="forecast")
    inside = drift_mask(
        part["as_of"].to_numpy(),
        [(a.as_of, a.state) for a in alerts if a.ticker == ticker and a.kind == "data"],
    )
    ax.fill_between(
        dates,
        0,
        1,
        where=inside,
        transform=ax.get_xaxis_transform(),
        color="tab:red",
        alpha=0.12,
        label="drift",
    )


def plot_ticker(rows: pd.DataFrame, alerts: list[DriftAlert], ticker: str, path: Path) -> Path:
    fig, ax = figure(11, 3.6)
    draw_ticker(ax, rows, alerts, ticker)
    return save(fig, ax, f"{ticker}: forecast vs naive and actual", path)


def write_plots(
    rows: pd.DataFrame, scored: Scored, alerts: list[DriftAlert], out: Path, title: str
) -> list[Path]:
    """Every ticker's three PNGs in `out`; `scored` is `rows` as the report figures read them.

    Each ticker's rows and alerts are picked out once, so the cost follows the rows drawn."""
    by_ticker: dict[str, list[DriftAlert]] = {}
    for alert in alerts:
        by_ticker.setdefault(alert.ticker, []).append(alert)
    paths = [
        plot_ticker(part, by_ticker.get(str(ticker), []), str(ticker), out / f"{ticker}.png")
        for ticker, part in rows.groupby("ticker", sort=True)
    ]
    return paths + report_plots(scored, out, title)
