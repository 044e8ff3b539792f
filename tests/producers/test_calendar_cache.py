"""B3's sessions kept on disk: read back whole they give the same answers without
exchange-calendars; another version of it, or a file that does not read back, builds anew."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from producers import calendar
from tests.probes import run_probe

# Asks a question with the cache in argv[1]; prints whether exchange-calendars was imported.
PROBE = """
import json, sys
from datetime import date
from pathlib import Path
from producers import calendar
calendar.use_cache(Path(sys.argv[1]))
answer = calendar.next_trading_day(date(2024, 2, 9)).isoformat()
print(json.dumps([answer, "exchange_calendars" in sys.modules]))
"""


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Path]:
    """This process's calendar forgotten, cached in `tmp_path`; as it was again afterwards."""
    kept = calendar._cache_folder

    def forget() -> None:
        calendar._sessions.cache_clear()
        calendar.next_trading_day.cache_clear()

    forget()
    calendar.use_cache(tmp_path)
    yield tmp_path
    calendar._cache_folder = kept
    forget()


def test_a_kept_calendar_answers_alike_without_exchange_calendars(fresh: Path) -> None:
    built = calendar._built()
    assert calendar.next_trading_day(date(2024, 12, 23)) == date(2024, 12, 26)
    path = calendar.cache_file(fresh)
    assert np.array_equal(np.load(path), built)
    # Another process reads it: the same answer, and exchange-calendars never imported.
    assert run_probe(PROBE, str(fresh)) == ["2024-02-14", False]
    # Without the file it builds (and imports it) again.
    path.unlink()
    assert run_probe(PROBE, str(fresh)) == ["2024-02-14", True]
    assert path.is_file()


def test_another_exchange_calendars_version_has_a_file_of_its_own(
    fresh: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = calendar.cache_file(fresh)
    real = calendar.metadata.version
    monkeypatch.setattr(
        calendar.metadata,
        "version",
        lambda name: "99.0" if name == "exchange_calendars" else real(name),
    )
    assert calendar.cache_file(fresh) != before


@pytest.mark.parametrize(
    "damage",
    [
        lambda path: path.write_bytes(path.read_bytes()[:200]),  # cut short
        lambda path: np.save(path, np.array(["2024-01-03", "2024-01-02"], "datetime64[D]")),
        lambda path: np.save(path, np.arange(5)),  # not days
    ],
)
def test_a_file_that_does_not_read_back_whole_is_built_again(fresh: Path, damage) -> None:
    calendar.next_trading_day(date(2024, 1, 1))  # writes the file
    path = calendar.cache_file(fresh)
    damage(path)
    calendar._sessions.cache_clear()
    calendar.next_trading_day.cache_clear()
    assert calendar.next_trading_day(date(2024, 2, 9)) == date(2024, 2, 14)
    assert np.array_equal(np.load(path), calendar._built())  # rewritten whole


def test_the_sessions_are_those_of_exchange_calendars() -> None:
    """What every answer reads: BVMF's sessions over the whole span built."""
    built = calendar._built()
    theirs = calendar.xcals.get_calendar(
        calendar.B3_CALENDAR,
        start=calendar._BUILT_FROM.isoformat(),
        end=calendar._BUILT_TO.isoformat(),
    ).sessions
    assert [d.date() for d in theirs[[0, 1, 5000, -1]]] == [
        day.item() for day in built[[0, 1, 5000, -1]]
    ]
    assert len(theirs) == len(built)
