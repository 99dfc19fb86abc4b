"""The registry's rules over HTTP, on both backends: the manifest is the tarball's (a body that
says otherwise is refused: manifest confusion), build metadata never republishes a version,
scopes belong to their users or to whom an administrator assigned them, and a profile shows
its e-mail address only to its owner. After every refusal nothing is stored."""

from __future__ import annotations

from typing import Any

import pytest

from assay.registry.scopes import ScopeAdmin
from tests.integration import test_registry_api
from tests.integration.test_registry_api import Api
from tests.unit.registry.tarballs import publish_body, tarball

api = test_registry_api.api  # the same registry fixture (user alice), on both backends

BASE = {"name": "pkg", "version": "1.0.0"}

# (field named in the refusal, the tarball's package.json beyond BASE, the body's manifest):
# in each case the body hides or invents something the tarball says otherwise.
CONFUSIONS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("name", {"name": "other"}, {}),
    ("version", {"version": "1.0.1"}, {}),
    ("dependencies", {"dependencies": {"a": "^1", "evil": "*"}}, {"dependencies": {"a": "^1"}}),
    ("optionalDependencies", {"optionalDependencies": {"evil": "1"}}, {}),
    ("peerDependencies", {}, {"peerDependencies": {"react": "*"}}),
    (
        "bundleDependencies",
        {"dependencies": {"a": "1"}},
        {"dependencies": {"a": "1"}, "bundleDependencies": ["a"]},
    ),
    (  # named as the request spells it, here not at all
        "bundleDependencies",
        {"dependencies": {"a": "1"}, "bundledDependencies": ["a"]},
        {"dependencies": {"a": "1"}},
    ),
    (
        "bundledDependencies",
        {"dependencies": {"a": "1"}},
        {"dependencies": {"a": "1"}, "bundledDependencies": ["a"]},
    ),
    ("scripts", {"scripts": {"postinstall": "node steal.js"}}, {"scripts": {}}),
    ("bin", {"bin": {"ls": "evil.js"}}, {}),
    ("repository", {"repository": "github:mallory/evil"}, {"repository": "github:facebook/react"}),
    ("os", {"os": ["darwin"]}, {"os": ["linux"]}),
    ("cpu", {}, {"cpu": ["x64"]}),
    ("engines", {"engines": {"node": ">=0.1"}}, {"engines": {"node": ">=18"}}),
    ("main", {"main": "evil.js"}, {"main": "index.js"}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("field", "packed", "claimed"),
    CONFUSIONS,
    ids=[f"{case[0]}-{i}" for i, case in enumerate(CONFUSIONS)],
)
def test_a_body_that_differs_from_the_tarball_is_refused(
    api: Api, field: str, packed: dict[str, Any], claimed: dict[str, Any]
) -> None:
    data = tarball("pkg", "1.0.0", package_json={**BASE, **packed})
    response = api.publish("pkg", publish_body("pkg", "1.0.0", data=data, **claimed))
    assert response.status_code == 400, response.text
    assert f"versions['1.0.0'].{field} differs from the tarball's" in response.json()["error"]
    assert api.stored() == (0, 0, [])


def test_the_stored_manifest_is_the_tarballs_normalised(api: Api) -> None:
    # The tarball as `npm pack` writes it (package.json as the author wrote it); the body as
    # libnpmpublish sends it (normalised by npm): they agree, so the publish is accepted, and
    # what is served is the tarball's, normalised the same way.
    packed = {
        "name": "pkg", "version": "v1.0.0", "description": "the packed one",
        "bin": "./cli.js", "repository": "github:acme/pkg",
        "scripts": {"build": "node_modules/.bin/tsc"}, "dependencies": ["left-pad@1.0.0"],
        "directories": {"man": "man"}, "deprecated": "not from a package.json",
    }  # fmt: skip
    files = {
        "cli.js": b"#!/usr/bin/env node\n",
        "server.js": b"",
        "index.d.ts": b"export {}\n",
        "npm-shrinkwrap.json": b"{}",
        "man/pkg.1": b".TH pkg 1\n",
        "README.md": b"# pkg\n\nFrom the tarball.\n",
    }
    data = tarball("pkg", "1.0.0", package_json=packed, files=files)
    claimed: dict[str, Any] = {
        "description": "a different description (not a confusable field)",
        "bin": {"pkg": "cli.js"},
        "repository": {"type": "git", "url": "git+https://github.com/acme/pkg.git"},
        "scripts": {"build": "tsc", "start": "node server.js"},
        "dependencies": {"left-pad": "1.0.0"},
        "readme": "# shown nowhere\n",
        "gitHead": "a" * 40,
        "_nodeVersion": "22.1.0",
        "_npmVersion": "11.19.1",
        "_npmUser": {"name": "someone-else", "email": "x@example.com"},
        "_evil": "dropped",
    }
    response = api.publish("pkg", publish_body("pkg", "1.0.0", data=data, **claimed))
    assert response.status_code == 201, response.text

    served = api.client.get("/pkg/1.0.0").json()
    assert served["version"] == "1.0.0"
    assert served["description"] == "the packed one"
    assert served["bin"] == {"pkg": "cli.js"}
    assert served["repository"] == claimed["repository"]
    assert served["scripts"] == claimed["scripts"]
    assert served["dependencies"] == {"left-pad": "1.0.0"}
    assert served["types"] == "./index.d.ts"
    assert served["man"] == ["man/pkg.1"]
    assert served["_hasShrinkwrap"] is True
    assert "gitHead" not in served  # a claim about the source, kept only when verified
    assert (served["_nodeVersion"], served["_npmVersion"]) == ("22.1.0", "11.19.1")
    assert served["_npmUser"] == {"name": "alice", "email": "alice@example.com"}
    assert "_evil" not in served
    assert "readme" not in served
    assert "deprecated" not in served
    assert api.client.get("/pkg").json()["readme"] == "# pkg\n\nFrom the tarball.\n"


