"""The all-in-one instance: every service under one origin (DESIGN.md, "One origin").

::

    /-/ping                         200 once the instance is ready (what `npm ping` asks)
    /-/trust/trusted_root.json      Sigstore trust files for this instance (assay.instance.trust)
    /-/trust/signing_config.json
    /-/trust/client_trust_config.json
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from assay.instance.layout import DataDir
from assay.instance.material import InstanceMaterial
from assay.instance.trust import client_trust_config, signing_config, trusted_root
from assay.settings import Settings


def create_instance_app(settings: Settings) -> FastAPI:
    """Load the data directory named by ``settings`` and compose every service."""
    material = InstanceMaterial.load(DataDir(settings.data_dir))
    origin = settings.origin
    app = FastAPI(title="Assay", version="0.1.0", docs_url=None, redoc_url=None)

    trust_files: dict[str, dict[str, Any]] = {
        "trusted_root.json": trusted_root(material, origin),
        "signing_config.json": signing_config(material, origin),
        "client_trust_config.json": client_trust_config(material, origin),
    }

    @app.get("/-/ping")
    def ping() -> dict[str, str]:
        return {}

    @app.get("/-/trust/{name}")
    def trust_file(name: str) -> JSONResponse:
        body = trust_files.get(name)
        if body is None:
            return JSONResponse({"error": "not found"}, status_code=404)
        return JSONResponse(body)

    return app
