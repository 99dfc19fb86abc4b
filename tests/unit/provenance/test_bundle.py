"""Sigstore bundles: every real npm bundle round-trips exactly, invariants name the field, and no
input whatsoever raises anything but BundleError."""

from __future__ import annotations

import base64
import copy
import dataclasses
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from hypothesis import given, settings
from hypothesis import strategies as st

from assay.errors import BundleError
from assay.provenance import Bundle, Envelope
from assay.provenance.bundle import (
    MEDIA_TYPE_V0_1,
    MEDIA_TYPE_V0_2,
    MEDIA_TYPE_V0_3,
    MEDIA_TYPE_V0_3_LEGACY,
    MEDIA_TYPES,
    Checkpoint,
    HashAlgorithm,
    HashOutput,
    InclusionPromise,
    InclusionProof,
    KindVersion,
    LogId,
    MessageSignature,
    PublicKeyIdentifier,
    RFC3161SignedTimestamp,
    TimestampVerificationData,
    TlogEntry,
    VerificationMaterial,
    X509Certificate,
    X509CertificateChain,
)
from assay.provenance.dsse import Signature
from assay.provenance.encoding import INT64_MAX
from tests.npm_real import ROOT

# --- every bundle in the real fixtures ----------------------------------------------------------

SYNTHETIC = ROOT / "npm-cli" / "libnpmpublish-synthetic"

# Fixtures that are not valid bundles, and why. The other synthetic ones parse: their defects
# (a payload that is not JSON, a digest mismatch, a bad signature, several subjects) are for the
# statement parser and the verifier. They use a pre-1.0 sigstore-js layout with a top-level
# "verificationData"; clients ignore unknown fields, so it is kept verbatim, and their
# verificationMaterial simply has no tlog entries (the verifier refuses that).
REFUSED = {
    "npm-cli/libnpmpublish-synthetic/bad-bundle.json": "not valid JSON",
    "npm-cli/libnpmpublish-synthetic/no-provenance-envelope-bundle.json": (
        "content: exactly one of messageSignature, dsseEnvelope is required; found none"
    ),
}


def _fixture_bundles() -> list[tuple[str, Path, int | None]]:
    cases: list[tuple[str, Path, int | None]] = []
    for path in sorted(ROOT.rglob("*.json")):
        relative = str(path.relative_to(ROOT))
        if path.parent == SYNTHETIC:
            cases.append((relative, path, None))
        elif '"attestations"' in path.read_text():
            count = len(json.loads(path.read_text())["attestations"])
            cases.extend((f"{relative}[{index}]", path, index) for index in range(count))
    return cases


FIXTURES = _fixture_bundles()


def _bundle_json(path: Path, index: int | None) -> Any:
    data = json.loads(path.read_text())
    return data if index is None else data["attestations"][index]["bundle"]


def test_fixture_inventory() -> None:
    # 17 attestation files x 2 bundles, plus the 8 bare libnpmpublish bundles.
    assert len(FIXTURES) == 42
    assert sum(1 for ident, _, _ in FIXTURES if "negative/" in ident) == 20


@pytest.mark.parametrize(("ident", "path", "index"), FIXTURES, ids=[c[0] for c in FIXTURES])
def test_fixture_round_trips_exactly(ident: str, path: Path, index: int | None) -> None:
    relative = str(path.relative_to(ROOT))
    if relative in REFUSED:
        with pytest.raises(BundleError, match=re.escape(REFUSED[relative])):
            Bundle.from_json(path.read_bytes())
        return
    original = _bundle_json(path, index)
    bundle = Bundle.from_dict(original)
    assert bundle.to_dict() == original
    assert json.dumps(bundle.to_dict()) == json.dumps(original)  # key order as well
    assert Bundle.from_json(json.dumps(original)) == bundle
    assert Bundle.from_json(bundle.to_json()).to_dict() == original
    assert Bundle.from_dict(bundle.to_dict()) == bundle


def _parsed_fixtures() -> list[tuple[str, Bundle]]:
    return [
        (ident, Bundle.from_dict(_bundle_json(path, index)))
        for ident, path, index in FIXTURES
        if str(path.relative_to(ROOT)) not in REFUSED
    ]


