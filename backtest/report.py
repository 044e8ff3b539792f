"""The backtest report: figures per ticker and overall, as JSON and Markdown, and PNGs when
asked (backtest/plots.py).

Every step goes over the forecasts once, grouped by ticker: the cost follows the forecasts,
not their number times the tickers'.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from backtest.scoring import drift_mask
from core.errors import InputError
from model.baselines import GarchFits, prefit_garch
from model.evaluation import history_until, last_fit_day
from model.intervals import LEVELS, level_key
from model.metrics import diebold_mariano, mae
from model.reports import OVERALL, Scored, baselines_for, report_metrics, training_split
from schemas.messages import DriftAlert, Forecast

QUANTILES = [f"q{level_key(level)}" for level in LEVELS]


def scored_frame(
    forecasts: list[Forecast],
    frames: dict[str, pd.DataFrame],
    start: date,
    end: date,
    locations: dict[tuple[str, date], float] | None = None,
) -> pd.DataFrame:
    """One row per forecast whose next actual close falls in [start, end], with its quantiles
    (as the stream sent them) and the network's unshrunk location where known."""
    by_ticker: dict[str, list[Forecast]] = {}
    for forecast in forecasts:
        by_ticker.setdefault(forecast.ticker, []).append(forecast)
    columns = ["ticker", "as_of", "date", "last", "forecast", "actual", "location", *QUANTILES]
    values: dict[str, list] = {c: [] for c in columns}
    known = locations or {}
    for ticker, frame in frames.items():
        dates = frame["date"].dt.date.to_numpy()
        closes = frame["close"].to_numpy()
        position = {d: i for i, d in enumerate(dates)}
        for f in by_ticker.get(ticker, ()):
            i = position.get(f.as_of)
            if i is None or i + 1 >= len(dates) or not (start <= dates[i + 1] <= end):
                continue
            row = (
                ticker,
                f.as_of,
                dates[i + 1],
                f.last_close,
                f.predicted_close,
                closes[i + 1],
                known.get((ticker, f.as_of), np.nan),
                *(f.return_quantiles[q[1:]] for q in QUANTILES),
            )
            for column, value in zip(columns, row, strict=True):
                values[column].append(value)
    return pd.DataFrame(values, columns=columns)


def as_scored(rows: pd.DataFrame) -> Scored:
    return Scored(
        ticker=rows["ticker"].to_numpy(dtype=object),
        target_date=pd.to_datetime(rows["date"]).to_numpy().astype("datetime64[D]"),
        last=rows["last"].to_numpy(dtype=float),
        actual=rows["actual"].to_numpy(dtype=float),
        point=rows["forecast"].to_numpy(dtype=float),
        location=rows["location"].to_numpy(dtype=float),
        quantiles=rows[QUANTILES].to_numpy(dtype=float),
    )


def _extras(rows: pd.DataFrame, alerts: list[DriftAlert]) -> dict:
    """The backtest's own figures: Diebold-Mariano against naive, and drift periods."""
    last, actual, forecast = (rows[c].to_numpy(dtype=float) for c in ("last", "actual", "forecast"))
    dm = diebold_mariano(actual - forecast, actual - last)
    data_alerts = [a for a in alerts if a.kind == "data"]
    inside = drift_mask(rows["as_of"].to_numpy(), [(a.as_of, a.state) for a in data_alerts])
    return {
        "dm_statistic": dm.statistic,
        "dm_pvalue": dm.pvalue,
        "drift_alerts": len(data_alerts),
        "performance_alerts": len(alerts) - len(data_alerts),
        "days_in_drift": int(inside.sum()),
        "mae_in_drift": mae(actual[inside], forecast[inside]) if inside.any() else None,
        "mae_outside_drift": mae(actual[~inside], forecast[~inside]) if (~inside).any() else None,
    }


def expected_splits(
    replayed: dict[str, pd.DataFrame],
    frames: dict[str, pd.DataFrame],
    start: date,
    end: date,
    window: int,
) -> list[tuple[np.ndarray, int]]:
    """The GARCH training splits `build_report` will ask for, told from the prices before the
    replay: a ticker's first scored close is its first one from `start` on whose previous
    close ends a full window of `replayed`, and the split ends on `last_fit_day` of it, as
    `history_until` cuts it. A ticker that loses a forecast on the way (a dead-lettered close)
    asks for another split: only that fit is then made later."""
    until = {}
    for ticker, frame in replayed.items():
        days = frame["date"].dt.date.to_numpy()[window:]
        first = next((d for d in days if start <= d <= end), None)
        if first is not None and ticker in frames:
            until[ticker] = last_fit_day(first)
    return _garch_splits(frames, until)


def _garch_splits(
    frames: dict[str, pd.DataFrame], fit_until: dict[str, date]
) -> list[tuple[np.ndarray, int]]:
    """(returns, fit_end) of each ticker's training split, as the GARCH prefit takes them."""
    return [training_split(frames[t], until)[1:] for t, until in fit_until.items()]


