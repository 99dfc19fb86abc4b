"""Uplinks files: Verdaccio's shape, first matching rule wins, refusals name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from assay.errors import ConfigError
from assay.mirror.config import MirrorConfig, glob_matches

FILE = """
[uplinks.npmjs]
url = "https://registry.npmjs.org"
timeout = 10
ttl = 60

[uplinks.corp]
url = "https://npm.corp.example/"
token = "s3cret"
trusted-root = "corp-root.json"

[packages."@acme/*"]
proxy = []

[packages."@corp/*"]
proxy = ["corp", "npmjs"]

[packages."**"]
proxy = "npmjs"
"""


def test_rules_in_file_order(tmp_path: Path) -> None:
    config = MirrorConfig.from_toml(FILE, "uplinks.toml", tmp_path)
    assert config.uplinks_for("@acme/widget") == ()
    assert [u.name for u in config.uplinks_for("@corp/lib")] == ["corp", "npmjs"]
    assert [u.name for u in config.uplinks_for("left-pad")] == ["npmjs"]
    npmjs = config.uplinks["npmjs"]
    assert npmjs.url == "https://registry.npmjs.org/"
    assert (npmjs.timeout, npmjs.ttl, npmjs.trust) == (10.0, 60.0, "npmjs")
    corp = config.uplinks["corp"]
    assert corp.trust == "served"
    assert corp.trusted_root == tmp_path / "corp-root.json"
    assert "s3cret" not in repr(corp)


def test_single_url_serves_every_name() -> None:
    config = MirrorConfig.from_settings(None, "http://127.0.0.1:4873")
    assert config is not None
    assert [u.url for u in config.uplinks_for("@any/thing")] == ["http://127.0.0.1:4873/"]
    assert MirrorConfig.from_settings(None, None) is None


def test_globs() -> None:
    assert glob_matches("**", "@a/b")
    assert glob_matches("*", "left-pad")
    assert not glob_matches("*", "@a/b")
    assert glob_matches("@*/*", "@a/b")
    assert not glob_matches("@acme/*", "@acmex/b")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[uplinks.a]\nurl = "ftp://x"', "url must be an http"),
        ('[uplinks.a]\nurl = "https://x"\nttl = -1', "ttl must be a number"),
        ('[uplinks.a]\nurl = "https://x"\ncolour = 1', "unknown keys"),
        ('[packages."**"]\nproxy = ["nope"]', "unknown uplinks"),
        ("[mirror]\n", "unknown top-level keys"),
        ("not toml =", "not valid TOML"),
    ],
)
def test_refusals(text: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=message):
        MirrorConfig.from_toml(text, "uplinks.toml", tmp_path)


def test_file_and_url_together_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not both"):
        MirrorConfig.from_settings(tmp_path / "u.toml", "https://x/")


def test_verify_manifests(tmp_path: Path) -> None:
    base = '[uplinks.u]\nurl = "https://u.example/"\n'
    assert MirrorConfig.from_toml(base, "f", tmp_path).uplinks["u"].verify_manifests == "on-fetch"
    before = MirrorConfig.from_toml(base + 'verify-manifests = "before-serve"\n', "f", tmp_path)
    assert before.uplinks["u"].verify_manifests == "before-serve"
    with pytest.raises(ConfigError, match="verify-manifests"):
        MirrorConfig.from_toml(base + 'verify-manifests = "never"\n', "f", tmp_path)
