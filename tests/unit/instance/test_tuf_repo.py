"""The instance's TUF repository, checked by python-tuf's own client (``tuf.ngclient.Updater``):
it refreshes against the repository the instance serves, downloads both targets with their
hashes verified, follows renewals and key changes, and refuses expired or tampered metadata."""

from __future__ import annotations

import http.client
import json
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from tuf.api import exceptions as tuf_errors
from tuf.ngclient.updater import Updater

from assay.cli.main import main
from assay.errors import ConfigError
from assay.instance.app import create_instance_app
from assay.instance.layout import DataDir
from assay.instance.material import InstanceMaterial
from assay.instance.npm_trust import (
    RepositoryFetcher,
    npm_tuf_dir,
    seed_from_data_dir,
    seed_from_instance,
)
from assay.instance.setup import initialize
from assay.instance.trust import trusted_root
from assay.instance.tuf_repo import (
    ExpiryPolicy,
    TufRepository,
    instance_targets,
    keys_target_name,
    load_or_create_key,
)
from assay.npm.names import encode_uri_component
from assay.registry.signing import RegistryKeys, rotate
from assay.settings import Settings
from tests.servers import loopback_socket, serve_app

MIRROR = "https://tuf-repo-cdn.sigstore.dev/"


@dataclass(frozen=True)
class Served:
    url: str
    data: DataDir


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """A whole instance (`assay up`'s app) on loopback; its repository is built at start."""
    data = DataDir(tmp_path / "data")
    initialize(data)
    sock = loopback_socket()
    port = sock.getsockname()[1]
    app = create_instance_app(Settings(data_dir=data.root, port=port))
    with serve_app(app, sock) as url:
        yield Served(url, data)


def updater(directory: Path, base_url: str, root: bytes, **kwargs: object) -> Updater:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "targets").mkdir(exist_ok=True)
    return Updater(
        metadata_dir=str(directory),
        metadata_base_url=base_url,
        target_dir=str(directory / "targets"),
        target_base_url=base_url + "targets/",
        bootstrap=root,
        **kwargs,  # type: ignore[arg-type]
    )


def local_updater(directory: Path, repository: TufRepository) -> Updater:
    return updater(
        directory,
        MIRROR,
        repository.root_bytes(1),
        fetcher=RepositoryFetcher(repository, MIRROR),
    )


def download(client: Updater, name: str) -> bytes:
    info = client.get_targetinfo(name)
    assert info is not None, name
    return Path(client.download_target(info)).read_bytes()


def test_python_tuf_downloads_both_targets_from_the_served_repository(
    served: Served, tmp_path: Path
) -> None:
    base = f"{served.url}/-/trust/tuf/"
    root = httpx.get(base + "1.root.json").content
    client = updater(tmp_path / "client", base, root)
    client.refresh()

    trusted = json.loads(download(client, "trusted_root.json"))
    assert trusted == httpx.get(f"{served.url}/-/trust/trusted_root.json").json()

    host = served.url.split("://", 1)[1]
    name = keys_target_name(f"{served.url}/")
    assert name == f"{host}/keys.json"
    keys = json.loads(download(client, name))["keys"]
    npm_keys = httpx.get(f"{served.url}/-/npm/v1/keys").json()["keys"]
    assert {k["keyId"] for k in keys} == {k["keyid"] for k in npm_keys}
    assert {k["keyUsage"] for k in keys} == {"npm:signatures", "npm:attestations"}
    assert keys[0]["publicKey"]["rawBytes"] == npm_keys[0]["key"]
    assert keys[0]["publicKey"]["keyDetails"] == "PKIX_ECDSA_P256_SHA_256"
    assert "end" not in keys[0]["publicKey"]["validFor"]  # the current key never expires


def test_served_metadata_is_consistent_snapshot_and_the_key_is_private(served: Served) -> None:
    base = f"{served.url}/-/trust/tuf/"
    root = httpx.get(base + "root.json").json()["signed"]
    assert root["consistent_snapshot"] is True
    assert root["version"] == 1
    (keyid,) = root["keys"]
    assert root["keys"][keyid]["keytype"] == "ed25519"
    assert all(role["keyids"] == [keyid] for role in root["roles"].values())
    timestamp = httpx.get(base + "timestamp.json")
    assert timestamp.headers["cache-control"] == "no-store"
    version = timestamp.json()["signed"]["meta"]["snapshot.json"]["version"]
    assert httpx.get(f"{base}{version}.snapshot.json").status_code == 200
    assert (
        httpx.get(base + "snapshot.json").content
        == httpx.get(f"{base}{version}.snapshot.json").content
    )
    key = served.data.keys / "tuf.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    log = "".join(p.read_text(errors="replace") for p in served.data.root.glob("*.log"))
    assert "PRIVATE KEY" not in log


