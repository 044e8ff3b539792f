"""parse_source and the checks load_prices makes before reading anything."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from producers.errors import SourceError
from producers.sources import SOURCE_KINDS, load_prices, parse_source


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("yahoo", ("yahoo", None)),
        ("YAHOO", ("yahoo", None)),
        ("synthetic", ("synthetic", None)),
        (" Synthetic ", ("synthetic", None)),
        ("csv:data/CMIG4.SA.csv", ("csv", Path("data/CMIG4.SA.csv"))),
        ("CSV: prices ", ("csv", Path("prices"))),
        ("csv:C:/prices/x.csv", ("csv", Path("C:/prices/x.csv"))),  # only the first ':' splits
    ],
)
def test_parse_source_accepts_every_kind(spec: str, expected: tuple[str, Path | None]) -> None:
    assert parse_source(spec) == expected


def test_parse_source_expands_the_home_folder() -> None:
    assert parse_source("csv:~/prices") == ("csv", Path.home() / "prices")


@pytest.mark.parametrize(
    "spec", ["foo", "", "csv:", "csv:   ", "csv", "yahoo:x", "synthetic:3", "http://x"]
)
def test_parse_source_rejects_bad_specs(spec: str) -> None:
    with pytest.raises(SourceError) as info:
        parse_source(spec)
    message = str(info.value)
    assert repr(spec) in message
    assert all(kind in message for kind in SOURCE_KINDS)


@pytest.mark.parametrize("spec", ["synthetic", "yahoo", "csv:."])
def test_end_before_start_is_refused_before_loading(spec: str, data_settings) -> None:
    with pytest.raises(SourceError, match="2024-01-01 is before start 2024-02-01"):
        load_prices(spec, ["AAA"], data_settings, start=date(2024, 2, 1), end=date(2024, 1, 1))


@pytest.mark.parametrize("spec", ["synthetic", "yahoo"])
def test_non_csv_sources_need_a_ticker(spec: str, data_settings) -> None:
    with pytest.raises(SourceError, match="needs at least one ticker"):
        load_prices(spec, [], data_settings)


def test_a_missing_csv_path_is_named(tmp_path: Path, data_settings) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(SourceError) as info:
        load_prices(f"csv:{missing}", [], data_settings)
    assert str(missing) in str(info.value) and "no such file or folder" in str(info.value)


def test_start_equal_to_end_gives_that_one_session(data_settings) -> None:
    day = date(2024, 3, 4)
    data = load_prices("synthetic", ["AAA"], data_settings, start=day, end=day)
    assert data.frames["AAA"]["date"].dt.date.tolist() == [day]
    assert data.reports["AAA"].first_date == data.reports["AAA"].last_date == "2024-03-04"
