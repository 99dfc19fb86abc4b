"""The node's configuration file (`assay serve --config`): tables map onto settings, mistakes
are errors that name the file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from assay.errors import ConfigError
from assay.instance.node import node_overrides
from assay.settings import load_settings


def test_tables_become_settings(tmp_path: Path) -> None:
    path = tmp_path / "node.toml"
    path.write_text(
        '[server]\npublic_url = "https://registry.example"\nport = 8080\nworkers = 3\n'
        '[database]\nurl = "postgresql+psycopg://db/assay"\n'
        '[blobs]\nstore = "s3"\nbucket = "b"\nregion = "eu-west-1"\n'
        '[keys]\ndir = "secrets"\n'
        "[settings]\nregistry_allow_signup = false\n"
    )
    settings = load_settings(**node_overrides(path))
    assert settings.origin == "https://registry.example"
    assert (settings.port, settings.workers) == (8080, 3)
    assert settings.database_url == "postgresql+psycopg://db/assay"
    assert (settings.blob_store, settings.s3_bucket, settings.s3_region) == ("s3", "b", "eu-west-1")
    assert settings.data_dir == (tmp_path / "secrets").resolve()  # relative to the file
    assert settings.registry_allow_signup is False


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[server\n", "is not TOML"),
        ("[servers]\nport = 1\n", "unknown table [servers]"),
        ("[server]\nbind = 1\n", "unknown key 'bind' in [server]"),
        ("[settings]\nno_such_setting = 1\n", "unknown key 'no_such_setting'"),
        ('[database]\nurl = "x"\n[settings]\ndatabase_url = "y"\n', "database_url is set twice"),
        ("port = 1\n", "'port' must be a table"),
    ],
)
def test_mistakes_are_config_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "node.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(message)):
        node_overrides(path)  # the message, literally (no regex)


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        node_overrides(tmp_path / "absent.toml")
