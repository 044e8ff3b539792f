"""A CSV file whose name or content says it holds another ticker is refused, never relabelled."""

from __future__ import annotations

from pathlib import Path

import pytest

from producers.errors import SourceError
from producers.sources import load_prices
from producers.sources.csv_files import looks_like_ticker

ROWS = "2024-01-02,10\n2024-01-03,11\n"


def plain(path: Path) -> Path:
    path.write_text("Date,Close\n" + ROWS)
    return path


def with_column(path: Path, *tickers: str, name: str = "Ticker") -> Path:
    """A file with a ticker column; the rows take `tickers` in turn."""
    lines = [f"2024-01-0{2 + i},{10 + i},{tickers[i % len(tickers)]}" for i in range(2)]
    path.write_text(f"Date,Close,{name}\n" + "\n".join(lines) + "\n")
    return path


def refusal(path: Path, tickers: list[str], settings) -> str:
    with pytest.raises(SourceError) as info:
        load_prices(f"csv:{path}", tickers, settings)
    return str(info.value)


def labels(path: Path, tickers: list[str], settings) -> list[str]:
    data = load_prices(f"csv:{path}", tickers, settings)
    assert [r.ticker for r in data.reports.values()] == list(data.frames)
    return list(data.frames)


@pytest.mark.shared_data
def test_another_tickers_real_file_is_refused(shared_data, data_settings) -> None:
    path = shared_data / "PETR4.SA.csv"
    message = refusal(path, ["CMIG4.SA"], data_settings)
    assert message == (
        f"{path}: its file name says it holds PETR4.SA, not CMIG4.SA; ask for PETR4.SA, or "
        "give the file of CMIG4.SA"
    )
    assert labels(path, ["PETR4.SA"], data_settings) == ["PETR4.SA"]


def test_a_ticker_like_file_name_must_match(tmp_path, data_settings) -> None:
    path = plain(tmp_path / "PETR4.SA.csv")
    assert "its file name says it holds PETR4.SA, not VALE3.SA" in refusal(
        path, ["VALE3.SA"], data_settings
    )
    assert labels(path, ["petr4.sa"], data_settings) == ["petr4.sa"]  # the same ticker
    assert labels(path, [], data_settings) == ["PETR4.SA"]


@pytest.mark.parametrize("name", ["prices.csv", "cmig4-download.csv", "export 2024.csv"])
def test_a_plain_file_name_loads_for_the_ticker_asked(tmp_path, data_settings, name) -> None:
    path = plain(tmp_path / name)
    assert labels(path, ["CMIG4.SA"], data_settings) == ["CMIG4.SA"]


@pytest.mark.parametrize("column", ["Ticker", "symbol", " SYMBOL "])
def test_a_ticker_column_must_match(tmp_path, data_settings, column) -> None:
    path = with_column(tmp_path / "prices.csv", "PETR4.SA", name=column)
    assert "its ticker column or header says it holds PETR4.SA, not CMIG4.SA" in refusal(
        path, ["CMIG4.SA"], data_settings
    )
    assert labels(path, ["PETR4.SA"], data_settings) == ["PETR4.SA"]
    assert labels(path, [], data_settings) == ["PETR4.SA"]  # the column names the file's ticker


def test_a_file_name_and_column_that_disagree_are_refused(tmp_path, data_settings) -> None:
    path = with_column(tmp_path / "PETR4.SA.csv", "CMIG4.SA")
    assert "its file name says it holds PETR4.SA, not CMIG4.SA" in refusal(path, [], data_settings)
    assert "says it holds CMIG4.SA, not PETR4.SA" in refusal(path, ["PETR4.SA"], data_settings)


def test_a_column_of_several_tickers_is_refused(tmp_path, data_settings) -> None:
    path = with_column(tmp_path / "prices.csv", "PETR4.SA", "CMIG4.SA")
    message = refusal(path, ["PETR4.SA"], data_settings)
    assert message == (
        f"{path}: the ticker column names 2 tickers (PETR4.SA, CMIG4.SA); give one file per ticker"
    )


def test_a_folder_file_holding_another_ticker_is_refused(tmp_path, data_settings) -> None:
    with_column(tmp_path / "CMIG4.SA.csv", "PETR4.SA")
    assert "says it holds PETR4.SA, not CMIG4.SA" in refusal(tmp_path, ["CMIG4.SA"], data_settings)
    assert "says it holds PETR4.SA, not CMIG4.SA" in refusal(tmp_path, [], data_settings)


def test_a_folder_keeps_its_plain_file_names_as_labels(tmp_path, data_settings) -> None:
    """Without --tickers a folder's files are labelled by name, even one naming a ticker inside
    (CMIG4.SA.yfinance-raw.csv beside CMIG4.SA.csv), so that no two files share a label."""
    plain(tmp_path / "CMIG4.SA.csv")
    raw = "Price,Close\nTicker,CMIG4.SA\nDate,\n" + ROWS
    (tmp_path / "CMIG4.SA.yfinance-raw.csv").write_text(raw)
    assert labels(tmp_path, [], data_settings) == ["CMIG4.SA", "CMIG4.SA.yfinance-raw"]


@pytest.mark.parametrize(
    ("name", "ticker_like"),
    [
        ("CMIG4.SA", True),
        ("AAPL", True),
        ("^BVSP", True),
        ("BRL=X", True),
        ("BRK-B", True),
        ("prices", False),
        ("CMIG4.SA.yfinance-raw", False),
        ("cmig4.sa", False),
        ("A" * 17, False),
        ("CMIG4..SA", False),
    ],
)
def test_what_reads_as_a_ticker(name: str, ticker_like: bool) -> None:
    assert looks_like_ticker(name) is ticker_like