def test_fixture_conveniences() -> None:
    rekor_log_id = base64.b64decode("wNI9atQGlz+VWfO6LRygH4QUfY/8W4RFwiT5i5WRgB0=")
    versions: dict[tuple[int, int], int] = {}
    for ident, bundle in _parsed_fixtures():
        versions[bundle.version] = versions.get(bundle.version, 0) + 1
        envelope = bundle.dsse_envelope
        assert envelope is not None, ident
        assert bundle.signed_content is envelope
        assert bundle.message_signature is None
        assert bundle.signature == envelope.signatures[0].sig
        if bundle.public_key_hint is not None:
            assert bundle.leaf_certificate_der is None
            assert bundle.chain_der == ()
            assert envelope.signatures[0].keyid == bundle.public_key_hint
        else:
            leaf = bundle.leaf_certificate_der
            assert leaf is not None
            assert bundle.chain_der[0] == leaf
            certificate = x509.load_der_x509_certificate(leaf)
            assert certificate.subject == x509.Name([])  # a Fulcio leaf
        for entry in bundle.tlog_entries:
            assert entry.log_id.key_id == rekor_log_id
            assert json.loads(entry.body)["kind"] == entry.kind_version.kind == "intoto"
    # v0.2: the gundam-visor and v1-prega responses (and negatives), and valid-bundle.json.
    assert versions == {(0, 1): 27, (0, 2): 13}


# --- the three versions, by example -------------------------------------------------------------


def _load(relative: str, index: int) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ROOT / relative).read_text())["attestations"][index][
        "bundle"
    ]
    return data


# v0.1: certificate chain, inclusion promise, "inclusionProof": null (sigstore@1.0.0, Feb 2023).
V01 = _load("npm-cli/valid-sigstore-attestations.json", 0)
# v0.2: certificate chain of one, inclusion proof with checkpoint (sigstore@2.3.1, May 2024).
V02 = _load("slsa-verifier/provenance-npm-test-cli-v1-prega.tgz.json", 1)
# v0.2 signed by npm's registry key.
V02_KEY = _load("slsa-verifier/provenance-npm-test-cli-v1-prega.tgz.json", 0)


def _v03(media_type: str = MEDIA_TYPE_V0_3) -> dict[str, Any]:
    """V02 rewritten as v0.3: a single certificate instead of a chain."""
    bundle = copy.deepcopy(V02)
    bundle["mediaType"] = media_type
    material = bundle["verificationMaterial"]
    chain = material.pop("x509CertificateChain")
    bundle["verificationMaterial"] = {"certificate": chain["certificates"][0], **material}
    return bundle


V03 = _v03()

MESSAGE_SIGNATURE = {
    "messageDigest": {"algorithm": "SHA2_256", "digest": base64.b64encode(b"\x11" * 32).decode()},
    "signature": "MEUCIQ==",
}


def _with_message_signature(bundle: dict[str, Any]) -> dict[str, Any]:
    result = {key: value for key, value in bundle.items() if key != "dsseEnvelope"}
    result["messageSignature"] = copy.deepcopy(MESSAGE_SIGNATURE)
    return result


@pytest.mark.parametrize(
    ("value", "version"),
    [
        (V01, (0, 1)),
        (V02, (0, 2)),
        (V02_KEY, (0, 2)),
        (V03, (0, 3)),
        (_v03(MEDIA_TYPE_V0_3_LEGACY), (0, 3)),
        (_with_message_signature(V03), (0, 3)),
    ],
)
def test_each_version_parses_and_round_trips(
    value: dict[str, Any], version: tuple[int, int]
) -> None:
    bundle = Bundle.from_dict(value)
    assert bundle.version == version
    assert bundle.to_dict() == value
    assert hash(bundle) == hash(Bundle.from_json(bundle.to_json()))


def test_v03_certificate_and_message_signature() -> None:
    bundle = Bundle.from_dict(_with_message_signature(V03))
    assert bundle.chain_der == (bundle.leaf_certificate_der,)
    assert bundle.dsse_envelope is None
    signature = bundle.message_signature
    assert signature is not None
    assert signature.message_digest.algorithm is HashAlgorithm.SHA2_256
    assert bundle.signature == base64.b64decode("MEUCIQ==")


