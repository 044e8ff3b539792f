"""Bus contracts: strict price decoding, JSON round trips, and the committed JSON Schemas."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

import schemas
from schemas.drift import DriftReport, DriftStatistic
from schemas.messages import (
    BUS_MESSAGES,
    DeadLetter,
    DriftAlert,
    Forecast,
    ModelEvent,
    PriceTick,
)
from tickcast.cli.contracts import schema_files

JSON_DIR = Path(schemas.__file__).parent / "json"
AT = datetime(2024, 3, 4, 21, 0, tzinfo=UTC)
STATS = [
    DriftStatistic(name="ks_pvalue", value=0.01, threshold="p < 0.05", drift=True),
    DriftStatistic(name="volatility_ratio", value=2.5, threshold="outside [0.5, 2.0]", drift=True),
]


def _price(**fields) -> bytes:
    base = {"ticker": "CMIG4.SA", "date": "2024-03-04", "close": 12.5, "source": "synthetic"}
    return json.dumps({**base, **fields}).encode()


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (_price(close=float("nan")), "close"),
        (_price(close=float("inf")), "close"),
        (_price(close=float("-inf")), "close"),
        (_price(close="1.5"), "close"),
        (_price(close=0), "close"),
        (_price(close=-1.0), "close"),
        (_price(schema_version=2), "schema_version"),
        (_price(schema_version="1"), "schema_version"),
        (_price(date="04/03/2024"), "date"),
        (_price(ticker=""), "ticker"),
        (b'{"ticker": "CMIG4.SA", "date": "2024-03-04", "source": "x"}', "close"),
    ],
    ids=[
        "nan",
        "inf",
        "-inf",
        "string",
        "zero",
        "negative",
        "v2",
        "v-string",
        "date",
        "ticker",
        "no-close",
    ],
)
def test_price_tick_strict_json_rejects(raw: bytes, field: str):
    with pytest.raises(ValidationError) as caught:
        PriceTick.model_validate_json(raw, strict=True)
    assert [e["loc"][0] for e in caught.value.errors()] == [field]


def test_price_tick_strict_json_accepts_int_close_and_ignores_extras():
    tick = PriceTick.model_validate_json(_price(close=7, extra="x", volume=100), strict=True)
    assert tick.close == 7.0 and math.isfinite(tick.close)
    assert tick.schema_version == 1
    assert tick.date == date(2024, 3, 4)
    assert tick.volume == 100
    assert not hasattr(tick, "extra")
    assert tick.produced_at.tzinfo is not None


def _examples() -> dict[str, BaseModel]:
    report = DriftReport(drift=True, baseline="CMIG4.SA", statistics=STATS, notes=["a note"])
    return {
        "price_tick": PriceTick(
            ticker="CMIG4.SA", date=date(2024, 3, 4), close=12.5, volume=1e6, source="synthetic"
        ),
        "forecast": Forecast(
            ticker="CMIG4.SA",
            as_of=date(2024, 3, 4),
            target_date=date(2024, 3, 5),
            predicted_close=12.6,
            predicted_return=math.log(12.6 / 12.5),
            last_close=12.5,
            model_name="tickcast-lstm",
            model_version="3",
            drift=report,
            produced_at=AT,
        ),
        "drift_alert": DriftAlert(
            ticker="CMIG4.SA",
            as_of=date(2024, 3, 4),
            state="entered",
            statistics=STATS,
            model_name="tickcast-lstm",
            model_version="3",
            produced_at=AT,
        ),
        "dead_letter": DeadLetter(
            source_topic="prices",
            partition=2,
            offset=41,
            key=None,
            payload='{"close": NaN}',
            error="invalid price message: close: Input should be greater than 0",
            failed_at=AT,
        ),
        "model_event": ModelEvent(model_name="tickcast-lstm", model_version="4", produced_at=AT),
    }


EXAMPLES = _examples()


def test_examples_cover_every_bus_message():
    assert EXAMPLES.keys() == BUS_MESSAGES.keys()
    assert all(type(EXAMPLES[k]) is BUS_MESSAGES[k] for k in BUS_MESSAGES)


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_json_round_trip(name: str):
    message = EXAMPLES[name]
    model = type(message)
    text = message.model_dump_json()
    assert json.loads(text)["schema_version"] == 1
    assert model.model_validate_json(text) == message
    assert model.model_validate_json(text, strict=True) == message


@pytest.mark.parametrize("name", list(BUS_MESSAGES))
def test_every_bus_message_carries_schema_version(name: str):
    model = BUS_MESSAGES[name]
    assert "schema_version" in model.model_fields
    assert model.model_fields["schema_version"].default == 1
    assert model.model_json_schema()["properties"]["schema_version"]["const"] == 1


def test_committed_json_schemas_match_the_models():
    files = schema_files()
    assert set(files) == {f"{stem}.v1.json" for stem in BUS_MESSAGES}
    committed = {p.name for p in JSON_DIR.glob("*.json")}
    assert committed == set(files), "schemas/json is stale: run `tickcast schemas`"
    for name, text in files.items():
        assert (JSON_DIR / name).read_text() == text, (
            f"schemas/json/{name} does not match the model: run `tickcast schemas`"
        )


def _validator(name: str):
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((JSON_DIR / f"{name}.v1.json").read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_real_message_validates_against_committed_schema(name: str):
    validator = _validator(name)
    instance = json.loads(EXAMPLES[name].model_dump_json())
    assert list(validator.iter_errors(instance)) == []
    wrong = {**instance, "schema_version": 2}
    assert list(validator.iter_errors(wrong)), "the schema must pin schema_version to 1"


@pytest.mark.parametrize(
    "bad",
    [{"close": 0}, {"close": "1.5"}, {"date": "04/03/2024"}, {"ticker": ""}, {"close": None}],
)
def test_price_tick_schema_rejects_what_the_worker_rejects(bad: dict):
    validator = _validator("price_tick")
    instance = {**json.loads(EXAMPLES["price_tick"].model_dump_json()), **bad}
    assert list(validator.iter_errors(instance))
