"""Property: no mutation of an authenticated field of a real bundle verifies, and nothing but
FormatError or VerificationError ever escapes the verifier."""

from __future__ import annotations

import base64
import binascii
import copy
import json
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from assay.errors import AssayError, FormatError, VerificationError
from assay.provenance.bundle import Bundle
from assay.verify import RegistryKeys, TrustedRoot, Verifier
from tests.unit.verify.fixtures import RealBundle, bundles

GOOD = [b for b in bundles() if not b.tampered]
VERIFIER = Verifier(TrustedRoot.public_good())
KEYS = RegistryKeys.npmjs()

# Every field a signature, the log or the CA vouches for. Unauthenticated hints (DSSE keyid,
# publicKey.hint) and the media type spelling are left out: changing them may legitimately verify.
ENTRY = "verificationMaterial.tlogEntries.0"
PATHS = [
    "dsseEnvelope.payload",
    "dsseEnvelope.payloadType",
    "dsseEnvelope.signatures.0.sig",
    "verificationMaterial.x509CertificateChain.certificates.0.rawBytes",
    f"{ENTRY}.logIndex",
    f"{ENTRY}.logId.keyId",
    f"{ENTRY}.kindVersion.kind",
    f"{ENTRY}.kindVersion.version",
    f"{ENTRY}.integratedTime",
    f"{ENTRY}.inclusionPromise.signedEntryTimestamp",
    f"{ENTRY}.canonicalizedBody",
    f"{ENTRY}.inclusionProof.logIndex",
    f"{ENTRY}.inclusionProof.treeSize",
    f"{ENTRY}.inclusionProof.rootHash",
    f"{ENTRY}.inclusionProof.hashes.0",
    f"{ENTRY}.inclusionProof.checkpoint.envelope",
]

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=6,
)


def _parent(data: Any, path: str) -> tuple[Any, str | int] | None:
    *parents, last = path.split(".")
    node = data
    for name in parents:
        key: str | int = int(name) if name.isdigit() else name
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            return None
    final: str | int = int(last) if last.isdigit() else last
    try:
        node[final]
    except (KeyError, IndexError, TypeError):
        return None
    return node, final


def _flip(value: object, position: int) -> object:
    if isinstance(value, str):
        if value.lstrip("-").isdigit():
            return str(int(value) + 1 + position % 1000)
        try:
            raw = bytearray(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            raw = bytearray()
        if raw:
            raw[position % len(raw)] ^= 1 << (position % 8)
            return base64.b64encode(bytes(raw)).decode()
        chars = list(value or " ")
        chars[position % len(chars)] = chr((ord(chars[position % len(chars)]) + 1) % 0x80)
        return "".join(chars)
    if isinstance(value, int):
        return value + 1 + position % 1000
    return value


def _verify(real: RealBundle, data: Any) -> None:
    key = KEYS.get(real.keyid) if real.keyid else None
    bundle = Bundle.from_dict(data)
    VERIFIER.verify(bundle, public_key=None if key is None else key.public_key)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    real=st.sampled_from(GOOD),
    path=st.sampled_from(PATHS),
    replace=st.booleans(),
    position=st.integers(min_value=0, max_value=1 << 20),
    value=JSON_VALUES,
)
def test_mutations_never_verify_and_fail_typed(
    real: RealBundle, path: str, replace: bool, position: int, value: object
) -> None:
    data = copy.deepcopy(real.bundle)
    found = _parent(data, path)
    assume(found is not None)
    assert found is not None
    node, key = found
    original = node[key]
    node[key] = value if replace else _flip(original, position)
    try:
        same = Bundle.from_dict(data) == Bundle.from_dict(real.bundle)
    except FormatError:
        same = False
    assume(not same)  # e.g. "123" replaced by 123: the same proto3 value
    try:
        _verify(real, data)
    except (FormatError, VerificationError):
        return
    except AssayError as exc:  # pragma: no cover - the assertion below explains
        raise AssertionError(f"unexpected {type(exc).__name__}: {exc}") from exc
    raise AssertionError(f"a mutation of {path} verified")


@settings(max_examples=200, deadline=None)
@given(real=st.sampled_from(GOOD), position=st.integers(min_value=0), flip=st.integers(1, 255))
def test_byte_flips_of_the_json_text_raise_only_typed_errors(
    real: RealBundle, position: int, flip: int
) -> None:
    text = bytearray(json.dumps(real.bundle).encode())
    text[position % len(text)] ^= flip
    try:
        bundle = Bundle.from_json(bytes(text))
        key = KEYS.get(real.keyid) if real.keyid else None
        VERIFIER.verify(bundle, public_key=None if key is None else key.public_key)
    except (FormatError, VerificationError):
        pass
