"""The backtest report: figures per ticker and overall, as JSON, Markdown and one PNG per ticker."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from backtest.scoring import drift_mask
from core.errors import InputError
from model.metrics import diebold_mariano, mae, score
from schemas.messages import DriftAlert, Forecast

OVERALL = "overall"


def scored_frame(
    forecasts: list[Forecast], frames: dict[str, pd.DataFrame], start, end
) -> pd.DataFrame:
    """One row per forecast whose next actual close falls in [start, end]."""
    rows = []
    for ticker, frame in frames.items():
        dates = frame["date"].dt.date.to_numpy()
        closes = frame["close"].to_numpy()
        position = {d: i for i, d in enumerate(dates)}
        for f in (f for f in forecasts if f.ticker == ticker):
            i = position.get(f.as_of)
            if i is None or i + 1 >= len(dates) or not (start <= dates[i + 1] <= end):
                continue
            rows.append(
                {
                    "ticker": ticker,
                    "as_of": f.as_of,
                    "date": dates[i + 1],
                    "last": f.last_close,
                    "forecast": f.predicted_close,
                    "actual": closes[i + 1],
                }
            )
    return pd.DataFrame(rows, columns=["ticker", "as_of", "date", "last", "forecast", "actual"])


def _figures(rows: pd.DataFrame, alerts: list[DriftAlert]) -> dict:
    last, actual, forecast = (rows[c].to_numpy(dtype=float) for c in ("last", "actual", "forecast"))
    metrics = score(last, actual, forecast).model_dump()
    dm = diebold_mariano(actual - forecast, actual - last)
    inside = drift_mask(rows["as_of"].to_numpy(), [(a.as_of, a.state) for a in alerts])
    return {
        **metrics,
        "dm_statistic": dm.statistic,
        "dm_pvalue": dm.pvalue,
        "drift_alerts": len(alerts),
        "days_in_drift": int(inside.sum()),
        "mae_in_drift": mae(actual[inside], forecast[inside]) if inside.any() else None,
        "mae_outside_drift": mae(actual[~inside], forecast[~inside]) if (~inside).any() else None,
    }


def build_report(rows: pd.DataFrame, alerts: list[DriftAlert], meta: dict) -> dict:
    if rows.empty:
        raise InputError(
            "no forecast falls in the backtest range: widen --start/--end, or check the data"
        )
    tickers = {}
    for ticker, part in rows.groupby("ticker", sort=True):
        tickers[ticker] = _figures(
            part.sort_values("date"), [a for a in alerts if a.ticker == ticker]
        )
    overall = _figures(rows, [])  # drift periods are per ticker, so the pooled row has none
    overall["drift_alerts"] = len(alerts)
    return {**meta, "metrics": {**tickers, OVERALL: overall}}


def to_markdown(report: dict) -> str:
    lines = [
        f"# Backtest {report['start']}..{report['end']} ({report['engine']} engine)",
        "",
        f"Model {report['model']}; source {report['source']}"
        + (" (synthetic data)" if report.get("synthetic") else "")
        + ".",
        "",
        "| ticker | n | MAE | RMSE | MAPE % | naive MAPE % | MASE | direction | DM stat | DM p | "
        "alerts | MAE in drift | MAE outside |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for ticker, m in report["metrics"].items():

        def fmt(value, spec=".4f"):
            return "-" if value is None else format(value, spec)

        lines.append(
            f"| {ticker} | {m['n']} | {m['mae']:.4f} | {m['rmse']:.4f} | {m['mape']:.3f} | "
            f"{m['naive_mape']:.3f} | {m['mase']:.4f} | {m['direction_accuracy']:.1%} | "
            f"{m['dm_statistic']:+.2f} | {m['dm_pvalue']:.3f} | {m['drift_alerts']} | "
            f"{fmt(m['mae_in_drift'])} | {fmt(m['mae_outside_drift'])} |"
        )
    lines += [
        "",
        "MASE below 1 beats naive persistence on the same days. The Diebold-Mariano test "
        "compares squared errors with naive; a negative statistic favours the model, and p < 0.05 "
        "means the difference is unlikely to be chance.",
        "",
    ]
    return "\n".join(lines)


def plot_ticker(rows: pd.DataFrame, alerts: list[DriftAlert], ticker: str, path: Path) -> Path:
    part = rows[rows["ticker"] == ticker].sort_values("date")
    fig, ax = plt.subplots(figsize=(11, 3.6))
    dates = pd.to_datetime(part["date"])
    ax.plot(dates, part["actual"], color="black", lw=1.1, label="actual close")
    ax.plot(dates, part["forecast"], color="tab:blue", lw=0.9, label="forecast")
    inside = drift_mask(
        part["as_of"].to_numpy(), [(a.as_of, a.state) for a in alerts if a.ticker == ticker]
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
    ax.set_title(f"{ticker}: forecast vs actual")
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def write_outputs(
    report: dict, rows: pd.DataFrame, alerts: list[DriftAlert], out: Path
) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "report.json", out / "report.md"]
    paths[0].write_text(json.dumps(report, indent=2, default=str))
    paths[1].write_text(to_markdown(report))
    for ticker in sorted(set(rows["ticker"])):
        paths.append(plot_ticker(rows, alerts, ticker, out / f"{ticker}.png"))
    return paths
