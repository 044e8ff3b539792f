"""CSV files: the real layouts in ../shared/data, header variants, tickers and parse errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from core.config import DataSettings
from producers.errors import SourceError
from producers.sources import load_prices
from producers.sources.validate import FILLER_ROW
from schemas.prices import PRICE_COLUMNS

KEYS = ("date", "open", "high", "low", "close", "volume")
ROWS = [
    dict(zip(KEYS, ("2024-01-03", "10.5", "12", "10", "11", "2000"), strict=True)),
    dict(zip(KEYS, ("2024-01-02", "10", "11", "9", "10.5", "1000"), strict=True)),
]
RAW_HEADER = "Price,Close,High,Low,Open,Volume\nTicker,{t},{t},{t},{t},{t}\nDate,,,,,\n"


def write(path: Path, header: list[str], keys: list[str] | None = None) -> Path:
    """A CSV of ROWS under `header`; `keys` maps each header cell to a ROWS key."""
    keys = keys or [h.strip().lower() for h in header]
    lines = [",".join(header), *(",".join(row[k] for k in keys) for row in ROWS)]
    path.write_text("\n".join(lines) + "\n")
    return path


def load_one(spec: str, settings: DataSettings, tickers: list[str] | None = None):
    data = load_prices(spec, tickers or [], settings)
    assert len(data.frames) == 1
    ticker = next(iter(data.frames))
    return ticker, data.frames[ticker], data.reports[ticker]


#: file -> ticker, rows in the file, span, first open, first close (ELET3: auto = Adj Close,
#: and open/high/low scaled by Adj Close / Close: 22.491453 * 18.822149 / 22.491453)
LAYOUTS = {
    "CMIG4.SA.csv": ("CMIG4.SA", 1738, "2018-01-02..2024-12-30", 1.5388002, 1.5566932),
    "PETR4.SA.csv": ("PETR4.SA", 4973, "2005-01-03..2024-12-30", 2.3261485, 2.2474172),
    "ELET3.SA.csv": ("ELET3.SA", 1741, "2017-01-02..2023-12-28", 18.822149, 18.822149),
    # the raw layout names its ticker: CMIG4.SA, not the file name's CMIG4.SA.yfinance-raw
    "CMIG4.SA.yfinance-raw.csv": ("CMIG4.SA", 1738, "2018-01-02..2024-12-30", 1.5838026, 1.6022189),
}


@pytest.mark.shared_data
@pytest.mark.parametrize("name", list(LAYOUTS))
def test_real_layouts_load_into_the_validated_frame(shared_data, data_settings, name) -> None:
    ticker, rows, span, open_, close = LAYOUTS[name]
    got, frame, report = load_one(f"csv:{shared_data / name}", data_settings)
    assert got == ticker == report.ticker == frame.attrs["ticker"]
    assert tuple(frame.columns) == PRICE_COLUMNS
    assert frame["date"].is_monotonic_increasing and frame["date"].is_unique
    assert frame["close"].dtype == "float64" and (frame["close"] > 0).all()
    assert report.rows_in == rows
    assert report.rows_out == len(frame) == rows - sum(report.dropped.values())
    assert f"{report.first_date}..{report.last_date}" == span
    assert report.synthetic is False and report.origin == str(shared_data / name)
    assert frame.iloc[0]["open"] == pytest.approx(open_, rel=1e-6)
    assert frame.iloc[0]["close"] == pytest.approx(close, rel=1e-6)


@pytest.mark.shared_data
def test_a_folder_loads_the_requested_tickers(shared_data, data_settings) -> None:
    data = load_prices(f"csv:{shared_data}", ["PETR4.SA", "CMIG4.SA"], data_settings)
    assert list(data.frames) == ["PETR4.SA", "CMIG4.SA"]
    assert data.reports["PETR4.SA"].origin == str(shared_data / "PETR4.SA.csv")


@pytest.mark.shared_data
@pytest.mark.parametrize(
    ("choice", "close"),
    [("auto", 18.8221492767334), ("adj_close", 18.8221492767334), ("close", 22.491453170776367)],
)
def test_close_column_on_a_file_with_adj_close(shared_data, tmp_path, choice, close) -> None:
    settings = DataSettings(dir=tmp_path, close_column=choice)
    _, frame, _ = load_one(f"csv:{shared_data / 'ELET3.SA.csv'}", settings)
    assert frame.iloc[0]["close"] == pytest.approx(close, rel=1e-12)


@pytest.mark.shared_data
def test_adj_close_on_a_file_without_it_is_an_error(shared_data, tmp_path) -> None:
    path = shared_data / "CMIG4.SA.csv"
    with pytest.raises(SourceError) as info:
        load_prices(f"csv:{path}", [], DataSettings(dir=tmp_path, close_column="adj_close"))
    assert str(path) in str(info.value) and "no Adj Close" in str(info.value)


@pytest.mark.shared_data
def test_classic_layout_drops_its_filler_rows_with_close(shared_data, tmp_path) -> None:
    settings = DataSettings(dir=tmp_path, close_column="close")
    _, frame, report = load_one(f"csv:{shared_data / 'ELET3.SA.csv'}", settings)
    assert report.dropped == {FILLER_ROW: 11}
    assert pd.Timestamp("2017-12-25") not in set(frame["date"])


@pytest.mark.shared_data
def test_classic_layout_drops_its_filler_rows_with_adj_close(shared_data, data_settings) -> None:
    _, frame, report = load_one(f"csv:{shared_data / 'ELET3.SA.csv'}", data_settings)
    assert report.dropped == {FILLER_ROW: 11}
    tol = 1e-9  # adjusting by Adj Close / Close rounds in the last digit
    assert (frame["low"] <= frame["close"] * (1 + tol)).all()
    assert (frame["close"] <= frame["high"] * (1 + tol)).all()


@pytest.mark.parametrize(
    "header",
    [
        ["Date", "Open", "High", "Low", "Close", "Volume"],
        ["Volume", "Close", "Low", "High", "Open", "Date"],
        ["date", "CLOSE", "open", "VOLUME", "low", "high"],
        ["  Date ", " Open", "High  ", " low ", " Close ", "Volume "],
    ],
)
def test_any_column_order_and_header_spelling(tmp_path, data_settings, header) -> None:
    path = write(tmp_path / "AAA.csv", header)
    _, frame, report = load_one(f"csv:{path}", data_settings)
    assert tuple(frame.columns) == PRICE_COLUMNS
    assert frame["date"].dt.strftime("%Y-%m-%d").tolist() == ["2024-01-02", "2024-01-03"]
    assert frame["open"].tolist() == [10.0, 10.5] and frame["close"].tolist() == [10.5, 11.0]
    assert frame["high"].tolist() == [11.0, 12.0] and frame["low"].tolist() == [9.0, 10.0]
    assert frame["volume"].tolist() == [1000.0, 2000.0]
    assert report.ticker == "AAA" and report.dropped == {}


def test_date_and_close_alone_are_enough(tmp_path, data_settings) -> None:
    path = write(tmp_path / "AAA.csv", ["Timestamp", "Adj Close"], ["date", "close"])
    _, frame, _ = load_one(f"csv:{path}", data_settings)
    assert frame["close"].tolist() == [10.5, 11.0]
    assert frame[["open", "high", "low", "volume"]].isna().all().all()


def test_raw_yfinance_layout_names_its_ticker(tmp_path, data_settings) -> None:
    path = tmp_path / "download.csv"
    path.write_text(RAW_HEADER.format(t="ABCD3.SA") + "2024-01-02,10.5,11,9,10,1000\n")
    ticker, frame, report = load_one(f"csv:{path}", data_settings)
    assert ticker == report.ticker == frame.attrs["ticker"] == "ABCD3.SA"
    assert frame.iloc[0][["open", "close"]].tolist() == [10.0, 10.5]
    assert load_one(f"csv:{path}", data_settings, ["ABCD3.SA"])[0] == "ABCD3.SA"
    with pytest.raises(SourceError, match=r"holds ABCD3\.SA, not PETR4\.SA"):
        load_prices(f"csv:{path}", ["PETR4.SA"], data_settings)


def test_a_plain_file_takes_the_given_ticker(tmp_path, data_settings) -> None:
    path = write(tmp_path / "prices.csv", ["Date", "Close"])
    assert load_one(f"csv:{path}", data_settings, ["XYZW3.SA"])[0] == "XYZW3.SA"
    assert load_one(f"csv:{path}", data_settings)[0] == "prices"


def test_a_folder_missing_a_ticker_names_it(tmp_path, data_settings) -> None:
    write(tmp_path / "AAA.csv", ["Date", "Close"])
    with pytest.raises(SourceError) as info:
        load_prices(f"csv:{tmp_path}", ["AAA", "NOPE3.SA"], data_settings)
    message = str(info.value)
    assert str(tmp_path) in message and "NOPE3.SA" in message and "found AAA" in message


def test_an_empty_folder_is_an_error(tmp_path, data_settings) -> None:
    with pytest.raises(SourceError, match=r"holds no \.csv files"):
        load_prices(f"csv:{tmp_path}", [], data_settings)


def test_a_single_file_holds_one_ticker(tmp_path, data_settings) -> None:
    path = write(tmp_path / "AAA.csv", ["Date", "Close"])
    with pytest.raises(SourceError) as info:
        load_prices(f"csv:{path}", ["AAA", "BBB"], data_settings)
    assert str(path) in str(info.value) and "single CSV file" in str(info.value)


def test_a_raw_file_with_two_tickers_is_an_error(tmp_path, data_settings) -> None:
    path = tmp_path / "two.csv"
    path.write_text("Price,Close,Close\nTicker,AAA,BBB\nDate,,\n2024-01-02,1,2\n")
    with pytest.raises(SourceError, match="duplicate column names"):
        load_prices(f"csv:{path}", [], data_settings)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "the file is empty"),
        (b"\n\n", "the file is empty"),
        (b"Day,Close\n2024-01-02,1\n", "no date column"),
        (b"Date,Open,Volume\n2024-01-02,1,5\n", "no Close or Adj Close column"),
        (b"Date,Close,close\n2024-01-02,1,2\n", "duplicate column names"),
        (b"Date, Adj Close ,Adj_Close\n2024-01-02,1,2\n", "duplicate column names"),
        (b'Date,Close\n"2024-01-02,1\n', "not a valid CSV"),
        (b"Date,Close\n2024-01-02,\xff\n", "cannot read the file"),
    ],
)
def test_unparseable_files_name_the_file_and_problem(tmp_path, data_settings, content, problem):
    path = tmp_path / "BAD.csv"
    path.write_bytes(content)
    with pytest.raises(SourceError) as info:
        load_prices(f"csv:{path}", [], data_settings)
    assert str(path) in str(info.value) and problem in str(info.value)
