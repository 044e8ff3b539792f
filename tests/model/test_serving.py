"""What a model was trained on, read back from the registry, decides whether it may serve."""

from __future__ import annotations

from datetime import date

from model.registry import read_trained_on, trained_on_tags
from model.serving import mismatch
from schemas.messages import TrainedOn
from tests.utils.factories import ar1_frame, price_data

CSV = TrainedOn(source_kind="csv", tickers=["AAA", "BBB"], start="2010-01-04", end="2018-12-28")


def test_trained_on_round_trips_through_version_tags() -> None:
    assert read_trained_on(trained_on_tags(CSV), {}) == CSV


def test_an_older_version_is_read_from_its_run_params() -> None:
    params = {
        "data_source": "csv:/x/AAA.csv",
        "tickers": "AAA",
        "train_range": "2010-01-04..2018-12-28",
    }
    assert read_trained_on({}, params) == TrainedOn(
        source_kind="csv", tickers=["AAA"], start=date(2010, 1, 4), end=date(2018, 12, 28)
    )
    assert read_trained_on({}, {}) is None


def test_a_model_serves_only_prices_of_its_kind_and_tickers() -> None:
    frame = ar1_frame(n=100)
    assert mismatch(CSV, price_data({"AAA": frame}, source="yahoo")) is None
    assert "never saw CCC" in mismatch(CSV, price_data({"AAA": frame, "CCC": frame}))
    invented = TrainedOn(source_kind="synthetic", tickers=["AAA"])
    assert "synthetic (invented) prices" in mismatch(invented, price_data({"AAA": frame}))
    assert mismatch(invented, price_data({"AAA": frame}, source="synthetic")) is None
    assert mismatch(None, price_data({"AAA": frame})) == "its training data is not recorded"
    assert CSV.describe() == "csv prices of AAA, BBB, 2010-01-04..2018-12-28"
