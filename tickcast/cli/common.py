"""What every command shares: settings, logging, option parsing and the error edge."""

from __future__ import annotations

import contextlib
import functools
import inspect
import traceback
from collections.abc import Callable, Iterator
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from typer.core import TyperCommand, TyperOption

from core.config import ApiSettings, DataSettings, Hyperparameters, Settings, get_settings
from core.errors import TickcastError, describe

if TYPE_CHECKING:
    from producers.sources import PriceData

out = Console()  # results: stdout
err = Console(stderr=True)  # progress, reports and errors: stderr, so --json stays clean


def settings(verbose: bool = False) -> Settings:
    with user_errors(verbose):
        return get_settings()


def note(text: str) -> None:
    """One unwrapped line on stderr: reports and progress notes, never results."""
    err.print(text, highlight=False, soft_wrap=True)


def fail(message: str) -> NoReturn:
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


@contextlib.contextmanager
def user_errors(verbose: bool = False) -> Iterator[None]:
    """Every TickcastError becomes one line and exit code 1; its traceback only with --verbose.

    The line says what failed and what to do; the traceback is for reporting a bug.
    """
    try:
        yield
    except TickcastError as exc:
        _trace(verbose)
        fail(str(exc))
    except ValidationError as exc:
        _trace(verbose)
        fail(describe(exc.errors()))


def _trace(verbose: bool) -> None:
    if verbose:
        err.print(traceback.format_exc().rstrip(), markup=False, highlight=False, soft_wrap=True)


def parse_tickers(value: str | None, default: tuple[str, ...]) -> list[str]:
    if value is None:
        return list(default)
    tickers = [t.strip() for t in value.split(",") if t.strip()]
    if not tickers:
        raise typer.BadParameter("give at least one ticker, e.g. CMIG4.SA,PETR4.SA")
    return tickers


def as_date(value: datetime | None) -> date | None:
    return value.date() if value else None


def load(
    cfg: Settings, source: str | None, tickers: str | None, start: date | None, end: date | None
) -> PriceData:
    from producers.sources import load_prices  # pandas: only for commands that read prices

    """Prices from --source/--tickers (or the defaults), with each ticker's report on stderr."""
    tickers_list = parse_tickers(tickers, cfg.data.default_tickers)
    data = load_prices(source or cfg.data.default_source, tickers_list, cfg.data, start, end)
    for report in data.reports.values():
        note(report.summary())
    return data


DATE_FORMATS = ["%Y-%m-%d"]
SOURCE_HELP = (
    "yahoo, csv:PATH (a file, or a folder of TICKER.csv; add ?dayfirst=true, ?decimal=, or "
    "?sep=; for other layouts) or synthetic."
)

# Options shared by several commands, as typed aliases.
DATA_DEFAULTS = DataSettings()
Source = Annotated[
    str | None,
    typer.Option(
        "--source",
        help=SOURCE_HELP,
        show_default=DATA_DEFAULTS.default_source,  # or TICKCAST_DATA__DEFAULT_SOURCE
    ),
]
Tickers = Annotated[
    str | None,
    typer.Option(
        "--tickers",
        help="Comma-separated, e.g. CMIG4.SA,PETR4.SA.",
        show_default=",".join(DATA_DEFAULTS.default_tickers),  # or TICKCAST_DATA__DEFAULT_TICKERS
    ),
]
Start = Annotated[
    datetime | None, typer.Option(formats=DATE_FORMATS, help="First date (inclusive).")
]
End = Annotated[datetime | None, typer.Option(formats=DATE_FORMATS, help="Last date (inclusive).")]
Verbose = Annotated[
    bool, typer.Option("-v", "--verbose", help="Log at INFO; an error shows its traceback.")
]
ApiHost = Annotated[
    str | None,
    typer.Option(
        "--api-host",
        "--host",
        help="Address the API listens on (setting: TICKCAST_API__HOST).",
        show_default=str(ApiSettings.model_fields["host"].default),
    ),
]
ApiPort = Annotated[
    int | None,
    typer.Option(
        "--api-port",
        "--port",
        min=0,
        max=65535,
        help="Port of the API, 0 for any free one; a taken port stops the command at once "
        "(setting: TICKCAST_API__PORT).",
        show_default=str(ApiSettings.model_fields["port"].default),
    ),
]
API_PORT_OPTION = "--api-port"


class Command(TyperCommand):
    """Every tickcast command: typer's rich help shows `<bool>` beside each flag (even
    --help), as if a flag took a value; an empty metavar shows nothing there."""

    def get_params(self, ctx: typer.Context) -> list[Any]:
        params = super().get_params(ctx)
        for param in params:
            if isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
                param.metavar = ""
        return params


def hyperparameter_options(command: Callable[..., None]) -> Callable[..., None]:
    """One --option per field of `Hyperparameters`, handed to `command` as `hyperparameters`.

    The fields are declared once, in core.config; the CLI derives its options from them.
    """
    signature = inspect.signature(command, eval_str=True)
    kept = [p for p in signature.parameters.values() if p.name != "hyperparameters"]
    added = [
        inspect.Parameter(
            name,
            inspect.Parameter.KEYWORD_ONLY,
            default=typer.Option(None, help=info.description or name.replace("_", " ")),
            annotation=info.annotation | None,
        )
        for name, info in Hyperparameters.model_fields.items()
    ]

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> None:
        overrides = {name: kwargs.pop(name) for name in Hyperparameters.model_fields}
        command(hyperparameters=overrides, **kwargs)

    wrapper.__signature__ = signature.replace(parameters=kept + added)  # type: ignore[attr-defined]
    return wrapper
