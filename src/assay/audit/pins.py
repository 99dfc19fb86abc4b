"""Trust on first use for registries that name their own trust (issue 10 §5).

By the one default-trust rule (:mod:`assay.verify.package`), a registry other than
registry.npmjs.org is verified with the trusted root and keys *it serves*
(``<origin>/-/trust/trusted_root.json``, ``<registry>/-/npm/v1/keys``). Taken afresh on every
run, that lets whoever controls the registry's answers — the registry, or anyone in front of it —
swap in their own CA, log and keys, and sign anything. SSH's answer is the one used here: the
first answer is **pinned** (``known_hosts``), later answers are compared with the pin.

* first use: the served trusted root and keys are saved under ``<pin dir>/<host>/`` and used;
* unchanged: used;
* changed (another root or keys, or none where one was pinned, or one where none was): a loud
  warning, and the **pinned** copies are used, so what the changed material signs does not
  verify; ``--repin`` accepts the served material and replaces the pin;
* ``--require-pinned-root``: a registry that is not pinned yet, or whose material changed, is
  refused (:class:`PinError`) — for CI, with a pin directory kept under version control.

``<pin dir>`` is ``$XDG_CONFIG_HOME/assay/trust`` (``~/.config/assay/trust``), or
``ASSAY_TRUST_PIN_DIR`` / ``--pin-dir`` (:attr:`assay.settings.Settings.trust_pin_dir`).
``<host>`` is the registry's ``host[:port][/path]``, percent-encoded into one path segment
(``127.0.0.1%3A4873``), as the TUF cache names ``<host>/keys.json`` targets. In it:
``pinned.json`` (what was pinned, when, and each item's SHA-256) and the pinned bodies,
``trusted_root.json`` and ``keys.json``, byte for byte as served.

Material is compared as JSON (key order and whitespace do not count). This module does the file
I/O; :mod:`assay.verify` stays pure and receives the answers to verify with.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote, urlsplit

from assay.errors import ConfigError, VerificationError
from assay.verify.package import Served

__all__ = ["PIN_FILE", "PinError", "PinOutcome", "PinStatus", "TrustPins", "pin_key"]

PIN_FILE: Final = "pinned.json"
PIN_VERSION: Final = 1
# What the default-trust rule reads as "not served" (assay.verify.package.registry_trust): keys
# answered 400 or 404 (npm: the registry has no keys), a trusted root answered anything but 200.
_KEYS_ABSENT: Final = frozenset({400, 404})
# item → (file name, words)
_ITEMS: Final[Mapping[str, tuple[str, str]]] = {
    "trusted_root": ("trusted_root.json", "trusted root"),
    "keys": ("keys.json", "registry keys"),
}


class PinError(VerificationError):
    """``--require-pinned-root`` refused a registry: its trust is not pinned, or it changed.

    ``details``: ``registry``, ``status`` (``unpinned`` or ``changed``), ``path``.
    """


class PinStatus(StrEnum):
    PINNED = "pinned"
    """First use: the served material is now pinned."""
    UNCHANGED = "unchanged"
    CHANGED = "changed"
    """The served material differs from the pin; the pinned copy was used."""
    REPINNED = "repinned"
    """The served material differed and replaced the pin (``--repin``)."""


@dataclass(frozen=True, slots=True)
class PinOutcome:
    """What pinning decided for one registry, and the answers to verify with."""

    registry: str
    status: PinStatus
    served_root: Served | None
    served_keys: Served | None
    changed: tuple[str, ...]
    """Items that differ from the pin, in words (``trusted root``, ``registry keys``)."""
    path: Path
    message: str | None
    """What to tell the user (loudly, for CHANGED); None when nothing is worth saying."""


def pin_key(registry: str) -> str:
    """The directory name of a registry's pins: ``host[:port][/path]``, one path segment."""
    parts = urlsplit(registry)
    host = parts.netloc.lower() + parts.path.rstrip("/")
    if not parts.netloc:
        raise ConfigError(f"cannot pin the trust of {registry!r}: not a URL with a host")
    return quote(host, safe="")


