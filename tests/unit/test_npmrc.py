"""`.npmrc` reading: layers, ini values, `${ENV}` expansion, nerf-dart credentials.

tests/integration/test_npmrc.py has npm itself (`npm config get`) as the oracle.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from assay.errors import ConfigError
from assay.npmrc import DEFAULT_REGISTRY, NpmConfig, nerf_dart, parse_npmrc


def test_parse_values_comments_lists_and_env() -> None:
    text = (
        "; comment\n# comment\n"
        "registry = https://r.example/npm/\n"
        "@acme:registry=http://127.0.0.1:4873\n"
        "//r.example/npm/:_authToken=${NPM_TOKEN}\n"
        'quoted = "a;b # c"\n'
        "inline = value ; trailing comment\n"
        "optional = x${UNSET?}y\n"
        "kept = ${UNSET}\n"
        "escaped = \\${NPM_TOKEN}\n"
        "ca[] = one\nca[] = two\n"
        "flag\n"
        "[section]\nignored = 1\n"
    )
    settings = parse_npmrc(text, {"NPM_TOKEN": "s3cret"})
    assert settings["registry"] == "https://r.example/npm/"
    assert settings["@acme:registry"] == "http://127.0.0.1:4873"
    assert settings["//r.example/npm/:_authToken"] == "s3cret"
    assert settings["quoted"] == "a;b # c"
    assert settings["inline"] == "value"
    assert settings["optional"] == "xy"
    assert settings["kept"] == "${UNSET}"
    assert settings["escaped"] == "${NPM_TOKEN}"
    assert settings["ca"] == ["one", "two"]
    assert settings["flag"] == "true"
    assert "ignored" not in settings


@pytest.mark.parametrize(
    ("url", "dart"),
    [
        ("https://registry.npmjs.org/", "//registry.npmjs.org/"),
        ("https://registry.npmjs.org", "//registry.npmjs.org/"),
        ("https://registry.npmjs.org:443/", "//registry.npmjs.org/"),
        ("http://user:pw@127.0.0.1:4873/npm/?q=1#f", "//127.0.0.1:4873/npm/"),
        ("http://host/npm/pkg", "//host/npm/"),
    ],
)
def test_nerf_dart(url: str, dart: str) -> None:
    assert nerf_dart(url) == dart


def test_layers_and_registry_choice(tmp_path: Path) -> None:
    home, project = tmp_path / "home", tmp_path / "project"
    (project / "sub").mkdir(parents=True)
    home.mkdir()
    (home / ".npmrc").write_text("registry=http://user.example/\n@acme:registry=http://acme/\n")
    (project / "package.json").write_text("{}")
    (project / ".npmrc").write_text("registry=http://project.example/\n")
    config = NpmConfig.load({}, project / "sub", home=home)
    assert config.files == (home / ".npmrc", project / ".npmrc")
    assert config.registry_for("plain") == "http://project.example/"
    assert config.registry_for("@acme/x") == "http://acme/"
    assert config.registry_for("@other/x") == "http://project.example/"
    # The environment beats the files; overrides (flags) beat everything.
    config = NpmConfig.load({"NPM_CONFIG_REGISTRY": "http://env.example"}, project, home=home)
    assert config.registry_for("plain") == "http://env.example/"
    config = config.with_overrides({"registry": "http://flag.example"})
    assert config.registry_for("plain") == "http://flag.example/"
    # npm_config_userconfig moves the user config.
    other = tmp_path / "other.npmrc"
    other.write_text("@acme:registry=http://moved/\n")
    config = NpmConfig.load({"npm_config_userconfig": str(other)}, tmp_path, home=home)
    assert config.registry_for("@acme/x") == "http://moved/"
    assert config.registry_for("plain") == DEFAULT_REGISTRY


def test_credentials_by_nerf_dart(tmp_path: Path) -> None:
    password = base64.b64encode(b"pa:ss").decode()
    config = NpmConfig(
        {
            "//a.example/:_authToken": "root-token",
            "//a.example/deep/path/:_authToken": "deep-token",
            "//b.example:8080/:_auth": "dXNlcjpwdw==",
            "//c.example/:username": "carol",
            "//c.example/:_password": password,
            "//d.example/:_password": "not base64!",
            "//d.example/:username": "dave",
        }
    )
    assert config.credentials_for("https://a.example/").authorization == "Bearer root-token"
    # Walks up the path: //a.example/npm/ has none, //a.example/ has one.
    assert config.credentials_for("https://a.example/npm/").authorization == "Bearer root-token"
    deep = config.credentials_for("https://a.example/deep/path/")
    assert deep.authorization == "Bearer deep-token"
    assert deep.key == "//a.example/deep/path/:_authToken"
    assert config.credentials_for("http://b.example:8080").authorization == "Basic dXNlcjpwdw=="
    assert config.credentials_for("http://b.example/").authorization is None
    basic = base64.b64encode(b"carol:pa:ss").decode()
    assert config.credentials_for("https://c.example/").authorization == f"Basic {basic}"
    with pytest.raises(ConfigError, match="not base64"):
        config.credentials_for("https://d.example/")
