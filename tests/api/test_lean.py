"""The API process stays lean: `tickcast api`, started, loading its model and forecasting,
imports neither MLflow (a child process fetches the model) nor torch, Lightning or
matplotlib (a child process trains)."""

from __future__ import annotations

from pathlib import Path

from tests.probes import run_probe

HEAVY = ("mlflow", "torch", "lightning", "matplotlib")
# `tickcast api` as the command line runs it, with uvicorn's server swapped for a client
# that starts the app (lifespan: the model loads), asks one forecast and reports.
PROBE = """
import json, sys
%s
import uvicorn
from fastapi.testclient import TestClient

def serve(app, **options):
    with TestClient(app) as client:
        answer = client.post("/predict", json={"last_prices": [30.0 + i / 10 for i in range(60)]})
    print(json.dumps({"status": answer.status_code, "loaded": [m for m in %r if m in sys.modules]}))

uvicorn.run = serve
from tickcast.cli.http import api
api(api_port=0)
"""


def probe(store: Path, before: str = "") -> dict:
    """The probe's report, run on the model store at `store` after the statement `before`."""
    env = {
        "TICKCAST_DATA__DIR": str(store),
        "TICKCAST_MLFLOW__TRACKING_URI": f"sqlite:///{store / 'mlflow.db'}",
    }
    return run_probe(PROBE % (before, HEAVY), env=env)


def test_the_api_process_imports_no_mlflow_torch_lightning_or_matplotlib(
    champion_root: Path,
) -> None:
    assert probe(champion_root) == {"status": 200, "loaded": []}


def test_the_probe_sees_them_when_they_are_there(champion_root: Path) -> None:
    """The check above can fail: a process that imports training is caught."""
    assert set(probe(champion_root, "import model.training")["loaded"]) >= {"torch", "lightning"}
