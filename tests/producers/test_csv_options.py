"""CSV files are read as they are written (dayfirst, decimal, sep), or refused naming the option."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from core.config import DataSettings, Settings
from core.errors import TickcastError
from producers.errors import SourceError
from producers.sources import NoClosesInRange, load_prices

#: Day-first dates whose days are all 12 or less: month-first would silently swap them.
DAY_FIRST = ("03/02/2024", "05/02/2024", "06/02/2024")
ISO = ["2024-02-03", "2024-02-05", "2024-02-06"]
CLOSES = ("9,47", "10,05", "9,8")
FLOATS = [9.47, 10.05, 9.8]
BR_ROWS = list(zip(DAY_FIRST, CLOSES, strict=True))
ISO_ROWS = list(zip(ISO, CLOSES, strict=True))


def write_csv(path: Path, rows: list[tuple[str, ...]], sep: str = ",") -> Path:
    """A Date/Close file with `rows` joined by `sep`."""
    path.write_text("\n".join(sep.join(row) for row in [("Date", "Close"), *rows]) + "\n")
    return path


def load(spec: str, settings: DataSettings) -> tuple[pd.DataFrame, list[str]]:
    """The one ticker's frame and its dates as ISO text."""
    frames = load_prices(spec, [], settings).frames
    assert len(frames) == 1
    frame = next(iter(frames.values()))
    return frame, frame["date"].dt.strftime("%Y-%m-%d").tolist()


def refusal(spec: str, settings: DataSettings) -> str:
    """The one-line message of the SourceError that loading `spec` raises."""
    with pytest.raises(SourceError) as info:
        load_prices(spec, [], settings)
    assert isinstance(info.value, TickcastError)  # the CLI prints it as one line, exit 1
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.fixture
def day_first(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "DMY.csv", [(d, "10.5") for d in DAY_FIRST])


def test_day_first_dates_without_the_option_are_refused(day_first, data_settings) -> None:
    message = refusal(f"csv:{day_first}", data_settings)
    assert str(day_first) in message and "'03/02/2024'" in message
    assert "?dayfirst=true" in message and "?dayfirst=false" in message


def test_day_first_dates_read_with_the_option(day_first, data_settings) -> None:
    assert load(f"csv:{day_first}?dayfirst=true", data_settings)[1] == ISO
    month_first = ["2024-03-02", "2024-05-02", "2024-06-02"]
    assert load(f"csv:{day_first}?dayfirst=false", data_settings)[1] == month_first


@pytest.mark.parametrize("mark", ["/", ".", "-"])
def test_day_first_dates_with_any_mark_and_a_time(tmp_path, data_settings, mark) -> None:
    rows = [(d.replace("/", mark) + " 00:00:00", "1") for d in DAY_FIRST]
    path = write_csv(tmp_path / "DMY.csv", rows)
    assert load(f"csv:{path}?dayfirst=true", data_settings)[1] == ISO


def test_one_fitting_reading_is_still_refused_but_named(tmp_path, data_settings) -> None:
    path = write_csv(tmp_path / "DMY.csv", [("03/02/2024", "1"), ("13/02/2024", "2")])
    message = refusal(f"csv:{path}", data_settings)
    assert "only dayfirst=true fits every date, e.g. '13/02/2024'" in message


def test_an_option_the_dates_contradict_is_refused(tmp_path, data_settings) -> None:
    path = write_csv(tmp_path / "MDY.csv", [("02/03/2024", "1"), ("02/13/2024", "2")])
    message = refusal(f"csv:{path}?dayfirst=true", data_settings)
    assert "'02/13/2024'" in message and "?dayfirst=false" in message
    assert load(f"csv:{path}?dayfirst=false", data_settings)[1] == ["2024-02-03", "2024-02-13"]


def test_iso_dates_keep_the_written_day_whatever_the_zone(tmp_path, data_settings) -> None:
    rows = [("2024-01-02 00:00:00+03:00", "1"), ("2024-01-03T00:00:00-03:00", "2")]
    path = write_csv(tmp_path / "ISO.csv", rows)
    assert load(f"csv:{path}?dayfirst=true", data_settings)[1] == ["2024-01-02", "2024-01-03"]


def test_decimal_commas_are_refused_then_read_with_the_option(tmp_path, data_settings) -> None:
    path = write_csv(tmp_path / "DEC.csv", [(d, f'"{c}"') for d, c in ISO_ROWS])
    message = refusal(f"csv:{path}", data_settings)
    assert str(path) in message and "'9,47'" in message and "?decimal=," in message
    assert load(f"csv:{path}?decimal=,", data_settings)[0]["close"].tolist() == FLOATS


def test_decimal_points_under_decimal_comma_are_refused(tmp_path, data_settings) -> None:
    path = write_csv(tmp_path / "DEC.csv", [(d, "9.47") for d in ISO])
    assert "?decimal=." in refusal(f"csv:{path}?decimal=,", data_settings)


def test_a_semicolon_file_names_sep_then_decimal(tmp_path, data_settings) -> None:
    path = write_csv(tmp_path / "BR.csv", BR_ROWS, sep=";")
    assert str(path) in (message := refusal(f"csv:{path}", data_settings))
    assert "separated by ';'" in message and "?sep=;" in message
    assert "?decimal=," in refusal(f"csv:{path}?sep=;&dayfirst=true", data_settings)
    assert "?dayfirst=" in refusal(f"csv:{path}?sep=;&decimal=,", data_settings)
    frame, dates = load(f"csv:{path}?dayfirst=true&decimal=,&sep=;", data_settings)
    assert dates == ISO and frame["close"].tolist() == FLOATS


