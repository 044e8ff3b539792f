"""One micro-batch of raw price messages in; forecasts, scores, alerts, dead letters and new
state out.

Pure apart from the Forecaster's forward pass: no Kafka here, so the Faust agent, the local
backtest engine and the tests all run exactly this code. The network runs once per batch;
then every accepted close is settled in message order: it scores the forecast waiting for
it, moves the ticker's interval coverages (ACI), and its own forecast reads the moved ones.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from pydantic import ValidationError

from core.config import PerformanceSettings
from model.forecaster import Forecaster, WindowInput
from schemas.messages import DeadLetter, DriftAlert, Forecast, ForecastScore, PriceTick
from streams.sessions import forecast_message, settle
from streams.state import TickerState
from streams.windows import NO_BAR, Outcome, apply_close


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
    expired: int = 0  # forecasts whose target date passed without its close: never scored


class BadMessage(ValueError):
    """A message that cannot become a PriceTick; its text is the DLQ reason."""


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


def dead_letter(message: Incoming, error: str) -> DeadLetter:
    return DeadLetter(
        source_topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key.decode("utf-8", "replace") if message.key is not None else None,
        payload=(message.value or b"").decode("utf-8", "replace"),
        error=error,
    )


def capacity(forecaster: Forecaster, closes_kept: int) -> int:
    """Closes kept per ticker: the configured number, or the model's window if longer."""
    return max(closes_kept, forecaster.window)


def _bar(tick: PriceTick) -> tuple[float, float, float]:
    if tick.open is None or tick.high is None or tick.low is None:
        return NO_BAR
    return (tick.open, tick.high, tick.low)


def process_batch(
    batch: Sequence[Incoming],
    lookup: Callable[[str], TickerState],
    forecaster: Forecaster,
    capacity: int,
    performance: PerformanceSettings,
) -> BatchResult:
    """Apply every message in order, forecast all full windows in one Forecaster call, then
    settle each accepted close in order.

    A ticker's window keeps the last `capacity` closes (at least the model's window); each
    forecast reads the last `forecaster.window` of them.
    """
    result = BatchResult()
    states: dict[str, TickerState] = {}
    accepted: list[tuple[PriceTick, int | None]] = []  # each close, and its window's index
    pending: list[WindowInput] = []
    size = forecaster.window
    limit = forecaster.settings.max_price
    for message in batch:
        try:
            tick = decode(message)
        except BadMessage as exc:
            result.dead_letters.append(dead_letter(message, str(exc)))
            continue
        state = states.get(tick.ticker) or lookup(tick.ticker)
        if state.seen(message.partition, message.offset):
            result.redelivered += 1  # its effects are already in the state: nothing again
            continue
        position = (message.partition, message.offset)  # applied, whatever comes of it
        if tick.close > limit:
            states[tick.ticker] = replace(state, position=position)
            reason = f"close {tick.close:g} is above the plausible {limit:g}"
            result.dead_letters.append(dead_letter(message, reason))
            continue
        window, outcome = apply_close(state.window, tick.date, tick.close, capacity, _bar(tick))
        states[tick.ticker] = replace(state, window=window, position=position)  # one copy
        if outcome is Outcome.DUPLICATE:
            result.duplicates += 1
            continue
        if outcome is not Outcome.APPENDED:
            held = f"window holds {state.window.dates[0]}..{state.window.last_date}"
            result.dead_letters.append(
                dead_letter(message, f"{outcome.value} for {tick.date} ({held})")
            )
            continue
        result.accepted += 1
        index = None
        if len(window) >= size:
            index = len(pending)
            pending.append(
                WindowInput(
                    window.array()[-size:], tick.ticker, tick.date, window.bar_array()[-size:]
                )
            )
        accepted.append((tick, index))
    # With scoring, each forecast's quantiles are read at its ticker's ACI coverages below.
    scoring = forecaster.settings.scoring
    predictions = forecaster.forecast(pending, intervals=not scoring) if pending else []
    # Settling runs in message order (windows are already final; nothing else was touched
    # above), so a batch replayed whole or one close at a time gives the same outputs.
    for tick, index in accepted:
        state = settle(states[tick.ticker], tick, forecaster, performance, result)
        if index is not None:
            state = forecast_message(state, predictions[index], forecaster, result)
        states[tick.ticker] = state
    result.states = states
    return result
