"""Verified facts: what a provenance certificate proves, and a statement that must agree with it.

A SLSA statement is written by the build itself, so everything in it is a *claim*. The signing
certificate is different: the CA wrote its SAN and Sigstore extensions from the OIDC token the CI
system minted for the job (sigstore.md §1.4, Fulcio ``docs/oid-info.md``), and the verifier has
checked it chains to a trusted CA. :class:`VerifiedFacts` is built from that certificate alone —
never from the statement — and is the only thing the registry should store as "where this was
built" and show to people (issue 10).

:func:`check_statement` then compares every place a statement names the source repository,
commit, ref, workflow file or run (SLSA v1 and v0.2 as npm, GitLab and slsa-github-generator
write them, and our ``oidc-ci/v1``) with those facts, and refuses the first that disagrees.

The refusal wording follows npm's registry. npmjs.org answers a provenance publish it will not
accept with ``422 Unprocessable Entity`` and ``Error verifying sigstore provenance bundle: …``;
the reasons seen in the wild (search, October 2026) are:

* ``Failed to validate repository information: package.json: "repository.url" is "<x>",
  expected to match "<y>" from provenance`` — apache/opendal#2075, cdklabs/json2jsii#1458,
  storacha/w3cli#185;
* ``Missing SourceRepositoryRef in signing certificate`` — npm/cli#8699;
* ``Unsupported GitHub Actions runner environment: "self-hosted". Only "github-hosted" runners
  are supported when publishing with provenance.`` — worldcoin/minikit-js#350;
* ``Unsupported GitHub Actions source repository visibility: "private". Only public source
  repositories are supported when publishing with provenance.`` — fastagent-sh/fastagent#63.

npm does not publish its comparison of the statement with the certificate, so the messages here
use the same two shapes: ``Failed to validate <field> information: provenance statement:
"<where>" is "<claim>", expected to match "<fact>" from signing certificate`` and ``Missing
<Fulcio extension name> in signing certificate``. The ``Error verifying sigstore provenance
bundle:`` prefix is the registry's (``assay.registry.provenance.refuse``).

Pure: no I/O. The Sigstore OIDs are read by their dotted numbers from the verified signer's
``extensions`` mapping (:class:`~assay.provenance.fulcio.SignerIdentity`), so this module does not
depend on which module defines the OID constants.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from assay.errors import FormatError, VerificationError
from assay.npm.hosted import repository_key
from assay.provenance.fulcio import (
    OID_BUILD_CONFIG_DIGEST,
    OID_BUILD_CONFIG_URI,
    OID_BUILD_SIGNER_DIGEST,
    OID_BUILD_SIGNER_URI,
    OID_RUN_INVOCATION_URI,
    OID_RUNNER_ENVIRONMENT,
    SignerIdentity,
)
from assay.provenance.slsa import (
    GITHUB_RUNNER_BUILDER,
    GITHUB_WORKFLOW_V1,
    NPM_GITLAB_V0ALPHA1,
    SLSA_V02,
    SLSA_V1,
    split_git_uri,
)

if TYPE_CHECKING:
    from assay.provenance.statement import Statement
    from assay.verify.result import VerificationResult

__all__ = [
    "EMULATED_CI",
    "FACTS_VERSION",
    "GITHUB_ACTIONS",
    "GITHUB_ACTIONS_ISSUER",
    "GITLAB_CI",
    "GITLAB_ISSUER",
    "ProvenanceMismatch",
    "StatementCheck",
    "VerifiedFacts",
    "check_statement",
    "ci_label",
]

FACTS_VERSION: Final = 1
"""The ``v`` of :meth:`VerifiedFacts.to_json`; bump it when a field changes meaning."""

GITHUB_ACTIONS_ISSUER: Final = "https://token.actions.githubusercontent.com"
GITLAB_ISSUER: Final = "https://gitlab.com"
GITHUB_ACTIONS: Final = "GitHub Actions"
GITLAB_CI: Final = "GitLab CI/CD"
EMULATED_CI: Final = "emulated CI of this instance"

# What each comparable fact is called in Fulcio (pkg/certificate/extensions.go): npm names the
# missing extension this way ("Missing SourceRepositoryRef in signing certificate").
_FULCIO_NAMES: Final[Mapping[str, str]] = {
    "repository": "SourceRepositoryURI",
    "commit": "SourceRepositoryDigest",
    "ref": "SourceRepositoryRef",
    "workflow path": "BuildConfigURI",
    "run URI": "RunInvocationURI",
    "trigger": "BuildTrigger",
    "runner environment": "RunnerEnvironment",
}
# The facts a statement may not claim unless the certificate states them (npm refuses a
# certificate without SourceRepositoryRef). The others are absent only from certificates issued
# before Fulcio added them (early 2023); a claim about them is then left unverified, not shown.
_REQUIRED: Final = ("repository", "commit", "ref")
FIELDS: Final = tuple(_FULCIO_NAMES)
"""The compared fields, in the order :func:`check_statement` reports the first disagreement."""

_GITHUB_RUN = re.compile(r"/actions/runs/(\d+)/attempts/(\d+)$")


class ProvenanceMismatch(VerificationError):
    """A statement that claims what its signing certificate does not say (npm's 422).

    ``field`` is one of :data:`FIELDS`; ``where`` the statement path of the claim (absent when
    the certificate lacks the fact); ``claimed`` and ``fact`` the two values.
    """


def ci_label(issuer: str, instance_issuer: str | None = None) -> str:
    """The kind of CI an OIDC issuer stands for, as people should read it.

    The instance's own issuer comes first: its CI emulation mints GitHub- and GitLab-shaped
    tokens, and a version signed that way must never be called "GitHub Actions" (issue 10 §3).
    """
    issuer = issuer.rstrip("/")
    if instance_issuer is not None and issuer == instance_issuer.rstrip("/"):
        return EMULATED_CI
    if issuer == GITHUB_ACTIONS_ISSUER:
        return GITHUB_ACTIONS
    if issuer == GITLAB_ISSUER:
        return GITLAB_CI
    return f"CI with OIDC issuer {issuer}"


def _split_ref(uri: str) -> tuple[str, str | None]:
    """``<location>@<ref>`` → (location, ref): split at ``@refs/`` first, as a branch or tag name
    may itself contain ``@`` (the same rule as ``assay.oidc.claims.gitlab_config_path``)."""
    before, found, after = uri.partition("@refs/")
    if found:
        return before, "refs/" + after
    tail = uri.split("://", 1)[-1]
    if "@" not in tail:
        return uri, None
    location, _, ref = uri.rpartition("@")
    return location, ref


def _without_ref(uri: str) -> str:
    return _split_ref(uri)[0]


@dataclass(frozen=True, slots=True)
class VerifiedFacts:
    """Where and how a version was built, as its verified signing certificate states it.

    Every field comes from the certificate (SAN or a Sigstore extension); ``None`` where the
    certificate does not carry it. ``ci`` is the :func:`ci_label` of ``issuer`` at the time the
    facts were taken. Build it with :meth:`from_signer` / :meth:`from_result`, store it with
    :meth:`to_json`, read it back with :meth:`from_json`.
    """

    issuer: str
    ci: str
    signer_identity: str
    source_repository_uri: str | None = None
    source_repository_digest: str | None = None
    source_repository_ref: str | None = None
    build_config_uri: str | None = None
    build_config_digest: str | None = None
    build_signer_uri: str | None = None
    build_signer_digest: str | None = None
    run_invocation_uri: str | None = None
    runner_environment: str | None = None
    build_trigger: str | None = None

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if value is not None and not isinstance(value, str):
                raise FormatError(f"verified facts: {item.name} must be a string")
        if not self.issuer or not self.ci or not self.signer_identity:
            raise FormatError("verified facts need an issuer, a CI label and a signer identity")

    # -- construction ----------------------------------------------------------------------

    @classmethod
    def from_signer(
        cls, signer: SignerIdentity, *, instance_issuer: str | None = None
    ) -> VerifiedFacts:
        """The facts of a verified certificate. Raises VerificationError without an issuer.

        Current Fulcio certificates carry ``.8``–``.22``; those issued before 2023-03 only the
        deprecated ``.1``–``.6`` (GitHub: trigger, sha, workflow name, ``owner/repo``, ref),
        which are used when the new ones are absent, as sigstore-js and our policies do. The
        legacy repository is ``owner/repo`` on the SAN's origin (the forge the CA prefixed).
        """
        san = signer.san
        issuer = signer.issuer
        if not issuer:
            raise VerificationError(
                "Missing Issuer in signing certificate", step="facts", field="issuer"
            )
        if not san:
            raise VerificationError(
                "Missing SubjectAlternativeName in signing certificate", step="facts"
            )
        return cls(
            issuer=issuer,
            ci=ci_label(issuer, instance_issuer),
            signer_identity=san,
            source_repository_uri=signer.source_repository_uri,
            source_repository_digest=signer.source_repository_digest,
            source_repository_ref=signer.source_repository_ref,
            build_config_uri=signer.extension(OID_BUILD_CONFIG_URI),
            build_config_digest=signer.extension(OID_BUILD_CONFIG_DIGEST),
            build_signer_uri=signer.extension(OID_BUILD_SIGNER_URI),
            build_signer_digest=signer.extension(OID_BUILD_SIGNER_DIGEST),
            run_invocation_uri=signer.extension(OID_RUN_INVOCATION_URI),
            runner_environment=signer.extension(OID_RUNNER_ENVIRONMENT),
            build_trigger=signer.build_trigger,
        )

    @classmethod
    def from_result(
        cls, result: VerificationResult, *, instance_issuer: str | None = None
    ) -> VerifiedFacts:
        """The facts of a verified keyless bundle (a bare-key bundle proves no build)."""
        if result.signer is None:
            raise VerificationError(
                "provenance must be signed with a certificate, not a bare key", step="facts"
            )
        return cls.from_signer(result.signer, instance_issuer=instance_issuer)

    # -- storage ---------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """A JSON object to store with the version: ``v`` plus every field (nulls included)."""
        return {"v": FACTS_VERSION, **asdict(self)}

    @classmethod
    def from_json(cls, data: object) -> VerifiedFacts:
        """Read back :meth:`to_json`; FormatError for another version or unknown fields."""
        if not isinstance(data, Mapping):
            raise FormatError("verified facts must be a JSON object")
        if data.get("v") != FACTS_VERSION:
            raise FormatError(f"verified facts version {data.get('v')!r} is not {FACTS_VERSION}")
        names = {item.name for item in fields(cls)}
        unknown = sorted(set(data) - names - {"v"})
        if unknown:
            raise FormatError(f"unknown verified facts fields: {unknown}")
        values: dict[str, Any] = {name: data.get(name) for name in names}
        return cls(**values)

    # -- readings --------------------------------------------------------------------------

    @property
    def emulated(self) -> bool:
        """Signed through this instance's own CI emulation."""
        return self.ci == EMULATED_CI

    @property
    def workflow_uri(self) -> str | None:
        """The top-level workflow/pipeline file as a URI with ``@ref``.

        The Build Config URI (``.18``); certificates older than it only have the signer
        identity (the SAN, GitHub's ``job_workflow_ref``), which is the top-level workflow
        unless a reusable workflow signed.
        """
        return self.build_config_uri or self.build_signer_uri or self.signer_identity

    @property
    def workflow_path(self) -> str | None:
        """:attr:`workflow_uri` as a path inside the source repository (``.github/…/x.yml``).

        GitHub: ``https://github.com/o/r/.github/workflows/x.yml@refs/…``; GitLab:
        ``https://gitlab.com/g/p//.gitlab-ci.yml@refs/…``. A workflow outside the source
        repository (a GitLab config from another project) keeps its whole location.
        """
        uri = self.workflow_uri
        if not uri or "://" not in uri:
            return None
        location = _without_ref(uri)
        repository = self.source_repository_uri
        if repository and _same_repository(location[: len(repository)], repository):
            rest = location[len(repository) :]
            if rest.startswith("/"):
                return rest.lstrip("/") or None
        return location

    @property
    def workflow_ref(self) -> str | None:
        """The ref after the ``@`` of :attr:`workflow_uri` (the ref the workflow ran from)."""
        return _split_ref(self.workflow_uri)[1] if self.workflow_uri else None

    @property
    def run_id_attempt(self) -> tuple[str, str] | None:
        """GitHub's run id and attempt from the Run Invocation URI (``…/runs/1/attempts/2``)."""
        match = _GITHUB_RUN.search(self.run_invocation_uri or "")
        return (match[1], match[2]) if match else None

    def fact(self, field: str) -> str | None:
        """The certificate's value for one of :data:`FIELDS`."""
        return {
            "repository": self.source_repository_uri,
            "commit": self.source_repository_digest,
            "ref": self.source_repository_ref,
            "workflow path": self.workflow_path,
            "run URI": self.run_invocation_uri,
            "trigger": self.build_trigger,
            "runner environment": self.runner_environment,
        }[field]


# --- the statement's claims ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Claim:
    field: str
    where: str
    value: str


@dataclass(frozen=True, slots=True)
class StatementCheck:
    """What :func:`check_statement` compared: fields that agreed, claims it could not verify."""

    agreed: tuple[str, ...]
    unverified: tuple[str, ...]


def _get(obj: Any, *path: str | int) -> Any:
    for key in path:
        if isinstance(key, int):
            obj = obj[key] if isinstance(obj, list) and len(obj) > key else None
        elif isinstance(obj, Mapping):
            obj = obj.get(key)
        else:
            return None
    return obj


class _Claims:
    """Collects the string claims of a predicate, each with its JSON path."""

    def __init__(self, predicate: Mapping[str, Any]) -> None:
        self.predicate = predicate
        self.items: list[_Claim] = []

    def add(self, field: str, *path: str | int, value: str | None = None) -> None:
        found = _get(self.predicate, *path) if value is None else value
        if isinstance(found, str) and found:
            where = "predicate." + ".".join(
                f"[{p}]" if isinstance(p, int) else p for p in path
            ).replace(".[", "[")
            self.items.append(_Claim(field, where, found))

    def add_git_uri(self, *path: str | int) -> None:
        """A ``git+https://host/repo@ref`` URI names a repository and maybe a ref."""
        uri = _get(self.predicate, *path)
        if not isinstance(uri, str) or not uri:
            return
        repository, ref = split_git_uri(uri)
        self.add("repository", *path, value=repository)
        if ref:
            self.add("ref", *path, value=ref)


def _claims(statement: Statement) -> list[_Claim]:
    predicate = statement.predicate or {}
    claims = _Claims(predicate)
    if statement.predicate_type == SLSA_V1:
        _v1_claims(claims)
    elif statement.predicate_type == SLSA_V02:
        _v02_claims(claims)
    else:
        raise ProvenanceMismatch(
            f"predicate type {statement.predicate_type!r} is not SLSA provenance",
            step="facts",
            field="predicate type",
        )
    return claims.items


def _v1_claims(c: _Claims) -> None:
    build = ("buildDefinition",)
    c.add_git_uri(*build, "resolvedDependencies", 0, "uri")
    c.add("commit", *build, "resolvedDependencies", 0, "digest", "gitCommit")
    c.add("commit", *build, "resolvedDependencies", 0, "digest", "sha1")
    for source in ("workflow", "source"):  # GitHub's workflow/v1; our oidc-ci/v1
        c.add("repository", *build, "externalParameters", source, "repository")
        c.add("ref", *build, "externalParameters", source, "ref")
        c.add("workflow path", *build, "externalParameters", source, "path")
    c.add("trigger", *build, "internalParameters", "github", "event_name")
    c.add("trigger", *build, "internalParameters", "ci", "event")
    c.add("run URI", "runDetails", "metadata", "invocationId")
    builder = _get(c.predicate, "runDetails", "builder", "id")
    build_type = _get(c.predicate, *build, "buildType")
    if build_type == GITHUB_WORKFLOW_V1 and isinstance(builder, str):
        runner = builder.removeprefix(GITHUB_RUNNER_BUILDER + "/")
        if runner != builder:
            c.add("runner environment", "runDetails", "builder", "id", value=runner)


def _v02_claims(c: _Claims) -> None:
    invocation = ("invocation",)
    gitlab = _get(c.predicate, "buildType") == NPM_GITLAB_V0ALPHA1
    c.add_git_uri(*invocation, "configSource", "uri")
    c.add("commit", *invocation, "configSource", "digest", "sha1")
    c.add_git_uri("materials", 0, "uri")
    c.add("commit", "materials", 0, "digest", "sha1")
    env = (*invocation, "environment")
    if gitlab:
        params = (*invocation, "parameters")
        c.add("repository", *params, "CI_PROJECT_URL")
        c.add("commit", *params, "CI_COMMIT_SHA")
        c.add("ref", *params, "CI_COMMIT_REF_NAME")  # the short name: compared as such
        c.add("workflow path", *params, "CI_CONFIG_PATH")
        c.add("workflow path", *env, "pipeline", "ref")
        c.add("run URI", *params, "CI_JOB_URL")
        c.add("run URI", "metadata", "buildInvocationId")
        c.add("trigger", *params, "CI_PIPELINE_SOURCE")
        return
    # GitHub Actions, as npm (gha@v0, @v1, /v2) and slsa-github-generator write it.
    c.add("workflow path", *invocation, "configSource", "entryPoint")
    c.add("repository", *env, "GITHUB_REPOSITORY")
    c.add("commit", *env, "GITHUB_SHA")
    c.add("ref", *env, "GITHUB_REF")
    c.add("workflow path", *env, "GITHUB_WORKFLOW_REF")
    c.add("trigger", *env, "GITHUB_EVENT_NAME")
    c.add("run URI", "metadata", "buildInvocationId")
    c.add("run URI", *env, "GITHUB_RUN_ID")


# --- comparison -----------------------------------------------------------------------------------


def _same_repository(a: str, b: str) -> bool:
    return repository_key(a) == repository_key(b)


def _repository_path(uri: str) -> str:
    """``https://github.com/o/r`` → ``o/r`` (GITHUB_REPOSITORY's form)."""
    parts = urlsplit(repository_key(uri))
    return parts.path.strip("/")


def _agrees(claim: _Claim, facts: VerifiedFacts, fact: str) -> bool:
    value = claim.value
    if claim.field == "repository":
        if "://" in value or value.startswith("git+"):
            return _same_repository(value, fact)
        return value.lower() == _repository_path(fact)  # GITHUB_REPOSITORY: owner/repo
    if claim.field == "commit":
        return value.lower() == fact.lower()
    if claim.field == "ref":
        if claim.where.endswith("CI_COMMIT_REF_NAME"):
            return fact in (f"refs/heads/{value}", f"refs/tags/{value}")
        return value == fact
    if claim.field == "workflow path":
        path, ref = _split_ref(value)
        if ref is not None and ref != facts.workflow_ref:
            return False
        repository = facts.source_repository_uri
        if repository and path.lower().startswith(_repository_path(repository) + "/"):
            path = path[len(_repository_path(repository)) + 1 :]
        return path.lstrip("/") == fact
    if claim.field == "run URI":
        return _run_agrees(claim, facts, fact)
    return value == fact


def _run_agrees(claim: _Claim, facts: VerifiedFacts, fact: str) -> bool:
    value = claim.value
    if "://" in value:
        return value.rstrip("/") == fact.rstrip("/")
    run = facts.run_id_attempt
    if run is None:
        return False
    if claim.where.endswith("GITHUB_RUN_ID"):
        return value == run[0]
    return value == f"{run[0]}-{run[1]}"  # npm's buildInvocationId: "<run id>-<attempt>"


def _display(field: str, facts: VerifiedFacts) -> str:
    if field == "run URI":
        return facts.run_invocation_uri or ""
    if field == "workflow path":
        return facts.workflow_uri or ""
    return facts.fact(field) or ""


def check_statement(statement: Statement, facts: VerifiedFacts) -> StatementCheck:
    """Refuse ``statement`` unless every claim it makes about the build matches ``facts``.

    The fields are compared in :data:`FIELDS` order and the first disagreement is raised as
    :class:`ProvenanceMismatch`, naming the field, where the statement says it and both values.
    A claim about repository, commit or ref whose fact the certificate lacks is refused too
    (npm: "Missing SourceRepositoryRef in signing certificate"); other claims the certificate
    cannot confirm (older certificates lack the run URI) are returned as ``unverified``, and
    must not be shown as facts.
    """
    claims = _claims(statement)
    agreed: list[str] = []
    unverified: list[str] = []
    for field in FIELDS:
        mine = [claim for claim in claims if claim.field == field]
        if not mine:
            continue
        fact = facts.fact(field)
        if fact is None:
            if field in _REQUIRED:
                raise ProvenanceMismatch(
                    f"Missing {_FULCIO_NAMES[field]} in signing certificate",
                    step="facts",
                    field=field,
                    claimed=mine[0].value,
                )
            unverified.append(field)
            continue
        for claim in mine:
            if not _agrees(claim, facts, fact):
                expected = _display(field, facts)
                raise ProvenanceMismatch(
                    f"Failed to validate {field} information: provenance statement: "
                    f'"{claim.where}" is "{claim.value}", expected to match "{expected}" '
                    "from signing certificate",
                    step="facts",
                    field=field,
                    where=claim.where,
                    claimed=claim.value,
                    fact=expected,
                )
        agreed.append(field)
    return StatementCheck(agreed=tuple(agreed), unverified=tuple(unverified))
