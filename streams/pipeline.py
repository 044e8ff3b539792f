"""One micro-batch of raw price messages in; forecasts, scores, alerts, dead letters and new
state out.

Pure apart from the Forecaster's forward pass: no Kafka here, so the Faust agent, the local
backtest engine and the tests all run exactly this code. The network runs once per batch;
then every accepted close is settled in message order: it scores the forecast waiting for
it, moves the ticker's interval coverages (ACI), and its own forecast reads the moved ones.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date

from pydantic import ValidationError

from core.config import ForecastSettings, PerformanceSettings
from core.errors import TickcastError
from model.forecaster import Forecaster, WindowInput, tick_problem
from producers.calendar import b3_today, next_trading_day
from schemas.messages import DeadLetter, DriftAlert, Forecast, ForecastScore, PriceTick
from streams.sessions import forecast_message, settle
from streams.state import TickerState
from streams.windows import NO_BAR, Outcome, apply_close

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Incoming:
    """A raw message as it came off the topic."""

    key: bytes | None
    value: bytes | None
    topic: str
    partition: int
    offset: int


@dataclass
class BatchResult:
    forecasts: list[Forecast] = field(default_factory=list)
    scores: list[ForecastScore] = field(default_factory=list)
    alerts: list[DriftAlert] = field(default_factory=list)  # data and performance
    dead_letters: list[DeadLetter] = field(default_factory=list)
    states: dict[str, TickerState] = field(default_factory=dict)  # changed tickers only
    accepted: int = 0
    duplicates: int = 0  # a close the window already holds, sent again by a producer
    redelivered: int = 0  # a message at or before the ticker's last offset: Kafka redelivery
    stale: int = 0  # a close older than the full window: republished history
    expired: int = 0  # forecasts whose target date passed without its close: never scored
    scored: int = 0  # forecasts checked against their close, whether `scores` holds them or not


class BadMessage(ValueError):
    """A message that cannot become an accepted close; its text is the DLQ reason."""


class ModelCallFailed(TickcastError, RuntimeError):
    """The batched forward pass failed: not the messages' fault, so none is dead-lettered."""


def decode(message: Incoming) -> PriceTick:
    """Strictly parse a price message: wrong types, NaN and unknown versions are rejected."""
    if not message.value:
        raise BadMessage("empty message")
    try:
        tick = PriceTick.model_validate_json(message.value, strict=True)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'message'}: {e['msg']}" for e in exc.errors()
        )
        raise BadMessage(f"invalid price message: {problems}") from exc
    key = message.key.decode("utf-8", "replace") if message.key is not None else None
    if key is not None and key != tick.ticker:
        raise BadMessage(f"message key {key!r} does not match ticker {tick.ticker!r}")
    return tick


@dataclass(frozen=True)
class Rules:
    """What makes a parsed close acceptable, fixed for one batch."""

    settings: ForecastSettings
    ticker: re.Pattern[str]
    latest: date | None  # the last acceptable date; None accepts any (future_dates)

    @classmethod
    def of(cls, settings: ForecastSettings, today: date | None = None) -> Rules:
        latest = None if settings.future_dates else next_trading_day(today or b3_today())
        return cls(settings, re.compile(settings.ticker_pattern), latest)


def check(tick: PriceTick, rules: Rules) -> None:
    """Refuse a close the stream must not apply: a ticker outside the pattern, a date after
    the next trading day, or what `tick_problem` refuses for the API too."""
    if not rules.ticker.fullmatch(tick.ticker):
        raise BadMessage(f"ticker {tick.ticker!r} does not match {rules.ticker.pattern}")
    if rules.latest is not None and tick.date > rules.latest:
        raise BadMessage(f"date {tick.date} is after the next trading day, {rules.latest}")
    if problem := tick_problem(tick, rules.settings):
        raise BadMessage(problem)


def dead_letter(message: Incoming, error: str) -> DeadLetter:
    return DeadLetter(
        source_topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key.decode("utf-8", "replace") if message.key is not None else None,
        payload=(message.value or b"").decode("utf-8", "replace"),
        error=error,
    )


def _failure(exc: Exception) -> str:
    """A DLQ reason: the message's own problem, or what went wrong handling it."""
    if isinstance(exc, BadMessage):
        return str(exc)
    return f"could not process this message ({type(exc).__name__}: {exc})"


def capacity(forecaster: Forecaster, closes_kept: int) -> int:
    """Closes kept per ticker: the configured number, or the model's window if longer."""
    return max(closes_kept, forecaster.window)


