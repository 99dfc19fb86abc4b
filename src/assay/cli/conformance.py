"""`assay conformance`: the sigstore-conformance client protocol (sigstore.md §8.1).

The harness runs, with arguments in a fixed order::

    ENTRYPOINT verify-bundle [--staging] --bundle B --certificate-identity ID
        --certificate-oidc-issuer ISS [--trusted-root TR] FILE_OR_DIGEST
    ENTRYPOINT verify-bundle [--staging] --bundle B --key KEY.pem [--trusted-root TR] FILE_OR_DIGEST
    ENTRYPOINT sign-bundle [--staging] [--in-toto] --identity-token T --bundle OUT
        [--trusted-root TR] [--signing-config SC] FILE

Exit 0 is success, anything else failure (1: does not verify; 2: usage). ``FILE_OR_DIGEST`` is a
digest only if it reads ``sha256:<64 hex>`` and is not an existing path. Without
``--trusted-root`` the bundled public-good root is used (``--staging`` has no bundled root, so
it fails). Verification is :class:`assay.verify.Verifier`, the one path; signing is
:mod:`assay.sign` against the services a ``--signing-config`` names.
"""

from __future__ import annotations

import re
from pathlib import Path

import click
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from assay.errors import AssayError, VerificationError
from assay.provenance.bundle import Bundle
from assay.provenance.dsse import PublicKey
from assay.provenance.statement import PAYLOAD_TYPE, Statement
from assay.provenance.subject import Digest
from assay.settings import load_settings
from assay.sign.config import SigningConfig
from assay.sign.signer import sign_artifact, sign_dsse
from assay.verify import Identity, TrustedRoot, Verifier
from assay.verify.verifier import Artifact

_DIGEST = re.compile(r"sha256:[0-9a-fA-F]{64}")


@click.group("conformance")
def conformance_command() -> None:
    """Entry points for the sigstore-conformance test harness."""


def _artifact(value: str) -> Artifact:
    path = Path(value)
    if _DIGEST.fullmatch(value) and not path.exists():
        return Digest.from_hex("sha256", value[len("sha256:") :])
    return path.read_bytes()


def _load_key(path: Path) -> PublicKey:
    key = serialization.load_pem_public_key(path.read_bytes())
    if not isinstance(key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey):
        raise click.UsageError(f"{path}: unsupported key type")
    return key


@conformance_command.command("verify-bundle")
@click.option("--staging", is_flag=True, help="Use Sigstore staging (no bundled root: fails).")
@click.option("--bundle", "bundle_path", required=True, type=click.Path(path_type=Path))
@click.option("--certificate-identity", "identity")
@click.option("--certificate-oidc-issuer", "issuer")
@click.option("--key", "key_path", type=click.Path(path_type=Path))
@click.option("--trusted-root", type=click.Path(path_type=Path))
@click.argument("file_or_digest")
def verify_bundle_command(
    *,
    staging: bool,
    bundle_path: Path,
    identity: str | None,
    issuer: str | None,
    key_path: Path | None,
    trusted_root: Path | None,
    file_or_digest: str,
) -> None:
    """Verify a bundle against FILE_OR_DIGEST; exit 0 only if it verifies."""
    if key_path is None and (identity is None or issuer is None):
        raise click.UsageError(
            "give --certificate-identity and --certificate-oidc-issuer, or --key"
        )
    try:
        if trusted_root is not None:
            root = TrustedRoot.from_file(trusted_root)
        elif staging:
            raise VerificationError("no bundled staging trusted root; pass --trusted-root")
        else:
            root = TrustedRoot.public_good(load_settings().trust_dir)
        bundle = Bundle.from_json(bundle_path.read_bytes())
        artifact = _artifact(file_or_digest)
        verifier = Verifier(root)
        if key_path is not None:
            if bundle.public_key_hint is None:
                raise VerificationError("--key given, but the bundle is signed by a certificate")
            verifier.verify(bundle, artifact=artifact, public_key=_load_key(key_path))
        else:
            policy = Identity(identity or "", issuer or "")  # both given: checked above
            verifier.verify(bundle, artifact=artifact, policy=policy)
    except AssayError:
        raise  # cli.main prints it; exit status 1
    except (OSError, ValueError) as exc:
        raise VerificationError(f"cannot verify: {exc}") from exc
    click.echo("OK")


@conformance_command.command("sign-bundle")
@click.option("--staging", is_flag=True, help="Use Sigstore staging (not available: fails).")
@click.option("--in-toto", "in_toto", is_flag=True, help="FILE is an in-toto statement (DSSE).")
@click.option("--identity-token", "token", required=True)
@click.option("--bundle", "bundle_path", required=True, type=click.Path(path_type=Path))
@click.option("--trusted-root", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--signing-config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="signing_config.json v0.2 naming the CA and the log (required: no public-good access).",
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def sign_bundle_command(
    *,
    staging: bool,
    in_toto: bool,
    token: str,
    bundle_path: Path,
    trusted_root: Path | None,
    signing_config: Path | None,
    file: Path,
) -> None:
    """Sign FILE keylessly into a bundle (hashedrekord; with --in-toto a DSSE statement)."""
    del trusted_root  # signing needs only the services; the verifier reads the root
    if staging or signing_config is None:
        raise click.UsageError(
            "sign-bundle needs --signing-config: this client has no network path to the "
            "public-good or staging Sigstore services"
        )
    config = SigningConfig.from_file(signing_config)
    data = file.read_bytes()
    if in_toto:
        statement = Statement.from_json(data)
        bundle = sign_dsse(statement.to_json(), PAYLOAD_TYPE, token, config)
    else:
        bundle = sign_artifact(data, token, config)
    bundle_path.write_text(bundle.to_json())
