"""Signing through `assay trust npm-proxy`: a client that believes it talks to
https://fulcio.sigstore.dev and https://rekor.sigstore.dev (as npm's sigstore-js always does)
gets its certificate from the instance's CA and its entry in the instance's log, and the bundle
verifies against the instance's trusted root. The instance runs in process; our own keyless
signer is the client here (tests/e2e/test_npm_publish_provenance.py drives the stock npm)."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from assay.instance.app import create_instance_app
from assay.instance.layout import DataDir
from assay.instance.material import InstanceMaterial
from assay.instance.npm_trust import FULCIO_HOST, REKOR_HOST, NpmTrustProxy, upstream_urls
from assay.instance.setup import initialize
from assay.instance.trust import trusted_root
from assay.instance.tuf_repo import TufRepository
from assay.oidc.claims import CIJob
from assay.oidc.issuer import OIDCIssuer
from assay.settings import Settings
from assay.sign.config import SigningConfig
from assay.sign.signer import sign_dsse
from assay.verify.trust import TrustedRoot
from assay.verify.verifier import Verifier
from tests.servers import loopback_socket, serve_app, socket_url

# What @sigstore/sign uses when npm passes no URLs (DEFAULT_FULCIO_URL, DEFAULT_REKOR_URL).
PUBLIC_GOOD = SigningConfig(ca_url=f"https://{FULCIO_HOST}", tlog_url=f"https://{REKOR_HOST}")


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[tuple[str, DataDir]]:
    data = DataDir(tmp_path / "data")
    initialize(data)
    sock = loopback_socket()
    url = socket_url(sock)
    settings = Settings(data_dir=data.root, public_url=url, ci_emulation=True)
    with serve_app(create_instance_app(settings), sock) as served:
        yield served, data


@pytest.fixture
def proxy(instance: tuple[str, DataDir]) -> Iterator[NpmTrustProxy]:
    _, data = instance
    with NpmTrustProxy.for_data_dir(data, port=0) as running:
        yield running


def through(proxy: NpmTrustProxy) -> httpx.Client:
    """A client as npm is configured by the proxy's environment: https_proxy, and the proxy's
    CA trusted (NODE_EXTRA_CA_CERTS) besides the system's."""
    context = ssl.create_default_context(cafile=str(proxy.ca.cert_path))
    return httpx.Client(proxy=proxy.url, verify=context, trust_env=False, timeout=30)


def test_the_proxy_forwards_to_the_ca_and_log_the_trusted_root_names(
    instance: tuple[str, DataDir], proxy: NpmTrustProxy
) -> None:
    url, data = instance
    assert upstream_urls(TufRepository.open(data)) == {"ca": url, "tlog": f"{url}/-/tlog"}


def test_a_bundle_signed_through_the_proxy_verifies_against_the_instance(
    instance: tuple[str, DataDir], proxy: NpmTrustProxy
) -> None:
    url, data = instance
    material = InstanceMaterial.load(data)
    job = CIJob.github("acme/widget")
    token = OIDCIssuer(f"{url}/-/oidc", material.oidc_key).mint(job.token_claims(), "sigstore")
    subject = {"name": "pkg:npm/widget@1.0.0", "digest": {"sha512": "ab" * 64}}
    statement = json.dumps({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [subject],
        "predicateType": "https://example.com/predicate/v1",
        "predicate": {},
    }).encode()  # fmt: skip
    with through(proxy) as http:
        bundle = sign_dsse(
            statement, "application/vnd.in-toto+json", token, PUBLIC_GOOD, client=http
        )
        # Rekor's log info is forwarded too (a client may ask for it).
        info = http.get(f"https://{REKOR_HOST}/api/v1/log")
        assert info.status_code == 200
        assert info.json() == httpx.get(f"{url}/-/tlog/api/v1/log").json()

    result = Verifier(TrustedRoot.from_dict(trusted_root(material, url))).verify(bundle)
    assert result.kind == "dsse"
    assert result.signer is not None
    assert result.signer.issuer == f"{url}/-/oidc"
    assert proxy.requests == [
        f"CONNECT {FULCIO_HOST}:443 200",
        f"POST https://{FULCIO_HOST}/api/v2/signingCert 200",
        f"CONNECT {REKOR_HOST}:443 200",
        f"POST https://{REKOR_HOST}/api/v1/log/entries 201",
        f"GET https://{REKOR_HOST}/api/v1/log 200",
    ]