def test_v01_without_inclusion_proof_is_fine() -> None:
    entry = Bundle.from_dict(V01).tlog_entries[0]
    assert entry.inclusion_proof is None
    assert entry.inclusion_promise is not None


# --- invariants: each violation raises BundleError naming the field path -----------------------

Mutation = Callable[[dict[str, Any]], None]
TLOG = "verificationMaterial.tlogEntries[0]"


def _entry(bundle: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = bundle["verificationMaterial"]["tlogEntries"][0]
    return entry


def _set(path: str, value: object) -> Mutation:
    """A mutation setting (or, for the DELETE marker, removing) the value at a dotted path."""

    def mutate(bundle: dict[str, Any]) -> None:
        *parents, last = re.findall(r"[^.\[\]]+", path)
        target: Any = bundle
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        key: Any = int(last) if last.isdigit() else last
        if value is DELETE:
            del target[key]
        else:
            target[key] = value

    return mutate


DELETE = object()
B64_31 = base64.b64encode(b"\x00" * 31).decode()

VIOLATIONS: list[tuple[str, dict[str, Any], Mutation, str]] = [
    ("unknown media type", V02, _set("mediaType", "application/json"), "mediaType"),
    (
        "future media type",
        V02,
        _set("mediaType", "application/vnd.dev.sigstore.bundle.v0.4+json"),
        "mediaType",
    ),
    ("no media type", V02, _set("mediaType", DELETE), "mediaType"),
    ("media type not a string", V02, _set("mediaType", 3), "mediaType"),
    ("both spellings", V02, _set("media_type", MEDIA_TYPE_V0_2), "mediaType"),
    ("no material", V02, _set("verificationMaterial", DELETE), "verificationMaterial"),
    ("null material", V02, _set("verificationMaterial", None), "verificationMaterial"),
    ("material a list", V02, _set("verificationMaterial", []), "verificationMaterial"),
    (
        "no key material",
        V02,
        _set("verificationMaterial.x509CertificateChain", DELETE),
        "verificationMaterial.content",
    ),
    (
        "two key materials",
        V02,
        _set("verificationMaterial.publicKey", {"hint": "h"}),
        "verificationMaterial.content",
    ),
    (
        "certificate before v0.3",
        V02,
        _set("verificationMaterial", _v03()["verificationMaterial"]),
        "verificationMaterial.certificate",
    ),
    (
        "chain in v0.3",
        V03,
        _set("verificationMaterial", V02["verificationMaterial"]),
        "verificationMaterial.x509CertificateChain",
    ),
    (
        "empty chain",
        V02,
        _set("verificationMaterial.x509CertificateChain.certificates", []),
        "verificationMaterial.x509CertificateChain.certificates",
    ),
    (
        "chain without certificates",
        V02,
        _set("verificationMaterial.x509CertificateChain", {}),
        "verificationMaterial.x509CertificateChain.certificates",
    ),
    (
        "empty certificate",
        V01,
        _set("verificationMaterial.x509CertificateChain.certificates.1.rawBytes", ""),
        "verificationMaterial.x509CertificateChain.certificates[1].rawBytes",
    ),
    (
        "certificate not base64",
        V01,
        _set("verificationMaterial.x509CertificateChain.certificates.1.rawBytes", "!"),
        "verificationMaterial.x509CertificateChain.certificates[1].rawBytes",
    ),
    (
        "certificate a string",
        V01,
        _set("verificationMaterial.x509CertificateChain.certificates.0", "MII="),
        "verificationMaterial.x509CertificateChain.certificates[0]",
    ),
    (
        "v0.3 empty certificate",
        V03,
        _set("verificationMaterial.certificate", {}),
        "verificationMaterial.certificate.rawBytes",
    ),
    (
        "hint not a string",
        V02_KEY,
        _set("verificationMaterial.publicKey.hint", ["h"]),
        "verificationMaterial.publicKey.hint",
    ),
    (
        "tlog entries an object",
        V02,
        _set("verificationMaterial.tlogEntries", {}),
        "verificationMaterial.tlogEntries",
    ),
    ("tlog entry a number", V02, _set("verificationMaterial.tlogEntries.0", 7), TLOG),
    ("no log id", V02, _set(f"{TLOG}.logId", DELETE), f"{TLOG}.logId"),
    ("short log id", V02, _set(f"{TLOG}.logId.keyId", B64_31), f"{TLOG}.logId.keyId"),
    ("no kind", V02, _set(f"{TLOG}.kindVersion", DELETE), f"{TLOG}.kindVersion"),
    ("empty kind", V02, _set(f"{TLOG}.kindVersion.kind", ""), f"{TLOG}.kindVersion.kind"),
    (
        "empty version",
        V02,
        _set(f"{TLOG}.kindVersion.version", None),
        f"{TLOG}.kindVersion.version",
    ),
    ("negative log index", V02, _set(f"{TLOG}.logIndex", "-1"), f"{TLOG}.logIndex"),
    ("log index not a number", V02, _set(f"{TLOG}.logIndex", "12a"), f"{TLOG}.logIndex"),
    (
        "log index beyond int64",
        V02,
        _set(f"{TLOG}.logIndex", "9223372036854775808"),
        f"{TLOG}.logIndex",
    ),
    ("log index a float", V02, _set(f"{TLOG}.logIndex", 1.5), f"{TLOG}.logIndex"),
    ("negative integrated time", V02, _set(f"{TLOG}.integratedTime", -5), f"{TLOG}.integratedTime"),
    (
        "v0.1 without promise",
        V01,
        _set(f"{TLOG}.inclusionPromise", DELETE),
        f"{TLOG}.inclusionPromise",
    ),
    (
        "empty SET",
        V01,
        _set(f"{TLOG}.inclusionPromise.signedEntryTimestamp", ""),
        f"{TLOG}.inclusionPromise.signedEntryTimestamp",
    ),
    ("v0.2 without proof", V02, _set(f"{TLOG}.inclusionProof", None), f"{TLOG}.inclusionProof"),
    ("v0.3 without proof", V03, _set(f"{TLOG}.inclusionProof", DELETE), f"{TLOG}.inclusionProof"),
    (
        "v0.2 without checkpoint",
        V02,
        _set(f"{TLOG}.inclusionProof.checkpoint", DELETE),
        f"{TLOG}.inclusionProof.checkpoint",
    ),
    (
        "v0.2 empty checkpoint",
        V02,
        _set(f"{TLOG}.inclusionProof.checkpoint", {"envelope": ""}),
        f"{TLOG}.inclusionProof.checkpoint",
    ),
    (
        "checkpoint not text",
        V02,
        _set(f"{TLOG}.inclusionProof.checkpoint.envelope", {}),
        f"{TLOG}.inclusionProof.checkpoint.envelope",
    ),
    (
        "short root hash",
        V02,
        _set(f"{TLOG}.inclusionProof.rootHash", B64_31),
        f"{TLOG}.inclusionProof.rootHash",
    ),
    (
        "no root hash",
        V02,
        _set(f"{TLOG}.inclusionProof.rootHash", DELETE),
        f"{TLOG}.inclusionProof.rootHash",
    ),
    (
        "short proof hash",
        V02,
        _set(f"{TLOG}.inclusionProof.hashes.2", B64_31),
        f"{TLOG}.inclusionProof.hashes[2]",
    ),
    (
        "proof hash not base64",
        V02,
        _set(f"{TLOG}.inclusionProof.hashes.2", "*"),
        f"{TLOG}.inclusionProof.hashes[2]",
    ),
    (
        "proof hashes a string",
        V02,
        _set(f"{TLOG}.inclusionProof.hashes", "AA=="),
        f"{TLOG}.inclusionProof.hashes",
    ),
    (
        "index outside the tree",
        V02,
        _set(f"{TLOG}.inclusionProof.treeSize", "90244705"),
        f"{TLOG}.inclusionProof.treeSize",
    ),
    (
        "negative proof index",
        V02,
        _set(f"{TLOG}.inclusionProof.logIndex", "-3"),
        f"{TLOG}.inclusionProof.logIndex",
    ),
    (
        "body not base64",
        V02,
        _set(f"{TLOG}.canonicalizedBody", "e30=e30="),
        f"{TLOG}.canonicalizedBody",
    ),
    (
        "empty timestamp",
        V02,
        _set("verificationMaterial.timestampVerificationData.rfc3161Timestamps", [{}]),
        "verificationMaterial.timestampVerificationData.rfc3161Timestamps[0].signedTimestamp",
    ),
    (
        "timestamps not a list",
        V02,
        _set("verificationMaterial.timestampVerificationData", {"rfc3161Timestamps": 1}),
        "verificationMaterial.timestampVerificationData.rfc3161Timestamps",
    ),
    ("no content", V02, _set("dsseEnvelope", DELETE), "content"),
    ("null content", V02, _set("dsseEnvelope", None), "content"),
    ("two contents", V02, _set("messageSignature", MESSAGE_SIGNATURE), "content"),
    ("envelope a list", V02, _set("dsseEnvelope", []), "dsseEnvelope"),
    (
        "two DSSE signatures",
        V02,
        _set("dsseEnvelope.signatures", [{"sig": "AA=="}, {"sig": "AQ=="}]),
        "dsseEnvelope.signatures",
    ),
    ("no DSSE signature", V02, _set("dsseEnvelope.signatures", []), "dsseEnvelope.signatures"),
    (
        "empty DSSE signature",
        V02,
        _set("dsseEnvelope.signatures.0.sig", ""),
        "dsseEnvelope.signatures[0].sig",
    ),
    (
        "DSSE signature missing",
        V02,
        _set("dsseEnvelope.signatures.0.sig", DELETE),
        "dsseEnvelope.signatures[0].sig",
    ),
    ("empty payload", V02, _set("dsseEnvelope.payload", ""), "dsseEnvelope.payload"),
    ("payload not base64", V02, _set("dsseEnvelope.payload", "a b"), "dsseEnvelope.payload"),
    ("no payload type", V02, _set("dsseEnvelope.payloadType", DELETE), "dsseEnvelope.payloadType"),
    (
        "no message digest",
        _with_message_signature(V03),
        _set("messageSignature.messageDigest", DELETE),
        "messageSignature.messageDigest",
    ),
    (
        "empty digest",
        _with_message_signature(V03),
        _set("messageSignature.messageDigest.digest", ""),
        "messageSignature.messageDigest.digest",
    ),
    (
        "unknown algorithm",
        _with_message_signature(V03),
        _set("messageSignature.messageDigest.algorithm", "MD5"),
        "messageSignature.messageDigest.algorithm",
    ),
    (
        "unknown algorithm number",
        _with_message_signature(V03),
        _set("messageSignature.messageDigest.algorithm", 99),
        "messageSignature.messageDigest.algorithm",
    ),
    (
        "empty message signature",
        _with_message_signature(V03),
        _set("messageSignature.signature", ""),
        "messageSignature.signature",
    ),
]


@pytest.mark.parametrize(
    ("base", "mutate", "field"), [v[1:] for v in VIOLATIONS], ids=[v[0] for v in VIOLATIONS]
)
def test_invariant_violations_name_the_field(
    base: dict[str, Any], mutate: Mutation, field: str
) -> None:
    value = copy.deepcopy(base)
    mutate(value)
    with pytest.raises(BundleError) as caught:
        Bundle.from_dict(value)
    assert caught.value.details["field"] == field
    assert str(caught.value).startswith(f"{field}: ")
    with pytest.raises(BundleError):
        Bundle.from_json(json.dumps(value))


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ([], "expected a JSON object, got array"),
        ("bundle", "expected a JSON object, got string"),
        (None, "expected a JSON object, got null"),
        ({1: 2}, "non-string key"),
    ],
)
def test_top_level_must_be_an_object(value: object, reason: str) -> None:
    with pytest.raises(BundleError, match=reason):
        Bundle.from_dict(value)


