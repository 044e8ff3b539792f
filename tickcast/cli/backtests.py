"""`tickcast backtest`: replay history through the pipeline and score it against naive."""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from core.logs import setup_logging
from schemas.messages import TrainedOn
from schemas.metrics import MetricSet
from tickcast.cli.common import (
    DATE_FORMATS,
    Source,
    Tickers,
    Verbose,
    err,
    note,
    out,
    parse_tickers,
    settings,
    user_errors,
)
from tickcast.cli.tables import metrics_table


class Engine(StrEnum):
    stream = "stream"
    local = "local"


def summary(report: dict, max_tickers: int) -> Table:
    """The figures table every report shares, plus the backtest's own: DM and alerts. Above
    `max_tickers` tickers, the overall figures only."""
    from model.reports import OVERALL  # loaded by the backtest already

    label = " [yellow](synthetic data)[/yellow]" if report["synthetic"] else ""
    shown = report["metrics"]
    tickers = len(shown) - (OVERALL in shown)
    if tickers > max_tickers:
        shown = {OVERALL: shown[OVERALL]}
    metrics = {ticker: MetricSet.model_validate(m) for ticker, m in shown.items()}
    table = metrics_table(
        f"Backtest {report['start']}..{report['end']}, {report['engine']} engine, "
        f"{report['interval_method']} intervals{label}",
        metrics,
    )
    extras = ", ".join(
        f"{t} DM p {m['dm_pvalue']:.3f} ({m['drift_alerts']} drift, "
        f"{m['performance_alerts']} performance alerts)"
        for t, m in shown.items()
    )
    if len(shown) < len(report["metrics"]):
        extras += (
            f". Overall figures only for these {tickers} tickers (more than "
            f"TICKCAST_BACKTEST__MAX_TABLE_TICKERS, {max_tickers}); report.md and --json list "
            "each ticker"
        )
    seen = report.get("trained_on")
    trained = f", trained on {TrainedOn.model_validate(seen).describe()}" if seen else ""
    table.caption = f"model {report['model']}{trained}. {extras}. " + (table.caption or "")
    return table


def backtest(
    start: datetime = typer.Option(..., formats=DATE_FORMATS, help="First target date scored."),
    end: datetime = typer.Option(..., formats=DATE_FORMATS, help="Last target date scored."),
    source: Source = None,
    tickers: Tickers = None,
    model: str = typer.Option(
        None,
        "--model",
        help="Alias or version (default: champion; for synthetic prices, the synthetic alias).",
    ),
    engine: Engine = typer.Option(
        Engine.stream, help="stream: the real pipeline; local: in-process."
    ),
    retrain_every: int = typer.Option(
        None, min=1, help="Walk-forward: retrain every N trading days."
    ),
    out_dir: Path = typer.Option(None, "--out", help="Folder for report.json, report.md and PNGs."),
    plots: bool = typer.Option(
        None,
        "--plots/--no-plots",
        help="Draw each ticker's PNGs (default: when there are at most "
        "TICKCAST_BACKTEST__MAX_PLOTS tickers, 20).",
        show_default=False,
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    verbose: Verbose = False,
) -> None:
    """Replay history, score each forecast against naive (MASE, direction, Diebold-Mariano)."""
    setup_logging(verbose)
    cfg = settings(verbose)
    spec = source or cfg.data.default_source
    names = parse_tickers(tickers, cfg.data.default_tickers)
    from model.tracking import Tracking, model_ref

    with user_errors(verbose):
        # MLflow's own process (started as the CLI loaded, model.tracking_start) learns the
        # model; its import and the registry read overlap ours below.
        tracking = Tracking(cfg, model_ref(cfg, spec, model, retrain_every))
    with tracking, user_errors(verbose):
        from producers import calendar
        from producers.sources import check_range  # pandas: after the arguments are parsed

        calendar.use_cache(cfg.data.cache_dir)
        check_range(spec, names, cfg.data, start.date(), end.date())  # before the heavy imports
        # Lightning (and MLflow) only when retraining: its import alone takes seconds.
        setup_logging(verbose, heavy=retrain_every is not None)
        from backtest.run import BacktestRequest, run_backtest

        request = BacktestRequest(
            source=spec,
            tickers=names,
            start=start.date(),
            end=end.date(),
            model=model,
            engine=engine.value,
            retrain_every=retrain_every,
            out=out_dir,
            plots=plots,
        )
        with Progress(
            TextColumn("backtest"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        ) as bar:
            task = bar.add_task("backtest", total=None)

            def advance(done: int, total: int, task: int = task) -> None:
                bar.update(task, completed=done, total=total)

            report = run_backtest(cfg, request, note, advance, tracking)
    if as_json:
        typer.echo(json.dumps(report, indent=2, default=str))
        return
    out.print(summary(report, cfg.backtest.max_table_tickers))
    where = f"; files in {report['out']}" if report["out"] else ""
    note(f"MLflow run {report['mlflow_run_id']}{where}")
