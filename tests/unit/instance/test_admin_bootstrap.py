"""The admin bootstrap of `assay up`: a fresh `admin` account and token, created once, written
0600 and returned (to be printed) only then; an existing `admin` is never adopted."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from assay.errors import ConfigError
from assay.instance.layout import DataDir
from assay.instance.setup import ensure_admin_token
from assay.registry.accounts import Principal
from assay.registry.service import RegistryService
from assay.settings import Settings


def test_created_once_and_returned_only_then(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    token = ensure_admin_token(settings)
    assert token is not None
    assert token.startswith("assay_")
    path = DataDir(settings.data_dir).admin_token
    assert path.read_text() == token + "\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # Later starts: nothing new, nothing to print, the file untouched.
    assert ensure_admin_token(settings) is None
    assert path.read_text() == token + "\n"
    service = RegistryService.open(settings)
    try:
        who = service.accounts.authenticate(f"Bearer {token}", "127.0.0.1")
        assert isinstance(who, Principal)
        assert who.user.name == "admin"
        assert len(service.store.tokens_of(who.user.id)) == 1
    finally:
        service.close()


def test_an_existing_admin_account_is_never_adopted(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    service = RegistryService.open(settings)
    try:
        squatter = service.accounts.add_user("admin", "mallory@example.com", "mallory-password")
    finally:
        service.close()
    with pytest.raises(ConfigError, match="refusing to adopt"):
        ensure_admin_token(settings)
    assert not DataDir(settings.data_dir).admin_token.exists()
    service = RegistryService.open(settings)
    try:
        assert service.store.tokens_of(squatter.id) == []
    finally:
        service.close()