def test_direct_construction_checks_invariants() -> None:
    with pytest.raises(BundleError) as caught:
        LogId(key_id=b"short")
    assert caught.value.details["field"] == "keyId"
    proof = InclusionProof(log_index=0, root_hash=b"\x00" * 32, tree_size=1, hashes=())
    entry = TlogEntry(
        log_index=1,
        log_id=LogId(b"\x00" * 32),
        kind_version=KindVersion("dsse", "0.0.1"),
        inclusion_proof=proof,
    )
    material = VerificationMaterial(
        content=X509CertificateChain((X509Certificate(b"\x30"),)), tlog_entries=(entry,)
    )
    envelope = Envelope(payload=b"{}", payload_type="t", signatures=(Signature(b"\x01"),))
    with pytest.raises(BundleError) as caught:
        Bundle(media_type=MEDIA_TYPE_V0_2, verification_material=material, content=envelope)
    assert caught.value.details["field"] == f"{TLOG}.inclusionProof.checkpoint"
    with pytest.raises(BundleError) as caught:
        Bundle(media_type=MEDIA_TYPE_V0_1, verification_material=material, content=envelope)
    assert caught.value.details["field"] == f"{TLOG}.inclusionPromise"


# --- spelling: what proto3 JSON parsers accept is kept as written -------------------------------


