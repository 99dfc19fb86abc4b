"""The npm trust proxy: CONNECT to tuf-repo-cdn.sigstore.dev, fulcio.sigstore.dev and
rekor.sigstore.dev (port 443) only, TLS with a certificate from the instance's name-constrained
CA; the TUF mirror answered from the instance's TUF repository, Fulcio and Rekor forwarded to
the instance (tests/integration/test_npm_trust_signing.py signs through it) — and every request
it does not forward refused inside the tunnel."""

from __future__ import annotations

import datetime as dt
import json
import socket
import ssl
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from assay.errors import ConfigError
from assay.instance.layout import DataDir
from assay.instance.material import InstanceMaterial
from assay.instance.npm_trust import (
    ANSWERED_HOSTS,
    CA_CERT_PATH,
    FULCIO_HOST,
    MAX_FORWARDED_BYTES,
    REKOR_HOST,
    TUF_HOST,
    NpmTrustProxy,
    ProxyCA,
    upstream_urls,
)
from assay.instance.setup import initialize
from assay.instance.tuf_repo import TufRepository, instance_targets
from assay.keys import generate_ec, load_private_key
from assay.registry.signing import RegistryKeys


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def data(tmp_path: Path) -> DataDir:
    data = DataDir(tmp_path / "data")
    initialize(data)
    keys = RegistryKeys.load_or_create(data.keys)
    # The instance is not running: its CA and log (named by trusted_root.json) do not answer.
    origin = f"http://127.0.0.1:{closed_port()}"
    targets = instance_targets(InstanceMaterial.load(data), origin, keys)
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
        trusted_root = http.get(f"https://{TUF_HOST}/targets/trusted_root.json")
        assert trusted_root.status_code == 200
        assert trusted_root.content == repository.target_bytes("trusted_root.json")
    assert proxy.requests[0] == f"CONNECT {TUF_HOST}:443 200"
    assert f"GET https://{TUF_HOST}/2.root.json 404" in proxy.requests


@pytest.mark.parametrize(
    "target",
    [
        "registry.npmjs.org:443",
        f"{TUF_HOST}:80",
        f"{TUF_HOST}.evil.example:443",
        f"evil.{FULCIO_HOST}:443",
        f"{REKOR_HOST}:8443",
        "search.sigstore.dev:443",
        "127.0.0.1:22",
    ],
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


def test_the_ca_vouches_only_for_the_answered_hosts(data: DataDir, proxy: NpmTrustProxy) -> None:
    ca = ProxyCA.load_or_create(data)
    assert ca.certificate == proxy.ca.certificate  # created once, then reused
    constraints = ca.certificate.extensions.get_extension_for_class(x509.NameConstraints)
    assert constraints.critical
    hosts = [TUF_HOST, FULCIO_HOST, REKOR_HOST]
    assert constraints.value.permitted_subtrees == [x509.DNSName(host) for host in hosts]
    excluded = constraints.value.excluded_subtrees or []
    assert [name for name in excluded if isinstance(name, x509.DNSName)] == [
        x509.DNSName(f".{host}") for host in hosts
    ]
    assert len(excluded) == 5  # and every IPv4 and IPv6 address
    key = data.keys / "npm-proxy-ca.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert b"PRIVATE" not in ca.cert_path.read_bytes()
    # A client that does not trust the CA refuses the tunnel's certificate.
    with (
        httpx.Client(proxy=proxy.url, trust_env=False, timeout=10) as http,
        pytest.raises(httpx.ConnectError),
    ):
        http.get(f"https://{TUF_HOST}/timestamp.json")


def _leaf(ca: ProxyCA, host: str) -> ssl.SSLContext:
    """A server context presenting a leaf for ``host`` signed by the proxy's CA key."""
    key = generate_ec("P-256")
    now = dt.datetime.now(dt.UTC)
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "leaf")]))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca.key, hashes.SHA256())
    )
    return _server_context(leaf, key)