def test_a_comma_file_read_with_sep_semicolon_names_sep(tmp_path, data_settings) -> None:
    path = write_csv(tmp_path / "AAA.csv", [(d, "1") for d in ISO])
    assert "?sep=," in refusal(f"csv:{path}?sep=;", data_settings)


def test_unquoted_decimal_commas_in_a_comma_file_are_refused(tmp_path, data_settings) -> None:
    path = write_csv(tmp_path / "DEC.csv", ISO_ROWS)
    message = refusal(f"csv:{path}?decimal=,", data_settings)
    assert "'2024-02-03' has more fields than the header (2)" in message and "?sep=;" in message


def test_a_tab_separated_file(tmp_path, data_settings) -> None:
    path = write_csv(tmp_path / "TAB.csv", ISO_ROWS, sep="\t")
    assert "?sep=tab" in refusal(f"csv:{path}", data_settings)
    assert load(f"csv:{path}?sep=tab&decimal=,", data_settings)[0]["close"].tolist() == FLOATS


@pytest.mark.parametrize(
    ("rows", "reason", "hint"),
    [
        ([("2024-01-02", "n/a"), ("2024-01-03", "")], "2 non-finite close", "?decimal=,"),
        ([("Jan 2 2024", "1"), ("20240103", "2")], "2 invalid date", "?dayfirst="),
        ([("2024-01-02", "0"), ("2024-01-03", "-1")], "2 non-positive close", ""),
    ],
)
def test_every_row_dropped_is_an_error(tmp_path, data_settings, rows, reason, hint) -> None:
    path = write_csv(tmp_path / "AAA.csv", rows)
    message = refusal(f"csv:{path}", data_settings)
    assert f"{path}: every row was dropped ({reason})" in message and hint in message


def test_an_empty_range_names_the_dates_and_not_the_bad_rows(tmp_path, data_settings) -> None:
    """An undatable row is not why the range is empty: the range is, and the message says
    which dates exist instead."""
    path = write_csv(tmp_path / "AAA.csv", [("2024-01-02", "1"), ("garbage", "2")])
    with pytest.raises(NoClosesInRange) as info:
        load_prices(f"csv:{path}", [], data_settings, start=date(2025, 1, 1))
    assert str(info.value) == (
        "no AAA closes from 2025-01-01 on; the data covers 2024-01-02..2024-01-02"
    )


def test_a_header_without_rows_is_an_error(tmp_path, data_settings) -> None:
    path = write_csv(tmp_path / "AAA.csv", [])
    assert "no rows under the header" in refusal(f"csv:{path}", data_settings)


@pytest.mark.parametrize("day", ["9999-12-31", "31/12/9999", "2262-04-12", "1600-01-03"])
def test_dates_pandas_cannot_hold_are_one_line_errors(tmp_path, data_settings, day) -> None:
    path = write_csv(tmp_path / "AAA.csv", [("2024-01-02", "1"), (day, "2")])
    message = refusal(f"csv:{path}?dayfirst=true", data_settings)
    assert message.startswith(f"{path}: the date '{day}' is outside what pandas can hold")
    assert "1677-09-22 to 2262-04-11" in message


def test_the_last_day_pandas_holds_is_read(tmp_path, data_settings) -> None:
    path = write_csv(tmp_path / "AAA.csv", [("2262-04-11", "1")])
    assert load(f"csv:{path}", data_settings)[1] == ["2262-04-11"]


def test_unknown_options_are_refused_before_reading(day_first, data_settings) -> None:
    message = refusal(f"csv:{day_first}?dayfirst=true&thousands=.", data_settings)
    assert "unknown option 'thousands'" in message
    assert (
        "accepted: dayfirst (true or false), decimal ('.' or ','), sep (',', ';' or 'tab')"
        in message
    )


def test_the_settings_give_the_format(tmp_path) -> None:
    path = write_csv(tmp_path / "BR.csv", BR_ROWS, sep=";")
    settings = DataSettings(dir=tmp_path, csv_dayfirst=True, csv_decimal=",", csv_sep=";")
    frame, dates = load(f"csv:{path}", settings)
    assert dates == ISO and frame["close"].tolist() == FLOATS


def test_the_environment_gives_the_format(tmp_path, monkeypatch) -> None:
    path = write_csv(tmp_path / "BR.csv", BR_ROWS, sep=";")
    monkeypatch.setenv("TICKCAST_DATA__CSV_DAYFIRST", "true")
    monkeypatch.setenv("TICKCAST_DATA__CSV_DECIMAL", ",")
    monkeypatch.setenv("TICKCAST_DATA__CSV_SEP", ";")
    settings = Settings().data
    frame, dates = load(f"csv:{path}", settings.model_copy(update={"dir": tmp_path}))
    assert dates == ISO and frame["close"].tolist() == FLOATS


def test_the_query_overrides_the_settings(day_first, tmp_path) -> None:
    settings = DataSettings(dir=tmp_path, csv_dayfirst=False, csv_sep=";")
    assert load(f"csv:{day_first}?dayfirst=true&sep=,", settings)[1] == ISO


@pytest.mark.shared_data
def test_real_iso_files_load_the_same_under_a_dayfirst_setting(shared_data, tmp_path) -> None:
    plain = load_prices(f"csv:{shared_data}", [], DataSettings(dir=tmp_path))
    dayfirst = load_prices(f"csv:{shared_data}", [], DataSettings(dir=tmp_path, csv_dayfirst=True))
    assert list(plain.frames) == list(dayfirst.frames) and len(plain.frames) >= 6
    for ticker, frame in plain.frames.items():
        pd.testing.assert_frame_equal(frame, dayfirst.frames[ticker])
