"""One forecast path: the worker, the local engine, the API and the Predictor all call the
Forecaster, agree to the last bit, and serve a model's own window under default settings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from backtest.engines import run_local
from backtest.run import BacktestRequest, run_backtest
from core.config import Settings
from model.predictor import Predictor
from model.training import train
from producers.publish import ticks_in_order
from producers.sources import load_prices
from schemas.messages import PriceTick
from tests.streams.conftest import open_bus
from tests.utils import recording
from tests.utils.factories import make_settings
from tests.utils.waiting import eventually

pytestmark = pytest.mark.broker

WINDOW = 90  # wider than the default 60 of the settings every path below runs with
CLOSES = 130
DUE = CLOSES - WINDOW + 1


@dataclass(frozen=True)
class Replayed:
    settings: Settings  # default model and Kafka settings, on the champion's store
    ticks: list[PriceTick]
    forecasts: list[dict]  # as the worker put them on the forecasts topic
    worker_calls: list[list[dict]]  # the worker's Forecaster calls, by the recording double

    @property
    def windows(self) -> np.ndarray:
        closes = np.array([t.close for t in self.ticks])
        return np.lib.stride_tricks.sliding_window_view(closes, WINDOW)

    @property
    def due(self) -> list[str]:
        return [t.date.isoformat() for t in self.ticks[WINDOW - 1 :]]


@pytest.fixture(scope="module")
def replayed(broker, tmp_path_factory: pytest.TempPathFactory) -> Replayed:
    """A 90-close champion, and a recording worker that saw 130 closes of one ticker."""
    root = tmp_path_factory.mktemp("window90")
    trained = make_settings(root, window=WINDOW)
    history = load_prices("synthetic", ["AAA"], trained.data, date(2018, 1, 2), date(2019, 12, 31))
    assert train(history, trained, progress=False, promote=True).promoted  # forced: synthetic
    frame = load_prices("synthetic", ["AAA"], trained.data, date(2020, 1, 2), date(2020, 12, 30))
    ticks = ticks_in_order({"AAA": frame.frames["AAA"].iloc[:CLOSES]}, "synthetic")
    bus = open_bus(broker, root)
    record = root / "worker-calls.jsonl"
    try:
        bus.start_worker(module="tests.utils.recording", env={recording.RECORD_ENV: str(record)})
        bus.publish([(t.ticker, t.model_dump_json().encode()) for t in ticks])
        forecasts = bus.collect("forecasts", DUE)
    finally:
        bus.stop()
    settings = bus.settings.with_kafka(bootstrap_servers="")  # no feed: forecasts only
    assert (settings.model.window, settings.kafka.closes_kept) == (60, 60)  # the defaults
    return Replayed(settings, ticks, forecasts, recording.read(record))


def _api(settings: Settings) -> TestClient:
    return TestClient(create_app(settings))


def _batch(replayed: Replayed) -> dict:
    """Every due window as the stream saw it: closes and each day's open, high and low."""
    column = {
        name: np.lib.stride_tricks.sliding_window_view(
            np.array([getattr(t, name) for t in replayed.ticks]), WINDOW
        )
        for name in ("open", "high", "low")
    }
    return {
        "windows": [
            {
                "last_prices": w.tolist(),
                "ticker": "AAA",
                "as_of": day,
                "last_opens": column["open"][i].tolist(),
                "last_highs": column["high"][i].tolist(),
                "last_lows": column["low"][i].tolist(),
            }
            for i, (w, day) in enumerate(zip(replayed.windows, replayed.due, strict=True))
        ]
    }


