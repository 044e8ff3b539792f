"""GET /docs (Swagger UI) and /redoc, with every asset served by this app: they work offline.

The assets are the ones the `fastapi-offline` package ships (kept up to date there), served
from its install folder by name; FastAPI's own page builders point at them.
"""

from __future__ import annotations

import logging
from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, HTTPException, Request, status
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

logger = logging.getLogger(__name__)

router = APIRouter(tags=["docs"], include_in_schema=False)

ASSET_DIR = Path(fastapi_offline.__file__).resolve().parent / "static"
ASSET_PREFIX = "/docs/assets"
#: The only files served: a name from the URL never reaches the file system otherwise.
ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png")
#: Swagger UI checks a spec against a public validator unless told not to.
SWAGGER_UI_PARAMETERS = {"validatorUrl": None}


def _asset_url(request: Request, name: str) -> str:
    return f"{request.scope.get('root_path', '')}{ASSET_PREFIX}/{name}"


def _openapi_url(request: Request) -> str:
    return f"{request.scope.get('root_path', '')}{request.app.openapi_url}"


@router.get("/docs", response_class=HTMLResponse)
async def read_swagger_ui(request: Request) -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url=_openapi_url(request),
        title=f"{request.app.title} - Swagger UI",
        swagger_js_url=_asset_url(request, "swagger-ui-bundle.js"),
        swagger_css_url=_asset_url(request, "swagger-ui.css"),
        swagger_favicon_url=_asset_url(request, "favicon.png"),
        swagger_ui_parameters={
            **(request.app.swagger_ui_parameters or {}),
            **SWAGGER_UI_PARAMETERS,
        },
    )


@router.get("/redoc", response_class=HTMLResponse)
async def read_redoc(request: Request) -> HTMLResponse:
    return get_redoc_html(
        openapi_url=_openapi_url(request),
        title=f"{request.app.title} - ReDoc",
        redoc_js_url=_asset_url(request, "redoc.standalone.js"),
        redoc_favicon_url=_asset_url(request, "favicon.png"),
        with_google_fonts=False,
    )


@router.get(f"{ASSET_PREFIX}/{{name}}")
async def read_asset(name: str) -> FileResponse:
    """One of the bundled files, cached by the browser for a day."""
    if name not in ASSETS:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no docs asset {name!r}")
    return FileResponse(ASSET_DIR / name, headers={"Cache-Control": "public, max-age=86400"})
