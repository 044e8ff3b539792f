"""/docs and /redoc with no network: every asset comes from the app, and the pages render."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.testclient import TestClient

from api.main import create_app
from tests.utils.browser import MISSING, browse, chromium, offline, serving
from tests.utils.factories import make_settings

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
URL = re.compile(r"https?://[^\s\"'<>)]+")
ASSET = re.compile(r"""(?:href|src)=["']([^"']+)["']""")
#: Long enough for Swagger UI to fetch /openapi.json and draw the operations.
SETTLE = "--virtual-time-budget=10000"


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    """The app on an empty store: the docs need no model."""
    return create_app(make_settings(tmp_path / "store"))


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as started:
        yield started


def test_docs_load_every_asset_from_the_app(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assets = ASSET.findall(page.text)
    assert {a.rsplit("/", 1)[-1] for a in assets} == {
        "swagger-ui.css",
        "swagger-ui-bundle.js",
        "favicon.png",
    }
    for url in assets:
        assert url.startswith("/"), url
        response = client.get(url)
        assert response.status_code == 200, url
        assert len(response.content) > 1000, url
    assert client.get("/docs/assets/swagger-ui.css").headers["content-type"].startswith("text/css")
    assert "javascript" in client.get("/docs/assets/swagger-ui-bundle.js").headers["content-type"]


def test_redoc_loads_its_script_from_the_app(client: TestClient) -> None:
    page = client.get("/redoc")
    assert page.status_code == 200
    assert 'src="/docs/assets/redoc.standalone.js"' in page.text
    assert client.get("/docs/assets/redoc.standalone.js").status_code == 200


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/openapi.json"])
def test_no_page_names_another_host(client: TestClient, path: str) -> None:
    text = client.get(path).text
    assert URL.findall(text) == []  # the CDN, Google Fonts, FastAPI's favicon: none


def test_only_the_bundled_files_are_served(client: TestClient) -> None:
    for name in ("core.py", "..%2F__init__.py", "%2Fetc%2Fpasswd", "swagger-ui.js"):
        assert client.get(f"/docs/assets/{name}").status_code == 404, name


def test_swagger_ui_renders_in_chromium_with_no_network(app: FastAPI) -> None:
    if chromium() is None:
        pytest.skip(MISSING)

    # The control: FastAPI's default page, which loads Swagger UI from a CDN, stays blank
    # with the same flags, so the flags really do cut the browser off.
    @app.get("/cdn-docs", include_in_schema=False)
    async def cdn_docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=app.openapi_url or "", title="cdn")

    ARTIFACTS.mkdir(exist_ok=True)
    with serving(app) as base:
        no_network = (*offline("127.0.0.1"), SETTLE)
        docs = browse(f"{base}/docs", ARTIFACTS / "docs-offline.png", *no_network)
        redoc = browse(f"{base}/redoc", ARTIFACTS / "redoc-offline.png", *no_network)
        cdn = browse(f"{base}/cdn-docs", ARTIFACTS / "docs-cdn-blocked.png", *no_network)

    assert 'class="swagger-ui' in docs, docs[-1500:]
    for path in ("/predict", "/train", "/model/info"):
        assert f'data-path="{path}"' in docs, path
    assert (ARTIFACTS / "docs-offline.png").stat().st_size > 10_000
    assert "http-verb post" in redoc and "/predict/batch" in redoc, redoc[-1500:]
    assert 'data-path="/predict"' not in cdn
