"""The `tickcast` command: one sub-command per area, each calling one library function."""

from __future__ import annotations

from model import tracking_start

tracking_start.start_early()  # backtest, evaluate: MLflow's child first, beside our imports

import typer  # noqa: E402

from tickcast.cli import backtests, contracts, data, http, models, stream  # noqa: E402
from tickcast.cli.common import Command  # noqa: E402

app = typer.Typer(
    name="tickcast",
    help="Streaming D+1 forecaster for B3 stock prices.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
for name, command in {
    "data": data.show,
    "train": models.train,
    "evaluate": models.evaluate,
    "broker": stream.broker,
    "produce": stream.produce,
    "worker": stream.worker,
    "tail": stream.tail,
    "schemas": contracts.write,
    "up": stream.up,
    "api": http.api,
    "backtest": backtests.backtest,
}.items():
    app.command(name, cls=Command)(command)
