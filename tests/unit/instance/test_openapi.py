"""The instance's OpenAPI document names every route the instance serves (issue 15 §2).

The instance app is built in process over a fresh data directory and its routes walked —
through every mount, the registry behind the browser front and the CA at the origin — so a
route added to any service without its entry in assay.instance.openapi fails here.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from assay.instance import openapi
from assay.instance.app import CA_PATHS_AT_ORIGIN, create_instance_app
from assay.instance.layout import DataDir
from assay.instance.setup import initialize
from assay.settings import Settings

_CONVERTER = re.compile(r"\{(\w+):\w+\}")
_METHODS = {"get", "put", "post", "delete", "head", "patch", "options"}


def _unwrap(app: Any) -> Any:
    """The router-bearing app inside the instance's ASGI wrappers (CA at the origin, the
    browser front)."""
    while not hasattr(app, "routes") and hasattr(app, "app"):
        app = app.app
    return app


def served_routes(app: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    """``(path template at the origin, method)`` for every route under ``app``."""
    for route in _unwrap(app).routes:
        if isinstance(route, Mount):
            inner = _unwrap(route.app)
            if isinstance(inner, StaticFiles):
                yield f"{prefix}{route.path}/{{path}}", "get"
            else:
                yield from served_routes(inner, prefix + route.path)
        elif isinstance(route, Route):
            path = _CONVERTER.sub(r"{\1}", prefix + route.path)
            for method in route.methods or ():
                # Starlette answers HEAD wherever it answers GET; documented where npm uses it.
                if method != "HEAD":
                    yield path, method.lower()


def documented(document: dict[str, Any]) -> set[tuple[str, str]]:
    found = set()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert method in _METHODS, (path, method)
            found.add((operation.get("x-assay-route", path), method))
    return found


@pytest.fixture(scope="module", params=[False, True], ids=["plain", "with-uplink"])
def has_mirror(request: pytest.FixtureRequest) -> bool:
    """Whether the instance has an uplink (which mounts the mirror's operator routes)."""
    return bool(request.param)


@pytest.fixture(scope="module")
def instance_app(has_mirror: bool, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The instance as it is built; the uplink is never reached while the app is only built
    and walked."""
    data = tmp_path_factory.mktemp("openapi") / "data"
    initialize(DataDir(data))
    uplink = "http://127.0.0.1:9/" if has_mirror else None
    return create_instance_app(Settings(data_dir=data, ci_emulation=True, uplink_url=uplink))


def test_every_served_route_is_documented(instance_app: Any, has_mirror: bool) -> None:
    served = set(served_routes(instance_app))
    served |= {
        (path, "post" if path.endswith("signingCert") else "get") for path in CA_PATHS_AT_ORIGIN
    }
    assert ("/{path}", "put") in served  # the registry's catch-all package route was walked
    assert ("/-/tlog/checkpoint", "get") in served
    missing = served - documented(openapi.document(mirror=has_mirror))
    assert not missing, f"routes missing from assay.instance.openapi: {sorted(missing)}"


def test_every_documented_route_is_served(instance_app: Any, has_mirror: bool) -> None:
    served = set(served_routes(instance_app))
    served |= {
        (path, "post" if path.endswith("signingCert") else "get") for path in CA_PATHS_AT_ORIGIN
    }
    served |= {(path, "head") for path, method in served if method == "get"}
    extra = documented(openapi.document(mirror=has_mirror)) - served
    assert not extra, f"documented but not served: {sorted(extra)}"


def test_the_instance_serves_the_document(instance_app: Any, has_mirror: bool) -> None:
    if has_mirror:
        pytest.skip("a name not published here is the uplink's: /openapi.json goes upstream")

    async def fetch(*paths: str) -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=instance_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return [await client.get(path) for path in paths]

    document, package, ca = asyncio.run(
        fetch(openapi.OPENAPI_PATH, "/openapi.json", "/-/ca/openapi.json")
    )
    assert document.status_code == 200
    body = document.json()
    assert body["openapi"].startswith("3.1")
    assert body["paths"]["/{name}"]["get"]["x-assay-route"] == "/{path}"
    # FastAPI's own documents are gone: a package may be called openapi.json.
    assert package.status_code == 404
    assert package.json() == {"error": "Not found"}
    assert ca.status_code == 404


def test_errors_have_each_protocols_shape() -> None:
    paths = openapi.document()["paths"]
    npm = paths["/-/v1/search"]["get"]["responses"]["400"]["content"]["application/json"]
    assert npm["schema"] is openapi.NPM_ERROR or npm["schema"] == openapi.NPM_ERROR
    rekor = paths["/-/tlog/api/v1/log/entries"]["post"]["responses"]
    assert rekor["429"]["headers"]["Retry-After"]["required"] is True
    assert rekor["400"]["content"]["application/json"]["schema"] == openapi.CODE_ERROR
    web = paths["/-/web/search"]["get"]["responses"]["400"]["content"]
    assert set(web) == {"text/html"}


def test_parts_may_not_collide(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(openapi, "PARTS", (*openapi.PARTS, lambda: {"/-/ping": {}}))
    with pytest.raises(ValueError, match="/-/ping"):
        openapi.document()


def test_a_path_no_route_matches_is_answered_in_its_services_shape(instance_app: Any) -> None:
    # Found by the fuzzer: a decoded newline defeats every `{path:path}` pattern, and the
    # instance's router answered FastAPI's {"detail": "Not Found"}, no protocol's shape.
    async def fetch(*paths: str) -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=instance_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return [await client.get(path) for path in paths]

    npm, tlog, ca, web = asyncio.run(
        fetch(
            "/a%0A/-/a-1.0.0.tgz",
            "/-/tlog/api/v1/log/entries/x%0Ay",
            "/-/ca/api/v2/x%0A",
            "/-/web/static/x%0Ay",
        )
    )
    assert (npm.status_code, npm.json()) == (404, {"error": "Not Found"})
    assert (tlog.status_code, tlog.json()) == (404, {"code": 404, "message": "Not Found"})
    assert (ca.status_code, ca.json()) == (404, {"code": 5, "message": "Not Found"})
    assert web.status_code == 404
    assert web.headers["content-type"].startswith("text/html")


def test_every_operation_with_a_path_parameter_may_answer_404() -> None:
    # Found by the fuzzer: DELETE /-/user/token/<a newline> reached no route, and the 404 the
    # instance answered was not in the document.
    for path, operations in openapi.document()["paths"].items():
        for method, operation in operations.items():
            if any(p["in"] == "path" for p in operation.get("parameters", ())):
                assert "404" in operation["responses"], (method, path)
