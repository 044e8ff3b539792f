"""Report plots, per ticker: a fan chart of the intervals against the actual closes, and a
reliability diagram (nominal level against how often the close fell at or below it).

Importing this module loads matplotlib (about 0.3 s): callers that may not draw import it
only when they do. Figures are built without pyplot, whose global figure registry a
command that writes files never needs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from model.intervals import LEVELS, binomial_band
from model.reports import Scored


def figure(width: float, height: float) -> tuple[Figure, Axes]:
    """A figure with one axes, drawn by Agg whatever backend the process chose."""
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def save(fig: Figure, ax: Axes, title: str, path: Path, fontsize: float = 12) -> Path:
    """Title, legend and grid the way every report plot has them; write the PNG."""
    ax.set_title(title, fontsize=fontsize)
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    return path


#: The line every forecast chart sets the model against: tomorrow's close is today's.
NAIVE_LABEL = "naive (tomorrow = today)"


def plot_naive(ax: Axes, dates: np.ndarray, last: np.ndarray) -> None:
    """Naive persistence, at each target date the close it was forecast from."""
    ax.plot(dates, last, color="tab:orange", lw=0.8, ls="--", label=NAIVE_LABEL)


def draw_fan(ax: Axes, scored: Scored, ticker: str) -> None:
    """The intervals, the actual closes, the model's forecast and naive, at target dates."""
    part = scored.take(scored.ticker == ticker)
    dates = part.target_date.astype("datetime64[ns]")
    prices = part.last[:, None] * np.exp(part.quantiles)
    ax.fill_between(dates, prices[:, 0], prices[:, -1], color="tab:blue", alpha=0.12, label="95%")
    ax.fill_between(dates, prices[:, 1], prices[:, -2], color="tab:blue", alpha=0.25, label="80%")
    ax.plot(dates, part.actual, color="black", lw=1.1, label="actual close")
    plot_naive(ax, dates, part.last)
    ax.plot(dates, part.point, color="tab:blue", lw=0.9, label="forecast")


def fan_chart(scored: Scored, ticker: str, path: Path, title: str) -> Path:
    fig, ax = figure(11, 3.6)
    draw_fan(ax, scored, ticker)
    return save(fig, ax, f"{ticker}: next-close forecasts and intervals, {title}", path)


def reliability_diagram(scored: Scored, ticker: str, path: Path, title: str) -> Path:
    part = scored.take(scored.ticker == ticker)
    y = np.log(part.actual / part.last)
    observed = (y[:, None] <= part.quantiles).mean(axis=0)
    bands = np.array([binomial_band(len(part), level) for level in LEVELS])
    fig, ax = figure(4.6, 4.4)
    ax.fill_between(LEVELS, bands[:, 0], bands[:, 1], color="grey", alpha=0.2, label="binomial 95%")
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls=":")
    ax.plot(LEVELS, observed, "o-", color="tab:blue", label="model")
    ax.set_xlabel("nominal level")
    ax.set_ylabel("share of closes at or below the quantile")
    return save(fig, ax, f"{ticker}: reliability, {title}", path, fontsize=9)


def report_plots(scored: Scored, folder: Path, title: str) -> list[Path]:
    """A fan chart and a reliability diagram per ticker, as PNG files in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for ticker, rows in scored.groups().items():
        part = scored.take(rows)  # each chart then reads only its own ticker's rows
        paths.append(fan_chart(part, ticker, folder / f"{ticker}.fan.png", title))
        paths.append(reliability_diagram(part, ticker, folder / f"{ticker}.reliability.png", title))
    return paths
