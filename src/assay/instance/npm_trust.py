"""What the unmodified npm client needs, besides a seeded cache, to trust an instance.

``npm audit signatures`` always refreshes TUF metadata from the hard-coded mirror
``https://tuf-repo-cdn.sigstore.dev`` (``@sigstore/tuf`` ``initTUF`` without ``forceCache``;
npm-registry.md §4.2, §4.5): ``GET /<n+1>.root.json`` (must be 403/404 when there is no newer
root) and ``GET /timestamp.json``, then the snapshot, targets and target files it lacks. No
npm setting changes the mirror (§1.7), but ``@npmcli/agent`` honours ``https_proxy`` and
``no_proxy``, and Node honours ``NODE_EXTRA_CA_CERTS`` (environment.md §3b). So:

* :func:`seed_npm_cache` plants this instance's TUF root, metadata and targets in
  ``<cache>/_tuf/tuf-repo-cdn.sigstore.dev/`` (``@sigstore/tuf`` seeds ``root.json`` only when
  it is absent, and the cached ``root.json`` is the trust anchor). python-tuf's ``Updater``
  fetches and verifies everything first: the cache only ever holds a verified TUF state.
* :class:`NpmTrustProxy` is a CONNECT proxy on 127.0.0.1 that accepts exactly one target,
  ``tuf-repo-cdn.sigstore.dev:443``, terminates TLS itself with a certificate for that name
  from an instance-local CA (:class:`ProxyCA`), and answers from the instance's TUF repository.
  Every other CONNECT target, and every plain-HTTP proxy request, is refused with 403: nothing
  reaches the real network through it. The registry itself is reached directly
  (``no_proxy=127.0.0.1,localhost``).

The CA is name-constrained to ``tuf-repo-cdn.sigstore.dev`` (RFC 5280 §4.2.1.10), so putting it
in ``NODE_EXTRA_CA_CERTS`` lets it vouch for that one name and nothing else. Its key is
``keys/npm-proxy-ca.key`` (0600); each proxy start issues a fresh leaf whose key never touches
the disk longer than loading it into the TLS context takes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import logging
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

logger = logging.getLogger(__name__)

TUF_HOST = "tuf-repo-cdn.sigstore.dev"
TUF_MIRROR = f"https://{TUF_HOST}"
CONNECT_TARGET = f"{TUF_HOST}:443"
DEFAULT_PROXY_PORT = 4874
NO_PROXY = "127.0.0.1,localhost"
CA_KEY_FILE = "npm-proxy-ca.key"
CA_CERT_PATH = Path("npm-proxy") / "ca.pem"
ROLE_FILES = ("root.json", "timestamp.json", "snapshot.json", "targets.json")
_IDLE_TIMEOUT = 15.0


def npm_tuf_dir(cache: Path) -> Path:
    """Where ``@sigstore/tuf`` keeps the mirror's metadata inside npm's cache: the cache
    path joined with ``encodeURIComponent(host + path)`` of the mirror URL (client.js)."""
    return cache / "_tuf" / encode_uri_component(TUF_HOST)


def npm_environment(proxy_url: str, ca_cert: Path) -> dict[str, str]:
    """The environment ``npm audit signatures`` needs to reach the proxy and trust its CA."""
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
    """The instance-local CA that vouches for ``tuf-repo-cdn.sigstore.dev`` and nothing else."""

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
            if certificate.public_key() != key.public_key() or (
                certificate.not_valid_after_utc - now < dt.timedelta(days=30)
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
        """A server context presenting a fresh leaf for ``tuf-repo-cdn.sigstore.dev``."""
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
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(TUF_HOST)]), critical=False)
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


def _ca_certificate(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Assay"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"Assay npm trust proxy CA ({TUF_HOST} only)"),
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
        .add_extension(
            x509.NameConstraints(
                permitted_subtrees=[x509.DNSName(TUF_HOST)],
                excluded_subtrees=[
                    x509.IPAddress(ipaddress.ip_network("0.0.0.0/0")),
                    x509.IPAddress(ipaddress.ip_network("::/0")),
                ],
            ),
            critical=True,
        )
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
        self.requests: list[str] = []
        self.open_sockets: set[socket.socket] = set()
        self.guard = threading.Lock()
        super().__init__(address, _ProxyHandler)

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


class _ProxyHandler(BaseHTTPRequestHandler):
    """The proxy side: only ``CONNECT tuf-repo-cdn.sigstore.dev:443``."""

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
        body = b"Assay's npm trust proxy forwards only CONNECT " + CONNECT_TARGET.encode() + b"\n"
        self.send_response(403, "Forbidden")
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse

    def do_CONNECT(self) -> None:
        if self.path.lower() != CONNECT_TARGET:
            self._refuse()
            return
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
            _MirrorHandler(tls, self.client_address, self.server)
        except (ssl.SSLError, OSError) as exc:
            logger.debug("npm trust proxy: tunnel closed: %s", exc)
        finally:
            self.server.untrack(tls)
            with contextlib.suppress(OSError):
                tls.close()


class _MirrorHandler(BaseHTTPRequestHandler):
    """Inside the tunnel: the TUF mirror, answered from the instance's repository."""

    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = _IDLE_TIMEOUT

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("npm trust proxy (tls): " + format, *args)

    def _answer(self, send_body: bool) -> None:
        path = unquote(urlsplit(self.path).path).removeprefix("/")
        try:
            data = self.server.repository.read(path)
        except ConfigError as exc:
            logger.warning("npm trust proxy: %s", exc.message)
            data = None
        status = 200 if data is not None else 404
        self.server.record(f"{self.command} https://{TUF_HOST}/{path} {status}")
        body = data if data is not None else b'{"error":"not found"}'
        self.send_response(status)
        self.send_header(
            "Content-Type",
            "application/json" if path.endswith(".json") else "application/octet-stream",
        )
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def do_HEAD(self) -> None:
        self._answer(send_body=False)


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
