"""parse_source and the checks load_prices makes before reading anything."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from producers.errors import SourceError
from producers.sources import SOURCE_KINDS, SourceSpec, load_prices, parse_source


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("yahoo", SourceSpec("yahoo")),
        ("YAHOO", SourceSpec("yahoo")),
        ("synthetic", SourceSpec("synthetic")),
        (" Synthetic ", SourceSpec("synthetic")),
        ("csv:data/CMIG4.SA.csv", SourceSpec("csv", Path("data/CMIG4.SA.csv"))),
        ("CSV: prices ", SourceSpec("csv", Path("prices"))),
        ("csv:C:/prices/x.csv", SourceSpec("csv", Path("C:/prices/x.csv"))),  # first ':' splits
        ("csv:prices?", SourceSpec("csv", Path("prices"))),
        (
            "csv:prices?dayfirst=true&decimal=,&sep=;",
            SourceSpec("csv", Path("prices"), {"dayfirst": True, "decimal": ",", "sep": ";"}),
        ),
        (
            "csv:p.csv?DayFirst=FALSE&sep=tab",
            SourceSpec("csv", Path("p.csv"), {"dayfirst": False, "sep": "tab"}),
        ),
        ("csv:p.csv?sep=%3B", SourceSpec("csv", Path("p.csv"), {"sep": ";"})),
    ],
)
def test_parse_source_accepts_every_kind(spec: str, expected: SourceSpec) -> None:
    assert parse_source(spec) == expected


def test_parse_source_expands_the_home_folder() -> None:
    assert parse_source("csv:~/prices") == SourceSpec("csv", Path.home() / "prices")


@pytest.mark.parametrize(
    "spec",
    ["csv:p.csv?format=dmy", "csv:p.csv?dayfirst=true&close=adj", "csv:p.csv?dayfirst"],
)
def test_unknown_csv_options_are_refused_with_the_accepted_ones(spec: str) -> None:
    with pytest.raises(SourceError) as info:
        parse_source(spec)
    message = str(info.value)
    assert repr(spec) in message
    assert (
        "accepted: dayfirst (true or false), decimal ('.' or ','), sep (',', ';' or 'tab')"
        in message
    )


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("csv:p.csv?dayfirst=maybe", "dayfirst='maybe' must be true or false"),
        ("csv:p.csv?decimal=;", "decimal=';' must be '.' or ','"),
        ("csv:p.csv?sep=|", "sep='|' must be ',', ';' or 'tab'"),
        ("csv:p.csv?sep=;&sep=,", "option sep is given twice"),
    ],
)
def test_bad_csv_option_values_are_refused(spec: str, problem: str) -> None:
    with pytest.raises(SourceError, match=re.escape(problem)):
        parse_source(spec)


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
