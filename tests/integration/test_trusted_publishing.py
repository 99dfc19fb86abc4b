"""Trusted publishing's OIDC exchange over HTTP, against the session's `assay up` (CI emulation
on), with tokens from the instance's own issuer (docs/trusted-publishing.md).

Every refusal of issue 11 §2 drives the real endpoint with a token carrying the bad claim, and
then shows that nothing was published: the version is absent from the packument, and the OIDC
token itself is no registry credential.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import ec

from assay.registry.accounts import CREATE_STAGED_PACKAGE
from assay.storage.schema import registry_versions
from tests.assay_up import Instance
from tests.trusted import AUDIENCE, Trusted, bearer, claims_of, github_publisher, gitlab_publisher


@pytest.fixture
def trusted(assay_up: Instance) -> Iterator[Trusted]:
    t = Trusted(assay_up)
    try:
        yield t
    finally:
        t.close()


def _name(prefix: str = "tp") -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


def _repo() -> str:
    return f"acme-{secrets.token_hex(3)}/widget"


def _existing(trusted: Trusted, repository: str, **publisher: Any) -> tuple[str, str]:
    """A package published 1.0.0 by a maintainer, with a GitHub trusted publisher."""
    name = _name()
    _, token = trusted.user(f"m{secrets.token_hex(4)}")
    assert trusted.publish(name, "1.0.0", token).status_code == 201
    trusted.add_publisher(name, "github", github_publisher(repository, **publisher))
    return name, token


def _refused(trusted: Trusted, name: str, oidc: str, status: int, *words: str) -> dict[str, Any]:
    """The exchange refuses `oidc` with `status` and a message naming `words`; nothing can be
    published with it and nothing was."""
    before = trusted.versions(name)
    response = trusted.exchange(name, oidc)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["message"] == body["error"]
    for word in words:
        assert word in body["message"], body["message"]
    # The OIDC token is not a registry credential, and nothing new is in the packument.
    assert trusted.publish(name, "9.9.9", oidc).status_code == 401
    assert trusted.versions(name) == before
    result: dict[str, Any] = body
    return result


def _github(repository: str, **claims: str) -> dict[str, str]:
    return {"repository": repository, **claims}


# --- the happy path ---------------------------------------------------------------------------


def test_exchange_mints_a_package_scoped_token_that_publishes(trusted: Trusted) -> None:
    repository = _repo()
    name, maintainer = _existing(trusted, repository)
    oidc = trusted.job_token("github", _github(repository, ref="refs/tags/v1.1.0"))
    response = trusted.exchange(name, oidc)
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"token_type", "token", "created", "expires"}
    assert body["token_type"] == "oidc"  # noqa: S105 - npm's token type, not a secret
    assert body["token"].startswith("assay_")
    # 15 minutes at most, never past the OIDC token's own exp (GitHub's live 5 minutes).
    assert body["expires"] <= _iso(claims_of(oidc)["exp"])

    assert trusted.publish(name, "1.1.0", body["token"]).status_code == 201
    packument = trusted.packument(name)
    assert packument is not None
    [publisher] = trusted.trust.publishers(name)
    assert packument["versions"]["1.1.0"]["_npmUser"] == {
        "name": "GitHub Actions",
        "email": "npm-oidc-no-reply@github.com",
        "trustedPublisher": {"id": "github", "oidcConfigId": f"oidc:{publisher.id}"},
    }
    # Maintainers unchanged; the version row keeps the verified identity.
    assert [m["name"] for m in packument["maintainers"]] == [
        m["name"]
        for m in trusted.packument(name)["maintainers"]  # type: ignore[index]
    ]
    assert len(packument["maintainers"]) == 1
    with trusted.engine.connect() as connection:
        record = json.loads(
            connection.execute(
                sa.select(registry_versions.c.trusted_publisher).where(
                    registry_versions.c.package == name, registry_versions.c.version == "1.1.0"
                )
            ).scalar_one()
        )
    identity = record["identity"]
    claims = claims_of(oidc)
    assert identity["repository"] == repository
    assert identity["workflow"] == ".github/workflows/release.yml"
    assert identity["sha"] == claims["sha"]
    assert identity["ref"] == "refs/tags/v1.1.0"
    assert identity["run"].endswith(f"/actions/runs/{claims['run_id']}/attempts/1")
    assert identity["emulated"] is True
    assert identity["issuer"] == trusted.issuer_url
    # The first use pinned the repository's immutable ids.
    [publisher] = trusted.trust.publishers(name)
    assert publisher.pins == {
        "repository_id": claims["repository_id"],
        "repository_owner_id": claims["repository_owner_id"],
    }

    # The maintainer sees the live exchanged token as an OIDC token, and can revoke it.
    listed = trusted.http.get("/-/npm/v1/tokens", headers=bearer(maintainer)).json()["objects"]
    [oidc_listed] = [t for t in listed if t.get("type") == "oidc"]
    assert oidc_listed["name"] == f"oidc: github {repository} release.yml"
    assert oidc_listed["token"] == body["token"][:10]
    revoked = trusted.http.delete(
        f"/-/npm/v1/tokens/token/{oidc_listed['key']}", headers=bearer(maintainer)
    )
    assert revoked.status_code == 204
    assert trusted.publish(name, "1.2.0", body["token"]).status_code == 401
    assert trusted.versions(name) == ["1.0.0", "1.1.0"]


def _iso(seconds: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")[:23] + "Z"


def test_an_exchanged_token_does_nothing_but_publish_its_package(trusted: Trusted) -> None:
    repository = _repo()
    name, _ = _existing(trusted, repository)
    other, _ = _existing(trusted, _repo())
    token = trusted.exchange(name, trusted.job_token("github", _github(repository))).json()["token"]
    auth = {**bearer(token), "content-type": "application/json"}
    http = trusted.http
    refusals = {
        "dist-tag add": http.put(
            f"/-/package/{name}/dist-tags/beta", content=b'"1.0.0"', headers=auth
        ),
        "dist-tag rm": http.delete(f"/-/package/{name}/dist-tags/latest", headers=auth),
        "unpublish": http.delete(f"/{name}/-rev/1-x", headers=auth),
        "deprecate/owner": http.put(
            f"/{name}/-rev/1-x",
            content=json.dumps({"_id": name, "name": name, "maintainers": []}).encode(),
            headers=auth,
        ),
        "token create": http.post("/-/npm/v1/tokens", json={"password": "x"}, headers=auth),
        "token list": http.get("/-/npm/v1/tokens", headers=auth),
        "access": http.post(f"/-/package/{name}/access", json={"access": "public"}, headers=auth),
        "publish another package": trusted.publish(other, "2.0.0", token),
    }
    for action, response in refusals.items():
        assert response.status_code == 403, (action, response.text)
        assert "trusted publishing" in response.json()["error"], action
    assert trusted.versions(other) == ["1.0.0"]
    packument = trusted.packument(name)
    assert packument is not None
    assert packument["dist-tags"] == {"latest": "1.0.0"}
    assert len(packument["maintainers"]) == 1


def test_a_stage_only_publisher_cannot_publish(trusted: Trusted) -> None:
    repository = _repo()
    name = _name()
    _, maintainer = trusted.user(f"m{secrets.token_hex(4)}")
    assert trusted.publish(name, "1.0.0", maintainer).status_code == 201
    trusted.add_publisher(
        name, "github", github_publisher(repository), permissions=(CREATE_STAGED_PACKAGE,)
    )
    response = trusted.exchange(name, trusted.job_token("github", _github(repository)))
    assert response.status_code == 201
    refused = trusted.publish(name, "1.1.0", response.json()["token"])
    assert refused.status_code == 403
    assert "npm stage publish" in refused.json()["error"]
    assert trusted.versions(name) == ["1.0.0"]


def test_a_pending_publisher_creates_the_package_for_its_registrant(trusted: Trusted) -> None:
    repository = _repo()
    name = _name("new")
    user_id, _ = trusted.user(f"r{secrets.token_hex(4)}")
    publisher = trusted.add_publisher(
        name, "github", github_publisher(repository), created_by=user_id, pending_for_ms=60_000
    )
    token = trusted.exchange(name, trusted.job_token("github", _github(repository))).json()["token"]
    assert trusted.publish(name, "0.1.0", token).status_code == 201
    packument = trusted.packument(name)
    assert packument is not None
    assert len(packument["maintainers"]) == 1
    assert packument["versions"]["0.1.0"]["_npmUser"]["trustedPublisher"]["oidcConfigId"] == (
        f"oidc:{publisher.id}"
    )
    settled = trusted.trust.publisher(publisher.id)
    assert settled is not None
    assert not settled.pending


def test_a_lapsed_pending_publisher_reserves_nothing(trusted: Trusted) -> None:
    repository = _repo()
    name = _name("lapsed")
    user_id, _ = trusted.user(f"r{secrets.token_hex(4)}")
    trusted.add_publisher(
        name, "github", github_publisher(repository), created_by=user_id, pending_for_ms=-1
    )
    _refused(
        trusted, name, trusted.job_token("github", _github(repository)), 404, "No trusted publisher"
    )


def test_a_pending_publisher_of_a_name_someone_took_is_void(trusted: Trusted) -> None:
    repository = _repo()
    name = _name("taken")
    user_id, _ = trusted.user(f"r{secrets.token_hex(4)}")
    _, squatter = trusted.user(f"s{secrets.token_hex(4)}")
    # While the reservation is live, nobody else may take the name (package_policy).
    trusted.add_publisher(
        name, "github", github_publisher(repository), created_by=user_id, pending_for_ms=60_000
    )
    assert trusted.publish(name, "1.0.0", squatter).status_code == 403
    # Once it lapsed, the name is anyone's; the first publish deletes the lapsed reservation,
    # and its job can no longer exchange for the name.
    other = _name("lapsed")
    trusted.add_publisher(
        other, "github", github_publisher(repository), created_by=user_id, pending_for_ms=-1
    )
    assert trusted.publish(other, "1.0.0", squatter).status_code == 201
    _refused(
        trusted,
        other,
        trusted.job_token("github", _github(repository)),
        404,
        "No trusted publisher",
    )


# --- refusals of the token itself ------------------------------------------------------------


def test_no_bearer_and_an_oversized_body_are_refused(trusted: Trusted) -> None:
    name, _ = _existing(trusted, _repo())
    response = trusted.exchange(name, None)
    assert response.status_code == 401
    assert "Authorization: Bearer" in response.json()["message"]
    big = trusted.http.post(
        f"/-/npm/v1/oidc/token/exchange/package/{name}",
        content=b"x" * 10_000,
        headers=bearer("x.y.z"),
    )
    assert big.status_code == 413
    assert "no body" in big.json()["message"]


def test_jti_replay_is_refused(trusted: Trusted) -> None:
    repository = _repo()
    name, _ = _existing(trusted, repository)
    oidc = trusted.job_token("github", _github(repository))
    assert trusted.exchange(name, oidc).status_code == 201
    _refused(trusted, name, oidc, 401, "already exchanged", "jti")


def test_the_audience_must_be_npm_and_the_registry_host(trusted: Trusted) -> None:
    repository = _repo()
    name, _ = _existing(trusted, repository)
    for audience in ("sigstore", "npm:registry.npmjs.org", "https://github.com/acme"):
        oidc = trusted.job_token("github", _github(repository), audience=audience)
        _refused(trusted, name, oidc, 401, "audience", AUDIENCE)


def test_an_untrusted_issuer_is_refused(trusted: Trusted) -> None:
    repository = _repo()
    name, _ = _existing(trusted, repository)
    stranger = ec.generate_private_key(ec.SECP256R1())
    oidc = trusted.minted(
        "github", _github(repository), key=stranger, issuer_url="https://issuer.invalid"
    )
    _refused(trusted, name, oidc, 401, "issuer", "not trusted")
    # The instance's issuer URL with another key: not one of its keys.
    forged = trusted.minted("github", _github(repository), key=stranger)
    _refused(trusted, name, forged, 401, "has no ES256 key")


@pytest.mark.parametrize(
    ("shift", "lifetime", "words"),
    [
        (timedelta(minutes=-10), timedelta(minutes=5), ("expired",)),
        (timedelta(minutes=5), timedelta(minutes=5), ("not valid before",)),
    ],
    ids=["expired", "not-yet-valid"],
)
def test_token_times_are_checked(
    trusted: Trusted, shift: timedelta, lifetime: timedelta, words: tuple[str, ...]
) -> None:
    repository = _repo()
    name, _ = _existing(trusted, repository)
    oidc = trusted.minted("github", _github(repository), shift=shift, lifetime=lifetime)
    _refused(trusted, name, oidc, 401, *words)


def test_a_token_issued_in_the_future_is_refused(trusted: Trusted) -> None:
    # iat in the future but nbf not: minted, then re-signed with nbf removed.
    repository = _repo()
    name, _ = _existing(trusted, repository)
    oidc = _resign(
        trusted,
        trusted.minted("github", _github(repository), shift=timedelta(minutes=5)),
        drop=("nbf",),
    )
    _refused(trusted, name, oidc, 401, "issued in the future")


def test_a_token_about_to_expire_buys_nothing(trusted: Trusted) -> None:
    repository = _repo()
    name, _ = _existing(trusted, repository)
    oidc = trusted.minted("github", _github(repository), lifetime=timedelta(seconds=10))
    _refused(trusted, name, oidc, 401, "expires in less than")


def _resign(trusted: Trusted, token: str, drop: tuple[str, ...]) -> str:
    """`token`'s claims without `drop`, signed again with the instance's key."""
    import base64

    from assay.keys import Signer, load_private_key

    header, payload, _ = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    for name in drop:
        claims.pop(name)
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    signing_input = f"{header}.{body}".encode()
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    key = load_private_key(trusted.instance.data / "keys" / "oidc.key")
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    r, s = decode_dss_signature(Signer(key).sign(signing_input))
    signature = base64.urlsafe_b64encode(r.to_bytes(32, "big") + s.to_bytes(32, "big"))
    return f"{header}.{body}.{signature.rstrip(b'=').decode()}"


# --- refusals of the match ---------------------------------------------------------------------


def test_no_publisher_is_a_404(trusted: Trusted) -> None:
    _, maintainer = trusted.user(f"m{secrets.token_hex(4)}")
    name = _name()
    assert trusted.publish(name, "1.0.0", maintainer).status_code == 201
    oidc = trusted.job_token("github", _github(_repo()))
    _refused(trusted, name, oidc, 404, "No trusted publisher is configured")
    _refused(trusted, _name("absent"), trusted.job_token("github", _github(_repo())), 404)


def test_another_repository_or_workflow_is_refused_without_naming_the_config(
    trusted: Trusted,
) -> None:
    repository = _repo()
    name, _ = _existing(trusted, repository, file="secret-release.yml")
    other = trusted.job_token("github", _github(_repo()))
    body = _refused(trusted, name, other, 403, "claim repository")
    assert repository not in body["message"]
    ci = f"{repository}/.github/workflows/ci.yml@refs/heads/main"
    wrong = trusted.job_token("github", _github(repository, workflow_ref=ci))
    body = _refused(trusted, name, wrong, 403, "claim workflow_ref", "ci.yml")
    assert "secret-release" not in body["message"]


@pytest.mark.parametrize("event", ["pull_request", "pull_request_target"])
def test_pull_request_events_never_publish(trusted: Trusted, event: str) -> None:
    repository = _repo()
    name, _ = _existing(trusted, repository)
    oidc = trusted.job_token("github", _github(repository, event_name=event))
    _refused(trusted, name, oidc, 403, "claim event_name", event)


def test_a_gitlab_merge_request_pipeline_never_publishes(trusted: Trusted) -> None:
    project = f"group-{secrets.token_hex(3)}/widget"
    name, _ = _existing(trusted, _repo())
    trusted.add_publisher(name, "gitlab", gitlab_publisher(project))
    oidc = trusted.job_token(
        "gitlab", {"project_path": project, "pipeline_source": "merge_request_event"}
    )
    _refused(trusted, name, oidc, 403, "claim pipeline_source", "merge_request_event")
    ok = trusted.job_token("gitlab", {"project_path": project})
    assert trusted.exchange(name, ok).status_code == 201


def test_a_recreated_repository_is_refused(trusted: Trusted) -> None:
    repository = _repo()
    name, _ = _existing(trusted, repository)
    first = trusted.job_token("github", _github(repository))
    assert trusted.exchange(name, first).status_code == 201
    # The same name, deleted and recreated: GitHub gives it a new id.
    recreated = trusted.job_token("github", _github(repository, repository_id="4242"))
    _refused(trusted, name, recreated, 403, "claim repository_id", "4242", "recreated")
    moved = trusted.job_token("github", _github(repository, repository_owner_id="77"))
    _refused(trusted, name, moved, 403, "claim repository_owner_id")
    again = trusted.job_token("github", _github(repository))
    assert trusted.exchange(name, again).status_code == 201


def test_a_recreated_gitlab_project_is_refused(trusted: Trusted) -> None:
    project = f"group-{secrets.token_hex(3)}/widget"
    name, _ = _existing(trusted, _repo())
    trusted.add_publisher(name, "gitlab", gitlab_publisher(project))
    first = trusted.job_token("gitlab", {"project_path": project})
    assert trusted.exchange(name, first).status_code == 201
    recreated = trusted.job_token("gitlab", {"project_path": project, "project_id": "5"})
    _refused(trusted, name, recreated, 403, "claim project_id")


def test_the_environment_is_required_when_the_publisher_names_one(trusted: Trusted) -> None:
    repository = _repo()
    name, _ = _existing(trusted, repository, environment="release")
    none = trusted.job_token("github", _github(repository))
    _refused(trusted, name, none, 403, "claim environment")
    staging = trusted.job_token("github", _github(repository, environment="staging"))
    _refused(trusted, name, staging, 403, "claim environment", "staging")
    release = trusted.job_token("github", _github(repository, environment="Release"))
    assert trusted.exchange(name, release).status_code == 201


def test_a_reusable_workflow_is_matched_when_the_publisher_names_it(trusted: Trusted) -> None:
    repository = _repo()
    shared = f"{repository.split('/')[0]}/shared/.github/workflows/publish.yml"
    name, _ = _existing(trusted, repository, job_workflow_ref=shared)
    # The caller's workflow alone (job_workflow_ref = workflow_ref): refused.
    direct = trusted.job_token("github", _github(repository))
    _refused(trusted, name, direct, 403, "claim job_workflow_ref")
    other = trusted.job_token(
        "github", _github(repository, job_workflow_ref="evil/x/.github/workflows/publish.yml@v1")
    )
    _refused(trusted, name, other, 403, "claim job_workflow_ref")
    reusable = trusted.job_token(
        "github", _github(repository, job_workflow_ref=f"{shared}@refs/heads/main")
    )
    assert trusted.exchange(name, reusable).status_code == 201


def test_a_self_managed_gitlab_host_must_be_the_issuers(trusted: Trusted) -> None:
    project = f"group-{secrets.token_hex(3)}/widget"
    name, _ = _existing(trusted, _repo())
    trusted.add_publisher(
        name, "gitlab", gitlab_publisher(project, issuer="https://gitlab.example.com")
    )
    # A gitlab.com job does not match a publisher on the self-managed server.
    _refused(
        trusted, name, trusted.job_token("gitlab", {"project_path": project}), 403, "claim iss"
    )
    # Nor a job on the server whose config URI names another host.
    server = "https://gitlab.example.com"
    spoofed = trusted.job_token(
        "gitlab",
        {
            "project_path": project,
            "ci_config_ref_uri": f"gitlab.com/{project}//.gitlab-ci.yml@refs/heads/main",
        },
        server_url=server,
    )
    _refused(trusted, name, spoofed, 403, "claim ci_config_ref_uri")
    ok = trusted.job_token("gitlab", {"project_path": project}, server_url=server)
    response = trusted.exchange(name, ok)
    assert response.status_code == 201, response.text
