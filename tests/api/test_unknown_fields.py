"""A field a request model does not know: a 422 naming the accepted ones and the nearest."""

from __future__ import annotations

import pytest

from core.config import Hyperparameters
from schemas.api import PredictRequest, TrainRequest
from tests.api.conftest import AUTH, TINY_JOB
from tests.api.test_predictions import WINDOW

HYPERPARAMETERS = ", ".join(Hyperparameters.model_fields)


def _only_error(response) -> dict:
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert len(errors) == 1, errors
    assert errors[0]["msg"] in response.json()["detail"]
    return errors[0]


def test_an_unknown_hyperparameter_suggests_the_nearest_and_lists_all(client_for) -> None:
    client = client_for(empty=True)
    body = {**TINY_JOB, "hyperparameters": {"num_epochs": 3}}
    response = client.post("/train", json=body, headers=AUTH)

    error = _only_error(response)
    assert error["loc"] == ["body", "hyperparameters", "num_epochs"]
    assert error["type"] == "extra_forbidden"
    assert (
        f"unknown field num_epochs; did you mean max_epochs? accepted: {HYPERPARAMETERS}"
        in error["msg"]
    )
    assert response.json()["detail"].startswith("hyperparameters.num_epochs: ")
    assert client.app.state.jobs.running is None


def test_an_unknown_train_field_names_the_request_fields(client_for) -> None:
    client = client_for(empty=True)
    response = client.post("/train", json={**TINY_JOB, "tikers": ["AAA"]}, headers=AUTH)

    accepted = ", ".join(TrainRequest.model_fields)
    msg = _only_error(response)["msg"]
    assert f"unknown field tikers; did you mean tickers? accepted: {accepted}" in msg


def test_a_name_like_none_lists_the_fields_without_a_guess(client_for) -> None:
    client = client_for(empty=True)
    body = {**TINY_JOB, "hyperparameters": {"lr": 0.01}}
    msg = _only_error(client.post("/train", json=body, headers=AUTH))["msg"]

    assert f"unknown field lr; accepted: {HYPERPARAMETERS}" in msg
    assert "did you mean" not in msg


def test_config_gives_the_same_hint(client_for) -> None:
    client = client_for(empty=True)
    response = client.post("/config", json={"hidden_units": 16}, headers=AUTH)

    assert "unknown field hidden_units; did you mean hidden_size?" in _only_error(response)["msg"]


@pytest.mark.parametrize(
    ("path", "body", "loc"),
    [
        # /predict validates its bytes by hand, so its locations start in the body.
        ("/predict", {"last_prices": WINDOW, "tickr": "AAA"}, ["tickr"]),
        (
            "/predict/batch",
            {"windows": [{"last_prices": WINDOW}, {"last_prices": WINDOW, "tickr": "AAA"}]},
            ["body", "windows", 1, "tickr"],
        ),
    ],
    ids=["predict", "a window of a batch"],
)
def test_predict_bodies_give_the_same_hint(client, path: str, body: dict, loc: list) -> None:
    error = _only_error(client.post(path, json=body))

    accepted = ", ".join(PredictRequest.model_fields)
    assert error["loc"] == loc
    assert f"unknown field tickr; did you mean ticker? accepted: {accepted}" in error["msg"]
