"""POST /train and GET /train/{id}: one job at a time, in a child process; hot swap on promotion."""

from __future__ import annotations

import threading
import time

import pytest
from fastapi.testclient import TestClient

from api import metrics
from api.state import ServiceState
from tests.api.conftest import AUTH, TINY_JOB, UNUSABLE_JOB, unusable_prices, wait_for_job
from tests.api.test_predictions import WINDOW
from tests.probes import run_probe

GAUGE = 'tickcast_api_model_version{model="tickcast-lstm"}'


def _wait_for_model(client, version: str, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = client.get("/model/info")
        if response.status_code == 200 and response.json()["version"] == version:
            return response.json()
        time.sleep(0.1)
    raise AssertionError(f"version {version} not served after {timeout:.0f} s")


def test_job_lifecycle_with_a_409_while_it_runs(client_for) -> None:
    client = client_for(empty=True)
    started = client.post("/train", json=TINY_JOB, headers=AUTH)

    assert started.status_code == 202, started.text
    job = started.json()
    assert job["state"] == "running" and job["job_id"] and job["max_epochs"] == 2
    second = client.post("/train", json=TINY_JOB, headers=AUTH)
    assert second.status_code == 409
    assert job["job_id"] in second.json()["detail"]

    done = wait_for_job(client, job["job_id"])
    assert done["state"] == "succeeded", done
    assert done["epoch"] >= 1 and done["model_version"] == "1"
    assert done["metrics"]["overall"]["mase"] > 0
    assert set(done["metrics"]) == {"AAA", "overall"}
    assert done["finished_at"] >= done["submitted_at"] and done["error"] is None


def test_an_unknown_job_is_404(client) -> None:
    response = client.get("/train/unknown", headers=AUTH)

    assert response.status_code == 404
    assert "unknown" in response.json()["detail"]


@pytest.mark.parametrize(
    ("hyperparameters", "fragment"),
    [
        ({"dropout": 1.5}, "dropout: Input should be less than 1"),
        ({"hidden_size": 0}, "hidden_size: Input should be greater than or equal to 4"),
        ({"depth": 3}, "depth: Extra inputs are not permitted"),
        ({"max_epochs": "two"}, "max_epochs: Input should be a valid integer"),
    ],
    ids=["dropout", "hidden_size", "unknown key", "not a number"],
)
def test_bad_hyperparameters_are_422_and_start_nothing(
    client_for, hyperparameters: dict, fragment: str
) -> None:
    client = client_for(empty=True)
    body = {**TINY_JOB, "hyperparameters": hyperparameters}
    response = client.post("/train", json=body, headers=AUTH)

    assert response.status_code == 422
    assert fragment in response.json()["detail"]
    assert client.app.state.jobs.running is None


def test_a_failing_job_reports_why_without_server_paths_and_frees_the_slot(
    client_for, tmp_path
) -> None:
    client = client_for(empty=True, train_data_dir=unusable_prices(tmp_path))
    job = client.post("/train", json=UNUSABLE_JOB, headers=AUTH).json()

    failed = wait_for_job(client, job["job_id"])
    assert failed["state"] == "failed" and failed["model_version"] is None
    assert "AAA.csv: no date column" in failed["error"], failed["error"]
    assert str(tmp_path) not in failed["error"]
    again = client.post("/train", json=UNUSABLE_JOB, headers=AUTH)
    assert again.status_code == 202  # a failure releases the one-job slot
    assert wait_for_job(client, again.json()["job_id"])["state"] == "failed"


# The job's child, run in a fresh interpreter on prices it cannot use: what it reports, and
# whether it had imported the training libraries by then.
BAD_DATA_JOB = """
import json, os, queue, sys
from api.jobs import _train_in_child
from core.config import Settings
from schemas.api import TrainRequest

events = queue.Queue()
request = TrainRequest(source="csv:" + sys.argv[1], tickers=["AAA"])
before = os.nice(0)
_train_in_child(Settings().model_dump_json(), request.model_dump_json(), events, False)
kind, error, *_ = events.get_nowait()
print(json.dumps({"kind": kind, "error": error, "loaded": [m for m in ("torch", "lightning")
                  if m in sys.modules], "before": before, "niced": os.nice(0) - before}))
"""


def test_a_job_reads_its_prices_before_it_imports_torch(tmp_path) -> None:
    """Bad data fails the job at once, not after seconds of importing torch and Lightning."""
    csv = unusable_prices(tmp_path) / "AAA.csv"

    report = run_probe(BAD_DATA_JOB, str(csv), env={"TICKCAST_DATA__DIR": str(tmp_path)})

    assert report["kind"] == "error" and "no date column" in report["error"], report
    assert report["loaded"] == []
    assert report["niced"] == min(10, 19 - report["before"])  # serving comes first, by default


def test_a_job_runs_at_the_configured_niceness(tmp_path) -> None:
    csv = unusable_prices(tmp_path) / "AAA.csv"
    env = {"TICKCAST_DATA__DIR": str(tmp_path), "TICKCAST_API__TRAINING_NICE": "3"}

    report = run_probe(BAD_DATA_JOB, str(csv), env=env)

    assert report["kind"] == "error" and report["niced"] == min(3, 19 - report["before"]), report


def test_reading_a_job_needs_the_token(client_for, tmp_path) -> None:
    client = client_for(empty=True, train_data_dir=unusable_prices(tmp_path))
    job = client.post("/train", json=UNUSABLE_JOB, headers=AUTH).json()

    anonymous = client.get(f"/train/{job['job_id']}")
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"] == "Bearer"
    assert job["job_id"] not in anonymous.text
    assert client.get("/train/unknown").status_code == 401  # not even whether it exists
    wrong = client.get(f"/train/{job['job_id']}", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 403
    assert wait_for_job(client, job["job_id"])["state"] == "failed"


def test_two_parallel_posts_start_exactly_one_job(client_for) -> None:
    client = client_for(empty=True)
    # A second client on the same app has its own event loop thread: the calls truly overlap.
    with TestClient(client.app) as other:
        barrier = threading.Barrier(2)
        answers: list = []

        def post(via: TestClient) -> None:
            barrier.wait()
            answers.append(via.post("/train", json=TINY_JOB, headers=AUTH))

        threads = [threading.Thread(target=post, args=(c,)) for c in (client, other)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

        assert sorted(a.status_code for a in answers) == [202, 409]
        job = next(a.json() for a in answers if a.status_code == 202)
        assert wait_for_job(client, job["job_id"])["state"] == "succeeded"


def test_a_promoted_job_is_served_without_a_restart_once_it_succeeds(
    client_for, monkeypatch
) -> None:
    metrics.MODEL_VERSION.clear()  # the registry is shared by every app in this process
    client = client_for(empty=True, serve="synthetic")
    assert GAUGE not in client.get("/metrics").text
    refused = client.post("/predict", json={"last_prices": WINDOW})
    assert refused.status_code == 503 and "train" in refused.json()["detail"]
    not_ready = client.get("/ready")
    assert not_ready.status_code == 503 and "no model loaded" in not_ready.json()["reasons"]
    assert client.get("/").json()["status"] == "degraded"
    load = ServiceState.load

    def slow_load(self: ServiceState, ref: str | None = None):  # a large model or a slow store
        time.sleep(2.0)
        return load(self, ref)

    monkeypatch.setattr(ServiceState, "load", slow_load)

    job = client.post("/train", json=TINY_JOB, headers=AUTH).json()
    done = wait_for_job(client, job["job_id"])
    try:
        assert (done["state"], done["promoted"], done["alias"]) == (
            "succeeded",
            False,
            "synthetic",
        )
        assert done["promotion_reason"] == "promoted to synthetic: there was no synthetic yet"
        # "succeeded" means the new model already serves, slow load or not.
        answer = client.post("/predict", json={"last_prices": WINDOW})
        assert answer.status_code == 200, answer.text
        assert answer.json()["model_version"] == done["model_version"]
    finally:
        info = _wait_for_model(client, done["model_version"])  # leave no load running
    assert info["aliases"] == ["synthetic"]
    assert info["trained_on"]["source_kind"] == "synthetic"
    assert info["trained_on"]["tickers"] == ["AAA"]
    assert client.get("/").json()["model_version"] == done["model_version"]
    assert "no model loaded" not in client.get("/ready").json()["reasons"]
    # The swap also moves the served-version gauge.
    assert f"{GAUGE} {float(done['model_version'])}" in client.get("/metrics").text


def test_a_model_of_synthetic_prices_never_replaces_the_served_champion(client_for) -> None:
    client = client_for()  # serves the champion, version 1
    job = client.post("/train", json=TINY_JOB, headers=AUTH).json()
    done = wait_for_job(client, job["job_id"])

    assert (done["state"], done["promoted"]) == ("succeeded", False)
    assert done["alias"] != "champion"
    info = client.get("/model/info").json()
    assert (info["version"], "champion" in info["aliases"]) == ("1", True)
    assert client.post("/predict", json={"last_prices": WINDOW}).json()["model_version"] == "1"
