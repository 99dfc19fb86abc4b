"""Settings: read from ASSAY_* once, frozen, with validated values."""

from __future__ import annotations

import pydantic
import pytest

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