@pytest.mark.parametrize(
    "path",
    [
        "tuf.key",
        "../keys/tuf.key",
        "..%2Fkeys%2Ftuf.key",
        "metadata/1.root.json",
        "targets/../../keys/tuf.key",
        "targets/%2e%2e/%2e%2e/keys/tuf.key",
        "0.root.json",
        "2.root.json",
        "1.timestamp.json",
        "targets/" + "0" * 64 + ".trusted_root.json",
        "targets/" + "0" * 64,
        ".lock",
    ],
)
def test_anything_else_is_a_json_404(served: Served, path: str) -> None:
    # http.client sends the path as written (httpx would resolve the dot segments first).
    host, port = served.url.split("://", 1)[1].split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request("GET", f"/-/trust/tuf/{path}")
        response = connection.getresponse()
        status, body = response.status, response.read()
    finally:
        connection.close()
    assert status == 404
    assert b"PRIVATE KEY" not in body
    if ".." not in path:  # those may be resolved by the server to a registry path: still 404
        assert json.loads(body) == {"error": "not found"}


def test_hash_prefixed_target_paths_are_served(served: Served) -> None:
    repository = TufRepository.open(served.data)
    info = repository.current_targets()["trusted_root.json"]
    digest = info.hashes["sha256"]
    response = httpx.get(f"{served.url}/-/trust/tuf/targets/{digest}.trusted_root.json")
    assert response.status_code == 200
    host = served.url.split("://", 1)[1]
    keys = repository.current_targets()[f"{host}/keys.json"].hashes["sha256"]
    # tuf-js and python-tuf put the hash before the last path segment (dir/<hash>.base).
    assert httpx.get(f"{served.url}/-/trust/tuf/targets/{host}/{keys}.keys.json").status_code == 200
    assert httpx.get(f"{served.url}/-/trust/tuf/targets/{keys}.{host}/keys.json").status_code == 404


# --- the repository on its own, with python-tuf reading it in-process -----------------------


@pytest.fixture
def repository(tmp_path: Path) -> TufRepository:
    data = DataDir(tmp_path / "data")
    initialize(data)
    return TufRepository.open(data)


def targets_of(data: DataDir, origin: str = "http://127.0.0.1:4873") -> dict[str, bytes]:
    keys = RegistryKeys.load_or_create(data.keys)
    return instance_targets(InstanceMaterial.load(data), origin, keys)


def test_expired_timestamp_is_refused(repository: TufRepository, tmp_path: Path) -> None:
    data = DataDir(repository.directory.parent)
    long_ago = datetime.now(UTC) - timedelta(days=30)
    repository.publish(targets_of(data), now=long_ago)
    # Read the file as written (TufRepository.read would renew it first).
    stale = repository.metadata_dir / "timestamp.json"
    assert json.loads(stale.read_bytes())["signed"]["expires"] < datetime.now(UTC).isoformat()
    client = updater(tmp_path / "c", MIRROR, repository.root_bytes(1), fetcher=_Frozen(repository))
    with pytest.raises(tuf_errors.ExpiredMetadataError):
        client.refresh()


class _Frozen(RepositoryFetcher):
    """Serves the files exactly as they are on disk: no renewal (a frozen mirror)."""

    def __init__(self, repository: TufRepository) -> None:
        super().__init__(repository, MIRROR)

    def _fetch(self, url: str) -> Iterator[bytes]:
        if url.endswith("/timestamp.json"):
            return iter([(self.repository.metadata_dir / "timestamp.json").read_bytes()])
        return super()._fetch(url)


def test_timestamp_is_re_signed_when_served_near_expiry(
    repository: TufRepository, tmp_path: Path
) -> None:
    data = DataDir(repository.directory.parent)
    repository.publish(targets_of(data), now=datetime.now(UTC) - timedelta(days=6, hours=12))
    before = json.loads(repository.metadata_dir.joinpath("timestamp.json").read_bytes())
    client = local_updater(tmp_path / "c", repository)
    client.refresh()  # reads timestamp.json through TufRepository.read: renewed first
    after = json.loads(repository.metadata_dir.joinpath("timestamp.json").read_bytes())
    assert after["signed"]["version"] == before["signed"]["version"] + 1
    assert after["signed"]["expires"] > datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert after["signed"]["meta"] == before["signed"]["meta"]  # same snapshot
    # Far from expiry nothing changes.
    assert repository.maintain() is False


