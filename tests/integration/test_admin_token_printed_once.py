"""`assay up` prints the admin's token once, when it creates it, and never on later starts."""

from __future__ import annotations

from pathlib import Path

from tests.assay_up import free_port, start, stop


def test_the_admin_token_is_printed_at_creation_only(tmp_path: Path) -> None:
    data, first_log, second_log = tmp_path / "data", tmp_path / "first.log", tmp_path / "second.log"
    stop(start(data, free_port(), first_log))
    token = (data / "admin.token").read_text().strip()
    assert f":_authToken={token}" in first_log.read_text()

    stop(start(data, free_port(), second_log))
    later = second_log.read_text()
    assert token not in later
    assert ":_authToken=<the token in " in later
    assert (data / "admin.token").read_text().strip() == token