def test_alternative_spellings_round_trip() -> None:
    value = copy.deepcopy(V02)
    entry = _entry(value)
    entry["logIndex"] = int(entry["logIndex"])  # a JSON number for an int64
    entry["integrated_time"] = entry.pop("integratedTime")  # the proto field name
    proof = entry["inclusionProof"]
    proof["hashes"][0] = (
        base64.urlsafe_b64encode(base64.b64decode(proof["hashes"][0])).decode().rstrip("=")
    )
    proof["x-unknown"] = {"kept": [1, None]}
    value["dsseEnvelope"]["signatures"][0].pop("keyid")
    value["verificationMaterial"]["publicKey"] = None  # null: not the oneof member in use
    value["extra"] = "top-level unknown field"
    bundle = Bundle.from_dict(value)
    assert bundle == Bundle.from_dict(V02)  # same value
    assert json.dumps(bundle.to_dict()) == json.dumps(value)  # same spelling
    assert json.dumps(Bundle.from_json(json.dumps(value)).to_dict()) == json.dumps(value)


def test_replace_drops_stale_spelling() -> None:
    value = copy.deepcopy(V02)
    _entry(value)["logIndex"] = 94408136
    bundle = Bundle.from_dict(value)
    entry = dataclasses.replace(bundle.tlog_entries[0], log_index=7)
    material = dataclasses.replace(bundle.verification_material, tlog_entries=(entry,))
    changed = dataclasses.replace(bundle, verification_material=material)
    assert changed.to_dict()["verificationMaterial"]["tlogEntries"][0]["logIndex"] == "7"  # type: ignore[call-overload, index]