def test_tampered_metadata_and_targets_are_refused(
    repository: TufRepository, tmp_path: Path
) -> None:
    data = DataDir(repository.directory.parent)
    repository.publish(targets_of(data))
    snapshot = repository.metadata_dir / "1.snapshot.json"
    original = snapshot.read_bytes()
    tampered = json.loads(original)
    tampered["signed"]["expires"] = "2099-01-01T00:00:00Z"
    snapshot.write_bytes(json.dumps(tampered).encode())
    with pytest.raises((tuf_errors.RepositoryError, tuf_errors.DownloadError)):
        local_updater(tmp_path / "a", repository).refresh()
    # Same length, one signature digit changed: the hash the timestamp pins catches it.
    signature = json.loads(original)["signatures"][0]["sig"]
    flipped = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    snapshot.write_bytes(original.replace(signature.encode(), flipped.encode()))
    with pytest.raises(tuf_errors.RepositoryError):
        local_updater(tmp_path / "a2", repository).refresh()
    snapshot.write_bytes(original)

    # A target file altered in storage: python-tuf checks its length and hash.
    info = repository.current_targets()["trusted_root.json"]
    blob = repository.blobs_dir / info.hashes["sha256"]
    blob.write_bytes(blob.read_bytes().replace(b"tlogs", b"tlogz"))
    with pytest.raises(tuf_errors.LengthOrHashMismatchError):
        repository.target_bytes("trusted_root.json")
    client = local_updater(tmp_path / "b", repository)
    client.refresh()
    target = client.get_targetinfo("trusted_root.json")
    assert target is not None
    with pytest.raises(tuf_errors.DownloadError):
        client.download_target(target)


def test_a_signature_by_another_key_is_refused(repository: TufRepository, tmp_path: Path) -> None:
    data = DataDir(repository.directory.parent)
    repository.publish(targets_of(data))
    root_v1 = repository.root_bytes(1)
    other = TufRepository(tmp_path / "other", repository_key(tmp_path))
    other.publish(targets_of(data, origin="http://evil.example"))
    # A client that trusts our root, served someone else's repository.
    client = updater(tmp_path / "c", MIRROR, root_v1, fetcher=RepositoryFetcher(other, MIRROR))
    with pytest.raises(tuf_errors.RepositoryError):
        client.refresh()


def repository_key(tmp_path: Path) -> ed25519.Ed25519PrivateKey:
    other = DataDir(tmp_path / "other-data")
    return load_or_create_key(other)


def test_new_keys_give_a_new_targets_version_the_client_follows(
    repository: TufRepository, tmp_path: Path
) -> None:
    data = DataDir(repository.directory.parent)
    assert repository.publish(targets_of(data)) is True
    assert repository.publish(targets_of(data)) is False  # same inputs: nothing re-signed
    client_dir = tmp_path / "c"
    old_client = local_updater(client_dir, repository)
    old = json.loads(download(old_client, "127.0.0.1:4873/keys.json"))["keys"]
    assert len(old) == 2  # one key, both usages

    rotate(data.keys)
    assert repository.publish(targets_of(data)) is True
    assert json.loads(repository.read("targets.json") or b"")["signed"]["version"] == 2
    # The same client cache (old timestamp, snapshot, targets on disk) follows to version 2.
    client = updater(client_dir, MIRROR, repository.root_bytes(1),
                     fetcher=RepositoryFetcher(repository, MIRROR))  # fmt: skip
    keys = json.loads(download(client, "127.0.0.1:4873/keys.json"))["keys"]
    assert len(keys) == 4
    retired = [k for k in keys if "end" in k["publicKey"]["validFor"]]
    assert {k["keyId"] for k in retired} == {k["keyId"] for k in old}


