"""One micro-batch of raw price messages in; forecasts, alerts, dead letters and new state out.

Pure apart from the Forecaster's forward pass: no Kafka here, so the Faust agent, the local
backtest engine and the tests all run exactly this code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from pydantic import ValidationError

from model.forecaster import Forecaster, Prediction, WindowInput
from schemas.messages import DeadLetter, DriftAlert, Forecast, PriceTick
from streams.alerts import DriftState, step
from streams.windows import Outcome, Window, apply_close


@dataclass(frozen=True)
class Incoming:
    """A raw message as it came off the topic."""

    key: bytes | None
    value: bytes | None
    topic: str
    partition: int
    offset: int


@dataclass(frozen=True)
class TickerState:
    """What the worker keeps per ticker: the window and the drift state."""

    window: Window = field(default_factory=Window)
    drift: DriftState = field(default_factory=DriftState)

    def to_json(self) -> dict:
        return {"window": self.window.to_json(), "drift": self.drift.to_json()}

    @classmethod
    def from_json(cls, data: dict | None) -> TickerState:
        if not data:
            return cls()
        return cls(Window.from_json(data["window"]), DriftState.from_json(data.get("drift")))


@dataclass
class BatchResult:
    forecasts: list[Forecast] = field(default_factory=list)
    alerts: list[DriftAlert] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    states: dict[str, TickerState] = field(default_factory=dict)  # changed tickers only
    accepted: int = 0
    duplicates: int = 0


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


def process_batch(
    batch: Sequence[Incoming],
    lookup: Callable[[str], TickerState],
    forecaster: Forecaster,
    capacity: int,
) -> BatchResult:
    """Apply every message in order, then forecast all full windows in one Forecaster call.

    A ticker's window keeps the last `capacity` closes (at least the model's window); each
    forecast reads the last `forecaster.window` of them.
    """
    result = BatchResult()
    states: dict[str, TickerState] = {}
    pending: list[WindowInput] = []
    size = forecaster.window
    for message in batch:
        try:
            tick = decode(message)
        except BadMessage as exc:
            result.dead_letters.append(dead_letter(message, str(exc)))
            continue
        if tick.close > forecaster.settings.max_price:
            limit = forecaster.settings.max_price
            result.dead_letters.append(
                dead_letter(message, f"close {tick.close:g} is above the plausible {limit:g}")
            )
            continue
        state = states.get(tick.ticker) or lookup(tick.ticker)
        window, outcome = apply_close(state.window, tick.date, tick.close, capacity)
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
        states[tick.ticker] = replace(state, window=window)
        if len(window) >= size:
            pending.append(WindowInput(window.array()[-size:], tick.ticker, tick.date))
    if pending:
        _forecast(forecaster.forecast(pending), states, forecaster, result)
    result.states = states
    return result


def _forecast(
    predictions: list[Prediction],
    states: dict[str, TickerState],
    forecaster: Forecaster,
    result: BatchResult,
) -> None:
    thresholds = forecaster.drift
    # Drift state runs in message order, so replaying a batch in one go or one by one agrees.
    running = {ticker: state.drift for ticker, state in states.items()}
    for p in predictions:
        new_state, alert = step(
            running[p.ticker], p.drift.drift, thresholds.enter_after, thresholds.recover_after
        )
        running[p.ticker] = new_state
        result.forecasts.append(
            Forecast(
                ticker=p.ticker,
                as_of=p.as_of,
                target_date=p.target_date,
                predicted_close=p.predicted_close,
                predicted_return=p.predicted_return,
                last_close=p.last_close,
                model_name=forecaster.name,
                model_version=forecaster.version,
                drift=p.drift,
            )
        )
        if alert:
            result.alerts.append(
                DriftAlert(
                    ticker=p.ticker,
                    as_of=p.as_of,
                    state=alert,
                    statistics=p.drift.statistics,
                    model_name=forecaster.name,
                    model_version=forecaster.version,
                )
            )
    for ticker, drift_state in running.items():
        states[ticker] = replace(states[ticker], drift=drift_state)