def test_built_bundle_is_canonical_proto3_json() -> None:
    bundle = Bundle(
        media_type=MEDIA_TYPE_V0_3,
        verification_material=VerificationMaterial(content=X509Certificate(b"\x30\x00")),
        content=Envelope(payload=b"{}", payload_type="t", signatures=(Signature(b"\x01"),)),
    )
    assert bundle.to_dict() == {
        "mediaType": MEDIA_TYPE_V0_3,
        "verificationMaterial": {"certificate": {"rawBytes": "MAA="}, "tlogEntries": []},
        "dsseEnvelope": {
            "payload": "e30=",
            "payloadType": "t",
            "signatures": [{"sig": "AQ==", "keyid": ""}],
        },
    }


# --- properties ---------------------------------------------------------------------------------

TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=20)
HASH = st.binary(min_size=32, max_size=32)
NONEMPTY = st.binary(min_size=1, max_size=40)
INT64 = st.integers(0, INT64_MAX)


@st.composite
def inclusion_proofs(draw: st.DrawFn, *, checkpoint_required: bool) -> InclusionProof:
    size = draw(st.integers(1, INT64_MAX))
    checkpoints = st.builds(Checkpoint, envelope=TEXT.filter(bool))
    return InclusionProof(
        log_index=draw(st.integers(0, size - 1)),
        root_hash=draw(HASH),
        tree_size=size,
        hashes=tuple(draw(st.lists(HASH, max_size=3))),
        checkpoint=draw(checkpoints if checkpoint_required else st.none() | checkpoints),
    )