def test_root_near_expiry_is_renewed_and_followed(
    repository: TufRepository, tmp_path: Path
) -> None:
    data = DataDir(repository.directory.parent)
    repository.publish(targets_of(data), now=datetime.now(UTC) - timedelta(days=320))
    assert repository.read("2.root.json") is None
    repository.maintain()
    assert repository.read("2.root.json") is not None
    client = local_updater(tmp_path / "c", repository)
    client.refresh()
    assert json.loads((tmp_path / "c" / "root.json").read_bytes())["signed"]["version"] == 2
    assert download(client, "trusted_root.json")


def test_a_replaced_tuf_key_is_explained(repository: TufRepository, tmp_path: Path) -> None:
    data = DataDir(repository.directory.parent)
    repository.publish(targets_of(data))
    stranger = TufRepository(repository.directory, repository_key(tmp_path))
    with pytest.raises(ConfigError, match=r"not signed by keys/tuf\.key"):
        stranger.maintain()


def test_target_names_cannot_escape(repository: TufRepository) -> None:
    for name in ("../x", "a//b", "/abs", "a/./b", ""):
        with pytest.raises(ValueError, match="invalid TUF target name"):
            repository.publish({name: b"x"})


def test_expiry_policy_is_what_the_docstring_says() -> None:
    policy = ExpiryPolicy()
    assert policy.timestamp == timedelta(days=7)
    assert policy.root == policy.targets == policy.snapshot == timedelta(days=365)


# --- seeding npm's cache -------------------------------------------------------------------


def test_encode_uri_component_matches_javascript() -> None:
    # encodeURIComponent("127.0.0.1:4873/keys.json") in node
    assert encode_uri_component("127.0.0.1:4873/keys.json") == "127.0.0.1%3A4873%2Fkeys.json"
    assert encode_uri_component("a b!~*'()") == "a%20b!~*'()"


def test_npm_cache_is_seeded_as_tuf_js_reads_it(served: Served, tmp_path: Path) -> None:
    cache = tmp_path / "npm-cache"
    stale = npm_tuf_dir(cache) / "targets" / "registry.npmjs.org%2Fkeys.json"
    stale.parent.mkdir(parents=True)
    stale.write_text("{}")  # what @sigstore/tuf's seeds leave behind
    seeded = seed_from_instance(cache, served.url)
    host = served.url.split("://", 1)[1]
    assert seeded.directory == cache / "_tuf" / "tuf-repo-cdn.sigstore.dev"
    assert sorted(p.name for p in seeded.directory.iterdir()) == [
        "root.json", "snapshot.json", "targets", "targets.json", "timestamp.json",
    ]  # fmt: skip
    assert not (seeded.directory / "root.json").is_symlink()
    assert sorted(p.name for p in (seeded.directory / "targets").iterdir()) == sorted(
        [encode_uri_component(f"{host}/keys.json"), "trusted_root.json"]
    )
    material = InstanceMaterial.load(served.data)
    assert json.loads((seeded.directory / "targets" / "trusted_root.json").read_bytes()) == (
        trusted_root(material, served.url)
    )
    # From the data directory (no HTTP) the result is byte for byte the same.
    again = seed_from_data_dir(tmp_path / "other-cache", served.data)
    for path in sorted(seeded.directory.rglob("*")):
        if path.is_file():
            assert (again.directory / path.relative_to(seeded.directory)).read_bytes() == (
                path.read_bytes()
            )


def test_cli_npm_cache_prints_the_environment(
    served: Served, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cache = tmp_path / "cache"
    code = main(["trust", "npm-cache", "--cache", str(cache), "--data", str(served.data.root),
                 "--proxy-port", "4999"])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.splitlines() == [
        "export https_proxy=http://127.0.0.1:4999",
        "export no_proxy=127.0.0.1,localhost",
        f"export NODE_EXTRA_CA_CERTS={served.data.root / 'npm-proxy' / 'ca.pem'}",
    ]
    assert "TUF root v1" in err
    ca_key = served.data.keys / "npm-proxy-ca.key"
    assert stat.S_IMODE(ca_key.stat().st_mode) == 0o600
    assert (npm_tuf_dir(cache) / "root.json").exists()
    assert main(["trust", "npm-cache", "--cache", str(cache)]) == 2
    assert "exactly one of" in capsys.readouterr().err


def test_cli_npm_cache_without_a_repository_is_explained(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = DataDir(tmp_path / "data")
    initialize(data)
    code = main(["trust", "npm-cache", "--cache", str(tmp_path / "c"), "--data", str(data.root)])
    assert code == 1
    assert "assay up" in capsys.readouterr().err
