"""What the unmodified npm client needs, besides a seeded cache, to trust an instance.

``npm audit signatures`` always refreshes TUF metadata from the hard-coded mirror
``https://tuf-repo-cdn.sigstore.dev`` (``@sigstore/tuf`` ``initTUF`` without ``forceCache``;
npm-registry.md §4.2, §4.5): ``GET /<n+1>.root.json`` (must be 403/404 when there is no newer
root) and ``GET /timestamp.json``, then the snapshot, targets and target files it lacks.
``npm publish --provenance`` signs with sigstore-js against hard-coded public-good services
(``sigstore`` ``config.js`` passes no ``fulcioURL``/``rekorURL``, so ``@sigstore/sign`` uses
``DEFAULT_FULCIO_URL`` and ``DEFAULT_REKOR_URL``): ``POST
https://fulcio.sigstore.dev/api/v2/signingCert`` and ``POST
https://rekor.sigstore.dev/api/v1/log/entries`` (a ``dsse`` entry; no TSA, no TUF while
signing). No npm setting changes any of these hosts (§1.7), but ``@npmcli/agent`` (under
``make-fetch-happen``, which both TUF and the signer use) honours ``https_proxy`` and
``no_proxy``, and Node honours ``NODE_EXTRA_CA_CERTS`` (environment.md §3b). So:

* :func:`seed_npm_cache` plants this instance's TUF root, metadata and targets in
  ``<cache>/_tuf/tuf-repo-cdn.sigstore.dev/`` (``@sigstore/tuf`` seeds ``root.json`` only when
  it is absent, and the cached ``root.json`` is the trust anchor). python-tuf's ``Updater``
  fetches and verifies everything first: the cache only ever holds a verified TUF state.
* :class:`NpmTrustProxy` is a CONNECT proxy on 127.0.0.1 that accepts exactly three targets,
  ``tuf-repo-cdn.sigstore.dev:443``, ``fulcio.sigstore.dev:443`` and ``rekor.sigstore.dev:443``,
  terminates TLS itself with a certificate for those names from an instance-local CA
  (:class:`ProxyCA`), and answers:

  - the TUF mirror from the instance's TUF repository;
  - Fulcio's ``/api/v2/…`` by forwarding to the instance's CA, and Rekor's ``/api/v1/log…`` by
    forwarding to the instance's log — the CA and log named in the ``trusted_root.json`` target
    of that same TUF repository, i.e. exactly the ones a verifier of the result trusts. Only
    the requests a signing client makes are forwarded (:data:`FORWARDED`); anything else
    inside the tunnel is a 404.

  Every other CONNECT target, and every plain-HTTP proxy request, is refused with 403: nothing
  reaches the real network through it. The registry and the CI job's token endpoint are
  reached directly (``no_proxy=127.0.0.1,localhost``).

The CA is name-constrained (RFC 5280 §4.2.1.10) to the three hosts, each with its subdomains
excluded (a leading-dot ``dNSName``, which OpenSSL — Node's TLS — and Go read as "subdomains
only"), so putting it in ``NODE_EXTRA_CA_CERTS`` lets it vouch for those names and nothing
else. Its key is ``keys/npm-proxy-ca.key`` (0600); each proxy start issues a fresh leaf whose key
never touches the disk longer than loading it into the TLS context takes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import json
import logging
import re
import shutil
import socket
import socketserver
import ssl
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from tuf.api.exceptions import DownloadHTTPError
from tuf.api.metadata import Metadata
from tuf.ngclient.fetcher import FetcherInterface
from tuf.ngclient.updater import Updater

from assay.ca.chain import CA_KEY_USAGE
from assay.errors import ConfigError
from assay.instance.layout import DataDir
from assay.instance.tuf_repo import TufRepository
from assay.keys import generate_ec, load_private_key, write_private_key
from assay.npm.names import encode_uri_component
from assay.transparency.rekor import MAX_ENTRY_BYTES

logger = logging.getLogger(__name__)

TUF_HOST = "tuf-repo-cdn.sigstore.dev"
TUF_MIRROR = f"https://{TUF_HOST}"
# @sigstore/sign's DEFAULT_FULCIO_URL and DEFAULT_REKOR_URL: what `npm publish --provenance`
# signs against, with no setting to change them.
FULCIO_HOST = "fulcio.sigstore.dev"
REKOR_HOST = "rekor.sigstore.dev"
ANSWERED_HOSTS = (TUF_HOST, FULCIO_HOST, REKOR_HOST)
CONNECT_TARGETS = tuple(f"{host}:443" for host in ANSWERED_HOSTS)
DEFAULT_PROXY_PORT = 4874
NO_PROXY = "127.0.0.1,localhost"
CA_KEY_FILE = "npm-proxy-ca.key"
CA_CERT_PATH = Path("npm-proxy") / "ca.pem"
ROLE_FILES = ("root.json", "timestamp.json", "snapshot.json", "targets.json")
_IDLE_TIMEOUT = 15.0
# A signing request is a few KiB (a CSR and a token; a DSSE entry of an npm statement ~10 kB);
# the services apply their own, smaller limits. This one only bounds what the proxy buffers.
MAX_FORWARDED_BYTES = MAX_ENTRY_BYTES
_UPSTREAM_TIMEOUT = 30.0

# What is forwarded from inside a tunnel: (host, method, whole request target, which service of
# the instance answers it at the same path). What sigstore-js asks of Fulcio v2 and Rekor v1
# (@sigstore/sign external/fulcio.js, rekor.js), plus the read-only calls of their APIs; a query
# string or any other path is a 404 from the proxy itself.
_UUID = r"[0-9a-f]{64}|[0-9a-f]{80}"
FORWARDED: tuple[tuple[str, str, re.Pattern[str], str], ...] = (
    (FULCIO_HOST, "POST", re.compile(r"/api/v2/signingCert"), "ca"),
    (FULCIO_HOST, "GET", re.compile(r"/api/v2/(?:trustBundle|configuration)"), "ca"),
    (REKOR_HOST, "POST", re.compile(r"/api/v1/log/entries(?:/retrieve)?"), "tlog"),
    (REKOR_HOST, "GET", re.compile(rf"/api/v1/log/entries/(?:{_UUID})"), "tlog"),
    (REKOR_HOST, "GET", re.compile(r"/api/v1/log(?:/publicKey)?"), "tlog"),
)
_RELAYED_HEADERS = ("content-type", "accept", "user-agent")


def npm_tuf_dir(cache: Path) -> Path:
    """Where ``@sigstore/tuf`` keeps the mirror's metadata inside npm's cache: the cache
    path joined with ``encodeURIComponent(host + path)`` of the mirror URL (client.js)."""
    return cache / "_tuf" / encode_uri_component(TUF_HOST)


def npm_environment(proxy_url: str, ca_cert: Path) -> dict[str, str]:
    """The environment ``npm audit signatures`` and ``npm publish --provenance`` need to reach
    the proxy and trust its CA."""
    return {"https_proxy": proxy_url, "no_proxy": NO_PROXY, "NODE_EXTRA_CA_CERTS": str(ca_cert)}


# --- the cache ---------------------------------------------------------------------------------


class RepositoryFetcher(FetcherInterface):
    """python-tuf's fetcher, answered from a :class:`TufRepository` in this process."""

    def __init__(self, repository: TufRepository, base_url: str) -> None:
        self.repository = repository
        self.base_url = base_url.rstrip("/") + "/"

    def _fetch(self, url: str) -> Iterator[bytes]:
        if not url.startswith(self.base_url):
            raise DownloadHTTPError(f"{url} is outside {self.base_url}", 404)
        data = self.repository.read(unquote(url.removeprefix(self.base_url)))
        if data is None:
            raise DownloadHTTPError(f"{url} not found", 404)
        return iter([data])