def _bar(tick: PriceTick) -> tuple[float, float, float]:
    if tick.open is None or tick.high is None or tick.low is None:
        return NO_BAR
    return (tick.open, tick.high, tick.low)


SKIPS = {Outcome.DUPLICATE: "duplicates", Outcome.STALE: "stale"}


def process_batch(
    batch: Sequence[Incoming],
    lookup: Callable[[str], TickerState],
    forecaster: Forecaster,
    capacity: int,
    performance: PerformanceSettings,
    today: date | None = None,
    scores: bool = True,
) -> BatchResult:
    """Apply every message in order, forecast all full windows in one Forecaster call, then
    settle each accepted close in order.

    A ticker's window keeps the last `capacity` closes (at least the model's window); each
    forecast reads the last `forecaster.window` of them. A failure in a step of one message
    (parsing, checks, calendar, window, scoring) dead-letters that message alone; a failure
    of the batched forward pass raises ModelCallFailed, so the batch is read again.
    `today` (B3's date by the wall clock unless given) bounds the dates accepted.
    `scores=False` builds no score messages, for a caller that only counts them (`scored`):
    the ticker's score history, ACI coverages and performance tests move all the same.
    """
    result = BatchResult()
    states: dict[str, TickerState] = {}
    accepted: list[tuple[Incoming, PriceTick, int | None]] = []  # each close, its window's index
    pending: list[WindowInput] = []
    size = forecaster.window
    rules = Rules.of(forecaster.settings, today)
    for message in batch:
        try:
            tick = decode(message)
            state = states.get(tick.ticker) or lookup(tick.ticker)
            if state.seen(message.partition, message.offset):
                result.redelivered += 1  # its effects are already in the state: nothing again
                logger.debug("skipped %s@%d: redelivered", message.topic, message.offset)
                continue
            position = (message.partition, message.offset)  # applied, whatever comes of it
            states[tick.ticker] = state.evolve(position=position)
            check(tick, rules)
            if state.synthetic != tick.synthetic and len(state.window):
                kinds = ("synthetic", "real") if tick.synthetic else ("real", "synthetic")
                logger.info("%s: a %s close after %s ones starts afresh", tick.ticker, *kinds)
            state = state.for_kind(tick.synthetic)  # only a close that passed its checks
            window, outcome = apply_close(state.window, tick.date, tick.close, capacity, _bar(tick))
        except Exception as exc:
            result.dead_letters.append(dead_letter(message, _failure(exc)))
            continue
        states[tick.ticker] = state.evolve(window=window, position=position)  # one copy
        if outcome in SKIPS:
            counter = SKIPS[outcome]
            setattr(result, counter, getattr(result, counter) + 1)
            logger.debug(
                "skipped %s@%d: %s close of %s", message.topic, message.offset, outcome, tick.date
            )
            continue
        if outcome is not Outcome.APPENDED:
            held = f"window holds {state.window.dates[0]}..{state.window.last_date}"
            reason = f"{outcome.value} for {tick.date}, close {tick.close:g} ({held})"
            result.dead_letters.append(dead_letter(message, reason))
            continue
        result.accepted += 1
        index = None
        if len(window) >= size:
            index = len(pending)
            pending.append(
                WindowInput(window.array(size), tick.ticker, tick.date, window.bar_array(size))
            )
        accepted.append((message, tick, index))
    # With scoring, each forecast's quantiles are read at its ticker's ACI coverages below.
    scoring = forecaster.settings.scoring
    try:
        predictions = forecaster.forecast(pending, intervals=not scoring) if pending else []
    except Exception as exc:
        offsets = [(m.partition, m.offset) for m in batch]
        raise ModelCallFailed(
            f"the forward pass failed on a batch of {len(pending)} windows "
            f"(partition, offset from {offsets[0]} to {offsets[-1]}): {exc}"
        ) from exc
    # Settling runs in message order (windows are already final; nothing else was touched
    # above), so a batch replayed whole or one close at a time gives the same outputs.
    for message, tick, index in accepted:
        mark = (len(result.forecasts), len(result.scores), len(result.alerts), result.scored)
        try:
            state = settle(states[tick.ticker], tick, forecaster, performance, result, scores)
            if index is not None:
                state = forecast_message(state, predictions[index], forecaster, result)
        except Exception as exc:
            # Nothing of this close goes out; its window stays applied, as its offset does.
            del result.forecasts[mark[0] :], result.scores[mark[1] :], result.alerts[mark[2] :]
            result.scored = mark[3]
            result.dead_letters.append(dead_letter(message, _failure(exc)))
            continue
        states[tick.ticker] = state
    result.states = states
    return result
