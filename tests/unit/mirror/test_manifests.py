"""An upstream manifest against the tarball it stands for (assay.mirror.manifests): the reason
stored with a refused verdict, and the fingerprint a passed check is remembered by."""

from __future__ import annotations

from typing import Any

from assay.mirror.manifests import check_tarball, fingerprint
from assay.npm.tarball import DEFAULT_LIMITS, TarballLimits
from tests.static_upstream import StaticUpstream, tarball

PACKAGE = StaticUpstream.manifest("widget", "1.0.0", {"left-pad": "^1.3.0"})


def served(**fields: Any) -> dict[str, Any]:
    return {**PACKAGE, "_id": "widget@1.0.0", "dist": {"integrity": "sha512-x"}, **fields}


def test_a_manifest_that_agrees_passes() -> None:
    assert check_tarball(served(), tarball(PACKAGE), DEFAULT_LIMITS) is None


def test_a_confused_manifest_is_refused_with_the_field() -> None:
    reason = check_tarball(served(dependencies={}), tarball(PACKAGE), DEFAULT_LIMITS)
    assert reason == (
        "manifest confusion: dependencies in the uplink's manifest differs from the tarball's "
        "package.json"
    )
    hidden = tarball(PACKAGE | {"scripts": {"postinstall": "node steal.js"}})
    assert "scripts" in (check_tarball(served(), hidden, DEFAULT_LIMITS) or "")
    lying = check_tarball(served(hasInstallScript=True), tarball(PACKAGE), DEFAULT_LIMITS)
    assert lying == "manifest confusion: the uplink's hasInstallScript does not hold of the tarball"


def test_an_unsafe_or_invalid_tarball_is_refused() -> None:
    reason = check_tarball(served(), b"not a tarball", DEFAULT_LIMITS)
    assert (reason or "").startswith("the tarball cannot be read safely")
    tight = TarballLimits(max_entries=1)
    assert (check_tarball(served(), tarball(PACKAGE), tight) or "").startswith("the tarball")
    broken = check_tarball(served(), tarball(PACKAGE | {"name": "Bad Name"}), DEFAULT_LIMITS)
    assert "the tarball's package.json is invalid" in (broken or "")


def test_the_fingerprint_ignores_key_order_and_sees_any_change() -> None:
    manifest = served()
    assert fingerprint(manifest) == fingerprint(dict(reversed(list(manifest.items()))))
    assert fingerprint(manifest) != fingerprint(served(deprecated="use another"))
