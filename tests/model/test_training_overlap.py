"""Which scored days a model trained on: the overlap `evaluate` warns about."""

from __future__ import annotations

from datetime import date

import pytest

from model.evaluation import TrainingOverlap, training_overlap
from schemas.messages import TrainedOn

SEEN = TrainedOn(
    source_kind="csv", tickers=["AAA", "BBB"], start=date(2019, 1, 2), end=date(2022, 6, 30)
)


@pytest.mark.parametrize(
    ("tickers", "first", "last", "expected"),
    [
        # the whole training span inside the scored days; the next session is a Friday
        (
            ["AAA"],
            date(2018, 1, 2),
            date(2024, 12, 30),
            TrainingOverlap(["AAA"], date(2019, 1, 2), date(2022, 6, 30), date(2022, 7, 1)),
        ),
        # scored days starting inside training: only their own part overlaps
        (
            ["CCC", "BBB", "AAA"],
            date(2022, 1, 3),
            date(2023, 1, 2),
            TrainingOverlap(["BBB", "AAA"], date(2022, 1, 3), date(2022, 6, 30), date(2022, 7, 1)),
        ),
        (["AAA"], date(2022, 7, 1), date(2023, 1, 2), None),  # after training: unseen
        (["AAA"], date(2017, 1, 2), date(2019, 1, 1), None),  # before training
        (["CCC"], date(2018, 1, 2), date(2024, 12, 30), None),  # a ticker it never saw
    ],
)
def test_overlap_of_scored_and_training_days(tickers, first, last, expected) -> None:
    assert training_overlap(SEEN, tickers, first, last) == expected


def test_the_next_session_skips_weekends_and_holidays() -> None:
    seen = SEEN.model_copy(update={"end": date(2024, 12, 27)})  # a Friday before B3's year end
    overlap = training_overlap(seen, ["AAA"], date(2024, 1, 2), date(2024, 12, 30))
    assert overlap is not None and overlap.unseen_from == date(2024, 12, 30)


@pytest.mark.parametrize(
    "seen",
    [None, TrainedOn(source_kind="csv", tickers=["AAA"]), SEEN.model_copy(update={"end": None})],
)
def test_a_model_that_does_not_say_what_it_saw_gives_no_overlap(seen) -> None:
    assert training_overlap(seen, ["AAA"], date(2018, 1, 2), date(2024, 12, 30)) is None