@dataclass(frozen=True, slots=True)
class _State:
    """One item as served: its body, or None when the registry serves none."""

    url: str
    body: bytes | None

    @property
    def digest(self) -> str | None:
        return None if self.body is None else _digest(self.body)


def _canonical(body: bytes) -> bytes:
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        return body  # not JSON: compared byte for byte (the verifier refuses it anyway)
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def _digest(body: bytes) -> str:
    return hashlib.sha256(_canonical(body)).hexdigest()


def _state(item: str, served: Served | None) -> _State | None:
    """The served state of ``item``; None when it was not asked for or cannot be judged."""
    if served is None:
        return None
    if served.status == 200:
        return _State(served.url, served.body)
    if item == "keys" and served.status not in _KEYS_ABSENT:
        return None  # a failed request: the default-trust rule reports it, nothing to pin
    return _State(served.url, None)


def _as_served(state: _State) -> Served:
    """A pinned state as the answer the default-trust rule reads."""
    if state.body is None:
        return Served(state.url, 404, b"")
    return Served(state.url, 200, state.body)


def _write(path: Path, data: bytes) -> None:
    """Atomically: another audit running at the same time sees the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


class TrustPins:
    """The pins of every registry, under one directory.

    ``require``: refuse (:class:`PinError`) a registry that is unpinned or changed.
    ``repin``: replace a changed pin with what is served.
    """

    def __init__(self, directory: Path, *, require: bool = False, repin: bool = False) -> None:
        if require and repin:
            raise ConfigError("--require-pinned-root and --repin contradict each other")
        self.directory = directory
        self.require = require
        self.repin = repin

    def path(self, registry: str) -> Path:
        return self.directory / pin_key(registry)

    # --- reading and writing ---------------------------------------------------------------

    def _read(self, folder: Path) -> tuple[dict[str, _State], str | None]:
        """The pinned states (by item) and when they were pinned; empty if nothing is."""
        index = folder / PIN_FILE
        try:
            record = json.loads(index.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}, None
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read the trust pin {index}: {exc}") from None
        if not isinstance(record, dict) or record.get("v") != PIN_VERSION:
            raise ConfigError(f"{index} is not an Assay trust pin (version {PIN_VERSION})")
        states: dict[str, _State] = {}
        for item, (name, words) in _ITEMS.items():
            entry = record.get(item)
            if not isinstance(entry, dict):
                continue
            url = str(entry.get("url", ""))
            if not entry.get("served"):
                states[item] = _State(url, None)
                continue
            try:
                body = (folder / name).read_bytes()
            except OSError as exc:
                raise ConfigError(f"the pinned {words} {folder / name} is missing: {exc}") from None
            if _digest(body) != entry.get("sha256"):
                raise ConfigError(
                    f"the pinned {words} {folder / name} does not match {index}: "
                    "the pin was modified; remove the directory to pin again"
                )
            states[item] = _State(url, body)
        pinned_at = record.get("pinned_at")
        return states, pinned_at if isinstance(pinned_at, str) else None

    def _save(
        self, folder: Path, registry: str, states: Mapping[str, _State], now: datetime
    ) -> None:
        record: dict[str, Any] = {"v": PIN_VERSION, "registry": registry,
                                  "pinned_at": now.isoformat()}  # fmt: skip
        for item, state in states.items():
            name = _ITEMS[item][0]
            if state.body is None:
                record[item] = {"url": state.url, "served": False}
                with contextlib.suppress(FileNotFoundError):
                    (folder / name).unlink()
            else:
                _write(folder / name, state.body)
                record[item] = {"url": state.url, "served": True, "sha256": state.digest}
        _write(folder / PIN_FILE, (json.dumps(record, indent=2) + "\n").encode())

    # --- the rule ----------------------------------------------------------------------------

    def apply(
        self,
        registry: str,
        served_root: Served | None,
        served_keys: Served | None,
        *,
        now: datetime | None = None,
    ) -> PinOutcome:
        """Compare what ``registry`` served with its pin; pin, warn or refuse (module doc).

        ``served_root``/``served_keys``: the answers to :func:`assay.verify.package.trust_plan`
        (None where nothing was asked: npmjs.org, or material the user named). Returns the
        answers to pass to :func:`~assay.verify.package.registry_trust`.
        """
        folder = self.path(registry)
        served = {
            item: state
            for item, state in (
                ("trusted_root", _state("trusted_root", served_root)),
                ("keys", _state("keys", served_keys)),
            )
            if state is not None
        }
        if not served:
            return PinOutcome(
                registry, PinStatus.UNCHANGED, served_root, served_keys, (), folder, None
            )
        pinned, pinned_at = self._read(folder)
        new = [item for item in served if item not in pinned]
        changed = [
            item for item in served if item in pinned and pinned[item].digest != served[item].digest
        ]
        words = tuple(_ITEMS[item][1] for item in changed)
        when = f" on {pinned_at[:19].replace('T', ' ')} UTC" if pinned_at else ""
        moment = now or datetime.now(UTC)
        if changed:
            if self.require:
                raise PinError(
                    f"the {' and '.join(words)} served by {registry} changed since "
                    f"{'they were' if len(words) > 1 else 'it was'} pinned{when} ({folder}); "
                    "refusing (--require-pinned-root)",
                    registry=registry, status="changed", path=str(folder),
                )  # fmt: skip
            if self.repin:
                self._save(folder, registry, {**pinned, **served}, moment)
                message = (
                    f"re-pinned the {' and '.join(words)} of {registry} (--repin): the pin "
                    f"of{when or ' an earlier run'} was replaced by what it serves now ({folder})"
                )
                return PinOutcome(
                    registry, PinStatus.REPINNED, served_root, served_keys, words, folder, message
                )
            details = "; ".join(
                f"{_ITEMS[item][1]}: pinned {_short(pinned[item])}, served {_short(served[item])}"
                for item in changed
            )
            message = (
                f"WARNING: the {' and '.join(words)} served by {registry} CHANGED since "
                f"{'they were' if len(words) > 1 else 'it was'} pinned{when} ({details}). "
                "Verified with the PINNED copy: what the new material signs does not verify. "
                "Someone may be impersonating the registry, or it rotated its trust material; "
                f"if you know it did, run again with --repin (pins: {folder})."
            )
            root = _as_served(pinned["trusted_root"]) if "trusted_root" in changed else served_root
            keys = _as_served(pinned["keys"]) if "keys" in changed else served_keys
            if new:  # an item never pinned before is pinned now, even so
                self._save(folder, registry, {**pinned, **{i: served[i] for i in new}}, moment)
            return PinOutcome(registry, PinStatus.CHANGED, root, keys, words, folder, message)
        if new:
            if self.require:
                raise PinError(
                    f"the trust of {registry} is not pinned ({folder}); refusing "
                    "(--require-pinned-root): run once without it to pin what the registry "
                    "serves, or copy a pin made elsewhere into the pin directory",
                    registry=registry, status="unpinned", path=str(folder),
                )  # fmt: skip
            self._save(folder, registry, {**pinned, **served}, moment)
            items = " and ".join(_ITEMS[item][1] for item in new)
            message = (
                f"pinned the {items} of {registry} on first use ({folder}); later runs warn "
                "if the registry serves other trust material"
            )
            return PinOutcome(
                registry, PinStatus.PINNED, served_root, served_keys, (), folder, message
            )
        return PinOutcome(registry, PinStatus.UNCHANGED, served_root, served_keys, (), folder, None)


def _short(state: _State) -> str:
    return "none (not served)" if state.digest is None else f"sha256 {state.digest[:16]}…"
