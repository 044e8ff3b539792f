"""The README's consumer in another stack: examples/confluent_consumer.py (confluent-kafka,
librdkafka) reads tickcast's own messages from the embedded broker and checks each one against
the JSON Schemas in schemas/json."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from datetime import date
from pathlib import Path

import pytest

from core import kafka as bus_clients
from core.config import KafkaSettings
from schemas.drift import DriftReport, DriftStatistic
from schemas.messages import DriftAlert, Forecast, TrainedOn
from streams.broker import EmbeddedBroker

pytestmark = pytest.mark.broker

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "confluent_consumer.py"
IDLE_S = 10  # the script stops after this much silence if a message never comes
MODEL = {"model_name": "tickcast-lstm", "model_version": "3"}
STATS = [DriftStatistic(name="ks_pvalue", value=0.01, threshold="p < 0.05", drift=True)]


def forecast(ticker: str, as_of: date, target: date, close: float) -> Forecast:
    """A version 2 forecast with every field the worker fills."""
    return Forecast(
        id=uuid.uuid4().hex,
        ticker=ticker,
        as_of=as_of,
        target_date=target,
        predicted_close=close,
        predicted_return=0.0,
        last_close=close,
        drift=DriftReport(drift=True, baseline=ticker, statistics=STATS, notes=["a note"]),
        quantiles={"0.025": close * 0.96, "0.1": close * 0.98, "0.5": close, "0.9": close * 1.02},
        return_quantiles={"0.025": -0.04, "0.1": -0.02, "0.5": 0.0, "0.9": 0.02},
        volatility=0.017,
        interval_method="aci",
        trained_on=TrainedOn(
            source_kind="csv", tickers=[ticker], start=date(2018, 1, 2), end=date(2022, 12, 29)
        ),
        **MODEL,
    )


def alert(ticker: str, state: str, kind: str = "data", reason: str | None = None) -> DriftAlert:
    return DriftAlert(
        id=uuid.uuid4().hex,
        ticker=ticker,
        as_of=date(2024, 3, 4),
        state=state,
        kind=kind,
        reason=reason,
        statistics=STATS,
        **MODEL,
    )


async def publish(kafka: KafkaSettings, messages: list[tuple[str, str, bytes]]) -> None:
    """With tickcast's own producer, as the worker sends them: keyed by ticker."""
    producer = bus_clients.producer(kafka)
    await producer.start()
    try:
        for topic, key, value in messages:
            await producer.send(kafka.topics[topic], key=key.encode(), value=value)
        await producer.flush()
    finally:
        await producer.stop()


def run_example(kafka: KafkaSettings, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            str(EXAMPLE),
            "--bootstrap",
            kafka.bootstrap_servers,
            "--topic-prefix",
            kafka.topic_prefix,
            "--from-beginning",
            "--idle-timeout",
            str(IDLE_S),
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


def verdicts(output: str) -> set[tuple[str, str, str]]:
    """(valid|INVALID, topic, key) for each message line of the script's output."""
    lines = [line.split(": ", 1)[0].split() for line in output.splitlines()]
    return {(words[0], words[1], words[3]) for words in lines if words[0] in {"valid", "INVALID"}}


@pytest.fixture
def kafka(broker: EmbeddedBroker) -> KafkaSettings:
    settings = KafkaSettings(
        bootstrap_servers=broker.bootstrap, topic_prefix=f"t{uuid.uuid4().hex[:8]}.", partitions=3
    )
    asyncio.run(bus_clients.ensure_topics(settings))
    return settings


def test_the_example_imports_nothing_of_tickcast() -> None:
    """It shows a consumer in another stack: it may read the schema files, not the packages."""
    tickcast = {"tickcast", "core", "schemas", "producers", "model", "streams", "api", "backtest"}
    imports = [
        line.split()[1].split(".")[0]
        for line in EXAMPLE.read_text().splitlines()
        if line.startswith(("import ", "from "))
    ]
    assert imports and not tickcast & set(imports), imports


def test_valid_forecasts_and_alerts_pass_their_json_schemas(kafka: KafkaSettings) -> None:
    messages = [
        ("forecasts", "AAA.SA", forecast("AAA.SA", date(2024, 3, 4), date(2024, 3, 5), 12.5)),
        ("forecasts", "BBB.SA", forecast("BBB.SA", date(2024, 3, 4), date(2024, 3, 5), 30.1)),
        ("drift_alerts", "AAA.SA", alert("AAA.SA", "entered")),
        ("drift_alerts", "CCC.SA", alert("CCC.SA", "recovered", "performance", "coverage")),
    ]
    asyncio.run(publish(kafka, [(t, k, m.model_dump_json().encode()) for t, k, m in messages]))

    result = run_example(kafka, "--limit", str(len(messages)))

    assert result.returncode == 0, result.stdout + result.stderr
    topics = kafka.topics
    assert verdicts(result.stdout) == {("valid", topics[t], k) for t, k, _ in messages}
    assert f"read {len(messages)} messages: {len(messages)} valid, 0 invalid" in result.stdout


def test_a_message_that_breaks_its_contract_is_reported_invalid(kafka: KafkaSettings) -> None:
    good = forecast("AAA.SA", date(2024, 3, 4), date(2024, 3, 5), 12.5)
    wrong_type = {**json.loads(good.model_dump_json()), "predicted_close": "twelve"}
    no_ticker = json.loads(alert("BBB.SA", "entered").model_dump_json())
    del no_ticker["ticker"]
    messages = [
        ("forecasts", "AAA.SA", good.model_dump_json().encode()),
        ("forecasts", "BAD1", json.dumps(wrong_type).encode()),
        ("forecasts", "BAD2", b"not json {"),
        ("drift_alerts", "BAD3", json.dumps(no_ticker).encode()),
        ("drift_alerts", "BAD4", json.dumps({**no_ticker, "schema_version": 9}).encode()),
    ]
    asyncio.run(publish(kafka, messages))

    result = run_example(kafka, "--limit", str(len(messages)))

    assert result.returncode == 1, result.stdout + result.stderr
    topics = kafka.topics
    expected = {("valid", topics["forecasts"], "AAA.SA")} | {
        ("INVALID", topics[t], k) for t, k, _ in messages[1:]
    }
    assert verdicts(result.stdout) == expected
    reasons = {
        line.split(": ", 1)[0].split()[3]: line
        for line in result.stdout.splitlines()
        if line.startswith("INVALID")
    }
    assert "$.predicted_close: 'twelve' is not of type 'number'" in reasons["BAD1"]
    assert "not JSON" in reasons["BAD2"]
    assert "'ticker' is a required property" in reasons["BAD3"]
    assert "schema_version 9 has no published schema ([1, 2])" in reasons["BAD4"]
    assert "read 5 messages: 1 valid, 4 invalid" in result.stdout


def test_a_missing_topic_is_named(kafka: KafkaSettings) -> None:
    result = run_example(kafka.model_copy(update={"topic_prefix": "nowhere."}), "--limit", "1")
    assert result.returncode != 0
    assert "topic 'nowhere.forecasts' does not exist" in result.stderr


def test_the_readme_quotes_the_example_as_it_is() -> None:
    """The README shows the heart of the script: a quote that drifted would mislead."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("[`examples/confluent_consumer.py`]", 1)[1]
    quoted = section.split("```python\n", 1)[1].split("```", 1)[0]
    functions = quoted.strip().split("\n\n\n")
    assert [f.split("(", 1)[0] for f in functions] == ["def problem", "def assign_all"]
    source = EXAMPLE.read_text()
    for function in functions:
        assert function in source, function.splitlines()[0]
