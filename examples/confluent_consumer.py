"""Read tickcast's forecasts and drift alerts from another stack, and check each message
against the published JSON Schemas (schemas/json): all it needs from tickcast is those files.

    pip install confluent-kafka jsonschema
    export KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:PORT    # the line `make up` prints
    python examples/confluent_consumer.py --from-beginning

Each message prints one line, `valid` or `INVALID` with the first reason; the exit code is 1
when any message was invalid. The consumer assigns itself every partition of both topics
instead of joining a consumer group, so it reads at once. On the embedded broker (Tansu) a
group join takes about half the session timeout: 23 s at librdkafka's default of 45 s, 3 s
with `session.timeout.ms` 6000. Without a group it commits no offsets; a service that must
resume where it stopped subscribes with a `group.id` and a short session timeout.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaException, TopicPartition
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "schemas" / "json"
#: --<option>-topic -> (tickcast's default topic name, its JSON Schema file stem)
TOPICS = {"forecasts": ("forecasts", "forecast"), "alerts": ("drift-alerts", "drift_alert")}
POLL_S = 0.2


def load_validators(schema_dir: Path, stem: str) -> dict[int, Draft202012Validator]:
    """Every published version of one message, by schema_version (v1 files stay published)."""
    validators = {}
    for path in sorted(schema_dir.glob(f"{stem}.v*.json")):
        version = int(path.name.removesuffix(".json").rsplit(".v", 1)[1])
        schema = json.loads(path.read_text())
        Draft202012Validator.check_schema(schema)
        validators[version] = Draft202012Validator(
            schema, format_checker=Draft202012Validator.FORMAT_CHECKER
        )
    if not validators:
        raise SystemExit(f"no {stem}.v*.json in {schema_dir}")
    return validators


def problem(value: bytes | None, validators: dict[int, Draft202012Validator]) -> str | None:
    """Why a message breaks its contract, or None when it is valid."""
    try:
        message: Any = json.loads(value or b"")
    except ValueError as exc:
        return f"not JSON: {exc}"
    if not isinstance(message, dict):
        return "not a JSON object"
    version = message.get("schema_version")
    if version not in validators:
        return f"schema_version {version!r} has no published schema ({sorted(validators)})"
    error = best_match(validators[version].iter_errors(message))
    return None if error is None else f"{error.json_path}: {error.message}"


@dataclass
class Tally:
    """What was read so far, and when the last message came (for --idle-timeout)."""

    valid: int = 0
    invalid: int = 0
    last_message_at: float = field(default_factory=time.monotonic)

    @property
    def read(self) -> int:
        return self.valid + self.invalid

    def add(self, where: str, reason: str | None) -> None:
        """One line per message: valid, or INVALID with the first reason."""
        self.last_message_at = time.monotonic()
        if reason is None:
            self.valid += 1
            print(f"valid   {where}", flush=True)
        else:
            self.invalid += 1
            print(f"INVALID {where}: {reason}", flush=True)


def assign_all(consumer: Consumer, topics: list[str], from_beginning: bool) -> None:
    """Every partition of `topics`, without a group join (see the module docstring)."""
    metadata = consumer.list_topics(timeout=10)
    start = OFFSET_BEGINNING if from_beginning else OFFSET_END
    partitions = []
    for topic in topics:
        found = metadata.topics.get(topic)
        if found is None or found.error is not None or not found.partitions:
            raise SystemExit(f"topic {topic!r} does not exist on the broker (yet)")
        partitions += [TopicPartition(topic, p, start) for p in sorted(found.partitions)]
    consumer.assign(partitions)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--bootstrap",
        default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "localhost:9092"),
        help="host:port (default: $KAFKA_BOOTSTRAP_SERVERS, else localhost:9092)",
    )
    parser.add_argument(
        "--topic-prefix",
        default=os.environ.get("TICKCAST_KAFKA__TOPIC_PREFIX", ""),
        help="tickcast's TICKCAST_KAFKA__TOPIC_PREFIX (default: that variable, else none)",
    )
    for key, (topic, _) in TOPICS.items():
        parser.add_argument(f"--{key}-topic", default=topic, help=f"default: {topic}")
    parser.add_argument("--schemas", type=Path, default=SCHEMA_DIR, help="the JSON Schema folder")
    parser.add_argument(
        "--from-beginning", action="store_true", help="read what the topics hold, then follow"
    )
    parser.add_argument("--limit", type=int, default=0, help="stop after this many; 0: never")
    parser.add_argument(
        "--idle-timeout", type=float, default=0.0, help="stop after this many quiet seconds"
    )
    return parser.parse_args(argv)


def follow(
    consumer: Consumer,
    validators: dict[str, dict[int, Draft202012Validator]],
    tally: Tally,
    limit: int,
    idle_timeout: float,
) -> None:
    """Validate each message until `limit` messages or `idle_timeout` quiet seconds."""
    while not (limit and tally.read >= limit):
        record = consumer.poll(POLL_S)
        if record is None:
            if idle_timeout and time.monotonic() - tally.last_message_at > idle_timeout:
                break
            continue
        if record.error():
            raise KafkaException(record.error())
        key = (record.key() or b"").decode(errors="replace")
        where = f"{record.topic()} p{record.partition()}@{record.offset()} {key}"
        tally.add(where, problem(record.value(), validators[record.topic()]))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    validators = {
        args.topic_prefix + getattr(args, f"{key}_topic"): load_validators(args.schemas, stem)
        for key, (_, stem) in TOPICS.items()
    }
    consumer = Consumer(
        {
            "bootstrap.servers": args.bootstrap,
            "group.id": "tickcast-example",  # the client requires one; assign() never joins it
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 100,  # Tansu holds a fetch for its whole wait
        }
    )
    tally = Tally()
    try:
        assign_all(consumer, list(validators), args.from_beginning)
        follow(consumer, validators, tally, args.limit, args.idle_timeout)
    except KeyboardInterrupt:  # Ctrl-C: stop following and give the summary
        pass
    finally:
        consumer.close()
    print(f"read {tally.read} messages: {tally.valid} valid, {tally.invalid} invalid")
    return 1 if tally.invalid else 0


if __name__ == "__main__":
    sys.exit(main())
