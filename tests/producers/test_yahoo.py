"""The yahoo source with yfinance.download faked: no test here touches the network."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest
import yfinance
from typer.testing import CliRunner

from core.config import DataSettings, get_settings
from producers.errors import SourceError, SourceUnavailable
from producers.sources import load_prices, yahoo
from producers.sources.validate import FILLER_ROW
from schemas.prices import PRICE_COLUMNS
from tickcast.cli import app

START, END = date(2024, 1, 2), date(2024, 1, 8)


def yf_frame() -> pd.DataFrame:
    """What yf.download(..., multi_level_index=False) returns: Date index, one column level."""
    index = pd.DatetimeIndex(
        ["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05", "2024-01-08"], name="Date"
    )
    return pd.DataFrame(
        {
            "Close": [10.5, 11.0, 11.2, 11.2, 11.4],
            "High": [11.0, 12.0, 11.5, 11.2, 11.8],
            "Low": [9.0, 10.0, 10.5, 11.2, 11.0],
            "Open": [10.0, 10.5, 11.0, 11.2, 11.1],
            "Volume": [1000, 2000, 1500, 0, 1200],  # 2024-01-05 is a filler row
        },
        index=index,
    )


@pytest.fixture
def fake_download(monkeypatch: pytest.MonkeyPatch):
    """Replace yfinance.download; set `.result` (a frame or an exception); `.calls` records.

    The download is imported lazily inside yahoo.download, so patching the module works.
    """

    class Fake:
        def __init__(self) -> None:
            self.result: pd.DataFrame | Exception = yf_frame()
            self.calls: list[dict] = []

        def __call__(self, ticker, **kwargs):
            self.calls.append({"ticker": ticker, **kwargs})
            if isinstance(self.result, Exception):
                raise self.result
            return self.result.copy()

    fake = Fake()
    monkeypatch.setattr(yfinance, "download", fake)
    set_reachable(monkeypatch, False)  # never probe the network; tests may override
    return fake


def set_reachable(monkeypatch: pytest.MonkeyPatch, value: bool) -> list[dict]:
    probes: list[dict] = []
    monkeypatch.setattr(yahoo, "reachable", lambda *a, **k: probes.append(k) or value)
    return probes


def test_empty_and_unreachable_is_unavailable(fake_download, monkeypatch, data_settings):
    fake_download.result = pd.DataFrame()
    probes = set_reachable(monkeypatch, False)
    with pytest.raises(SourceUnavailable) as info:
        load_prices("yahoo", ["CMIG4.SA"], data_settings, START, END)
    message = str(info.value)
    assert "cannot be reached" in message
    assert "csv:PATH" in message and "synthetic" in message
    assert len(probes) == 1
    assert not list(data_settings.dir.rglob("*.csv"))  # nothing cached


def test_empty_but_reachable_is_about_the_ticker(fake_download, monkeypatch, data_settings):
    fake_download.result = pd.DataFrame()
    set_reachable(monkeypatch, True)
    with pytest.raises(SourceError) as info:
        load_prices("yahoo", ["NOPE3.SA"], data_settings, START, END)
    assert not isinstance(info.value, SourceUnavailable)
    assert "NOPE3.SA" in str(info.value) and ".SA" in str(info.value)


@pytest.mark.parametrize("error", [ConnectionError("boom"), TimeoutError("slow"), ValueError("x")])
def test_download_raising_is_unavailable(fake_download, monkeypatch, data_settings, error):
    fake_download.result = error
    set_reachable(monkeypatch, True)
    with pytest.raises(SourceUnavailable) as info:
        load_prices("yahoo", ["CMIG4.SA"], data_settings, START, END)
    assert str(error) in str(info.value) and "synthetic" in str(info.value)
    assert info.value.__cause__ is error


def test_bars_are_validated_and_cached(fake_download, monkeypatch, data_settings):
    set_reachable(monkeypatch, False)  # never asked: the download succeeds
    data = load_prices("yahoo", ["CMIG4.SA"], data_settings, START, END)
    frame, report = data.frames["CMIG4.SA"], data.reports["CMIG4.SA"]
    assert tuple(frame.columns) == PRICE_COLUMNS
    assert frame["date"].dt.strftime("%Y-%m-%d").tolist() == [
        "2024-01-02",
        "2024-01-03",
        "2024-01-04",
        "2024-01-08",
    ]
    assert frame["close"].tolist() == [10.5, 11.0, 11.2, 11.4]
    assert frame["open"].tolist() == [10.0, 10.5, 11.0, 11.1]
    assert report.dropped == {FILLER_ROW: 1} and report.rows_in == 5
    assert report.origin == "Yahoo Finance" and report.synthetic is False

    call = fake_download.calls[0]
    assert call["ticker"] == "CMIG4.SA"
    assert call["start"] == START and call["end"] == END + timedelta(days=1)  # exclusive end

    cached = list((data_settings.cache_dir / "yahoo").glob("CMIG4.SA-*.csv"))
    assert len(cached) == 1
    assert {"date", "open", "high", "low", "close", "volume"} <= set(pd.read_csv(cached[0]))

    again = load_prices("yahoo", ["CMIG4.SA"], data_settings, START, END)
    assert len(fake_download.calls) == 1  # a closed past range is served from the cache
    assert again.reports["CMIG4.SA"].origin.startswith("yahoo cache")
    pd.testing.assert_frame_equal(again.frames["CMIG4.SA"], frame)


def test_other_ranges_and_tickers_are_cached_apart(fake_download, data_settings):
    load_prices("yahoo", ["CMIG4.SA"], data_settings, START, END)
    load_prices("yahoo", ["CMIG4.SA"], data_settings, START, date(2024, 1, 5))
    load_prices("yahoo", ["PETR4.SA"], data_settings, START, END)
    assert len(fake_download.calls) == 3
    assert len(list((data_settings.cache_dir / "yahoo").glob("*.csv"))) == 3


@pytest.mark.parametrize(("ttl", "downloads"), [(12.0, 1), (0.0, 2)])
def test_open_range_cache_expires_after_ttl(fake_download, tmp_path, ttl, downloads):
    settings = DataSettings(dir=tmp_path, yahoo_cache_ttl_h=ttl)
    for _ in range(2):
        load_prices("yahoo", ["CMIG4.SA"], settings, START)  # end None: reaches today
    assert len(fake_download.calls) == downloads


def test_adj_close_and_datetime_columns_are_understood(fake_download, data_settings):
    raw = yf_frame().rename(columns={"Close": "Adj Close"})
    raw.index.name = "Datetime"
    fake_download.result = raw
    frame = load_prices("yahoo", ["CMIG4.SA"], data_settings, START, END).frames["CMIG4.SA"]
    assert frame["close"].tolist() == [10.5, 11.0, 11.2, 11.4]


def test_cli_reports_yahoo_unreachable_in_one_line(fake_download, monkeypatch, tmp_path):
    fake_download.result = pd.DataFrame()
    set_reachable(monkeypatch, False)
    monkeypatch.setenv("TICKCAST_DATA__DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["data", "--source", "yahoo", "--tickers", "CMIG4.SA"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1, result.output
    assert "cannot be reached" in result.output and "synthetic" in result.output
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)
    assert result.output.count("error:") == 1
    assert fake_download.calls and fake_download.calls[0]["ticker"] == "CMIG4.SA"
