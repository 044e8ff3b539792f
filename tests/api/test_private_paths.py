"""No reply shows where things live on the server: model info, health, errors, 404s."""

from __future__ import annotations

import dataclasses
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

from tests.api.conftest import AUTH, TINY_JOB


def _server_paths(client: TestClient, *more: Path) -> list[str]:
    settings = client.app.state.tickcast.settings
    roots = [tempfile.gettempdir(), Path.cwd(), Path.home(), sys.prefix, settings.data.dir, *more]
    return sorted({str(Path(root).resolve()) for root in roots} | {str(r) for r in more})


def _assert_private(text: str, paths: list[str]) -> None:
    leaked = [path for path in paths if path in text]
    assert leaked == [], (leaked, text[:300])


def test_model_info_health_and_status_show_no_server_path(client: TestClient) -> None:
    state = client.app.state.tickcast
    # A model trained on a file: its run records the full path of the CSV.
    state.predictor = dataclasses.replace(
        state.predictor,
        params={**state.predictor.params, "data_source": "csv:/srv/prices/b3/CMIG4.SA.csv"},
    )
    paths = [*_server_paths(client), "/srv/prices"]

    info = client.get("/model/info")
    assert info.status_code == 200
    assert info.json()["data_source"] == "csv:CMIG4.SA.csv"
    assert info.json()["params"]["data_source"] == "csv:CMIG4.SA.csv"
    for path in ("/model/info", "/health", "/", "/ready", "/config"):
        _assert_private(client.get(path).text, paths)


def test_a_reload_404_shows_no_server_path(client_for: Callable[..., TestClient]) -> None:
    client = client_for(empty=True)
    response = client.post("/model/reload", headers=AUTH)

    assert response.status_code == 404
    assert "mlflow.db" in response.json()["detail"]  # which store, by name only
    _assert_private(response.text, _server_paths(client))


def test_a_train_error_shows_no_server_path(
    client_for: Callable[..., TestClient], tmp_path: Path
) -> None:
    data = tmp_path / "train-data"
    data.mkdir()
    client = client_for(empty=True, train_data_dir=data)
    paths = _server_paths(client, tmp_path, data)

    for source in (f"csv:{tmp_path}/x.csv", "csv:../x.csv", f"ftp:{tmp_path}/x.csv"):
        response = client.post("/train", json={**TINY_JOB, "source": source}, headers=AUTH)
        assert response.status_code == 422, response.text
        _assert_private(response.text, paths)
