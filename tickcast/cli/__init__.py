"""The `tickcast` command: one sub-command per area, each calling one library function."""

from __future__ import annotations

import typer

from tickcast.cli import backtests, contracts, data, http, models, stream

app = typer.Typer(
    name="tickcast",
    help="Streaming D+1 forecaster for B3 stock prices.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("data")(data.show)
app.command("train")(models.train)
app.command("evaluate")(models.evaluate)
app.command("broker")(stream.broker)
app.command("produce")(stream.produce)
app.command("worker")(stream.worker)
app.command("tail")(stream.tail)
app.command("schemas")(contracts.write)
app.command("up")(stream.up)
app.command("api")(http.api)
app.command("backtest")(backtests.backtest)
