"""The per-ticker rolling window: how one close changes it, or why it does not."""

from __future__ import annotations

import json
from datetime import date, timedelta

import numpy as np
import pytest

from streams.windows import Outcome, Window, apply_close

D0 = date(2024, 1, 2)


def _days(n: int, start: date = D0) -> list[date]:
    return [start + timedelta(days=i) for i in range(n)]


def _window(n: int, size: int = 5) -> Window:
    window = Window()
    for i, day in enumerate(_days(n)):
        window, outcome = apply_close(window, day, 10.0 + i, size)
        assert outcome is Outcome.APPENDED
    return window


def test_empty_window_accepts_any_date():
    for day in (date(1999, 1, 1), D0, date(2099, 12, 31)):
        window, outcome = apply_close(Window(), day, 3.5, size=5)
        assert outcome is Outcome.APPENDED
        assert window.dates == (day,)
        assert window.closes == (3.5,)
        assert window.last_date == day
    assert Window().last_date is None
    assert len(Window()) == 0


def test_append_later_date_grows_until_size():
    window = _window(3)
    assert len(window) == 3
    assert window.dates == tuple(_days(3))
    assert window.closes == (10.0, 11.0, 12.0)
    np.testing.assert_array_equal(window.array(), [10.0, 11.0, 12.0])
    assert window.array().dtype == np.float64


def test_append_trims_to_size_dropping_oldest():
    window = _window(5)
    later = D0 + timedelta(days=10)
    new, outcome = apply_close(window, later, 99.0, size=5)
    assert outcome is Outcome.APPENDED
    assert len(new) == 5
    assert new.dates == (*_days(5)[1:], later)
    assert new.closes == (11.0, 12.0, 13.0, 14.0, 99.0)
    assert new.last_date == later
    # The old window is untouched (immutable).
    assert window.closes == (10.0, 11.0, 12.0, 13.0, 14.0)


def test_long_run_keeps_only_the_last_size_closes():
    window = _window(50, size=7)
    assert len(window) == 7
    assert window.dates == tuple(_days(50)[-7:])
    assert window.closes == tuple(10.0 + i for i in range(43, 50))


@pytest.mark.parametrize("index", [0, 2, 4])
def test_exact_duplicate_is_ignored(index: int):
    window = _window(5)
    day, close = window.dates[index], window.closes[index]
    new, outcome = apply_close(window, day, close, size=5)
    assert outcome is Outcome.DUPLICATE
    assert new == window


@pytest.mark.parametrize("index", [0, 2, 4])
def test_same_date_other_close_is_changed_close(index: int):
    window = _window(5)
    new, outcome = apply_close(window, window.dates[index], window.closes[index] + 0.01, size=5)
    assert outcome is Outcome.CORRECTION
    assert new == window


def test_a_gap_date_the_window_passed_over_is_a_late_close():
    window = Window()
    for day in (D0, D0 + timedelta(days=2), D0 + timedelta(days=4)):
        window, _ = apply_close(window, day, 5.0, size=5)
    new, outcome = apply_close(window, D0 + timedelta(days=3), 5.0, size=5)
    assert outcome is Outcome.LATE
    assert new == window


def test_a_date_before_a_full_window_is_stale():
    window = _window(5)
    for day in (D0 - timedelta(days=1), D0 - timedelta(days=400)):
        new, outcome = apply_close(window, day, 10.0, size=5)
        assert outcome is Outcome.STALE
        assert new == window


def test_a_date_before_a_window_still_filling_is_late_not_stale():
    window = _window(3)  # size 5: the days before D0 were never seen
    new, outcome = apply_close(window, D0 - timedelta(days=1), 10.0, size=5)
    assert outcome is Outcome.LATE
    assert new == window


def test_date_dropped_from_full_window_is_stale_even_with_another_close():
    window = _window(6)  # size 5: the first close (D0, 10.0) was dropped
    assert D0 not in window.dates
    for close in (10.0, 99.0):
        new, outcome = apply_close(window, D0, close, size=5)
        assert outcome is Outcome.STALE
        assert new == window


@pytest.mark.parametrize("n", [0, 1, 5])
def test_json_round_trip(n: int):
    window = _window(n)
    data = window.to_json()
    assert len(data) == n
    assert all(isinstance(row[0], str) and len(row) == 5 for row in data)
    restored = Window.from_json(json.loads(json.dumps(data)))
    assert (restored.dates, restored.closes) == (window.dates, window.closes)
    np.testing.assert_array_equal(restored.bar_array(), window.bar_array())
    assert all(isinstance(d, date) for d in restored.dates)
    assert all(isinstance(c, float) for c in restored.closes)


def test_from_json_coerces_int_closes():
    restored = Window.from_json([["2024-01-02", 7], ["2024-01-03", 8]])
    assert restored.closes == (7.0, 8.0)
    assert restored.dates == (date(2024, 1, 2), date(2024, 1, 3))


def test_bars_ride_along_and_round_trip_with_gaps():
    window, _ = apply_close(Window(), D0, 10.0, size=3, bar=(9.9, 10.2, 9.8))
    window, _ = apply_close(window, D0 + timedelta(days=1), 10.1, size=3)  # no bar: NaN
    data = json.loads(json.dumps(window.to_json()))
    assert data[0][2:] == [9.9, 10.2, 9.8] and data[1][2:] == [None, None, None]
    restored = Window.from_json(data)
    np.testing.assert_array_equal(restored.bar_array(), window.bar_array())
    assert np.isnan(restored.bar_array()[1]).all()


def test_state_from_an_older_worker_reads_with_unknown_bars():
    restored = Window.from_json([["2024-01-02", 7.5], ["2024-01-03", 8.0]])
    assert restored.closes == (7.5, 8.0)
    assert np.isnan(restored.bar_array()).all() and restored.bar_array().shape == (2, 3)
