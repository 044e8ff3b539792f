"""`tickcast broker`, `produce`, `worker` and `tail`: the bus from the command line."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from enum import StrEnum

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from core.config import Settings
from core.logs import setup_logging
from core.processes import interrupt_on_signals
from tickcast.cli.common import (
    API_PORT_OPTION,
    ApiHost,
    ApiPort,
    End,
    Source,
    Start,
    Tickers,
    Verbose,
    as_date,
    err,
    load,
    note,
    settings,
    user_errors,
)

DEFAULT_BROKER_PORT = 9092


def on_bus(verbose: bool = False) -> Settings:
    """The settings once a broker answers; else one line naming the address and what to do.

    Checked before any work, and bounded by TICKCAST_KAFKA__CONNECT_TIMEOUT_S.
    """
    cfg = settings(verbose)
    from core import kafka as bus  # aiokafka: only for commands on the bus

    with user_errors(verbose):
        asyncio.run(bus.check_reachable(cfg.kafka))
    return cfg


def broker(
    port: int = typer.Option(DEFAULT_BROKER_PORT, help="Port on 127.0.0.1; 0 picks a free one."),
    verbose: Verbose = False,
) -> None:
    """Run the embedded Kafka-compatible broker (Tansu, memory storage) until Ctrl-C."""
    from streams.broker import EmbeddedBroker

    setup_logging(verbose)
    with user_errors(verbose):
        embedded = EmbeddedBroker(port=port).start()
    note(f"broker on {embedded.bootstrap}; topics live until it stops. In other shells:")
    note(f"  export KAFKA_BOOTSTRAP_SERVERS={embedded.bootstrap}")
    try:
        with interrupt_on_signals():
            while embedded.process and embedded.process.poll() is None:
                time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        embedded.stop()
    note("broker stopped")


def produce(
    source: Source = None,
    tickers: Tickers = None,
    start: Start = None,
    end: End = None,
    rate: float = typer.Option(
        None, "--rate", min=0.001, help="Closes per second (default: flat out)."
    ),
    follow: bool = typer.Option(False, "--follow", help="Keep polling the source for new closes."),
    poll_seconds: float = typer.Option(3600.0, help="With --follow: seconds between polls."),
    verbose: Verbose = False,
) -> None:
    """Publish closes to the prices topic in date order, keyed by ticker."""
    from core import kafka
    from producers.publish import PublishedLedger, publish, ticks_in_order

    setup_logging(verbose)
    cfg = on_bus(verbose)
    topic = cfg.kafka.topics["prices"]
    ledger = PublishedLedger(cfg.data.dir / "published.json")
    with user_errors(verbose):
        asyncio.run(kafka.ensure_topics(cfg.kafka))
    while True:
        with user_errors(verbose):
            data = load(cfg, source, tickers, as_date(start), as_date(end))
        ticks = ticks_in_order(data.frames, data.source, ledger.read(topic) if follow else None)
        with Progress(
            TextColumn("publishing"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=err,
            transient=True,
        ) as bar:
            task = bar.add_task("publish", total=len(ticks))

            def advance(sent: int, _total: int, task: int = task) -> None:
                bar.update(task, completed=sent)

            with user_errors(verbose):
                report = asyncio.run(publish(ticks, cfg.kafka, rate, advance))
        ledger.update(topic, report.last_date)
        counts = ", ".join(f"{t} {n}" for t, n in report.per_ticker.items()) or "nothing new"
        note(f"published {report.sent} closes to {topic} in {report.seconds:.1f}s: {counts}")
        if not follow:
            return
        time.sleep(poll_seconds)


def worker(
    model: str = typer.Option(
        None, "--model", help="Alias or version to load (default: champion)."
    ),
    verbose: Verbose = False,
) -> None:
    """Run the Faust worker: windows, forecasts, drift alerts, until Ctrl-C."""
    from streams.worker import run_worker

    setup_logging(verbose)  # models come from the cache (model.fetch): no MLflow, no Lightning
    cfg = on_bus(verbose)
    with user_errors(verbose):
        run_worker(cfg, model, loglevel="INFO" if verbose else "WARNING")


class TailTopic(StrEnum):
    forecasts = "forecasts"
    forecast_scores = "forecast-scores"
    drift_alerts = "drift-alerts"
    dlq = "dlq"


def tail(
    topic: TailTopic = typer.Argument(..., help="forecasts, forecast-scores, drift-alerts or dlq."),
    from_beginning: bool = typer.Option(False, "--from-beginning", help="Replay the whole topic."),
    as_json: bool = typer.Option(False, "--json", help="One JSON message per line."),
    limit: int = typer.Option(0, min=0, help="Stop after this many messages (0: never)."),
    idle_seconds: float = typer.Option(0.0, min=0.0, help="Stop after this long with no message."),
    verbose: Verbose = False,
) -> None:
    """Print messages as a downstream consumer would see them."""
    from core import kafka
    from streams.tail import consume, render

    setup_logging(verbose)
    cfg = on_bus(verbose)

    def show(message: dict) -> None:
        text = json.dumps(message) if as_json else render(topic.value, message)
        typer.echo(text)

    with (
        contextlib.suppress(KeyboardInterrupt),
        user_errors(verbose),
        kafka.connection_errors(cfg.kafka),
    ):
        asyncio.run(consume(cfg.kafka, topic.value, from_beginning, show, limit, idle_seconds))


def up(
    source: Source = None,
    tickers: Tickers = None,
    start: Start = None,
    end: End = None,
    rate: float = typer.Option(
        None, "--rate", min=0.001, help="Closes per second.", show_default="flat out"
    ),
    no_retrain: bool = typer.Option(
        False,
        "--no-retrain",
        help="Serve the current model even when it never saw prices like these (warns), "
        "rather than train one on them.",
    ),
    api_host: ApiHost = None,
    api_port: ApiPort = None,
    verbose: Verbose = False,
) -> None:
    """The main job: broker, model, worker, API and producer, showing forecasts until Ctrl-C."""
    from core.ports import claim_port
    from tickcast.cli.common import parse_tickers
    from tickcast.launcher import UpOptions
    from tickcast.launcher import up as run_up
    from tickcast.screen import Screen

    cfg = settings(verbose)
    host = api_host or cfg.api.host
    with user_errors(verbose):  # a taken port stops `up` before anything slow starts
        port = claim_port(host, cfg.api.port if api_port is None else api_port, API_PORT_OPTION)
    setup_logging(verbose)  # MLflow and Lightning: quieted by `up` as they load
    options = UpOptions(
        source=source or cfg.data.default_source,
        tickers=parse_tickers(tickers, cfg.data.default_tickers),
        start=as_date(start),
        end=as_date(end),
        rate=rate,
        retrain=not no_retrain,
        api_host=host,
        api_port=port,
        verbose=verbose,
    )
    with user_errors(verbose):
        run_up(cfg, options, Screen(err))
