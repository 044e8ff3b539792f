"""`tickcast train` and `tickcast evaluate`."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import typer

from core.config import Settings
from core.logs import setup_logging
from tickcast.cli.common import (
    DATE_FORMATS,
    End,
    Source,
    Start,
    Tickers,
    Verbose,
    as_date,
    hyperparameter_options,
    load,
    note,
    out,
    parse_tickers,
    settings,
    user_errors,
)
from tickcast.cli.tables import metrics_table


def champion_version(cfg: Settings) -> str | None:
    """The version of the alias served (the champion, unless TICKCAST_MLFLOW__SERVE says)."""
    from model.registry import alias_version, connect

    client = connect(cfg.mlflow)
    return alias_version(client, cfg.mlflow.model_name, cfg.mlflow.served)


def announce_champion(cfg: Settings, version: str, alias: str) -> None:
    """Tell running workers the alias moved; training stands even if Kafka is down."""
    import asyncio

    from schemas.messages import ModelEvent
    from streams.events import announce

    event = ModelEvent(model_name=cfg.mlflow.model_name, model_version=version, alias=alias)
    try:
        asyncio.run(announce(cfg.kafka, event))
        note(f"announced v{version} on model-events; running workers switch to it")
    except Exception as exc:  # the model is registered either way; only the news failed
        note(
            f"[yellow]could not announce v{version} on Kafka ({exc}); "
            "restart workers to pick it up[/yellow]"
        )


@hyperparameter_options
def train(
    hyperparameters: dict[str, object],
    source: Source = None,
    tickers: str = typer.Option(
        None, "--tickers", help="Comma-separated; one model learns them all."
    ),
    start: Start = None,
    end: End = None,
    valid_start: datetime = typer.Option(
        None, formats=DATE_FORMATS, help="First validation target date."
    ),
    test_start: datetime = typer.Option(None, formats=DATE_FORMATS, help="First test target date."),
    promote: bool = typer.Option(
        None, "--promote/--no-promote", help="Override the champion rule."
    ),
    if_no_champion: bool = typer.Option(
        False,
        "--if-no-champion",
        help="Do nothing when the alias served (champion, or TICKCAST_MLFLOW__SERVE) has a "
        "model: first deploys.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object and nothing else."),
    verbose: Verbose = False,
) -> None:
    """Train on a chronological split, log to MLflow, register, promote if it beats the champion.

    Default split: 70/15/15 per ticker; --valid-start and --test-start split at dates instead.
    Every hyperparameter option defaults to its TICKCAST_MODEL__ setting.
    """
    if if_no_champion:
        setup_logging(verbose, heavy=True)
        if version := champion_version(settings(verbose)):
            note(f"{settings(verbose).mlflow.served} v{version} exists; not training")
            return
    setup_logging(verbose)
    with user_errors(verbose):
        base = settings(verbose)
        cfg = base.model_copy(update={"model": base.model.with_overrides(hyperparameters)})
        data = load(cfg, source, tickers, as_date(start), as_date(end))  # before the slow imports
    setup_logging(verbose, heavy=True)
    from model.training import train as run_training  # torch import: only when training

    with user_errors(verbose):
        result = run_training(
            data,
            cfg,
            valid_start=as_date(valid_start),
            test_start=as_date(test_start),
            promote=promote,
            progress=not as_json,
        )
    if result.alias and cfg.kafka.bootstrap_servers:
        announce_champion(cfg, result.model_version, result.alias)
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
        return
    label = " [yellow](synthetic data)[/yellow]" if result.synthetic else ""
    out.print(metrics_table(f"Test metrics{label}", result.metrics))
    out.print(
        f"{result.model_name} v{result.model_version} (run {result.run_id}), "
        f"{result.epochs} epochs in {result.train_seconds:.1f}s, trained on "
        f"{result.trained_on.describe() if result.trained_on else result.source}. "
        f"{result.promotion_reason}.",
        highlight=False,
    )


def evaluate(
    source: Source = None,
    tickers: Tickers = None,
    start: Start = None,
    end: End = None,
    model: str = typer.Option(
        None,
        "--model",
        help="An alias or a version number (default: champion; for synthetic prices, the "
        "synthetic alias).",
    ),
    out_dir: Path = typer.Option(
        None, "--out", help="Folder for a fan chart and a reliability diagram per ticker."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object and nothing else."),
    verbose: Verbose = False,
) -> None:
    """Score a registered model against naive persistence and the interval baselines.

    Closes before --start fill the first windows, so every day in the range is scored.
    """
    setup_logging(verbose)
    cfg = settings(verbose)
    first, last = as_date(start), as_date(end)
    from model.tracking import Tracking, model_ref
    from producers.sources import check_range

    spec = source or cfg.data.default_source
    with user_errors(verbose):
        # The registry is read in a process of its own, started first: MLflow's import
        # there overlaps this process's own imports below.
        registry = Tracking(cfg, model_ref(cfg, spec, model, None))
    with registry, user_errors(verbose):
        from producers import calendar

        calendar.use_cache(cfg.data.cache_dir)  # B3's sessions kept on disk: no build
        # The model says how much history to load: check the range first.
        check_range(spec, parse_tickers(tickers, cfg.data.default_tickers), cfg.data, first, last)
        from model.baselines import GARCH_FITS, GarchFits
        from model.evaluation import evaluate as run_evaluation
        from model.evaluation import history_start, training_overlap
        from model.predictor import Predictor

        predictor = Predictor.from_cache(cfg, registry.model_folder())
    with user_errors(verbose):
        load_from = (
            history_start(first, predictor.window, cfg.data.baseline_history) if first else None
        )
        data = load(cfg, source, tickers, load_from, last)
        fits = GarchFits(cfg.data.cache_dir / GARCH_FITS)  # kept as the backtest keeps them
        report = run_evaluation(predictor, data, first, last, out_dir, fits)
    seen = training_overlap(
        predictor.trained_on,
        data.frames,
        date.fromisoformat(report.start),
        date.fromisoformat(report.end),
    )
    if seen:
        note(
            f"[yellow]warning:[/yellow] {', '.join(seen.tickers)} scored on {seen.first}.."
            f"{seen.last}, days the model trained on; pass --start {seen.unseen_from} "
            "to score only days it never saw"
        )
    if as_json:
        typer.echo(report.model_dump_json(indent=2))
        return
    label = " [yellow](synthetic data)[/yellow]" if report.synthetic else ""
    title = (
        f"{report.model_name} v{report.model_version}, {report.start}..{report.end}, "
        f"{report.interval_method} intervals{label}"
    )
    table = metrics_table(title, report.metrics)
    if report.trained_on:
        table.caption = f"trained on {report.trained_on.describe()}. " + (table.caption or "")
    out.print(table)