@st.composite
def tlog_entries(draw: st.DrawFn, version: tuple[int, int]) -> TlogEntry:
    promises = st.builds(InclusionPromise, signed_entry_timestamp=NONEMPTY)
    v01 = version == (0, 1)
    return TlogEntry(
        log_index=draw(INT64),
        log_id=LogId(draw(HASH)),
        kind_version=KindVersion(
            draw(st.sampled_from(["dsse", "hashedrekord", "intoto"])),
            draw(st.sampled_from(["0.0.1", "0.0.2"])),
        ),
        integrated_time=draw(INT64),
        inclusion_promise=draw(promises if v01 else st.none() | promises),
        inclusion_proof=draw(
            st.none() | inclusion_proofs(checkpoint_required=False)
            if v01
            else inclusion_proofs(checkpoint_required=True)
        ),
        canonicalized_body=draw(st.binary(max_size=40)),
    )


@st.composite
def bundles(draw: st.DrawFn) -> Bundle:
    media_type = draw(st.sampled_from(sorted(MEDIA_TYPES)))
    version = MEDIA_TYPES[media_type]
    certificates = st.builds(X509Certificate, raw_bytes=NONEMPTY)
    keys = st.builds(PublicKeyIdentifier, hint=TEXT)
    if version < (0, 3):
        chains = st.lists(certificates, min_size=1, max_size=3).map(
            lambda c: X509CertificateChain(tuple(c))
        )
        content: Any = draw(st.one_of(chains, keys))
    else:
        content = draw(st.one_of(certificates, keys))
    timestamps = st.lists(st.builds(RFC3161SignedTimestamp, signed_timestamp=NONEMPTY), max_size=2)
    material = VerificationMaterial(
        content=content,
        tlog_entries=tuple(draw(st.lists(tlog_entries(version), max_size=2))),
        timestamp_verification_data=draw(
            st.none() | timestamps.map(lambda t: TimestampVerificationData(tuple(t)))
        ),
    )
    envelopes = st.builds(
        Envelope,
        payload=NONEMPTY,
        payload_type=TEXT,
        signatures=st.tuples(st.builds(Signature, sig=NONEMPTY, keyid=TEXT)),
    )
    signatures = st.builds(
        MessageSignature,
        message_digest=st.builds(
            HashOutput, algorithm=st.sampled_from(HashAlgorithm), digest=NONEMPTY
        ),
        signature=NONEMPTY,
    )
    signed = draw(st.one_of(envelopes, signatures))
    return Bundle(media_type=media_type, verification_material=material, content=signed)


@settings(max_examples=150, deadline=None)
@given(bundles())
def test_generated_bundles_round_trip(bundle: Bundle) -> None:
    assert Bundle.from_dict(bundle.to_dict()) == bundle
    assert Bundle.from_json(bundle.to_json()) == bundle
    assert hash(Bundle.from_json(bundle.to_json())) == hash(bundle)


INT64_KEYS = {"logIndex", "integratedTime", "treeSize"}
BYTES_KEYS = {
    "rawBytes", "keyId", "signedEntryTimestamp", "rootHash", "canonicalizedBody",
    "signedTimestamp", "digest", "signature", "payload", "sig",
}  # fmt: skip
NULLABLE = [
    "inclusionPromise",
    "inclusionProof",
    "timestampVerificationData",
    "keyid",
    "hashes",
    "publicKey",
]


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


Draw = Callable[[st.SearchStrategy[Any]], Any]


def _respell_value(key: str, item: Any, draw: Draw, *, in_envelope: bool) -> Any:
    if key in INT64_KEYS and draw(st.booleans()):
        return int(item)
    if key in BYTES_KEYS and isinstance(item, str) and draw(st.booleans()):
        urlsafe = base64.urlsafe_b64encode(base64.b64decode(item)).decode()
        return urlsafe.rstrip("=") if draw(st.booleans()) else urlsafe
    if key == "hashes" and draw(st.booleans()):
        return [base64.urlsafe_b64encode(base64.b64decode(h)).decode().rstrip("=") for h in item]
    return _respell(item, draw, in_envelope=in_envelope or key == "dsseEnvelope")


