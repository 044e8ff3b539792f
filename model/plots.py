"""Predicted-vs-actual chart over the test period, one panel per ticker."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from model.windows import WindowSet


def forecast_plot(windows: WindowSet, predicted: np.ndarray, path: Path, title: str) -> Path:
    tickers = list(dict.fromkeys(windows.ticker.tolist()))
    fig, axes = plt.subplots(len(tickers), 1, figsize=(11, 3.2 * len(tickers)), squeeze=False)
    for ax, ticker in zip(axes[:, 0], tickers, strict=True):
        mask = windows.ticker == ticker
        dates = windows.target_date[mask].astype("datetime64[ns]")
        ax.plot(dates, windows.target[mask], label="actual close", color="black", lw=1.2)
        ax.plot(dates, predicted[mask], label="forecast (D+1)", color="tab:blue", lw=1.0)
        ax.plot(dates, windows.last[mask], label="naive (today)", color="tab:gray", lw=0.8, ls=":")
        ax.set_title(f"{ticker}: {title}")
        ax.legend(loc="upper left", fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
