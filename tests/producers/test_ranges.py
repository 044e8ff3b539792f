"""A date range outside the data is refused at load time, naming the dates the source has."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from core.errors import InputError
from producers import sources
from producers.errors import SourceError
from producers.sources import NoClosesInRange, check_range, load_prices


def write_csv(path: Path, days: list[str], close: str = "10") -> Path:
    path.write_text("Date,Close\n" + "".join(f"{day},{close}\n" for day in days))
    return path


def refused(spec: str, tickers: list[str], settings, start=None, end=None) -> str:
    with pytest.raises(NoClosesInRange) as info:
        load_prices(spec, tickers, settings, start, end)
    assert isinstance(info.value, InputError)  # one line and exit 1 in the CLI, 422 in the API
    return str(info.value)


@pytest.mark.shared_data
@pytest.mark.parametrize(
    ("start", "end", "when"),
    [
        (date(2030, 1, 1), date(2030, 12, 31), "between 2030-01-01 and 2030-12-31"),
        (date(2030, 1, 1), None, "from 2030-01-01 on"),
        (None, date(2017, 12, 31), "up to 2017-12-31"),
        (date(2016, 1, 1), date(2017, 12, 29), "between 2016-01-01 and 2017-12-29"),
    ],
)
def test_a_range_outside_the_real_data_names_what_it_covers(
    shared_data, data_settings, start, end, when
) -> None:
    message = refused(f"csv:{shared_data}", ["CMIG4.SA"], data_settings, start, end)
    assert message == f"no CMIG4.SA closes {when}; the data covers 2018-01-02..2024-12-30"


@pytest.mark.shared_data
def test_the_ticker_outside_the_range_is_the_one_named(shared_data, data_settings) -> None:
    """PETR4 starts in 2005 and CMIG4 in 2018: a 2010 range has PETR4 but no CMIG4."""
    message = refused(
        f"csv:{shared_data}", ["PETR4.SA", "CMIG4.SA"], data_settings, None, date(2010, 12, 30)
    )
    assert message.startswith("no CMIG4.SA closes up to 2010-12-30;")


@pytest.mark.shared_data
def test_a_range_overlapping_the_data_loads_what_exists(shared_data, data_settings) -> None:
    data = load_prices(
        f"csv:{shared_data}", ["CMIG4.SA"], data_settings, date(2024, 12, 1), date(2030, 1, 1)
    )
    report = data.reports["CMIG4.SA"]
    assert (report.first_date, report.last_date) == ("2024-12-02", "2024-12-30")


def test_a_gap_in_the_data_is_an_empty_range_too(tmp_path, data_settings) -> None:
    path = write_csv(tmp_path / "AAA.csv", ["2024-01-02", "2024-01-03", "2024-03-01"])
    message = refused(f"csv:{path}", [], data_settings, date(2024, 2, 1), date(2024, 2, 10))
    assert message == (
        "no AAA closes between 2024-02-01 and 2024-02-10; the data covers 2024-01-02..2024-03-01"
    )


def test_the_covered_range_counts_only_valid_closes(tmp_path, data_settings) -> None:
    """A close of 0 on the last day is dropped on load, so the data ends the day before."""
    path = tmp_path / "AAA.csv"
    path.write_text("Date,Close\n2024-01-02,10\n2024-01-03,11\n2024-01-04,0\n")
    message = refused(f"csv:{path}", [], data_settings, date(2024, 6, 1))
    assert message.endswith("the data covers 2024-01-02..2024-01-03")


def test_rows_in_range_that_are_all_dropped_say_why(tmp_path, data_settings) -> None:
    """Not a range problem: the rows are there and bad, and the error says so."""
    path = tmp_path / "AAA.csv"
    path.write_text("Date,Close\n2024-01-02,10\n2024-06-03,0\n2024-06-04,-1\n")
    with pytest.raises(SourceError) as info:
        load_prices(f"csv:{path}", [], data_settings, date(2024, 6, 1))
    assert not isinstance(info.value, NoClosesInRange)
    assert "every row was dropped (2 non-positive close)" in str(info.value)


def test_synthetic_prices_past_their_end_say_how_to_reach_further(data_settings) -> None:
    message = refused("synthetic", ["SYN3.SA"], data_settings, date(2030, 1, 1))
    assert message.startswith("no SYN3.SA closes from 2030-01-01 on; the data covers 2018-01-02..")
    assert "TICKCAST_DATA__SYNTHETIC_END" in message
    data = load_prices("synthetic", ["SYN3.SA"], data_settings, date(2030, 1, 1), date(2030, 2, 1))
    assert data.reports["SYN3.SA"].first_date == "2030-01-02"


def test_a_range_without_a_trading_day_is_refused(data_settings) -> None:
    """A weekend holds no B3 session; the synthetic series runs from its anchor to the end."""
    message = refused("synthetic", ["SYN3.SA"], data_settings, date(2024, 6, 1), date(2024, 6, 2))
    assert message == (
        "no SYN3.SA closes between 2024-06-01 and 2024-06-02; "
        "the data covers 2018-01-02..2024-05-31"
    )


def test_check_range_fails_like_the_load(tmp_path, data_settings) -> None:
    path = write_csv(tmp_path / "AAA.csv", ["2024-01-02", "2024-01-03"])
    with pytest.raises(NoClosesInRange, match=r"the data covers 2024-01-02\.\.2024-01-03"):
        check_range(f"csv:{path}", [], data_settings, date(2025, 1, 1))
    check_range(f"csv:{path}", [], data_settings, date(2024, 1, 3))  # a close: no error


def test_check_range_leaves_yahoo_to_the_load(monkeypatch, data_settings) -> None:
    """Yahoo is asked once, by the load: the check must not download a second time."""

    def no_download(*args, **kwargs):
        raise AssertionError("check_range asked Yahoo")

    monkeypatch.setattr(sources, "yahoo_bars", no_download)
    check_range("yahoo", ["CMIG4.SA"], data_settings, date(2030, 1, 1))
    with pytest.raises(AssertionError, match="asked Yahoo"):  # the load does ask it
        load_prices("yahoo", ["CMIG4.SA"], data_settings, date(2030, 1, 1))


def test_check_range_of_synthetic_prices_generates_one_ticker(monkeypatch, data_settings) -> None:
    """Every synthetic ticker has the same dates: checking one checks all, and an empty
    range still fails the check."""
    made: list[str] = []
    real = sources.synthetic_bars

    def counting(ticker, *args, **kwargs):
        made.append(ticker)
        return real(ticker, *args, **kwargs)

    monkeypatch.setattr(sources, "synthetic_bars", counting)
    tickers = ["S1", "S2", "S3"]
    check_range("synthetic", tickers, data_settings, date(2024, 1, 2), date(2024, 3, 28))
    assert made == ["S1"]
    with pytest.raises(NoClosesInRange, match="no S1 closes between 2024-06-01 and 2024-06-02"):
        check_range("synthetic", tickers, data_settings, date(2024, 6, 1), date(2024, 6, 2))
