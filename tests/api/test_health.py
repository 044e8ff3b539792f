"""/, /health, /ready, /metrics, the body limit, and the OpenAPI docs."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.api.test_predictions import WINDOW


def _samples(client) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def test_root_names_the_service_and_the_model(client) -> None:
    body = client.get("/").json()

    assert (body["name"], body["status"], body["model_version"]) == ("tickcast", "ok", "1")
    assert body["version"] == client.app.version


def test_health_is_ok(client) -> None:
    assert client.get("/health").json() == {"status": "ok"}


def test_ready_is_503_without_a_broker(client) -> None:
    response = client.get("/ready")

    assert response.status_code == 503
    body = response.json()
    assert body["ready"] is False
    assert body["reasons"] == ["no broker configured (KAFKA_BOOTSTRAP_SERVERS)"]


def test_metrics_count_requests_and_predictions(client) -> None:
    before = _samples(client)
    assert client.post("/predict/batch", json={"windows": [{"last_prices": WINDOW}] * 2}).is_success
    assert client.post("/predict", json={"last_prices": WINDOW}).status_code == 200
    assert client.post("/predict", json={"last_prices": WINDOW[:5]}).status_code == 422
    after = _samples(client)

    predictions = ("tickcast_api_predictions_total", ())
    assert after[predictions] - before.get(predictions, 0.0) == 3
    ok = (
        "tickcast_api_requests_total",
        (("method", "POST"), ("route", "/predict"), ("status", "200")),
    )
    bad = (
        "tickcast_api_requests_total",
        (("method", "POST"), ("route", "/predict"), ("status", "422")),
    )
    assert after[ok] - before.get(ok, 0.0) == 1
    assert after[bad] - before.get(bad, 0.0) == 1
    assert after[("tickcast_api_model_version", (("model", "tickcast-lstm"),))] == 1.0


def test_a_declared_body_over_the_limit_is_413(client_for) -> None:
    client = client_for(max_body_bytes=2048)
    small = client.post("/predict", json={"last_prices": WINDOW})
    assert small.status_code == 200  # about 500 bytes: under the limit

    response = client.post(
        "/predict",
        content=b"[" + b"1.0," * 1000 + b"1.0]",
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["detail"] == "request body over 2048 bytes"


def test_a_chunked_body_over_the_limit_is_413(client_for) -> None:
    client = client_for(max_body_bytes=2048)

    def chunks():
        yield b'{"last_prices": ['
        for _ in range(300):
            yield b"1.0, " * 5
        yield b"1.0]}"

    response = client.post(
        "/predict", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in response.request.headers
    assert response.status_code == 413, response.text


def test_openapi_has_a_working_example_for_predict(client) -> None:
    schema = client.get("/openapi.json").json()

    ref = schema["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    name = ref["schema"]["$ref"].rsplit("/", 1)[-1]
    example = schema["components"]["schemas"][name]["examples"][0]
    assert len(example["last_prices"]) == 60
    assert client.post("/predict", json=example).status_code == 200
    assert "/train" in schema["paths"] and "/model/info" in schema["paths"]


def test_docs_page(client) -> None:
    response = client.get("/docs")

    assert response.status_code == 200
    assert "swagger" in response.text.lower() and "/openapi.json" in response.text
