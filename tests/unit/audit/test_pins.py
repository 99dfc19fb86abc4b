"""Trust on first use for registries that serve their own trust (assay.audit.pins), with the real
public-good trusted root and, as the "other" root a registry starts serving, that root without
its transparency logs but one (what an impersonator's root would also differ in)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from assay.audit.pins import PIN_FILE, PinError, PinStatus, TrustPins, pin_key
from assay.errors import ConfigError
from assay.verify.package import Served, registry_trust
from assay.verify.trust import TrustedRoot
from tests.npm_real import ROOT

REGISTRY = "http://127.0.0.1:4873/"
ROOT_URL = "http://127.0.0.1:4873/-/trust/trusted_root.json"
KEYS_URL = "http://127.0.0.1:4873/-/npm/v1/keys"
OLD_ROOT = (
    ROOT / "public-good" / "sigstore-tuf-4.0.2" / "targets" / "trusted_root.json"
).read_bytes()
NEW_ROOT = json.dumps({**json.loads(OLD_ROOT), "tlogs": json.loads(OLD_ROOT)["tlogs"][:1]}).encode()
KEYS = b'{"keys": [{"keyid": "SHA256:x", "key": "abc"}]}'
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def root(body: bytes = OLD_ROOT, status: int = 200) -> Served:
    return Served(ROOT_URL, status, body)


def keys(body: bytes = KEYS, status: int = 200) -> Served:
    return Served(KEYS_URL, status, body)


def test_pin_key_is_one_path_segment() -> None:
    assert pin_key("http://127.0.0.1:4873/") == "127.0.0.1%3A4873"
    assert pin_key("https://Registry.Example/npm/") == "registry.example%2Fnpm"
    with pytest.raises(ConfigError):
        pin_key("not a url")


def test_first_use_pins_then_the_same_material_passes(tmp_path: Path) -> None:
    pins = TrustPins(tmp_path)
    first = pins.apply(REGISTRY, root(), keys(), now=NOW)
    assert first.status is PinStatus.PINNED
    assert first.message is not None
    assert "on first use" in first.message
    folder = tmp_path / "127.0.0.1%3A4873"
    assert first.path == folder
    assert (folder / "trusted_root.json").read_bytes() == OLD_ROOT
    assert (folder / "keys.json").read_bytes() == KEYS
    record = json.loads((folder / PIN_FILE).read_text())
    assert record["registry"] == REGISTRY
    assert record["pinned_at"] == NOW.isoformat()
    assert record["trusted_root"]["served"] is True
    # Key order and whitespace do not make material "another".
    reordered = json.dumps(json.loads(KEYS), indent=4, sort_keys=True).encode()
    again = pins.apply(REGISTRY, root(), keys(reordered))
    assert again.status is PinStatus.UNCHANGED
    assert again.message is None
    assert again.served_root == root()
    # Nothing asked (npmjs.org, or material the user named): nothing to pin or compare.
    assert pins.apply(REGISTRY, None, None).status is PinStatus.UNCHANGED


def test_a_changed_root_warns_loudly_and_the_pinned_copy_is_used(tmp_path: Path) -> None:
    pins = TrustPins(tmp_path)
    pins.apply(REGISTRY, root(), keys(), now=NOW)
    changed = pins.apply(REGISTRY, root(NEW_ROOT), keys())
    assert changed.status is PinStatus.CHANGED
    assert changed.changed == ("trusted root",)
    assert changed.message is not None
    assert changed.message.startswith(
        f"WARNING: the trusted root served by {REGISTRY} CHANGED since it was pinned on "
        "2026-05-01 12:00:00 UTC"
    )
    assert "--repin" in changed.message
    # Verification goes on with the pinned root, not the served one.
    assert changed.served_root == Served(ROOT_URL, 200, OLD_ROOT)
    trust = registry_trust(
        REGISTRY, served_root=changed.served_root, served_keys=None,
        public_good=tmp_path / "none",
    )  # fmt: skip
    assert trust.trusted_root == TrustedRoot.from_json(OLD_ROOT)
    # The pin is not replaced by a warning.
    assert (tmp_path / "127.0.0.1%3A4873" / "trusted_root.json").read_bytes() == OLD_ROOT


def test_a_root_that_disappears_or_appears_is_a_change(tmp_path: Path) -> None:
    """A registry that stops serving its root would be verified with the public-good root; one
    that starts serving a root names a new CA. Both differ from the pin."""
    pins = TrustPins(tmp_path / "a")
    pins.apply(REGISTRY, root(), keys(b"", 404))
    gone = pins.apply(REGISTRY, root(b"", 404), keys(b"", 404))
    assert gone.status is PinStatus.CHANGED
    assert gone.served_root == Served(ROOT_URL, 200, OLD_ROOT)
    assert gone.message is not None
    assert "pinned sha256" in gone.message
    assert "served none (not served)" in gone.message

    pins = TrustPins(tmp_path / "b")
    assert pins.apply(REGISTRY, root(b"", 404), keys()).status is PinStatus.PINNED
    record = json.loads((tmp_path / "b" / "127.0.0.1%3A4873" / PIN_FILE).read_text())
    assert record["trusted_root"] == {"url": ROOT_URL, "served": False}
    appeared = pins.apply(REGISTRY, root(), keys())
    assert appeared.status is PinStatus.CHANGED
    assert appeared.served_root == Served(ROOT_URL, 404, b"")  # as pinned: none
    # A failed keys request (5xx) is not material: the default-trust rule reports it.
    assert pins.apply(REGISTRY, root(b"", 404), keys(b"oops", 503)).status is (PinStatus.UNCHANGED)


def test_changed_keys_are_a_change_too(tmp_path: Path) -> None:
    pins = TrustPins(tmp_path)
    pins.apply(REGISTRY, root(), keys())
    other = b'{"keys": [{"keyid": "SHA256:evil", "key": "def"}]}'
    changed = pins.apply(REGISTRY, root(), keys(other))
    assert changed.changed == ("registry keys",)
    assert changed.served_keys == Served(KEYS_URL, 200, KEYS)
    assert changed.served_root == root()


def test_require_pinned_root_refuses_unpinned_and_changed(tmp_path: Path) -> None:
    strict = TrustPins(tmp_path, require=True)
    with pytest.raises(PinError, match="is not pinned") as refused:
        strict.apply(REGISTRY, root(), keys())
    assert refused.value.details["status"] == "unpinned"
    assert not (tmp_path / "127.0.0.1%3A4873").exists()  # refusing pins nothing
    TrustPins(tmp_path).apply(REGISTRY, root(), keys())
    assert strict.apply(REGISTRY, root(), keys()).status is PinStatus.UNCHANGED
    with pytest.raises(PinError, match="changed since it was pinned") as refused:
        strict.apply(REGISTRY, root(NEW_ROOT), keys())
    assert refused.value.details["status"] == "changed"
    with pytest.raises(ConfigError, match="contradict"):
        TrustPins(tmp_path, require=True, repin=True)


def test_repin_accepts_the_served_material(tmp_path: Path) -> None:
    TrustPins(tmp_path).apply(REGISTRY, root(), keys())
    repinned = TrustPins(tmp_path, repin=True).apply(REGISTRY, root(NEW_ROOT), keys())
    assert repinned.status is PinStatus.REPINNED
    assert repinned.served_root == root(NEW_ROOT)
    assert TrustPins(tmp_path).apply(REGISTRY, root(NEW_ROOT), keys()).status is (
        PinStatus.UNCHANGED
    )


def test_a_tampered_pin_is_an_error_not_a_silent_repin(tmp_path: Path) -> None:
    pins = TrustPins(tmp_path)
    pins.apply(REGISTRY, root(), keys())
    folder = tmp_path / "127.0.0.1%3A4873"
    (folder / "trusted_root.json").write_bytes(NEW_ROOT)
    with pytest.raises(ConfigError, match="does not match"):
        pins.apply(REGISTRY, root(), keys())
    (folder / PIN_FILE).write_text("{")
    with pytest.raises(ConfigError, match="cannot read the trust pin"):
        pins.apply(REGISTRY, root(), keys())
