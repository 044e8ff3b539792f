"""GET /model/info, and the hyperparameters of the next run: GET and POST /config."""

from __future__ import annotations

import threading
import time

import pytest

from model.predictor import Predictor
from tests.api.conftest import AUTH, TINY_JOB, wait_for_job
from tests.api.test_predictions import WINDOW


def test_model_info_describes_the_champion(client) -> None:
    response = client.get("/model/info")

    assert response.status_code == 200
    info = response.json()
    assert (info["name"], info["version"]) == ("tickcast-lstm", "1")
    assert "champion" in info["aliases"] and info["run_id"]
    assert info["params"]["hidden_size"] == "8" and info["params"]["window"] == "60"
    assert info["metrics"]["test_mase"] > 0
    assert (info["data_source"], info["synthetic"]) == ("synthetic", True)
    assert set(info["ranges"]) == {"train", "valid", "test"}
    first, _, last = info["ranges"]["test"].partition("..")
    assert info["ranges"]["valid"] < first <= last <= "2019-12-31"
    assert info["trained_at"] is not None


def test_config_starts_from_the_settings(client) -> None:
    response = client.get("/config")

    assert response.status_code == 200
    config = response.json()
    assert config == client.app.state.tickcast.settings.model.model_dump(mode="json")
    assert (config["hidden_size"], config["max_epochs"], config["window"]) == (8, 2, 60)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"dropout": 2.0}, "dropout: Input should be less than 1"),
        ({"learning_rate": 0}, "learning_rate: Input should be greater than 0"),
        ({"window": 5}, "window: Input should be greater than or equal to 10"),
        ({"train_fraction": 0.9}, "must leave room for a test split"),
        ({"colour": "red"}, "colour: Extra inputs are not permitted"),
    ],
    ids=["dropout", "learning_rate", "window", "fractions", "unknown key"],
)
def test_a_bad_config_is_422_and_changes_nothing(client, body: dict, fragment: str) -> None:
    before = client.get("/config").json()
    response = client.post("/config", json={"hidden_size": 16, **body}, headers=AUTH)

    assert response.status_code == 422
    assert fragment in response.json()["detail"]
    assert client.get("/config").json() == before


def test_a_config_update_is_kept_and_used_by_the_next_job(client_for) -> None:
    client = client_for(empty=True, serve="synthetic")
    response = client.post("/config", json={"max_epochs": 1, "hidden_size": 4}, headers=AUTH)

    assert response.status_code == 200
    assert (response.json()["max_epochs"], response.json()["hidden_size"]) == (1, 4)
    config = client.get("/config").json()
    assert (config["max_epochs"], config["hidden_size"], config["dropout"]) == (1, 4, 0.0)

    body = {key: value for key, value in TINY_JOB.items() if key != "hyperparameters"}
    job = client.post("/train", json=body, headers=AUTH).json()
    assert job["max_epochs"] == 1
    done = wait_for_job(client, job["job_id"])
    assert (done["state"], done["epoch"], done["alias"]) == ("succeeded", 1, "synthetic")
    deadline = time.monotonic() + 30  # the swap follows the job's end (see test_training)
    while client.get("/model/info").status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.1)
    params = client.get("/model/info").json()["params"]
    assert (params["hidden_size"], params["max_epochs"]) == ("4", "1")


def _in_parallel(client, count: int, call) -> tuple[list, list[threading.Thread]]:
    """`count` calls of `call(client)` from real threads released together; join the threads
    to collect every answer (or the server error the test client raised)."""
    barrier = threading.Barrier(count)
    answers: list = []

    def run() -> None:
        barrier.wait()
        try:
            answers.append(call(client))
        except Exception as exc:  # a 500: the test client re-raises the server's exception
            answers.append(exc)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    return answers, threads


def _join(threads: list[threading.Thread]) -> None:
    for thread in threads:
        thread.join(timeout=120)


def _reload(client):
    return client.post("/model/reload", headers=AUTH)


def test_ten_parallel_reloads_give_no_server_error(client) -> None:
    answers, threads = _in_parallel(client, 10, _reload)
    _join(threads)

    assert [getattr(a, "status_code", repr(a)) for a in answers] == [200] * 10
    assert {a.json()["version"] for a in answers} == {"1"}
    assert client.post("/predict", json={"last_prices": WINDOW}).status_code == 200


def test_reloads_are_serialised_and_off_the_event_loop(client, monkeypatch) -> None:
    running: list[int] = []
    most = 0
    load = Predictor.load

    def slow_load(*args, **kwargs) -> Predictor:
        nonlocal most
        running.append(1)
        most = max(most, len(running))
        try:
            time.sleep(0.5)  # a larger model, a slower store
            return load(*args, **kwargs)
        finally:
            running.pop()

    monkeypatch.setattr(Predictor, "load", slow_load)
    answers, threads = _in_parallel(client, 4, _reload)
    waits = []
    while any(thread.is_alive() for thread in threads):
        begun = time.monotonic()
        assert client.get("/health").status_code == 200
        waits.append(time.monotonic() - begun)
    _join(threads)

    assert [getattr(a, "status_code", repr(a)) for a in answers] == [200] * 4
    assert most == 1  # never two loads (and traces) at once
    assert len(waits) > 3 and max(waits) < 0.4, waits  # the loop kept answering meanwhile
