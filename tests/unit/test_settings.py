"""Settings: read from ASSAY_* once, frozen, with validated values."""

from __future__ import annotations

from pathlib import Path

import pydantic
import pytest

from assay import directories
from assay.settings import Settings, load_settings


def test_environment_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSAY_PORT", "5000")
    assert load_settings().port == 5000
    assert load_settings(port=6000).origin == "http://127.0.0.1:6000"


def test_frozen() -> None:
    settings = Settings()
    with pytest.raises(pydantic.ValidationError):
        settings.port = 1


def test_invalid_port_refused() -> None:
    with pytest.raises(pydantic.ValidationError):
        Settings(port=70000)


@pytest.mark.parametrize("name", ["ASSAY_TRUST_DIR", "assay_trust_dir"])
def test_the_offline_verifiers_trust_dir_is_the_settings_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str
) -> None:
    # assay.directories reads ASSAY_TRUST_DIR without pydantic for `assay verify attestations`;
    # it must name the directory Settings names, set or not, in any case of the name.
    monkeypatch.delenv("ASSAY_TRUST_DIR", raising=False)
    assert directories.trust_dir() == load_settings().trust_dir
    monkeypatch.setenv(name, str(tmp_path / "trust"))
    assert directories.trust_dir() == load_settings().trust_dir == tmp_path / "trust"


def test_the_pin_dir_default_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("ASSAY_TRUST_PIN_DIR", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert load_settings().trust_pin_dir == tmp_path / "assay" / "trust"
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/ignored")
    assert load_settings().trust_pin_dir == Path.home() / ".config" / "assay" / "trust"