def _server_context(leaf: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    pem = leaf.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # ssl loads chains only from files; a throwaway test key.
    with tempfile.NamedTemporaryFile(suffix=".pem") as file:
        file.write(pem)
        file.flush()
        context.load_cert_chain(file.name)
    return context


def _handshake(server: ssl.SSLContext, cafile: Path, hostname: str) -> None:
    """A TLS handshake in memory: OpenSSL (Node's TLS library too) checks the chain, the
    hostname and the CA's name constraints. Raises ``ssl.SSLCertVerificationError``."""
    client = ssl.create_default_context(cafile=str(cafile))
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client_side = client.wrap_bio(c_in, c_out, server_hostname=hostname)
    server_side = server.wrap_bio(s_in, s_out, server_side=True)
    done = {"client": False, "server": False}
    for _ in range(20):
        for name, side in (("client", client_side), ("server", server_side)):
            if done[name]:
                continue
            try:
                side.do_handshake()
                done[name] = True
            except ssl.SSLWantReadError:
                pass
        if c_out.pending:
            s_in.write(c_out.read())
        if s_out.pending:
            c_in.write(s_out.read())
        if all(done.values()):
            return
    raise AssertionError("handshake did not finish")


@pytest.mark.parametrize("host", ANSWERED_HOSTS)
def test_the_proxys_leaf_is_accepted_for_each_answered_host(
    proxy: NpmTrustProxy, host: str
) -> None:
    _handshake(proxy.ca.tls_context(), proxy.ca.cert_path, host)


@pytest.mark.parametrize(
    "host", [f"evil.{FULCIO_HOST}", f"a.b.{REKOR_HOST}", "registry.npmjs.org", "sigstore.dev"]
)
def test_openssl_refuses_a_leaf_from_the_ca_for_any_other_host(data: DataDir, host: str) -> None:
    """Even a leaf the CA's own key signed: the name constraints stop it (subdomains of an
    answered host included, through the leading-dot exclusions)."""
    ca = ProxyCA.load_or_create(data)
    with pytest.raises(ssl.SSLCertVerificationError, match=r"name constraint|permitted|excluded"):
        _handshake(_leaf(ca, host), ca.cert_path, host)


def test_a_ca_made_for_fewer_hosts_is_reissued_with_the_same_key(data: DataDir) -> None:
    """A data directory from before the proxy answered Fulcio and Rekor holds a CA constrained
    to the TUF host alone: loading it reissues the certificate for exactly today's hosts."""
    first = ProxyCA.load_or_create(data)
    key = load_private_key(data.keys / "npm-proxy-ca.key")
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "old")])
    old = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.NameConstraints(
                permitted_subtrees=[x509.DNSName(TUF_HOST)], excluded_subtrees=None
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    (data.root / CA_CERT_PATH).write_bytes(old.public_bytes(serialization.Encoding.PEM))
    again = ProxyCA.load_or_create(data)
    assert again.certificate != old
    assert again.certificate.public_key() == first.certificate.public_key()
    constraints = again.certificate.extensions.get_extension_for_class(x509.NameConstraints)
    assert (
        constraints.value
        == first.certificate.extensions.get_extension_for_class(x509.NameConstraints).value
    )


def _tunnel(proxy: NpmTrustProxy, host: str, request: bytes) -> tuple[int, bytes]:
    """Send raw bytes inside a tunnel to ``host``; the status and body of the answer."""
    address, port = proxy.url.removeprefix("http://").split(":")
    context = ssl.create_default_context(cafile=str(proxy.ca.cert_path))
    with socket.create_connection((address, int(port)), timeout=10) as sock:
        sock.sendall(f"CONNECT {host}:443 HTTP/1.1\r\nHost: {host}:443\r\n\r\n".encode())
        assert sock.recv(4096).startswith(b"HTTP/1.1 200 ")
        with context.wrap_socket(sock, server_hostname=host) as tls:
            tls.sendall(request)
            answer = b""
            while chunk := tls.recv(65536):
                answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body


@pytest.mark.parametrize(
    ("host", "method", "path", "status"),
    [
        (FULCIO_HOST, "GET", "/api/v1/log", 404),  # Rekor's path on Fulcio's host
        (REKOR_HOST, "POST", "/api/v2/signingCert", 404),
        (FULCIO_HOST, "POST", "/api/v2/signingCert?x=1", 404),
        (FULCIO_HOST, "POST", "/api/v2/../v1/signingCert", 404),
        (REKOR_HOST, "GET", "/api/v1/log/entries/../../../-/npm/v1/keys", 404),
        (REKOR_HOST, "DELETE", "/api/v1/log/entries", 501),
        (TUF_HOST, "POST", "/timestamp.json", 405),
    ],
)
def test_inside_a_tunnel_only_the_signing_requests_are_forwarded(
    proxy: NpmTrustProxy, host: str, method: str, path: str, status: int
) -> None:
    request = f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 2\r\n\r\n{{}}"
    answered, body = _tunnel(proxy, host, request.encode())
    assert answered == status
    if status != 501:  # http.server's own answer to a method it has no handler for
        assert json.loads(body)["code"] == status
        assert proxy.requests[-1] == f"{method} https://{host}{path} {status}"


def test_a_body_without_a_length_or_over_the_limit_is_refused(proxy: NpmTrustProxy) -> None:
    chunked = (
        f"POST /api/v1/log/entries HTTP/1.1\r\nHost: {REKOR_HOST}\r\n"
        "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"
    )
    assert _tunnel(proxy, REKOR_HOST, chunked.encode())[0] == 411
    huge = (
        f"POST /api/v1/log/entries HTTP/1.1\r\nHost: {REKOR_HOST}\r\n"
        f"Content-Length: {MAX_FORWARDED_BYTES + 1}\r\n\r\n"
    )
    status, body = _tunnel(proxy, REKOR_HOST, huge.encode())
    assert status == 413
    assert "larger than" in json.loads(body)["message"]


def test_an_instance_that_does_not_answer_is_a_502(proxy: NpmTrustProxy) -> None:
    with client(proxy) as http:
        response = http.post(f"https://{FULCIO_HOST}/api/v2/signingCert", json={})
    assert response.status_code == 502
    assert "did not answer" in response.json()["message"]
    assert proxy.requests[-2:] == [
        f"CONNECT {FULCIO_HOST}:443 200",
        f"POST https://{FULCIO_HOST}/api/v2/signingCert 502",
    ]


def test_environment_names_the_proxy_and_the_ca(proxy: NpmTrustProxy) -> None:
    assert proxy.environment() == {
        "https_proxy": proxy.url,
        "no_proxy": "127.0.0.1,localhost",
        "NODE_EXTRA_CA_CERTS": str(proxy.ca.cert_path),
    }


def test_upstreams_are_the_instances_own_never_a_public_good_host(data: DataDir) -> None:
    """The CA and log are the first ones the trusted_root.json target names (a mirror appends
    its uplinks' after them); a public-good host there is refused, never forwarded to."""
    repository = TufRepository.open(data)
    root = json.loads(repository.target_bytes("trusted_root.json") or b"")
    own = upstream_urls(repository)
    assert own == {
        "ca": root["certificateAuthorities"][0]["uri"],
        "tlog": root["tlogs"][0]["baseUrl"],
    }
    public_good = {"uri": f"https://{FULCIO_HOST}"}
    root["certificateAuthorities"] = [public_good, *root["certificateAuthorities"]]
    repository.publish({"trusted_root.json": json.dumps(root).encode()})
    with pytest.raises(ConfigError, match="public-good host"):
        upstream_urls(repository)
    repository.publish({})
    with pytest.raises(ConfigError, match=r"no trusted_root\.json"):
        upstream_urls(repository)
