"""The broker-outage log filter: a storm of client errors becomes a few lines."""

from __future__ import annotations

import logging

from core.logs import OutageFilter


def _record(message: str, level: int = logging.ERROR) -> logging.LogRecord:
    return logging.LogRecord("aiokafka.conn", level, __file__, 1, message, None, None)


def test_a_broker_outage_is_a_line_when_it_starts_and_one_every_30_s() -> None:
    now = [0.0]
    outage = OutageFilter("127.0.0.1:9092", every_s=30.0, clock=lambda: now[0])
    refused = "Unable connect to node with id 1: [Errno 111] Connect call failed"
    let_through = []
    for tick in range(9500):  # a record every 10 ms for 95 s, as aiokafka writes them
        now[0] = tick / 100
        record = _record(refused)
        if outage.filter(record):
            let_through.append(record.getMessage())
    assert len(let_through) == 1 + 3  # the start, then at 30, 60 and 90 s
    assert let_through[0].startswith("lost the Kafka broker at 127.0.0.1:9092 (Unable connect")
    assert let_through[1].startswith("still no Kafka broker at 127.0.0.1:9092 after 30 s")
    assert outage.in_outage and outage.back() == 94.99 and not outage.in_outage
    assert outage.filter(_record(refused))  # a new outage is said again


def test_other_records_pass_the_outage_filter_untouched() -> None:
    outage = OutageFilter("b:1", every_s=30.0, clock=lambda: 0.0)
    outage.filter(_record("Unable to update metadata from [1]"))  # an outage has begun
    other = _record("Heartbeat session expired: commit failed", logging.ERROR)
    info = _record("Unable connect to node 1", logging.INFO)  # below WARNING: not ours to hide
    assert outage.filter(other) and outage.filter(info)
    assert other.getMessage().startswith("Heartbeat") and not outage.filter(
        _record("NodeNotReadyError")
    )


def test_the_filter_is_attached_to_the_kafka_client_loggers() -> None:
    outage = OutageFilter("b:1", every_s=30.0)
    child = logging.getLogger("aiokafka.consumer.fetcher")
    outage.attach()
    try:
        assert outage in child.filters and outage in logging.getLogger("aiokafka").filters
        assert outage not in logging.getLogger("faust").filters
    finally:
        for name in ["aiokafka", *logging.Logger.manager.loggerDict]:
            if name.startswith("aiokafka"):
                logging.getLogger(name).removeFilter(outage)
