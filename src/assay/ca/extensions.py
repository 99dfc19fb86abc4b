"""OIDC claims → the leaf's SubjectAltName and Sigstore OID extensions.

Sources: fulcio docs/oid-info.md, pkg/certificate/extensions.go (``Extensions.Render``),
config/identity/config.yaml (the ``ci-issuer-metadata`` templates), pkg/identity/{email,uri}
and sigstore.md §1.4.

The OIDs and how each value is encoded (raw UTF-8 for ``.1``–``.6``, DER UTF8String from
``.8`` on) are :mod:`assay.provenance.fulcio`'s; here they are all non-critical, emitted only when
the value is non-empty, in OID order (``Render``'s order).

Issuer kinds (an :class:`IssuerProfile` says which one an issuer is):

``github``
    GitHub Actions tokens (fulcio ``github-workflow`` ci-provider). SAN = URI
    ``<base>/<job_workflow_ref>``; .1.1–.1.6 and .1.8–.1.24.
``gitlab``
    GitLab CI tokens (``gitlab-pipeline``). SAN = URI ``https://<ci_config_ref_uri>``;
    .1.1, .1.8–.1.24.
``email``
    Plain OIDC issuers whose tokens carry a verified ``email`` (Google, Dex, …: every
    non-CI issuer of the public-good Fulcio has type ``email``). SAN = rfc822Name ``email``;
    requires ``email_verified`` to be ``true``; extensions .1.1 and .1.8 only.
``uri``
    Plain issuers whose ``sub`` is itself a URI in a domain the deployment vouches for
    (fulcio pkg/identity/uri): SAN = URI ``sub``, whose scheme and host must equal the
    profile's ``base_url`` (Fulcio's ``subject-domain``); extensions .1.1 and .1.8 only.

Fulcio never puts an opaque ``sub`` into a SAN: a plain issuer is ``email`` unless its subjects
are URIs under a domain it controls, and then it is ``uri``. That is the choice we make too.

As in Fulcio's templates (``missingkey=error``), every claim a kind uses must be present; only
``environment`` may be absent (Fulcio's default is ``""``). A present but empty claim leaves its
extension out. Unlike Fulcio, a claim that is spliced into a URI must be non-empty: Fulcio would
certify ``https://github.com/`` for an empty ``repository``; we refuse the token.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.x509.oid import ObjectIdentifier

from assay.ca import CAError, CAPermissionDenied, CAUnauthenticated
from assay.errors import ConfigError
from assay.provenance.fulcio import (
    OID_BUILD_CONFIG_DIGEST,
    OID_BUILD_CONFIG_URI,
    OID_BUILD_SIGNER_DIGEST,
    OID_BUILD_SIGNER_URI,
    OID_BUILD_TRIGGER,
    OID_DEPLOYMENT_ENVIRONMENT,
    OID_GITHUB_WORKFLOW_NAME,
    OID_GITHUB_WORKFLOW_REF,
    OID_GITHUB_WORKFLOW_REPOSITORY,
    OID_GITHUB_WORKFLOW_SHA,
    OID_GITHUB_WORKFLOW_TRIGGER,
    OID_ISSUER,
    OID_ISSUER_V2,
    OID_RUN_INVOCATION_URI,
    OID_RUNNER_ENVIRONMENT,
    OID_SOURCE_REPOSITORY_DIGEST,
    OID_SOURCE_REPOSITORY_IDENTIFIER,
    OID_SOURCE_REPOSITORY_OWNER_IDENTIFIER,
    OID_SOURCE_REPOSITORY_OWNER_URI,
    OID_SOURCE_REPOSITORY_REF,
    OID_SOURCE_REPOSITORY_URI,
    OID_SOURCE_REPOSITORY_VISIBILITY,
    OID_TOKEN_SUBJECT,
    arc_number,
    encode_extension_value,
)

IssuerKind = Literal["github", "gitlab", "ci", "email", "uri"]
"""``ci``: an issuer that mints both GitHub- and GitLab-shaped tokens (our emulator)."""

GITHUB_ACTIONS_ISSUER = "https://token.actions.githubusercontent.com"
GITLAB_ISSUER = "https://gitlab.com"
SERVER_URL_CLAIM = "server_url"
"""The emulated issuer's claim naming the job's forge (``assay.oidc.claims.SERVER_URL_CLAIM``)."""
_DEFAULT_BASE_URLS: dict[str, str] = {
    "github": "https://github.com",
    "gitlab": "https://gitlab.com",
}

# fulcio pkg/identity/email: `^.+@.+\..+$`.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# What may stand in an IA5String SAN (RFC 5280 §4.2.1.6): printable ASCII, no spaces.
_IA5_URI = re.compile(r"^[\x21-\x7e]+$")


@dataclass(frozen=True, slots=True)
class IssuerProfile:
    """How the CA maps one OIDC issuer's tokens to a certificate.

    ``base_url`` is the web origin the claims are relative to: ``https://github.com`` or
    ``https://gitlab.com`` by default (Fulcio's template value ``url``), or a self-hosted
    forge such as ``https://git.example.com``. For ``uri`` issuers it is the subject domain
    (default: the issuer's own origin); ``email`` issuers do not use it.
    """

    issuer_url: str
    kind: IssuerKind
    base_url: str = ""

    def __post_init__(self) -> None:
        if self.kind not in get_args(IssuerKind):
            raise ConfigError(f"unknown issuer kind {self.kind!r}")
        _require_http_url(self.issuer_url, "issuer URL")
        base = self.base_url.rstrip("/")
        if not base:
            if self.kind == "uri":
                parts = urlsplit(self.issuer_url)
                base = f"{parts.scheme}://{parts.netloc}"
            else:
                base = _DEFAULT_BASE_URLS.get(self.kind, "")
        if base:
            _require_http_url(base, "base URL")
        object.__setattr__(self, "base_url", base)

    @property
    def fulcio_type(self) -> str:
        """The ``issuerType`` Fulcio's configuration API reports for this kind."""
        return "ci-provider" if self.kind in ("github", "gitlab", "ci") else self.kind

    @property
    def challenge_claim(self) -> str:
        """The claim Fulcio's proof of possession signs (``principal.Name()``)."""
        return "email" if self.kind == "email" else "sub"


@dataclass(frozen=True, slots=True)
class CertificateIdentity:
    """What a token certifies: the SAN and the Sigstore extensions, in emission order."""

    san: x509.UniformResourceIdentifier | x509.RFC822Name
    extensions: tuple[x509.UnrecognizedExtension, ...]

    @property
    def san_value(self) -> str:
        """The identity a verifier's policy names (sigstore-python ``Identity(identity=…)``)."""
        return self.san.value

    def value(self, oid: ObjectIdentifier) -> bytes | None:
        """The extnValue octets emitted for ``oid``, or None when it is left out."""
        for extension in self.extensions:
            if extension.oid == oid:
                return extension.value
        return None


def map_identity(profile: IssuerProfile, claims: Mapping[str, Any]) -> CertificateIdentity:
    """The SAN and Sigstore extensions for verified ``claims`` of ``profile``'s issuer.

    Raises :class:`CAError` (400) when a claim the kind needs is missing or malformed,
    (403) when an email is not verified or a ``uri`` subject is outside the profile's domain,
    and (401) when the token's ``iss`` is not the profile's issuer.
    """
    reader = _Claims(claims, profile)
    issuer = reader.get("iss")
    if issuer != profile.issuer_url:
        raise CAUnauthenticated(
            f"token issuer {issuer!r} does not match the issuer profile {profile.issuer_url!r}",
            issuer=issuer,
        )
    scheme = "https"
    if profile.kind == "ci":
        # One emulating issuer (ours) mints both GitHub- and GitLab-shaped tokens: the shape of
        # the claims says which template applies. The forge is the job's: its `server_url`
        # claim (assay.oidc.claims.SERVER_URL_CLAIM, which our issuer adds for a job off
        # github.com/gitlab.com), else the template's default. Real GitHub tokens carry no such
        # claim; Fulcio takes the base URL from its configuration for the issuer instead.
        kind: IssuerKind = "gitlab" if "ci_config_ref_uri" in claims else "github"
        server = reader.get(SERVER_URL_CLAIM, default="")
        try:
            profile = IssuerProfile(profile.issuer_url, kind, server)
        except ConfigError as exc:
            raise CAError(
                f"identity token claim {SERVER_URL_CLAIM!r}: {exc.message}",
                claim=SERVER_URL_CLAIM,
                issuer=profile.issuer_url,
            ) from exc
        reader = _Claims(claims, profile)
        # GitLab's ci_config_ref_uri names no scheme; an emulated forge may be plain http.
        scheme = urlsplit(profile.base_url).scheme
    if profile.kind == "github":
        return _github(profile, reader)
    if profile.kind == "gitlab":
        return _gitlab(profile, reader, scheme)
    if profile.kind == "email":
        return _email(reader)
    return _uri(profile, reader)


class _Claims:
    """Reads claims as Fulcio's templates see them: strings (integers spelled in decimal)."""

    __slots__ = ("_claims", "_profile")

    def __init__(self, claims: Mapping[str, Any], profile: IssuerProfile) -> None:
        self._claims = claims
        self._profile = profile

    def get(self, name: str, *, default: str | None = None) -> str:
        """A claim that must be present (unless it has a default); may be empty."""
        if name not in self._claims:
            if default is not None:
                return default
            raise CAError(
                f"identity token lacks the claim {name!r} that {self._profile.kind} issuers need",
                claim=name,
                issuer=self._profile.issuer_url,
            )
        value = self._claims[name]
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise CAError(
                f"identity token claim {name!r} must be a string",
                claim=name,
                issuer=self._profile.issuer_url,
            )
        return str(value)

    def raw(self, name: str) -> Any:
        """A claim as the token has it (None when absent)."""
        return self._claims.get(name)

    def part(self, name: str) -> str:
        """A claim spliced into a URI: present and non-empty."""
        value = self.get(name)
        if not value:
            raise CAError(
                f"identity token claim {name!r} is empty",
                claim=name,
                issuer=self._profile.issuer_url,
            )
        return value


class _Builder:
    """Collects (OID, value) pairs and renders them as Fulcio's ``Render`` does."""

    __slots__ = ("_values",)

    def __init__(self) -> None:
        self._values: dict[ObjectIdentifier, str] = {}

    def set(self, oid: ObjectIdentifier, value: str) -> None:
        self._values[oid] = value

    def build(self, san: x509.UniformResourceIdentifier | x509.RFC822Name) -> CertificateIdentity:
        ordered = sorted(self._values.items(), key=lambda item: arc_number(item[0]) or 0)
        extensions = tuple(
            x509.UnrecognizedExtension(oid, encode_extension_value(oid, value))
            for oid, value in ordered
            if value
        )
        return CertificateIdentity(san=san, extensions=extensions)


def _github(profile: IssuerProfile, claims: _Claims) -> CertificateIdentity:
    """fulcio config.yaml ``github-workflow`` templates; SAN ``{{.url}}/{{.job_workflow_ref}}``."""
    url = profile.base_url
    build_signer = f"{url}/{claims.part('job_workflow_ref')}"
    repository = claims.part("repository")
    out = _Builder()
    out.set(OID_ISSUER, profile.issuer_url)
    out.set(OID_GITHUB_WORKFLOW_TRIGGER, claims.get("event_name"))
    out.set(OID_GITHUB_WORKFLOW_SHA, claims.get("sha"))
    out.set(OID_GITHUB_WORKFLOW_NAME, claims.get("workflow"))
    out.set(OID_GITHUB_WORKFLOW_REPOSITORY, repository)
    out.set(OID_GITHUB_WORKFLOW_REF, claims.get("ref"))
    out.set(OID_ISSUER_V2, profile.issuer_url)
    out.set(OID_BUILD_SIGNER_URI, build_signer)
    out.set(OID_BUILD_SIGNER_DIGEST, claims.get("job_workflow_sha"))
    out.set(OID_RUNNER_ENVIRONMENT, claims.get("runner_environment"))
    out.set(OID_SOURCE_REPOSITORY_URI, f"{url}/{repository}")
    out.set(OID_SOURCE_REPOSITORY_DIGEST, claims.get("sha"))
    out.set(OID_SOURCE_REPOSITORY_REF, claims.get("ref"))
    out.set(OID_SOURCE_REPOSITORY_IDENTIFIER, claims.get("repository_id"))
    out.set(OID_SOURCE_REPOSITORY_OWNER_URI, f"{url}/{claims.part('repository_owner')}")
    out.set(OID_SOURCE_REPOSITORY_OWNER_IDENTIFIER, claims.get("repository_owner_id"))
    out.set(OID_BUILD_CONFIG_URI, f"{url}/{claims.part('workflow_ref')}")
    out.set(OID_BUILD_CONFIG_DIGEST, claims.get("workflow_sha"))
    out.set(OID_BUILD_TRIGGER, claims.get("event_name"))
    out.set(
        OID_RUN_INVOCATION_URI,
        f"{url}/{repository}/actions/runs/{claims.part('run_id')}"
        f"/attempts/{claims.part('run_attempt')}",
    )
    out.set(OID_SOURCE_REPOSITORY_VISIBILITY, claims.get("repository_visibility"))
    out.set(OID_DEPLOYMENT_ENVIRONMENT, claims.get("environment", default=""))
    out.set(OID_TOKEN_SUBJECT, claims.part("sub"))
    return out.build(_uri_san(build_signer))


def _gitlab(profile: IssuerProfile, claims: _Claims, scheme: str = "https") -> CertificateIdentity:
    """fulcio config.yaml ``gitlab-pipeline`` templates; SAN ``https://{{.ci_config_ref_uri}}``
    (``scheme`` other than https only for an emulated job on a plain-http forge)."""
    url = profile.base_url
    # ci_config_ref_uri already names the host: gitlab.com/group/project//.gitlab-ci.yml@refs/…
    config = f"{scheme}://{claims.part('ci_config_ref_uri')}"
    project = claims.part("project_path")
    ref_kind = "heads" if claims.get("ref_type") == "branch" else "tags"
    out = _Builder()
    out.set(OID_ISSUER, profile.issuer_url)
    out.set(OID_ISSUER_V2, profile.issuer_url)
    out.set(OID_BUILD_SIGNER_URI, config)
    out.set(OID_BUILD_SIGNER_DIGEST, claims.get("ci_config_sha"))
    out.set(OID_RUNNER_ENVIRONMENT, claims.get("runner_environment"))
    out.set(OID_SOURCE_REPOSITORY_URI, f"{url}/{project}")
    out.set(OID_SOURCE_REPOSITORY_DIGEST, claims.get("sha"))
    out.set(OID_SOURCE_REPOSITORY_REF, f"refs/{ref_kind}/{claims.part('ref')}")
    out.set(OID_SOURCE_REPOSITORY_IDENTIFIER, claims.get("project_id"))
    out.set(OID_SOURCE_REPOSITORY_OWNER_URI, f"{url}/{claims.part('namespace_path')}")
    out.set(OID_SOURCE_REPOSITORY_OWNER_IDENTIFIER, claims.get("namespace_id"))
    out.set(OID_BUILD_CONFIG_URI, config)
    out.set(OID_BUILD_CONFIG_DIGEST, claims.get("ci_config_sha"))
    out.set(OID_BUILD_TRIGGER, claims.get("pipeline_source"))
    out.set(OID_RUN_INVOCATION_URI, f"{url}/{project}/-/jobs/{claims.part('job_id')}")
    out.set(OID_SOURCE_REPOSITORY_VISIBILITY, claims.get("project_visibility"))
    out.set(OID_DEPLOYMENT_ENVIRONMENT, claims.get("environment", default=""))
    out.set(OID_TOKEN_SUBJECT, claims.part("sub"))
    return out.build(_uri_san(config))


def _email(claims: _Claims) -> CertificateIdentity:
    """fulcio pkg/identity/email: a verified email as rfc822Name; only the issuer extensions."""
    email = claims.part("email")
    if claims.raw("email_verified") is not True:
        raise CAPermissionDenied("the identity token's email is not verified")
    if not _EMAIL.match(email) or not email.isascii():
        raise CAError(f"the identity token's email {email!r} is not a valid address")
    out = _Builder()
    issuer = claims.get("iss")
    out.set(OID_ISSUER, issuer)
    out.set(OID_ISSUER_V2, issuer)
    return out.build(x509.RFC822Name(email))


def _uri(profile: IssuerProfile, claims: _Claims) -> CertificateIdentity:
    """fulcio pkg/identity/uri: ``sub`` as a URI SAN, in the configured subject domain."""
    subject = claims.part("sub")
    if _EMAIL.match(subject):
        raise CAError("a uri issuer's subject must be a URI, not an email address")
    parts, domain = urlsplit(subject), urlsplit(profile.base_url)
    if (parts.scheme, parts.hostname) != (domain.scheme, domain.hostname):
        raise CAPermissionDenied(
            f"subject {subject!r} is outside the issuer's subject domain {profile.base_url!r}"
        )
    out = _Builder()
    out.set(OID_ISSUER, profile.issuer_url)
    out.set(OID_ISSUER_V2, profile.issuer_url)
    return out.build(_uri_san(subject))


def _uri_san(value: str) -> x509.UniformResourceIdentifier:
    if not _IA5_URI.match(value):
        raise CAError(f"cannot certify {value!r}: a URI SAN must be printable ASCII")
    return x509.UniformResourceIdentifier(value)


def _require_http_url(value: str, what: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError(f"{what} {value!r} is not an http(s) URL")
