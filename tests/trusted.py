"""Trusted publishing against a running `assay up` (CI emulation on): publishers written into
its database through TrustStore, OIDC tokens from its own issuer, the exchange over HTTP.

Tokens come from the instance's issuer in two ways: an emulated CI job registered over HTTP
(``POST /-/oidc/ci/jobs``) and traded at its token endpoint, as npm trades it; or, for claims no
job may choose (an ``exp`` in the past, an ``iat`` in the future), minted with the instance's
own OIDC key (``keys/oidc.key``) and a shifted clock — still the instance's issuer and key.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
from cryptography.hazmat.primitives.asymmetric import ec

from assay.keys import load_private_key
from assay.oidc.claims import CIJob
from assay.oidc.issuer import OIDCIssuer
from assay.oidc.providers import Provider
from assay.registry.accounts import CREATE_PACKAGE
from assay.storage.account_store import now_ms
from assay.storage.database import database_url, open_engine
from assay.storage.schema import registry_users
from assay.storage.trust_store import StoredPublisher, TrustStore
from tests.assay_up import Instance
from tests.unit.registry.tarballs import publish_body

AUDIENCE = "npm:127.0.0.1"


def github_publisher(repository: str, file: str = "release.yml", **extra: str) -> dict[str, Any]:
    """``npm trust github``'s claims (lib/commands/trust/github.js optionsToBody)."""
    return {"repository": repository, "workflow_ref": {"file": file}, **extra}


def gitlab_publisher(project: str, file: str = ".gitlab-ci.yml", **extra: str) -> dict[str, Any]:
    """``npm trust gitlab``'s claims (lib/commands/trust/gitlab.js optionsToBody)."""
    return {"project_path": project, "ci_config_ref_uri": {"file": file}, **extra}


class Trusted:
    """One `assay up` instance, seen by a trusted-publishing test."""

    def __init__(self, instance: Instance) -> None:
        self.instance = instance
        self.url = instance.url
        self.http = httpx.Client(base_url=instance.url, timeout=60)
        self.engine = open_engine(database_url(None, instance.data))
        self.trust = TrustStore(self.engine)
        self.issuer_url = f"{instance.url}/-/oidc"
        self._secret = (instance.data / "oidc" / "registration.secret").read_text().strip()

    def close(self) -> None:
        self.http.close()
        self.engine.dispose()

    # --- publishers and users ------------------------------------------------------------

    def add_publisher(
        self,
        package: str,
        provider: str,
        claims: Mapping[str, Any],
        *,
        permissions: Sequence[str] = (CREATE_PACKAGE,),
        created_by: int | None = None,
        pending_for_ms: int | None = None,
    ) -> StoredPublisher:
        created = now_ms()
        publisher = StoredPublisher(
            id=str(uuid.uuid4()),
            package=package,
            provider=provider,
            claims=dict(claims),
            permissions=tuple(permissions),
            pins=None,
            created_by=created_by,
            created_ms=created,
            pending_until_ms=None if pending_for_ms is None else created + pending_for_ms,
        )
        self.trust.add_publishers([publisher])
        return publisher

    def user(self, name: str) -> tuple[int, str]:
        """A new user (npm adduser) and their token."""
        body = {"name": name, "password": f"{name}-password", "email": f"{name}@example.com"}
        response = self.http.put(f"/-/user/org.couchdb.user:{name}", json=body)
        assert response.status_code == 201, response.text
        token = str(response.json()["token"])
        who = self.http.get("/-/whoami", headers=bearer(token))
        assert who.json() == {"username": name}
        with self.engine.connect() as connection:
            row = connection.execute(
                registry_users.select().where(registry_users.c.name == name)
            ).first()
        assert row is not None
        return int(row.id), token

    # --- OIDC tokens -----------------------------------------------------------------------

    def job(
        self, provider: Provider, claims: Mapping[str, str], server_url: str | None = None
    ) -> dict[str, Any]:
        """An emulated CI job registered with the instance's issuer (what `assay ci-job` does)."""
        body: dict[str, Any] = {"provider": provider, "claims": dict(claims)}
        if server_url is not None:
            body["server_url"] = server_url
        registered = self.http.post("/-/oidc/ci/jobs", json=body, headers=bearer(self._secret))
        assert registered.status_code == 201, registered.text
        result: dict[str, Any] = registered.json()
        return result

    def job_token(
        self,
        provider: Provider,
        claims: Mapping[str, str],
        audience: str = AUDIENCE,
        *,
        server_url: str | None = None,
    ) -> str:
        """A token from an emulated CI job: registered, then traded as npm trades it."""
        job = self.job(provider, claims, server_url)
        return self.job_request(job, audience)

    def job_request(self, job: Mapping[str, Any], audience: str = AUDIENCE) -> str:
        """The job's ambient credential traded for a token (GitHub's request URL)."""
        response = self.http.get(
            f"{job['request_url']}&audience={quote(audience)}",
            headers=bearer(job["request_token"]),
        )
        assert response.status_code == 200, response.text
        return str(response.json()["value"])

    def minted(
        self,
        provider: Provider,
        claims: Mapping[str, str],
        *,
        shift: timedelta = timedelta(0),
        lifetime: timedelta = timedelta(minutes=5),
        audience: str = AUDIENCE,
        key: ec.EllipticCurvePrivateKey | None = None,
        issuer_url: str | None = None,
    ) -> str:
        """A token signed with the instance's OIDC key (or `key`), issued `shift` from now."""
        signing_key = key or load_private_key(self.instance.data / "keys" / "oidc.key")
        assert isinstance(signing_key, ec.EllipticCurvePrivateKey)
        issuer = OIDCIssuer(
            issuer_url or self.issuer_url, signing_key, clock=lambda: datetime.now(UTC) + shift
        )
        job = CIJob.create(provider, dict(claims))
        return issuer.mint(job.token_claims(), audience, lifetime)

    # --- the exchange and the registry ---------------------------------------------------------

    def exchange(self, package: str, token: str | None) -> httpx.Response:
        escaped = package.replace("/", "%2f")
        headers = bearer(token) if token is not None else {}
        return self.http.post(f"/-/npm/v1/oidc/token/exchange/package/{escaped}", headers=headers)

    def publish(self, package: str, version: str, token: str, **manifest: Any) -> httpx.Response:
        body = publish_body(package, version, **manifest)
        return self.http.put(f"/{package.replace('/', '%2f')}", json=body, headers=bearer(token))

    def packument(self, package: str) -> dict[str, Any] | None:
        response = self.http.get(f"/{package.replace('/', '%2f')}")
        if response.status_code == 404:
            return None
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def versions(self, package: str) -> list[str]:
        packument = self.packument(package)
        return [] if packument is None else list(packument["versions"])


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def claims_of(token: str) -> dict[str, Any]:
    """The (unverified) payload of a JWT: for assertions only."""
    payload = token.split(".")[1]
    result: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return result