def test_a_wider_champion_serves_every_due_day_under_default_settings(replayed, broker) -> None:
    assert sorted(f["as_of"] for f in replayed.forecasts) == replayed.due
    predictor = Predictor.load(replayed.settings)
    assert predictor.window == WINDOW
    local = run_local(replayed.ticks, predictor.forecaster, replayed.settings)
    assert [f.as_of.isoformat() for f in local.forecasts] == replayed.due
    # A backtest loads as much history as the model's window needs: no first day goes missing.
    last = replayed.ticks[-1].date
    first = replayed.ticks[-30].date
    request = BacktestRequest("synthetic", ["AAA"], first, last, engine="local")
    assert run_backtest(replayed.settings, request, lambda _: None)["metrics"]["AAA"]["n"] == 30
    # The API's feed keeps the model's 90 closes, ready for POST /predict.
    with _api(replayed.settings.with_kafka(bootstrap_servers=broker.bootstrap)) as client:
        sample = eventually(
            lambda: (
                (r := client.get("/sample-data", params={"ticker": "AAA"})).status_code == 200
                and r.json()
            ),
            what="the API feed read the prices topic",
        )
        assert len(sample["last_prices"]) == WINDOW
        assert sample["dates"][-1] == replayed.due[-1]
        answer = client.post("/predict", json={"last_prices": sample["last_prices"]})
        assert answer.status_code == 200, answer.text


def test_every_path_goes_through_the_forecaster(replayed) -> None:
    seen_by_worker = [w["as_of"] for call in replayed.worker_calls for w in call]
    assert sorted(seen_by_worker) == replayed.due
    predictor = Predictor.load(replayed.settings)
    with recording.recorded() as calls:
        predictor.predict(replayed.windows)
    assert [len(call) for call in calls] == [DUE]
    with recording.recorded() as calls:
        run_local(replayed.ticks, predictor.forecaster, replayed.settings)
    assert sorted(w["as_of"] for call in calls for w in call) == replayed.due
    with _api(replayed.settings) as client, recording.recorded() as calls:
        assert client.post("/predict/batch", json=_batch(replayed)).status_code == 200
        body = {"last_prices": replayed.windows[0].tolist()}
        assert client.post("/predict", json=body).status_code == 200
    assert [len(call) for call in calls] == [DUE, 1]


def test_every_path_gives_the_same_bits(replayed) -> None:
    worker = {f["as_of"]: f for f in replayed.forecasts}
    predictor = Predictor.load(replayed.settings)
    local = run_local(replayed.ticks, predictor.forecaster, replayed.settings).forecasts
    with _api(replayed.settings) as client:
        batch = client.post("/predict/batch", json=_batch(replayed)).json()["predictions"]
        single = [client.post("/predict", json=item).json() for item in _batch(replayed)["windows"]]
    bars = [
        np.array([w["last_opens"], w["last_highs"], w["last_lows"]]).T
        for w in _batch(replayed)["windows"]
    ]
    direct = predictor.predict(replayed.windows, bars).tolist()

    closes = [worker[day]["predicted_close"] for day in replayed.due]
    assert closes == [f.predicted_close for f in local]
    assert closes == [p["predicted_price"] for p in batch]
    assert closes == [p["predicted_price"] for p in single]
    assert closes == direct
    assert len(set(closes)) == DUE  # real, window-dependent forecasts
    returns = [worker[day]["predicted_return"] for day in replayed.due]
    assert returns == [f.predicted_return for f in local] == [p["predicted_return"] for p in batch]
    drift = [worker[day]["drift"] for day in replayed.due]
    assert drift == [f.drift.model_dump(mode="json") for f in local]
    assert drift == [p["drift_details"] for p in single]
    # Intervals: the stream's move online (ACI) and agree between worker and local engine;
    # its first forecast, before any close was scored, has /predict's split conformal ones.
    quantiles = [worker[day]["quantiles"] for day in replayed.due]
    assert quantiles == [f.quantiles for f in local]
    assert quantiles[0] == batch[0]["quantiles"] == single[0]["quantiles"]
    assert [p["quantiles"] for p in batch] == [p["quantiles"] for p in single]
    assert {worker[day]["interval_method"] for day in replayed.due} == {"aci"}
    assert {p["interval_method"] for p in single} == {"split-conformal"}
