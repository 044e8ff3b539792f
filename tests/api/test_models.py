"""GET /model/info, and the hyperparameters of the next run: GET and POST /config."""

from __future__ import annotations

import time

import pytest

from tests.api.conftest import AUTH, TINY_JOB, wait_for_job


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
    client = client_for(empty=True)
    response = client.post("/config", json={"max_epochs": 1, "hidden_size": 4}, headers=AUTH)

    assert response.status_code == 200
    assert (response.json()["max_epochs"], response.json()["hidden_size"]) == (1, 4)
    config = client.get("/config").json()
    assert (config["max_epochs"], config["hidden_size"], config["dropout"]) == (1, 4, 0.0)

    body = {key: value for key, value in TINY_JOB.items() if key != "hyperparameters"}
    job = client.post("/train", json=body, headers=AUTH).json()
    assert job["max_epochs"] == 1
    done = wait_for_job(client, job["job_id"])
    assert (done["state"], done["epoch"], done["promoted"]) == ("succeeded", 1, True)
    deadline = time.monotonic() + 30  # the swap follows the job's end (see test_training)
    while client.get("/model/info").status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.1)
    params = client.get("/model/info").json()["params"]
    assert (params["hidden_size"], params["max_epochs"]) == ("4", "1")
