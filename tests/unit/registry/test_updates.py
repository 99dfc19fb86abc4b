"""CouchDB's revision check of npm's metadata updates (registry/updates.py)."""

from __future__ import annotations

import pytest

from assay.registry.errors import Conflict
from assay.registry.updates import check_rev
from assay.storage.registry_store import PackageState


def _state(rev: int) -> PackageState:
    return PackageState(
        name="pkg", rev=rev, created_ms=0, modified_ms=0, versions={}, dist_tags={}, maintainers=()
    )


def test_the_current_rev_passes() -> None:
    check_rev(_state(2), "2-abc")
    check_rev(_state(2), None)


@pytest.mark.parametrize("rev", ["1-abc", "x-2", "", "²", "²-abc", "٢"])
def test_any_other_rev_is_a_conflict(rev: str) -> None:
    # "²" is str.isdigit() but not int(): bench/fuzz.py found the 500 it caused
    # (PUT /<name>/-rev/%C2%B2); "٢" is an Arabic-Indic 2 that int() would read as 2.
    with pytest.raises(Conflict):
        check_rev(_state(2), rev)
