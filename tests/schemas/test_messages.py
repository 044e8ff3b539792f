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
    ForecastScore,
    ModelEvent,
    PriceTick,
    RollingScores,
)
from tickcast.cli.contracts import current_version, schema_files

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
            id="6f1c0e0e8a8b5c1d9e2f3a4b5c6d7e8f",
            quantiles={"0.025": 12.1, "0.1": 12.3, "0.5": 12.6, "0.9": 12.9, "0.975": 13.1},
            return_quantiles={
                "0.025": -0.03,
                "0.1": -0.016,
                "0.5": 0.008,
                "0.9": 0.03,
                "0.975": 0.046,
            },
            volatility=0.018,
            interval_method="aci",
            produced_at=AT,
        ),
        "forecast_score": ForecastScore(
            id="0b6f4d3c2a1908f7e6d5c4b3a2918070",
            forecast_id="6f1c0e0e8a8b5c1d9e2f3a4b5c6d7e8f",
            ticker="CMIG4.SA",
            as_of=date(2024, 3, 4),
            target_date=date(2024, 3, 5),
            model_name="tickcast-lstm",
            model_version="3",
            predicted_close=12.6,
            actual_close=12.4,
            error=-0.2,
            abs_error=0.2,
            pct_error=-1.6129,
            naive_error=-0.1,
            covered_80=True,
            covered_95=True,
            pinball=0.004,
            rolling={
                "20": RollingScores(
                    n=20, mase=1.01, coverage_80=0.8, coverage_95=0.95, pinball=0.005
                ),
                "60": RollingScores(
                    n=41, mase=None, coverage_80=0.78, coverage_95=0.95, pinball=0.005
                ),
            },
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
    assert json.loads(text)["schema_version"] == current_version(model)
    assert model.model_validate_json(text) == message
    assert model.model_validate_json(text, strict=True) == message


@pytest.mark.parametrize("name", list(BUS_MESSAGES))
def test_every_bus_message_carries_schema_version(name: str):
    model = BUS_MESSAGES[name]
    version = current_version(model)
    assert version in (1, 2)
    schema = model.model_json_schema()["properties"]["schema_version"]
    assert schema.get("const") == 1 or schema.get("enum") == [1, 2]


CHANGED = ("forecast", "drift_alert")  # at version 2; their version 1 files stay published


def test_committed_json_schemas_match_the_models():
    files = schema_files()
    assert set(files) == {f"{stem}.v{current_version(m)}.json" for stem, m in BUS_MESSAGES.items()}
    frozen = {f"{stem}.v1.json" for stem in CHANGED}
    committed = {p.name for p in JSON_DIR.glob("*.json")}
    assert committed == set(files) | frozen, "schemas/json is stale: run `tickcast schemas`"
    for name, text in files.items():
        assert (JSON_DIR / name).read_text() == text, (
            f"schemas/json/{name} does not match the model: run `tickcast schemas`"
        )


@pytest.mark.parametrize("stem", CHANGED)
def test_version_2_only_adds_fields(stem: str):
    v1, v2 = (json.loads((JSON_DIR / f"{stem}.v{n}.json").read_text()) for n in (1, 2))
    assert set(v1["properties"]) < set(v2["properties"])
    assert set(v2.get("required", [])) <= set(v1.get("required", []))  # nothing newly required
    for field, spec in v1["properties"].items():
        if field != "schema_version":
            assert v2["properties"][field] == spec, field


@pytest.mark.parametrize("stem", CHANGED)
def test_a_version_1_message_still_reads(stem: str):
    """The project's own readers accept v1 and v2: a v1 message valid under the v1 schema."""
    model = BUS_MESSAGES[stem]
    v1 = json.loads(EXAMPLES[stem].model_dump_json(include=_v1_fields(stem)))
    v1["schema_version"] = 1
    assert not list(_validator(stem, 1).iter_errors(v1))
    message = model.model_validate_json(json.dumps(v1))
    assert message.schema_version == 1 and message.id is None


def _v1_fields(stem: str) -> set[str]:
    return set(json.loads((JSON_DIR / f"{stem}.v1.json").read_text())["properties"])


def _validator(name: str, version: int | None = None):
    jsonschema = pytest.importorskip("jsonschema")
    version = version or current_version(BUS_MESSAGES[name])
    schema = json.loads((JSON_DIR / f"{name}.v{version}.json").read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_real_message_validates_against_committed_schema(name: str):
    validator = _validator(name)
    instance = json.loads(EXAMPLES[name].model_dump_json())
    assert list(validator.iter_errors(instance)) == []
    wrong = {**instance, "schema_version": 3}
    assert list(validator.iter_errors(wrong)), "the schema must pin schema_version"


@pytest.mark.parametrize(
    "bad",
    [{"close": 0}, {"close": "1.5"}, {"date": "04/03/2024"}, {"ticker": ""}, {"close": None}],
)
def test_price_tick_schema_rejects_what_the_worker_rejects(bad: dict):
    validator = _validator("price_tick")
    instance = {**json.loads(EXAMPLES["price_tick"].model_dump_json()), **bad}
    assert list(validator.iter_errors(instance))
