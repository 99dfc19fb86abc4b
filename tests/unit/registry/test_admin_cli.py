"""`assay user` and `assay token` work directly on a data directory's database."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from assay.cli.main import main
from assay.registry.accounts import Principal
from assay.registry.service import RegistryService
from assay.settings import Settings


def test_user_and_token_lifecycle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = str(tmp_path / "data")
    monkeypatch.setattr("sys.stdin", io.StringIO("a-long-password\n"))
    assert main(["user", "add", "admin", "--email", "admin@example.com", "--password-stdin",
                 "--data-dir", data]) == 0  # fmt: skip
    assert "created user admin" in capsys.readouterr().out
    assert main(["user", "list", "--data-dir", data]) == 0
    assert capsys.readouterr().out.startswith("admin\tadmin@example.com\t")

    assert main(["token", "create", "--user", "admin", "--read-only", "--data-dir", data]) == 0
    secret = capsys.readouterr().out.strip()
    assert secret.startswith("assay_")
    service = RegistryService.open(Settings(data_dir=tmp_path / "data"))
    try:
        who = service.accounts.authenticate(f"Bearer {secret}", "127.0.0.1")
        assert isinstance(who, Principal)
        assert who.user.name == "admin"
        assert who.readonly
    finally:
        service.close()

    assert main(["token", "list", "--user", "admin", "--data-dir", data]) == 0
    key, preview, _name, mode, _created = capsys.readouterr().out.strip().split("\t")
    assert secret.startswith(preview.removesuffix("…"))
    assert mode == "read-only"
    assert secret not in key
    assert main(["token", "revoke", key, "--data-dir", data]) == 0
    assert main(["token", "revoke", key, "--data-dir", data]) == 1
    assert main(["token", "create", "--user", "nobody", "--data-dir", data]) == 1
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["user", "add", "x", "--email", "x@example.com", "--password-stdin",
                 "--data-dir", data]) == 1  # fmt: skip
