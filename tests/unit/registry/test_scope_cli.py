"""`assay scope grant|revoke|list` on a data directory's database, and the rule they feed."""

from __future__ import annotations

from pathlib import Path

import pytest

from assay.cli.main import main
from assay.npm.names import PackageName
from assay.registry.errors import Forbidden
from assay.registry.scopes import check_new_package
from assay.registry.service import RegistryService
from assay.settings import Settings
from assay.storage.account_store import StoredUser


def test_grant_list_revoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = str(tmp_path / "data")
    service = RegistryService.open(Settings(data_dir=tmp_path / "data"))
    try:
        for name in ("alice", "bob"):
            service.accounts.add_user(name, f"{name}@example.com", "a-long-password")
    finally:
        service.close()

    assert main(["scope", "grant", "@acme", "alice", "--data-dir", data]) == 0
    assert capsys.readouterr().out == "granted @acme to alice\n"
    assert main(["scope", "grant", "acme", "alice", "--data-dir", data]) == 0
    assert capsys.readouterr().out == "alice already has @acme\n"
    assert main(["scope", "grant", "@acme", "bob", "--data-dir", data]) == 0
    capsys.readouterr()
    assert main(["scope", "list", "--data-dir", data]) == 0
    assert capsys.readouterr().out == "@acme\talice\tgranted\n@acme\tbob\tgranted\n"

    # Refusals: an unknown user, a malformed scope, another user's own scope.
    assert main(["scope", "grant", "@acme", "nobody", "--data-dir", data]) == 1
    assert "No such user: nobody" in capsys.readouterr().err
    assert main(["scope", "grant", "@Bad Scope", "alice", "--data-dir", data]) == 1
    assert "Invalid scope" in capsys.readouterr().err
    assert main(["scope", "grant", "@bob", "alice", "--data-dir", data]) == 1
    assert "user bob's own scope" in capsys.readouterr().err

    assert main(["scope", "revoke", "@acme", "bob", "--data-dir", data]) == 0
    assert capsys.readouterr().out == "revoked @acme from bob\n"
    assert main(["scope", "revoke", "@acme", "bob", "--data-dir", data]) == 1
    assert main(["scope", "list", "--data-dir", data]) == 0
    assert capsys.readouterr().out == "@acme\talice\tgranted\n"


ALICE = StoredUser(1, "alice", "alice@example.com", "", 0)


def test_the_rule() -> None:
    acme = PackageName("@acme/x")
    # user policy (the default): own scope, assigned scopes; nothing else, and never a claim.
    assert check_new_package(PackageName("@alice/x"), ALICE, "user", None, frozenset()) is None
    assert check_new_package(PackageName("plain"), ALICE, "user", None, frozenset()) is None
    assert check_new_package(acme, ALICE, "user", None, frozenset({1, 2})) is None
    with pytest.raises(Forbidden, match="own scope @alice, not in @acme"):
        check_new_package(acme, ALICE, "user", None, frozenset())
    with pytest.raises(Forbidden, match="belongs to another user"):
        check_new_package(acme, ALICE, "user", None, frozenset({2}))
    # An assignment binds even alice's namesake scope, and the open policy alike.
    with pytest.raises(Forbidden, match="belongs to another user"):
        check_new_package(PackageName("@alice/x"), ALICE, "user", None, frozenset({2}))
    with pytest.raises(Forbidden, match="belongs to another user"):
        check_new_package(acme, ALICE, "open", None, frozenset({2}))
    # open: the first publisher claims a free scope; a claim binds like an assignment.
    assert check_new_package(acme, ALICE, "open", None, frozenset()) == ("acme", 1)
    assert check_new_package(acme, ALICE, "open", 1, frozenset()) is None
    with pytest.raises(Forbidden, match="belongs to another user"):
        check_new_package(acme, ALICE, "open", 2, frozenset())


def test_the_default_policy_is_user() -> None:
    assert Settings().registry_scope_policy == "user"