def build_report(
    rows: pd.DataFrame,
    alerts: list[DriftAlert],
    meta: dict,
    frames: dict[str, pd.DataFrame],
    shrink: float | None,
    fits: GarchFits | None = None,
    fit_processes: int = 1,
) -> dict:
    """The figures of train and evaluate (model, naive, baselines on the same days), plus DM
    and drift periods; per ticker and overall. `fits`: where GARCH fits are kept; those
    missing are fitted first across `fit_processes` processes when there are many."""
    if rows.empty:
        raise InputError(
            "no forecast falls in the backtest range: widen --start/--end, or check the data"
        )
    rows = rows.sort_values(["ticker", "date"]).reset_index(drop=True)
    scored = as_scored(rows)
    fit_until = history_until(scored)
    if fits is not None and fit_processes > 1:
        prefit_garch(_garch_splits(frames, fit_until), fits, fit_processes)
    baselines = baselines_for(scored, frames, fit_until, fits)
    metrics = report_metrics(scored, baselines, shrink)
    groups = scored.groups()  # positions in `rows` too: `scored` reads it row for row
    alerts_of: dict[str, list[DriftAlert]] = {}
    for alert in alerts:
        alerts_of.setdefault(alert.ticker, []).append(alert)
    report = {}
    for ticker, figures in metrics.items():
        if ticker == OVERALL:  # drift periods are per ticker; the pooled row counts them all
            extras = _extras(rows, [])
            extras["drift_alerts"] = sum(a.kind == "data" for a in alerts)
            extras["performance_alerts"] = sum(a.kind == "performance" for a in alerts)
        else:
            extras = _extras(rows.iloc[groups[ticker]], alerts_of.get(ticker, []))
        report[ticker] = {**figures.model_dump(mode="json"), **extras}
    return {**meta, "metrics": report}


def _fmt(value: float | None, spec: str = ".4f") -> str:
    return "-" if value is None else format(value, spec)


def to_markdown(report: dict) -> str:
    lines = [
        f"# Backtest {report['start']}..{report['end']} ({report['engine']} engine)",
        "",
        f"Model {report['model']}; source {report['source']}"
        + (" (synthetic data)" if report.get("synthetic") else "")
        + ". Intervals as the stream served them (adaptive conformal, per ticker).",
        "",
        "## Point forecasts against naive",
        "",
        "| ticker | n | MAE | MAPE % | naive MAPE % | MASE | net MASE | w | direction | DM stat "
        "| DM p | drift alerts | performance alerts | MAE in drift | MAE outside |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for ticker, m in report["metrics"].items():
        lines.append(
            f"| {ticker} | {m['n']} | {m['mae']:.4f} | {m['mape']:.3f} | {m['naive_mape']:.3f} | "
            f"{m['mase']:.4f} | {_fmt(m['mase_unshrunk'])} | {_fmt(m['shrink'], '.2f')} | "
            f"{m['direction_accuracy']:.1%} | {m['dm_statistic']:+.2f} | {m['dm_pvalue']:.3f} | "
            f"{m['drift_alerts']} | {m['performance_alerts']} | {_fmt(m['mae_in_drift'])} | "
            f"{_fmt(m['mae_outside_drift'])} |"
        )
    lines += [
        "",
        "## Intervals against the baselines, same days",
        "",
        "| ticker | forecaster | 80% in | 95% in | 80% width | Winkler 80% | pinball | vs EWMA |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for ticker, m in report["metrics"].items():
        ewma = m["baselines"].get("ewma", {}).get("pinball")
        for name, figures in [("model", m), *m["baselines"].items()]:
            ratio = figures["pinball"] / ewma if ewma else None
            lines.append(
                f"| {ticker if name == 'model' else ''} | {name} | {figures['coverage_80']:.1%} | "
                f"{figures['coverage_95']:.1%} | {figures['width_80']:.4f} | "
                f"{figures['winkler_80']:.4f} | {figures['pinball']:.6f} | {_fmt(ratio, '.3f')} |"
            )
    lines += [
        "",
        "MASE below 1 beats naive persistence on the same days; w is the network's weight in "
        "the shipped point (0 = naive) and net MASE the network's own. The Diebold-Mariano test "
        "compares squared errors with naive; a negative statistic favours the model, and p < "
        "0.05 means the difference is unlikely to be chance. Interval figures are on log "
        "returns; pinball is the mean over the levels 0.025, 0.1, 0.5, 0.9 and 0.975.",
        "",
    ]
    return "\n".join(lines)


def write_outputs(
    report: dict, rows: pd.DataFrame, alerts: list[DriftAlert], out: Path, plots: bool = True
) -> list[Path]:
    """report.json and report.md in `out`; with `plots`, every ticker's PNGs too."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "report.json", out / "report.md"]
    paths[0].write_text(json.dumps(report, indent=2, default=str))
    paths[1].write_text(to_markdown(report))
    if plots:
        from backtest.plots import write_plots  # matplotlib: only when plots are drawn

        ordered = rows.sort_values(["ticker", "date"]).reset_index(drop=True)
        title = f"{report['start']}..{report['end']}"
        paths += write_plots(ordered, as_scored(ordered), alerts, out, title)
    return paths