@pytest.mark.parametrize(
    ("first", "second", "taken"),
    [("1.0.0", "1.0.0+build.5", "1.0.0"), ("2.0.0-rc.1+a", "2.0.0-rc.1+b", "2.0.0-rc.1+a")],
)
def test_build_metadata_never_republishes_a_version(
    api: Api, first: str, second: str, taken: str
) -> None:
    assert api.publish("pkg", publish_body("pkg", first)).status_code == 201
    before = api.stored()
    response = api.publish("pkg", publish_body("pkg", second))
    assert response.status_code == 403, response.text
    assert response.json()["error"] == (
        f"You cannot publish over the previously published versions: {taken}."
    )
    assert api.stored() == before
    assert list(api.client.get("/pkg").json()["versions"]) == [first]


def test_a_tarball_with_build_metadata_publishes_the_version_npm_sends(api: Api) -> None:
    # libnpmpublish sends semver.clean(version), which drops build metadata; the tarball keeps
    # package.json as written. One version, named as npm named it.
    data = tarball("pkg", "1.0.0", package_json={"name": "pkg", "version": "1.0.0+build.5"})
    response = api.publish("pkg", publish_body("pkg", "1.0.0", data=data))
    assert response.status_code == 201, response.text
    assert api.client.get("/pkg/1.0.0").json()["version"] == "1.0.0"


def test_scopes_belong_to_their_user_or_to_whom_an_administrator_assigned_them(
    api: Api,
) -> None:
    accounts = api.service.accounts
    bob = accounts.add_user("bob", "bob@example.com", "bob-password")
    bob_token, _ = accounts.issue_token(bob)

    # alice's own scope is hers alone; @team was assigned to her by the fixture.
    assert api.publish("@alice/a", publish_body("@alice/a", "1.0.0")).status_code == 201
    refused = api.publish("@alice/b", publish_body("@alice/b", "1.0.0"), bob_token)
    assert refused.status_code == 403
    assert "your own scope @bob, not in @alice" in refused.json()["error"]
    refused = api.publish("@team/b", publish_body("@team/b", "1.0.0"), bob_token)
    assert refused.status_code == 403
    assert "The scope @team belongs to another user" in refused.json()["error"]
    # A scope nobody was assigned belongs to nobody (no first-come claims).
    refused = api.publish("@acme/x", publish_body("@acme/x", "1.0.0"))
    assert refused.status_code == 403
    assert "an administrator assigns organisation scopes" in refused.json()["error"]
    assert api.stored()[0] == 1

    admin = ScopeAdmin(api.service.store)
    assert admin.grant("@acme", "bob") is True
    assert api.publish("@acme/x", publish_body("@acme/x", "1.0.0"), bob_token).status_code == 201
    refused = api.publish("@acme/y", publish_body("@acme/y", "1.0.0"))
    assert refused.status_code == 403
    assert admin.grant("@acme", "alice") is True
    assert api.publish("@acme/y", publish_body("@acme/y", "1.0.0")).status_code == 201
    assert admin.revoke("@acme", "alice") is True
    assert api.publish("@acme/z", publish_body("@acme/z", "1.0.0")).status_code == 403
    # Existing packages stay their maintainers': alice still publishes @acme/y.
    assert api.publish("@acme/y", publish_body("@acme/y", "1.0.1")).status_code == 201
    assert admin.owners() == [("acme", "bob", "granted"), ("team", "alice", "granted")]


def test_a_profile_shows_the_email_address_only_to_its_owner(api: Api) -> None:
    accounts = api.service.accounts
    bob = accounts.add_user("bob", "bob@example.com", "bob-password")
    bob_token, _ = accounts.issue_token(bob)
    path = "/-/user/org.couchdb.user:alice"
    own = api.client.get(path, headers=api.auth())
    assert own.json() == {
        "_id": "org.couchdb.user:alice",
        "name": "alice",
        "email": "alice@example.com",
    }
    for headers in ({}, api.auth(bob_token)):
        other = api.client.get(path, headers=headers)
        assert other.status_code == 200
        assert other.json() == {"_id": "org.couchdb.user:alice", "name": "alice"}
    assert api.client.get("/-/user/org.couchdb.user:nobody").status_code == 404
