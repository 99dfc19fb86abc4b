"""Trusted-publisher settings, pending publishers, package policy and the audit trail over HTTP
(registry/trust_settings.py, registry/package_policy.py; docs/trusted-publishing.md).

Every validation and permission rule is driven through the real routes; after each refusal the
publishers and the audit trail are checked to be unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from assay.cli.main import main
from assay.registry.service import RegistryService
from assay.settings import Settings
from assay.storage.schema import registry_trusted_publishers
from tests.services import RunningRegistry, running_registry
from tests.unit.registry.tarballs import publish_body

REPO = "acme/widget"
ORG = "0b1c7b36-1a0b-4c0e-9b1a-6f0f2bd7a001"
PROJECT = "0b1c7b36-1a0b-4c0e-9b1a-6f0f2bd7a002"
PIPELINE = "0b1c7b36-1a0b-4c0e-9b1a-6f0f2bd7a003"
CONTEXT = "0b1c7b36-1a0b-4c0e-9b1a-6f0f2bd7a004"
C = "oidc.circleci.com/"


def github(**claims: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"repository": REPO, "workflow_ref": {"file": "release.yml"}}
    return {"type": "github", "claims": {**base, **claims}, "permissions": ["createPackage"]}


def gitlab(**claims: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "project_path": "team/sub/gadget",
        "ci_config_ref_uri": {"file": ".gitlab-ci.yml"},
    }
    return {"type": "gitlab", "claims": {**base, **claims}, "permissions": ["createPackage"]}


def circleci(**claims: Any) -> dict[str, Any]:
    base = {
        "oidc.circleci.com/org-id": ORG,
        "oidc.circleci.com/project-id": PROJECT,
        "oidc.circleci.com/pipeline-definition-id": PIPELINE,
        "oidc.circleci.com/vcs-origin": "github.com/acme/widget",
    }
    return {"type": "circleci", "claims": {**base, **claims}, "permissions": ["createPackage"]}


@dataclass
class Trust:
    registry: RunningRegistry
    client: httpx.Client
    tokens: dict[str, str]

    @property
    def service(self) -> RegistryService:
        return self.registry.service

    def auth(self, user: str | None) -> dict[str, str]:
        return {} if user is None else {"authorization": f"Bearer {self.tokens[user]}"}

    def post(self, name: str, body: Any, user: str | None = "alice") -> httpx.Response:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return self.client.post(
            f"/-/package/{name.replace('/', '%2f')}/trust",
            content=content,
            headers={**self.auth(user), "content-type": "application/json"},
        )

    def get(self, name: str, user: str | None = "alice") -> httpx.Response:
        return self.client.get(
            f"/-/package/{name.replace('/', '%2f')}/trust", headers=self.auth(user)
        )

    def delete(self, name: str, ident: str, user: str | None = "alice") -> httpx.Response:
        return self.client.delete(
            f"/-/package/{name.replace('/', '%2f')}/trust/{ident}", headers=self.auth(user)
        )

    def publish(self, name: str, version: str, user: str = "alice") -> httpx.Response:
        return self.client.put(
            f"/{name.replace('/', '%2f')}",
            json=publish_body(name, version),
            headers=self.auth(user),
        )

    def policy(self, name: str, body: Any, user: str | None = "alice") -> httpx.Response:
        return self.client.post(f"/-/package/{name}/policy", json=body, headers=self.auth(user))

    def snapshot(self, name: str) -> tuple[list[str], int]:
        """(ids of the publishers of `name`, number of audit events of `name`)."""
        trust = self.service.trust_store
        return [p.id for p in trust.publishers(name)], len(trust.audit_events(name, 1000))


def _serve(settings: Settings) -> Iterator[Trust]:
    with running_registry(settings) as registry:
        accounts = registry.service.accounts
        tokens = {}
        for name in ("alice", "bob", "carol"):
            user = accounts.add_user(name, f"{name}@example.com", f"{name}-password")
            tokens[name], _ = accounts.issue_token(user)
        alice = registry.service.store.user_by_name("alice")
        assert alice is not None
        tokens["alice-ro"], _ = accounts.issue_token(alice, readonly=True)
        with httpx.Client(base_url=registry.url, timeout=60) as client:
            trust = Trust(registry, client, tokens)
            assert trust.publish("widget", "1.0.0").status_code == 201
            yield trust


@pytest.fixture
def trust(tmp_path: Path) -> Iterator[Trust]:
    yield from _serve(Settings(data_dir=tmp_path / "data"))


@pytest.fixture
def trust_backends(registry_settings: Settings) -> Iterator[Trust]:
    yield from _serve(registry_settings)


# --- the npm trust API -------------------------------------------------------------------------


def test_maintainers_configure_list_and_revoke_several_publishers(trust_backends: Trust) -> None:
    trust = trust_backends
    body = [
        github(environment="production"),
        gitlab(issuer="https://GitLab.example.com/"),
        circleci(**{C + "context-ids": [CONTEXT.upper()]}),
    ]
    created = trust.post("widget", body)
    assert created.status_code == 201, created.text
    configs = created.json()
    assert [c["type"] for c in configs] == ["github", "gitlab", "circleci"]
    assert configs[0]["claims"] == {
        "repository": REPO,
        "workflow_ref": {"file": "release.yml"},
        "environment": "production",
    }
    # Normalized: the server URL without its trailing slash, host lower-cased; UUIDs lower.
    assert configs[1]["claims"]["issuer"] == "https://gitlab.example.com"
    assert configs[2]["claims"]["oidc.circleci.com/context-ids"] == [CONTEXT]
    for config in configs:
        assert config["permissions"] == ["createPackage"]
        assert config["pending"] is False
        assert config["createdBy"] == "alice"
    # Extensions: a reusable workflow, a GitHub Enterprise issuer; a default issuer is dropped.
    extended = trust.post("widget", [github(
        job_workflow_ref="acme/shared/.github/workflows/build.yml@refs/heads/main",
        issuer="https://ghes.example.com/_services/token",
    ), _claims(gitlab(), project_path="team/other", issuer="https://gitlab.com/")])  # fmt: skip
    assert extended.status_code == 201, extended.text
    github_claims, gitlab_claims = (c["claims"] for c in extended.json())
    assert github_claims["issuer"] == "https://ghes.example.com/_services/token"
    assert "issuer" not in gitlab_claims
    for config in extended.json():
        assert trust.delete("widget", config["id"]).status_code == 204
    # A second request adds another (several publishers per package), stage-only this time.
    stage = {**github(), "permissions": ["createStagedPackage"]}
    stage["claims"]["workflow_ref"] = {"file": "stage.yaml"}
    assert trust.post("widget", [stage]).status_code == 201

    listed = trust.get("widget")
    assert listed.status_code == 200
    assert len(listed.json()) == 4
    # Oldest request first (the order within one request is not defined).
    assert {c["id"] for c in listed.json()[:3]} == {c["id"] for c in configs}
    # The read-only token may read (npm trust list) but not change.
    assert trust.get("widget", "alice-ro").status_code == 200

    gone = configs[1]["id"]
    assert trust.delete("widget", gone).status_code == 204
    assert gone not in [c["id"] for c in trust.get("widget").json()]
    assert trust.delete("widget", gone).status_code == 404

    events = trust.service.trust_store.audit_events("widget")
    assert [e.action for e in reversed(events)] == (
        ["trust.add"] * 5 + ["trust.revoke"] * 2 + ["trust.add", "trust.revoke"]
    )
    assert {e.actor for e in events} == {"user:alice"}
    assert events[0].detail["publisher"]["id"] == gone
    assert events[0].detail["publisher"]["claims"]["project_path"] == "team/sub/gadget"


def test_permissions_on_the_trust_api(trust: Trust) -> None:
    ident = trust.post("widget", [github()]).json()[0]["id"]
    before = trust.snapshot("widget")
    for response in (
        trust.get("widget", None),
        trust.post("widget", [gitlab()], None),
        trust.delete("widget", ident, None),
    ):
        assert response.status_code == 401
        assert "logged in" in response.json()["error"]
    for response in (
        trust.get("widget", "bob"),
        trust.post("widget", [gitlab()], "bob"),
        trust.delete("widget", ident, "bob"),
    ):
        assert response.status_code == 403
        assert "only its maintainers" in response.json()["error"]
    readonly = trust.post("widget", [gitlab()], "alice-ro")
    assert readonly.status_code == 403
    assert "read-only" in readonly.json()["error"]
    assert trust.delete("widget", ident, "alice-ro").status_code == 403
    assert trust.delete("widget", "not-an-id").status_code == 404
    assert trust.get("nothing-here", "bob").status_code == 404
    wrong = trust.client.get(
        "/-/package/widget/trust", headers={"authorization": "Bearer assay_wrong"}
    )
    assert wrong.status_code == 401
    assert trust.snapshot("widget") == before
    # The audit route: maintainers only.
    assert trust.client.get("/-/package/widget/audit", headers=trust.auth("bob")).status_code == 403
    assert trust.client.get("/-/package/widget/audit").status_code == 401
    trail = trust.client.get("/-/package/widget/audit", headers=trust.auth("alice"))
    assert trail.status_code == 200
    assert [e["action"] for e in trail.json()["events"]] == ["trust.add"]
    assert trail.json()["events"][0]["actor"] == "user:alice"
    bad_limit = trust.client.get("/-/package/widget/audit?limit=0", headers=trust.auth("alice"))
    assert bad_limit.status_code == 400


def _without(config: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k != key}


def _claims(config: dict[str, Any], **changes: Any) -> dict[str, Any]:
    claims = {**config["claims"], **changes}
    return {**config, "claims": {k: v for k, v in claims.items() if v is not None}}


BAD: list[tuple[str, Any, str]] = [
    ("not an array", "github", "non-empty JSON array"),
    ("empty array", [], "non-empty JSON array"),
    ("too many", [github()] * 11, "At most 10"),
    ("not an object", ["github"], "must be a JSON object"),
    ("unknown key", [{**github(), "id": "x"}], "unknown field(s) 'id'"),
    ("no type", [_without(github(), "type")], "missing field(s) 'type'"),
    ("bad type", [{**github(), "type": "jenkins"}], "type must be one of github, gitlab, circleci"),
    ("no claims", [_without(github(), "claims")], "missing field(s) 'claims'"),
    ("claims not object", [{**github(), "claims": []}], "must be a JSON object"),
    ("unknown claim", [_claims(github(), ref="refs/heads/main")], "unknown field(s) 'ref'"),
    ("no repository", [_claims(github(), repository=None)], "missing field(s) 'repository'"),
    ("repo no slash", [_claims(github(), repository="widget")], "owner/repo"),
    ("repo 3 parts", [_claims(github(), repository="a/b/c")], "owner/repo"),
    ("repo bad owner", [_claims(github(), repository="-acme/widget")], "owner/repo"),
    ("repo dotdot", [_claims(github(), repository="acme/..")], "owner/repo"),
    ("repo not string", [_claims(github(), repository=7)], "non-empty string"),
    ("workflow path", [_claims(github(), workflow_ref={"file": ".github/x/r.yml"})], "not a path"),
    ("workflow ext", [_claims(github(), workflow_ref={"file": "release.sh"})], ".yml or .yaml"),
    ("workflow str", [_claims(github(), workflow_ref="release.yml")], "must be a JSON object"),
    ("workflow key", [_claims(github(), workflow_ref={"file": "r.yml", "ref": "x"})], "'ref'"),
    ("env empty", [_claims(github(), environment="")], "non-empty string"),
    ("env newline", [_claims(github(), environment="prod\nx")], "printable"),
    ("env type", [_claims(github(), environment=["prod"])], "non-empty string"),
    ("github iss", [_claims(github(), iss="https://x.example.com")], "field(s) 'iss'"),
    ("reusable path", [_claims(github(), job_workflow_ref="acme/w/build.yml")], "reusable"),
    ("reusable repo", [_claims(github(), job_workflow_ref="a/.github/workflows/b.yml")], "reus"),
    ("reusable file", [_claims(github(), job_workflow_ref="a/b/.github/workflows/x")], "reusable"),
    ("reusable obj", [_claims(github(), job_workflow_ref={"repository": "a"})], "non-empty"),
    ("project one part", [_claims(gitlab(), project_path="gadget")], "group/project"),
    ("project .git", [_claims(gitlab(), project_path="team/gadget.git")], "group/project"),
    ("project empty seg", [_claims(gitlab(), project_path="team//gadget")], "group/project"),
    ("ci file path", [_claims(gitlab(), ci_config_ref_uri={"file": "ci/x.yml"})], "not a path"),
    ("iss http", [_claims(gitlab(), issuer="http://gitlab.example.com")], "http only on loopback"),
    ("iss query", [_claims(gitlab(), issuer="https://gitlab.example.com/?x=1")], "issuer URL"),
    ("iss userinfo", [_claims(gitlab(), issuer="https://u:p@gitlab.example.com")], "issuer URL"),
    ("iss not url", [_claims(gitlab(), issuer="gitlab.example.com")], "issuer URL"),
    ("circle env", [_claims(circleci(), environment="prod")], "field(s) 'environment'"),
    ("circle uuid", [_claims(circleci(), **{C + "org-id": "acme"})], "must be a UUID"),
    ("circle missing", [_claims(circleci(), **{C + "project-id": None})], "missing field(s)"),
    ("circle scheme", [_claims(circleci(), **{C + "vcs-origin": "https://x.com/a/b"})], "scheme"),
    ("circle origin", [_claims(circleci(), **{C + "vcs-origin": "x.com/a"})], "owner/repo"),
    ("circle contexts", [_claims(circleci(), **{C + "context-ids": []})], "1 to 20"),
    ("circle context", [_claims(circleci(), **{C + "context-ids": ["x"]})], "UUID"),
    ("no permissions", [_without(github(), "permissions")], "missing field(s) 'permissions'"),
    ("empty permissions", [{**github(), "permissions": []}], "non-empty list"),
    ("bad permission", [{**github(), "permissions": ["admin"]}], "unknown permission 'admin'"),
    ("twice permission", [{**github(), "permissions": ["createPackage"] * 2}], "twice"),
    ("permissions str", [{**github(), "permissions": "createPackage"}], "non-empty list"),
    ("same twice", [github(), github()], "same trust configuration twice"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "body", "message"), BAD, ids=[case for case, _, _ in BAD])
def test_invalid_configurations_are_refused(
    trust: Trust, case: str, body: Any, message: str
) -> None:
    before = trust.snapshot("widget")
    response = trust.post("widget", body)
    assert response.status_code == 400, (case, response.text)
    assert message in response.json()["error"], response.json()["error"]
    assert trust.snapshot("widget") == before


def test_malformed_oversized_and_duplicate_bodies(trust: Trust) -> None:
    before = trust.snapshot("widget")
    assert trust.post("widget", b"{not json").status_code == 400
    huge = trust.post("widget", [_claims(github(), environment="x" * 70_000)])
    assert huge.status_code == 413
    assert "limit" in huge.json()["error"]
    assert trust.snapshot("widget") == before
    assert trust.post("widget", [github()]).status_code == 201
    # The same publisher again (GitHub names compare case-insensitively): 409, nothing added.
    again = trust.post("widget", [_claims(github(), repository="ACME/Widget")])
    assert again.status_code == 409
    assert "already configured" in again.json()["error"]
    assert len(trust.snapshot("widget")[0]) == 1


# --- pending publishers ------------------------------------------------------------------------


def test_a_pending_publisher_reserves_a_new_name(trust: Trust) -> None:
    created = trust.post("fresh", [github()], "bob")
    assert created.status_code == 201, created.text
    (pending,) = created.json()
    assert pending["pending"] is True
    assert pending["pendingUntil"] > pending["created"]
    # Bob sees his reservation; nobody else sees anything.
    assert [c["id"] for c in trust.get("fresh", "bob").json()] == [pending["id"]]
    assert trust.get("fresh", "carol").status_code == 404
    # Carol can neither publish the name with a token nor reserve it herself.
    before = trust.snapshot("fresh")
    refused = trust.publish("fresh", "1.0.0", "carol")
    assert refused.status_code == 403
    assert "reserved until" in refused.json()["error"]
    assert trust.client.get("/fresh").status_code == 404
    second = trust.post("fresh", [gitlab()], "carol")
    assert second.status_code == 403
    assert "reserved" in second.json()["error"]
    assert trust.delete("fresh", pending["id"], "carol").status_code == 404
    assert trust.snapshot("fresh") == before
    # Bob may add another of his own, and publish the name himself: his publishers settle.
    assert trust.post("fresh", [gitlab()], "bob").status_code == 201
    assert trust.publish("fresh", "1.0.0", "bob").status_code == 201
    settled = trust.get("fresh", "bob").json()
    assert [c["pending"] for c in settled] == [False, False]
    assert trust.get("fresh", "carol").status_code == 403


def test_pending_registration_follows_the_scope_rules(trust: Trust) -> None:
    refused = trust.post("@alice%2fnew", [github()], "bob")
    assert refused.status_code == 403
    assert "own scope @bob" in refused.json()["error"]
    assert trust.snapshot("@alice/new") == ([], 0)
    assert trust.post("@bob%2fnew", [github()], "bob").status_code == 201
    assert trust.post("@bob%2fnew", [gitlab()], None).status_code == 401


def test_a_lapsed_reservation_is_ignored_and_removed(trust: Trust) -> None:
    assert trust.post("lapsing", [github()], "bob").status_code == 201
    with trust.service.store.engine.begin() as connection:
        connection.execute(
            sa.update(registry_trusted_publishers)
            .where(registry_trusted_publishers.c.package == "lapsing")
            .values(pending_until_ms=1)
        )
    assert trust.get("lapsing", "bob").status_code == 404
    assert trust.publish("lapsing", "1.0.0", "carol").status_code == 201
    # Bob's lapsed publisher did not become a publisher of carol's package.
    assert trust.get("lapsing", "carol").json() == []
    assert trust.service.trust_store.publishers("lapsing") == []


def test_an_administrator_reserves_a_name_for_a_user(trust: Trust, capsys: Any) -> None:
    data = trust.registry.settings.data_dir
    code = main(["package", "reserve", "@carol/tool", "--user", "bob", "--github", REPO,
                 "--file", "release.yml", "--data-dir", str(data)])  # fmt: skip
    assert code == 0
    assert "reserved @carol/tool for bob until" in capsys.readouterr().out
    (pending,) = trust.get("@carol%2ftool", "bob").json()
    assert pending["pending"] is True
    event = trust.service.trust_store.audit_events("@carol/tool")[0]
    assert (event.actor, event.action, event.detail["for"]) == ("admin", "trust.add", "user:bob")
    assert trust.publish("@carol/tool", "1.0.0", "carol").status_code == 403
    assert main(["package", "reserve", "widget", "--user", "bob", "--github", REPO,
                 "--file", "release.yml", "--data-dir", str(data)]) == 1  # fmt: skip


# --- package policy ----------------------------------------------------------------------------


def test_policy_rules_refuse_publishes(trust: Trust) -> None:
    defaults = trust.client.get("/-/package/widget/policy")
    assert defaults.status_code == 200
    assert defaults.json() == {
        "package": "widget",
        "requireTrustedPublishing": False,
        "requireProvenance": False,
        "allowProvenanceDowngrade": False,
        "updated": None,
        "updatedBy": None,
    }
    assert trust.client.get("/-/package/nothing/policy").status_code == 404
    assert trust.policy("widget", {"requireProvenance": True}, "bob").status_code == 403
    assert trust.policy("widget", {"requireProvenance": True}, None).status_code == 401
    assert trust.policy("widget", {"requireProvenance": True}, "alice-ro").status_code == 403
    for bad in ({}, {"requireProvenance": "yes"}, {"requireSignatures": True}, [True]):
        assert trust.policy("widget", bad).status_code == 400
    assert trust.snapshot("widget") == ([], 0)

    strict = trust.policy("widget", {"requireTrustedPublishing": True})
    assert strict.status_code == 200
    assert strict.json()["requireTrustedPublishing"] is True
    assert strict.json()["updatedBy"] == "alice"
    refused = trust.publish("widget", "1.0.1")
    assert refused.status_code == 403
    assert "require-trusted-publishing" in refused.json()["error"]

    trust.policy("widget", {"requireTrustedPublishing": False, "requireProvenance": True})
    refused = trust.publish("widget", "1.0.1")
    assert refused.status_code == 422
    assert "require-provenance" in refused.json()["error"]
    assert list(trust.client.get("/widget").json()["versions"]) == ["1.0.0"]

    trust.policy("widget", {"requireProvenance": False})
    assert trust.publish("widget", "1.0.1").status_code == 201
    events = [
        (e.action, e.detail["changed"]) for e in trust.service.trust_store.audit_events("widget")
    ]
    assert events[::-1] == [
        ("policy.set", {"require-trusted-publishing": True}),
        ("policy.set", {"require-trusted-publishing": False, "require-provenance": True}),
        ("policy.set", {"require-provenance": False}),
    ]


def test_policy_and_audit_log_commands(
    trust: Trust, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    npmrc = tmp_path / "npmrc"
    host = trust.registry.url.split("://", 1)[1]
    npmrc.write_text(
        f"registry={trust.registry.url}\n//{host}:_authToken={trust.tokens['alice']}\n"
    )
    monkeypatch.setenv("npm_config_userconfig", str(npmrc))
    monkeypatch.chdir(tmp_path)
    assert main(["package", "policy", "widget"]) == 0
    assert "require-provenance:         no" in capsys.readouterr().out
    assert main(["package", "policy", "widget", "--require-provenance",
                 "--no-allow-provenance-downgrade"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "require-provenance:         yes" in out
    assert "by alice" in out
    assert main(["package", "policy", "widget", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["requireProvenance"] is True
    assert main(["package", "audit-log", "widget"]) == 0
    line = capsys.readouterr().out.strip()
    assert "\tuser:alice\tpolicy.set\t" in line
    # Another user: the registry's refusal, exit 1.
    npmrc.write_text(f"registry={trust.registry.url}\n//{host}:_authToken={trust.tokens['bob']}\n")
    assert main(["package", "policy", "widget", "--require-trusted-publishing"]) == 1
    assert "403" in capsys.readouterr().err
    assert main(["package", "audit-log", "widget"]) == 1
