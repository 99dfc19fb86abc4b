"""The npm trust proxy: CONNECT to tuf-repo-cdn.sigstore.dev:443 only, TLS with a certificate
from the instance's name-constrained CA, answers from the instance's TUF repository."""

from __future__ import annotations

import socket
import ssl
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from assay.instance.layout import DataDir
from assay.instance.material import InstanceMaterial
from assay.instance.npm_trust import TUF_HOST, NpmTrustProxy, ProxyCA
from assay.instance.setup import initialize
from assay.instance.tuf_repo import TufRepository, instance_targets
from assay.registry.signing import RegistryKeys


@pytest.fixture
def data(tmp_path: Path) -> DataDir:
    data = DataDir(tmp_path / "data")
    initialize(data)
    keys = RegistryKeys.load_or_create(data.keys)
    targets = instance_targets(InstanceMaterial.load(data), "http://127.0.0.1:4873", keys)
    TufRepository.open(data).publish(targets)
    return data


@pytest.fixture
def proxy(data: DataDir) -> Iterator[NpmTrustProxy]:
    with NpmTrustProxy.for_data_dir(data, port=0) as running:
        yield running


def client(proxy: NpmTrustProxy) -> httpx.Client:
    context = ssl.create_default_context(cafile=str(proxy.ca.cert_path))
    return httpx.Client(proxy=proxy.url, verify=context, trust_env=False, timeout=10)


def test_the_tuf_mirror_is_answered_through_the_tunnel(proxy: NpmTrustProxy, data: DataDir) -> None:
    repository = TufRepository.open(data)
    with client(proxy) as http:
        root = http.get(f"https://{TUF_HOST}/1.root.json")
        assert root.status_code == 200
        assert root.content == repository.root_bytes(1)
        # What tuf-js asks first: the next root (must be 404) and the timestamp.
        assert http.get(f"https://{TUF_HOST}/2.root.json").status_code == 404
        assert http.get(f"https://{TUF_HOST}/timestamp.json").json()["signed"]["version"] == 1
        keys = http.get(f"https://{TUF_HOST}/targets/127.0.0.1%3A4873%2Fkeys.json")
        assert keys.status_code == 200
    assert proxy.requests[0] == f"CONNECT {TUF_HOST}:443 200"
    assert f"GET https://{TUF_HOST}/2.root.json 404" in proxy.requests
    assert f"GET https://{TUF_HOST}/127.0.0.1:4873/keys.json 404" not in proxy.requests


@pytest.mark.parametrize(
    "target",
    ["registry.npmjs.org:443", f"{TUF_HOST}:80", f"{TUF_HOST}.evil.example:443", "127.0.0.1:22"],
)
def test_every_other_connect_is_refused(proxy: NpmTrustProxy, target: str) -> None:
    host, port = proxy.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 403 ")
    assert proxy.requests == [f"CONNECT {target} 403"]


def test_plain_http_proxying_is_refused(proxy: NpmTrustProxy) -> None:
    with httpx.Client(proxy=proxy.url, trust_env=False, timeout=10) as http:
        response = http.get("http://registry.npmjs.org/left-pad")
    assert response.status_code == 403
    assert proxy.requests == ["GET http://registry.npmjs.org/left-pad 403"]


def test_the_ca_vouches_only_for_the_tuf_host(data: DataDir, proxy: NpmTrustProxy) -> None:
    ca = ProxyCA.load_or_create(data)
    assert ca.certificate == proxy.ca.certificate  # created once, then reused
    constraints = ca.certificate.extensions.get_extension_for_class(x509.NameConstraints)
    assert constraints.critical
    assert constraints.value.permitted_subtrees == [x509.DNSName(TUF_HOST)]
    key = data.keys / "npm-proxy-ca.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert b"PRIVATE" not in ca.cert_path.read_bytes()
    # A client that does not trust the CA refuses the tunnel's certificate.
    with (
        httpx.Client(proxy=proxy.url, trust_env=False, timeout=10) as http,
        pytest.raises(httpx.ConnectError),
    ):
        http.get(f"https://{TUF_HOST}/timestamp.json")


def test_environment_names_the_proxy_and_the_ca(proxy: NpmTrustProxy) -> None:
    assert proxy.environment() == {
        "https_proxy": proxy.url,
        "no_proxy": "127.0.0.1,localhost",
        "NODE_EXTRA_CA_CERTS": str(proxy.ca.cert_path),
    }