class HttpFetcher(FetcherInterface):
    """python-tuf's fetcher over httpx (no proxies from the environment, one client)."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def _fetch(self, url: str) -> Iterator[bytes]:
        response = self.client.get(url)
        if response.status_code != 200:
            raise DownloadHTTPError(f"GET {url}: {response.status_code}", response.status_code)
        return iter([response.content])


@dataclass(frozen=True, slots=True)
class SeededCache:
    directory: Path
    root_version: int
    targets: tuple[str, ...]


def seed_npm_cache(
    cache: Path, *, bootstrap_root: bytes, base_url: str, fetcher: FetcherInterface
) -> SeededCache:
    """Verify the repository at ``base_url`` from ``bootstrap_root`` with python-tuf, then
    replace ``<cache>/_tuf/tuf-repo-cdn.sigstore.dev/`` with what was verified.

    Files are laid out as tuf-js reads them: ``<role>.json`` and
    ``targets/<encodeURIComponent(name)>`` (tuf-js ``updater.js`` ``generateTargetPath``).
    Anything that was there before (another root, ``@sigstore/tuf``'s seed targets) is gone:
    this cache now trusts this instance.
    """
    base_url = base_url.rstrip("/") + "/"
    with tempfile.TemporaryDirectory(prefix="assay-tuf-") as temp:
        work = Path(temp)
        (work / "targets").mkdir()
        updater = Updater(
            metadata_dir=str(work),
            metadata_base_url=base_url,
            target_dir=str(work / "targets"),
            target_base_url=base_url + "targets/",
            fetcher=fetcher,
            bootstrap=bootstrap_root,
        )
        updater.refresh()
        # targets.json is on disk now, verified by refresh(): list what it names.
        targets_md = Metadata.from_bytes((work / "targets.json").read_bytes())
        names = sorted(targets_md.signed.targets)  # type: ignore[attr-defined]
        for name in names:
            info = updater.get_targetinfo(name)
            if info is None:  # pragma: no cover — listed in the very metadata just verified
                raise ConfigError(f"TUF target {name} vanished")
            updater.download_target(info, str(work / "targets" / encode_uri_component(name)))
        root_version = int(Metadata.from_bytes((work / "root.json").read_bytes()).signed.version)

        destination = npm_tuf_dir(cache)
        if destination.exists():
            shutil.rmtree(destination)
        (destination / "targets").mkdir(parents=True)
        for role_file in ROLE_FILES:
            # root.json is python-tuf's symlink into root_history/: copy the bytes.
            (destination / role_file).write_bytes((work / role_file).read_bytes())
        for name in names:
            encoded = encode_uri_component(name)
            (destination / "targets" / encoded).write_bytes(
                (work / "targets" / encoded).read_bytes()
            )
    return SeededCache(destination, root_version, tuple(names))


def seed_from_data_dir(cache: Path, data_dir: DataDir) -> SeededCache:
    """Seed from the repository in a data directory, trusting its first root (we hold it)."""
    repository = TufRepository.open(data_dir)
    repository.maintain()
    return seed_npm_cache(
        cache,
        bootstrap_root=repository.root_bytes(1),
        base_url=TUF_MIRROR,
        fetcher=RepositoryFetcher(repository, TUF_MIRROR),
    )


def seed_from_instance(cache: Path, instance_url: str, root: bytes | None = None) -> SeededCache:
    """Seed from a running instance's ``/-/trust/tuf/``. Without ``root`` (the instance's
    ``1.root.json``, obtained out of band) the first root is trusted on first use."""
    base_url = f"{instance_url.rstrip('/')}/-/trust/tuf/"
    with httpx.Client(timeout=30, trust_env=False) as client:
        if root is None:
            response = client.get(base_url + "1.root.json")
            if response.status_code != 200:
                raise ConfigError(
                    f"{base_url}1.root.json answered {response.status_code}: "
                    "is this an Assay instance?"
                )
            root = response.content
        return seed_npm_cache(
            cache, bootstrap_root=root, base_url=base_url, fetcher=HttpFetcher(client)
        )


# --- the CA ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProxyCA:
    """The instance-local CA that vouches for :data:`ANSWERED_HOSTS` and nothing else."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    cert_path: Path

    @classmethod
    def load_or_create(cls, data_dir: DataDir) -> ProxyCA:
        key_path = data_dir.keys / CA_KEY_FILE
        cert_path = data_dir.root / CA_CERT_PATH
        if not key_path.exists():
            data_dir.keys.mkdir(mode=0o700, parents=True, exist_ok=True)
            with contextlib.suppress(ConfigError):  # created concurrently: use that one
                write_private_key(key_path, generate_ec("P-256"))
        key = load_private_key(key_path)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ConfigError(f"{key_path} must hold an ECDSA key", path=str(key_path))
        certificate = None
        if cert_path.exists():
            certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
            now = dt.datetime.now(dt.UTC)
            if (
                certificate.public_key() != key.public_key()
                or certificate.not_valid_after_utc - now < dt.timedelta(days=30)
                # Made for other hosts (before the proxy answered Fulcio and Rekor): reissue,
                # so that the constraints name exactly the hosts answered.
                or _name_constraints(certificate) != NAME_CONSTRAINTS
            ):
                certificate = None
        if certificate is None:
            certificate = _ca_certificate(key)
            cert_path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
            temp = cert_path.with_suffix(".tmp")
            temp.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
            temp.replace(cert_path)
        return cls(certificate, key, cert_path)

    def tls_context(self) -> ssl.SSLContext:
        """A server context presenting a fresh leaf for every host in :data:`ANSWERED_HOSTS`."""
        leaf_key = generate_ec("P-256")
        now = dt.datetime.now(dt.UTC)
        leaf = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, TUF_HOST)]))
            .issuer_name(self.certificate.subject)
            .public_key(leaf_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(
                x509.SubjectAlternativeName([x509.DNSName(host) for host in ANSWERED_HOSTS]),
                critical=False,
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
            .sign(self.key, hashes.SHA256())
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        # ssl loads chains only from files: a private temp dir (0700), gone right after.
        with tempfile.TemporaryDirectory(prefix="assay-proxy-") as temp:
            chain, key_file = Path(temp) / "leaf.pem", Path(temp) / "leaf.key"
            chain.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
            write_private_key(key_file, leaf_key)
            context.load_cert_chain(chain, key_file)
        return context


# Each answered host, and none of its subdomains (a dNSName constraint alone would also permit
# every name below it, RFC 5280 §4.2.1.10), and no IP address at all.
NAME_CONSTRAINTS = x509.NameConstraints(
    permitted_subtrees=[x509.DNSName(host) for host in ANSWERED_HOSTS],
    excluded_subtrees=[
        *(x509.DNSName(f".{host}") for host in ANSWERED_HOSTS),
        x509.IPAddress(ipaddress.ip_network("0.0.0.0/0")),
        x509.IPAddress(ipaddress.ip_network("::/0")),
    ],
)


def _name_constraints(certificate: x509.Certificate) -> x509.NameConstraints | None:
    try:
        return certificate.extensions.get_extension_for_class(x509.NameConstraints).value
    except x509.ExtensionNotFound:
        return None


def _ca_certificate(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Assay"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Assay npm trust proxy CA (Sigstore hosts)"),
        ]
    )
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(CA_KEY_USAGE, critical=True)
        .add_extension(NAME_CONSTRAINTS, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


# --- the proxy ---------------------------------------------------------------------------------


class _Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = False
    block_on_close = True

    def __init__(
        self, address: tuple[str, int], repository: TufRepository, context: ssl.SSLContext
    ) -> None:
        self.repository = repository
        self.tls = context
        # Forwarding to the instance: never through a proxy from the environment (which may
        # be this very proxy), never following redirects.
        self.client = httpx.Client(timeout=_UPSTREAM_TIMEOUT, trust_env=False)
        self.requests: list[str] = []
        self.open_sockets: set[socket.socket] = set()
        self.guard = threading.Lock()
        super().__init__(address, _ProxyHandler)

    def upstream(self, service: str) -> str:
        """Base URL of the instance's ``ca`` or ``tlog``, read from the repository at each
        request: the instance re-publishes its trust files at every start."""
        return upstream_urls(self.repository)[service]

    def record(self, line: str) -> None:
        logger.info("npm trust proxy: %s", line)
        with self.guard:
            self.requests.append(line)

    def track(self, sock: socket.socket) -> None:
        with self.guard:
            self.open_sockets.add(sock)

    def untrack(self, sock: socket.socket) -> None:
        with self.guard:
            self.open_sockets.discard(sock)

    def server_close(self) -> None:
        # serve_forever has stopped accepting (NpmTrustProxy.close): wake the handlers blocked
        # on keep-alive reads, then ThreadingMixIn joins them.
        with self.guard:
            sockets = list(self.open_sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        super().server_close()
        self.client.close()


class _ProxyHandler(BaseHTTPRequestHandler):
    """The proxy side: only ``CONNECT`` to one of :data:`CONNECT_TARGETS`."""

    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = _IDLE_TIMEOUT

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("npm trust proxy: " + format, *args)

    def _refuse(self) -> None:
        self.server.record(f"{self.command} {self.path} 403")
        self.close_connection = True
        body = (
            f"Assay's npm trust proxy answers only CONNECT {', '.join(CONNECT_TARGETS)}\n".encode()
        )
        self.send_response(403, "Forbidden")
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse

    def do_CONNECT(self) -> None:
        target = self.path.lower()
        if target not in CONNECT_TARGETS:
            self._refuse()
            return
        host = target.removesuffix(":443")
        self.server.record(f"CONNECT {self.path} 200")
        self.close_connection = True
        self.send_response(200, "Connection established")
        self.end_headers()
        self.wfile.flush()
        try:
            tls = self.server.tls.wrap_socket(self.connection, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            logger.info("npm trust proxy: TLS handshake failed: %s", exc)
            return
        self.server.track(tls)
        try:
            _TunnelHandler(tls, self.client_address, self.server, host)
        except (ssl.SSLError, OSError) as exc:
            logger.debug("npm trust proxy: tunnel closed: %s", exc)
        finally:
            self.server.untrack(tls)
            with contextlib.suppress(OSError):
                tls.close()


class _TunnelHandler(BaseHTTPRequestHandler):
    """Inside the tunnel to ``host``: the TUF mirror answered from the instance's repository,
    or Fulcio and Rekor forwarded to the instance's CA and log."""

    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = _IDLE_TIMEOUT

    def __init__(self, request: Any, client_address: Any, server: _Server, host: str) -> None:
        self.host = host
        super().__init__(request, client_address, server)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("npm trust proxy (tls): " + format, *args)

    def _send(self, status: int, body: bytes, content_type: str, send_body: bool = True) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def _error(self, status: int, message: str) -> None:
        """An error in Fulcio's and Rekor's shape (``{"code", "message"}``), which sigstore-js
        reads ``message`` from (external/fetch.js)."""
        self.server.record(f"{self.command} https://{self.host}{self.path} {status}")
        # What the client sent is not read further: close rather than resynchronise.
        self.close_connection = True
        body = json.dumps({"code": status, "message": message}).encode()
        self._send(status, body, "application/json")

    # --- the TUF mirror

    def _mirror(self, send_body: bool) -> None:
        path = unquote(urlsplit(self.path).path).removeprefix("/")
        try:
            data = self.server.repository.read(path)
        except ConfigError as exc:
            logger.warning("npm trust proxy: %s", exc.message)
            data = None
        status = 200 if data is not None else 404
        self.server.record(f"{self.command} https://{TUF_HOST}/{path} {status}")
        body = data if data is not None else b'{"error":"not found"}'
        content_type = "application/json" if path.endswith(".json") else "application/octet-stream"
        self._send(status, body, content_type, send_body)

    # --- Fulcio and Rekor

    def _service(self) -> str | None:
        """Which of the instance's services answers this request, if any (:data:`FORWARDED`)."""
        for host, method, pattern, service in FORWARDED:
            if host == self.host and method == self.command and pattern.fullmatch(self.path):
                return service
        return None

    def _body(self) -> bytes | None:
        """The request body, or None once an error has been answered (411, 413)."""
        if self.command != "POST":
            return b""
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            # sigstore-js sends its JSON with a Content-Length; nothing chunked is forwarded.
            self._error(411, "a Content-Length is required")
            return None
        if int(length) > MAX_FORWARDED_BYTES:
            self._error(413, f"request body is larger than {MAX_FORWARDED_BYTES} bytes")
            return None
        return self.rfile.read(int(length))

    def _forward(self) -> None:
        service = self._service()
        if service is None:
            self._error(404, f"{self.command} {self.path} is not answered for {self.host}")
            return
        body = self._body()
        if body is None:
            return
        try:
            base = self.server.upstream(service)
        except ConfigError as exc:
            self._error(502, exc.message)
            return
        headers = {k: v for k in _RELAYED_HEADERS if (v := self.headers.get(k)) is not None}
        try:
            response = self.server.client.request(
                self.command, base + self.path, content=body, headers=headers
            )
        except httpx.HTTPError as exc:
            self._error(502, f"the instance's {service} at {base} did not answer: {exc}")
            return
        self.server.record(f"{self.command} https://{self.host}{self.path} {response.status_code}")
        content_type = response.headers.get("content-type", "application/json")
        self._send(response.status_code, response.content, content_type)

    def do_GET(self) -> None:
        if self.host == TUF_HOST:
            self._mirror(send_body=True)
        else:
            self._forward()

    def do_HEAD(self) -> None:
        if self.host == TUF_HOST:
            self._mirror(send_body=False)
        else:
            self._error(404, f"HEAD is not answered for {self.host}")

    def do_POST(self) -> None:
        if self.host == TUF_HOST:
            self._error(405, f"{TUF_HOST} is read-only")
        else:
            self._forward()


def upstream_urls(repository: TufRepository) -> dict[str, str]:
    """The instance's CA and log, as its TUF repository's ``trusted_root.json`` names them
    (``certificateAuthorities[].uri``, ``tlogs[].baseUrl``; assay.instance.trust): signing
    goes to exactly the services whose keys npm then verifies the bundle with."""
    data = repository.target_bytes("trusted_root.json")
    if data is None:
        raise ConfigError("the instance's TUF repository has no trusted_root.json target")
    try:
        root = json.loads(data)
        # The instance's own CA and log come first; a mirror appends its uplinks' after them.
        urls = {
            "ca": str(root["certificateAuthorities"][0]["uri"]),
            "tlog": str(root["tlogs"][0]["baseUrl"]),
        }
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise ConfigError(f"the instance's trusted_root.json names no CA or log: {exc}") from exc
    for name, url in urls.items():
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise ConfigError(f"the instance's {name} URL is not HTTP(S): {url!r}")
        # Never forward to a host this proxy stands in for: that would be the real network.
        if (parts.hostname or "").lower() in ANSWERED_HOSTS:
            raise ConfigError(f"the instance's {name} URL is a public-good host: {url!r}")
    return {name: url.rstrip("/") for name, url in urls.items()}


class NpmTrustProxy:
    """The CONNECT proxy, serving in a background thread until :meth:`close`."""

    def __init__(
        self,
        repository: TufRepository,
        ca: ProxyCA,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PROXY_PORT,
    ) -> None:
        self.ca = ca
        self._server = _Server((host, port), repository, ca.tls_context())
        self._thread: threading.Thread | None = None

    @classmethod
    def for_data_dir(
        cls, data_dir: DataDir, host: str = "127.0.0.1", port: int = DEFAULT_PROXY_PORT
    ) -> NpmTrustProxy:
        repository = TufRepository.open(data_dir)
        repository.maintain()  # fails early, and explains, when the instance never ran
        return cls(repository, ProxyCA.load_or_create(data_dir), host, port)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def requests(self) -> list[str]:
        """What clients asked, in order (``CONNECT …``, ``GET https://…/file status``)."""
        with self._server.guard:
            return list(self._server.requests)

    def environment(self) -> dict[str, str]:
        return npm_environment(self.url, self.ca.cert_path)

    def serve_forever(self) -> None:
        self._server.serve_forever(poll_interval=0.2)

    def start(self) -> NpmTrustProxy:
        self._thread = threading.Thread(
            target=self.serve_forever, name=f"npm trust proxy {self.url}", daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> NpmTrustProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
