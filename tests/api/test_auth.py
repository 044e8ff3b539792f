"""Mutating endpoints need the bearer token: 401 without one, 403 when wrong or not configured."""

from __future__ import annotations

import logging

import pytest

from tests.api.conftest import AUTH, TINY_JOB, TOKEN, UNUSABLE_JOB, unusable_prices, wait_for_job

MUTATING = {
    "train": ("/train", TINY_JOB),
    "config": ("/config", {"hidden_size": 16}),
    "reload": ("/model/reload", None),
}
WRONG = {
    "wrong token": {"Authorization": "Bearer nope"},
    "basic": {"Authorization": "Basic xxx"},
    "basic with the token": {"Authorization": f"Basic {TOKEN}"},
    "token without scheme": {"Authorization": TOKEN},
}


@pytest.fixture(autouse=True)
def _all_logs(caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    yield
    assert TOKEN not in caplog.text, "the token was written to the logs"


@pytest.mark.parametrize(("path", "body"), MUTATING.values(), ids=MUTATING.keys())
def test_no_token_is_401_with_www_authenticate(client, path: str, body: dict | None) -> None:
    response = client.post(path, json=body)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert "TICKCAST_API__TOKEN" in response.json()["detail"]
    assert client.app.state.jobs.running is None


@pytest.mark.parametrize("headers", WRONG.values(), ids=WRONG.keys())
@pytest.mark.parametrize(("path", "body"), MUTATING.values(), ids=MUTATING.keys())
def test_a_wrong_token_is_403(client, path: str, body: dict | None, headers: dict) -> None:
    response = client.post(path, json=body, headers=headers)

    assert response.status_code == 403
    assert response.json()["detail"] == "invalid bearer token"
    assert client.app.state.jobs.running is None
    assert client.get("/config").json()["hidden_size"] == 8


@pytest.mark.parametrize("token", [None, ""], ids=["unset", "empty"])
@pytest.mark.parametrize(("path", "body"), MUTATING.values(), ids=MUTATING.keys())
def test_without_a_server_token_mutations_are_disabled(
    client_for, path: str, body: dict | None, token: str | None
) -> None:
    client = client_for(token=token)

    for headers in ({}, AUTH, {"Authorization": "Bearer "}):
        response = client.post(path, json=body, headers=headers)
        assert response.status_code == 403
        assert "TICKCAST_API__TOKEN" in response.json()["detail"]
    assert client.app.state.jobs.running is None


def test_the_right_token_updates_the_config(client) -> None:
    response = client.post("/config", json={"hidden_size": 16}, headers=AUTH)

    assert response.status_code == 200
    assert response.json()["hidden_size"] == 16
    assert client.get("/config").json()["hidden_size"] == 16


def test_the_right_token_reloads_the_model(client, caplog: pytest.LogCaptureFixture) -> None:
    caplog.clear()
    response = client.post("/model/reload", headers={"Authorization": f"bearer  {TOKEN} "})

    assert response.status_code == 200
    assert response.json()["version"] == "1"
    assert "serving tickcast-lstm v1" in caplog.text  # the app's logs are being captured


def test_the_right_token_starts_training(client_for, tmp_path) -> None:
    """The token lets the job start; one that trains to the end is tests/api/test_training.py's.
    Its prices fail it at once, so it ends quickly and moves no model."""
    client = client_for(empty=True, train_data_dir=unusable_prices(tmp_path))
    response = client.post("/train", json=UNUSABLE_JOB, headers=AUTH)

    assert response.status_code == 202, response.text
    job = wait_for_job(client, response.json()["job_id"])
    assert job["state"] == "failed" and "no date column" in job["error"], job