def _respell(value: Any, draw: Draw, *, in_envelope: bool = False) -> Any:
    """Rewrite bundle JSON in spellings proto3 JSON parsers accept, without changing its value."""
    if isinstance(value, list):
        return [_respell(item, draw, in_envelope=in_envelope) for item in value]
    if not isinstance(value, dict):
        return value
    items: list[tuple[str, Any]] = []
    for key, item in value.items():
        respelled = _respell_value(key, item, draw, in_envelope=in_envelope)
        # envelope.proto's field names are camelCase already: no snake_case inside the envelope.
        snake = not in_envelope and key != "dsseEnvelope" and draw(st.booleans())
        items.append((_snake(key) if snake else key, respelled))
    for name in NULLABLE:
        if name not in value and _snake(name) not in value and draw(st.booleans()):
            items.append((name, None))
    if draw(st.booleans()):
        extra = draw(st.none() | TEXT | st.lists(st.integers(), max_size=2))
        items.append(("x-assay-extra", extra))
    return dict(draw(st.permutations(items)))


@settings(max_examples=150, deadline=None)
@given(bundles(), st.data())
def test_respelled_bundles_keep_their_spelling_and_value(
    bundle: Bundle, data: st.DataObject
) -> None:
    spelled = _respell(bundle.to_dict(), data.draw)
    parsed = Bundle.from_dict(spelled)
    assert parsed == bundle
    assert json.dumps(parsed.to_dict()) == json.dumps(spelled)
    assert json.dumps(Bundle.from_json(json.dumps(spelled)).to_dict()) == json.dumps(spelled)


VOCABULARY = sorted(
    {
        "mediaType", "verificationMaterial", "dsseEnvelope", "messageSignature", "publicKey",
        "x509CertificateChain", "certificate", "certificates", "rawBytes", "hint", "tlogEntries",
        "timestampVerificationData", "rfc3161Timestamps", "signedTimestamp", "logIndex", "logId",
        "keyId", "kindVersion", "kind", "version", "integratedTime", "inclusionPromise",
        "signedEntryTimestamp", "inclusionProof", "rootHash", "treeSize", "hashes", "checkpoint",
        "envelope", "canonicalizedBody", "payload", "payloadType", "signatures", "sig", "keyid",
        "messageDigest", "algorithm", "digest", "signature", "log_index", "x",
    }
)  # fmt: skip
LEAVES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | TEXT
    | st.sampled_from(sorted(MEDIA_TYPES))
    | st.sampled_from(
        ["AA==", "", "0", "-1", "1e3", base64.b64encode(bytes(32)).decode(), "SHA2_256"]
    )
)
JSONISH = st.recursive(
    LEAVES,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(VOCABULARY), inner, max_size=5)
    ),
    max_leaves=30,
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from(VOCABULARY), JSONISH, max_size=6) | JSONISH)
def test_arbitrary_values_only_raise_bundle_errors(value: object) -> None:
    try:
        bundle = Bundle.from_dict(value)
    except BundleError:
        return
    assert bundle.to_dict() == value


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300) | st.binary(max_size=300))
def test_arbitrary_text_only_raises_bundle_errors(text: str | bytes) -> None:
    try:
        bundle = Bundle.from_json(text)
    except BundleError:
        return
    assert Bundle.from_json(bundle.to_json()) == bundle


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found.extend(_paths(item, (*prefix, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(_paths(item, (*prefix, index)))
    return found


REAL_BUNDLES = [V01, V02, V02_KEY, V03, _with_message_signature(V03)]


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(REAL_BUNDLES), st.data())
def test_mutated_real_bundles_are_refused_or_round_trip(
    base: dict[str, Any], data: st.DataObject
) -> None:
    """Replace or delete any one value of a real bundle: BundleError, or an exact round trip."""
    value = copy.deepcopy(base)
    path = data.draw(st.sampled_from(_paths(value)))
    parent: Any = value
    for part in path[:-1]:
        parent = parent[part]
    if isinstance(parent, dict) and data.draw(st.booleans()):
        del parent[path[-1]]
    else:
        parent[path[-1]] = data.draw(JSONISH)
    try:
        bundle = Bundle.from_dict(value)
    except BundleError:
        return
    assert bundle.to_dict() == value
