"""View models of the web pages, built from what the registry and the log already serve.

Pure functions of their inputs — a packument (the registry's full document), search results,
an attestations response read by :mod:`assay.web.provenance_view`, log entries and
checkpoints — so every page's content is testable without HTTP. web/app.py fetches the inputs
and renders these with the templates.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from assay.errors import AssayError, VerificationError
from assay.npm.hosted import normalise_repository, repository_field
from assay.registry.source_check import SourceCheckResult, SourceStatus
from assay.storage.tlog_store import StoredCheckpoint, StoredEntry
from assay.transparency.checkpoint import Checkpoint, parse_signed_note
from assay.verify.facts import VerifiedFacts
from assay.web import markdown
from assay.web.provenance_view import (
    AttestationsView,
    ClaimsCheck,
    FactsView,
    InclusionView,
    Link,
    claims_check,
    inclusion_view,
    utc,
    web_url,
)


class PageNotFound(AssayError):
    """The page names something that does not exist (HTTP 404)."""


def parse_time(value: object) -> datetime | None:
    """npm's ISO 8601 timestamps (``2024-01-02T03:04:05.678Z``)."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


# --- package lists: home and search ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PackageSummary:
    name: str
    version: str
    description: str
    date: datetime | None
    publisher: str
    keywords: tuple[str, ...]


def summaries(search_result: Mapping[str, Any]) -> list[PackageSummary]:
    """The packages of a ``/-/v1/search`` response, in its order."""
    found: list[PackageSummary] = []
    objects = search_result.get("objects")
    for item in objects if isinstance(objects, list) else []:
        package = item.get("package") if isinstance(item, Mapping) else None
        if not isinstance(package, Mapping) or not isinstance(package.get("name"), str):
            continue
        publisher = package.get("publisher")
        keywords = package.get("keywords")
        found.append(
            PackageSummary(
                name=package["name"],
                version=_text(package.get("version")),
                description=_text(package.get("description")),
                date=parse_time(package.get("date")),
                publisher=_text(publisher.get("username"))
                if isinstance(publisher, Mapping)
                else "",
                keywords=tuple(k for k in keywords if isinstance(k, str))
                if isinstance(keywords, list)
                else (),
            )
        )
    return found


def recently_published(packages: Sequence[PackageSummary], limit: int) -> list[PackageSummary]:
    """The ``limit`` packages whose shown version was published last, newest first."""
    oldest = datetime.min.replace(tzinfo=UTC)
    return sorted(packages, key=lambda p: (p.date or oldest, p.name), reverse=True)[:limit]


@dataclass(frozen=True, slots=True)
class HomePage:
    recent: tuple[PackageSummary, ...]


@dataclass(frozen=True, slots=True)
class SearchPage:
    query: str
    results: tuple[PackageSummary, ...]
    total: int
    offset: int
    size: int

    @property
    def next_offset(self) -> int | None:
        after = self.offset + len(self.results)
        return after if after < self.total and self.results else None

    @property
    def previous_offset(self) -> int | None:
        return max(0, self.offset - self.size) if self.offset > 0 else None


def search_page(query: str, result: Mapping[str, Any], offset: int, size: int) -> SearchPage:
    total = result.get("total")
    return SearchPage(
        query=query,
        results=tuple(summaries(result)),
        total=total if isinstance(total, int) else 0,
        offset=offset,
        size=size,
    )


# --- the package page -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VersionRow:
    version: str
    published: datetime | None
    tags: tuple[str, ...]
    provenance: bool
    downgrade: bool
    """No provenance, though a version published before it had some."""
    deprecated: str | None


@dataclass(frozen=True, slots=True)
class SourceCheckView:
    """The result of the publish-time check that the source commit exists (issue 10 §4)."""

    result: SourceCheckResult

    @property
    def status(self) -> str:
        return self.result.status.value

    @property
    def ok(self) -> bool:
        return self.result.status is SourceStatus.EXISTS

    @property
    def text(self) -> str:
        commit = self.result.commit[:12]
        return {
            SourceStatus.EXISTS: f"commit {commit} found in {self.result.repository}",
            SourceStatus.MISSING: f"commit {commit} NOT found in {self.result.repository}",
            SourceStatus.UNREACHABLE: f"{self.result.repository} could not be reached",
        }[self.result.status]

    @property
    def checked_at(self) -> datetime:
        return self.result.checked_at


@dataclass(frozen=True, slots=True)
class ProvenancePanel:
    """The provenance of the shown version, or why there is none."""

    present: bool
    """The registry advertises a provenance attestation for the version."""
    downgrade: bool
    attestations: AttestationsView | None
    verified_by_registry: bool
    """The registry verified the provenance before it accepted the version (every provenance
    this registry stores passed :mod:`assay.verify` at publish)."""
    facts: FactsView | None = None
    """What the panel states: the verified facts of the signing certificate (None: no
    provenance, or a bundle whose certificate could not be read)."""
    source_check: SourceCheckView | None = None


@dataclass(frozen=True, slots=True)
class ProvenancePage:
    """The provenance detail page: the facts, then the builder's claims, labelled."""

    name: str
    version: str
    attestations: AttestationsView | None
    verified_by_registry: bool
    facts: FactsView | None
    claims: ClaimsCheck | None
    """The statement compared with the facts (None without both)."""
    source_check: SourceCheckView | None
    attestations_url: str


def provenance_page(
    name: str,
    version: str,
    attestations: AttestationsView | None,
    facts: VerifiedFacts | None,
    *,
    attestations_url: str,
    source_check: SourceCheckResult | None = None,
) -> ProvenancePage:
    provenance = attestations.provenance if attestations is not None else None
    return ProvenancePage(
        name=name,
        version=version,
        attestations=attestations,
        verified_by_registry=provenance is not None,
        facts=FactsView(facts) if facts is not None else None,
        claims=claims_check(provenance.statement, facts)
        if provenance is not None and facts is not None
        else None,
        source_check=SourceCheckView(source_check) if source_check is not None else None,
        attestations_url=attestations_url,
    )


@dataclass(frozen=True, slots=True)
class PublisherView:
    """A trusted publisher as the package page shows it: where the CI job must run, never a
    token or anything secret (docs/trusted-publishing.md)."""

    provider: str
    """GitHub Actions, GitLab CI/CD, CircleCI."""
    source: str
    """The repository, project (with its server if self-managed) or CircleCI VCS origin."""
    file: str
    environment: str
    permissions: str
    pending: bool


_PROVIDER_LABELS = {"github": "GitHub Actions", "gitlab": "GitLab CI/CD", "circleci": "CircleCI"}
_PERMISSION_LABELS = {"createPackage": "publish", "createStagedPackage": "stage publish"}


def publisher_view(provider: str, claims: Mapping[str, Any], permissions: Sequence[str],
                   *, pending: bool) -> PublisherView:  # fmt: skip
    """What the page says of a stored publisher (registry/trust_settings.py's claims)."""
    file = ""
    source = ""
    if provider == "github":
        source = _text(claims.get("repository"))
        ref = claims.get("workflow_ref")
        file = _text(ref.get("file")) if isinstance(ref, Mapping) else ""
        reusable = _text(claims.get("job_workflow_ref"))
        if reusable:
            file += f" (reusable: {reusable})"
    elif provider == "gitlab":
        server = _text(claims.get("issuer"))
        project = _text(claims.get("project_path"))
        source = f"{server.split('://', 1)[-1]}/{project}" if server else project
        ref = claims.get("ci_config_ref_uri")
        file = _text(ref.get("file")) if isinstance(ref, Mapping) else ""
    elif provider == "circleci":
        source = _text(claims.get("oidc.circleci.com/vcs-origin"))
    return PublisherView(
        provider=_PROVIDER_LABELS.get(provider, provider),
        source=source,
        file=file,
        environment=_text(claims.get("environment")),
        permissions=", ".join(_PERMISSION_LABELS.get(p, p) for p in permissions),
        pending=pending,
    )


@dataclass(frozen=True, slots=True)
class PolicyView:
    """The package's publish rules (registry/package_policy.py)."""

    require_trusted_publishing: bool = False
    require_provenance: bool = False
    allow_provenance_downgrade: bool = False


@dataclass(frozen=True, slots=True)
class PackagePage:
    name: str
    version: str
    latest: str | None
    description: str
    readme_html: str
    readme_of_latest: bool
    """The README shown is the latest version's (npm stores one README per package)."""
    versions: tuple[VersionRow, ...]
    dist_tags: tuple[tuple[str, str], ...]
    maintainers: tuple[str, ...]
    publisher: str
    published: datetime | None
    license: str
    homepage: Link | None
    repository: Link | None
    keywords: tuple[str, ...]
    deprecated: str | None
    install_command: str
    registry: str
    """Where to install from (``--registry`` or ``registry=`` in .npmrc), with a final slash."""
    provenance: ProvenancePanel
    publishers: tuple[PublisherView, ...] = ()
    policy: PolicyView = PolicyView()
    trusted_publish: TrustedPublishView | None = None
    """How this version was published by trusted publishing (None: with a user's token)."""

    @property
    def is_latest(self) -> bool:
        return self.version == self.latest


@dataclass(frozen=True, slots=True)
class TrustedPublishView:
    """The OIDC identity a version's trusted publish was verified against at the exchange."""

    provider: str
    repository: str
    workflow: str
    ref: str
    run: str
    emulated: bool


_PROVIDERS = {"github": "GitHub Actions", "gitlab": "GitLab CI/CD", "circleci": "CircleCI"}


def trusted_publish_view(identity: Mapping[str, Any]) -> TrustedPublishView:
    provider = _text(identity.get("provider"))
    return TrustedPublishView(
        provider=_PROVIDERS.get(provider, provider),
        repository=_text(identity.get("repository")),
        workflow=_text(identity.get("workflow")),
        ref=_text(identity.get("ref")),
        run=_text(identity.get("run")),
        emulated=identity.get("emulated") is True,
    )


def has_provenance(manifest: Mapping[str, Any]) -> bool:
    """``dist.attestations.provenance`` is present (npm's marker of a version with provenance)."""
    dist = manifest.get("dist")
    attestations = dist.get("attestations") if isinstance(dist, Mapping) else None
    return isinstance(attestations, Mapping) and isinstance(attestations.get("provenance"), Mapping)


def version_rows(packument: Mapping[str, Any]) -> list[VersionRow]:
    """Every live version, newest first by publish time, with provenance and downgrade marks."""
    versions = packument.get("versions")
    versions = versions if isinstance(versions, Mapping) else {}
    times = packument.get("time")
    times = times if isinstance(times, Mapping) else {}
    tags: dict[str, list[str]] = {}
    dist_tags = packument.get("dist-tags")
    for tag, version in (dist_tags if isinstance(dist_tags, Mapping) else {}).items():
        tags.setdefault(str(version), []).append(str(tag))
    # Publish order decides a downgrade: a version without provenance after one with it.
    order = list(versions)  # the packument lists versions in version order
    position = {version: index for index, version in enumerate(order)}
    oldest = datetime.min.replace(tzinfo=UTC)
    chronological = sorted(order, key=lambda v: (parse_time(times.get(v)) or oldest, position[v]))
    rows: list[VersionRow] = []
    seen_provenance = False
    for version in chronological:
        manifest = versions[version] if isinstance(versions[version], Mapping) else {}
        provenance = has_provenance(manifest)
        deprecated = manifest.get("deprecated")
        rows.append(
            VersionRow(
                version=version,
                published=parse_time(times.get(version)),
                tags=tuple(sorted(tags.get(version, []), key=lambda t: (t != "latest", t))),
                provenance=provenance,
                downgrade=seen_provenance and not provenance,
                deprecated=deprecated if isinstance(deprecated, str) else None,
            )
        )
        seen_provenance = seen_provenance or provenance
    rows.reverse()
    return rows


def _repository(manifest: Mapping[str, Any]) -> Link | None:
    text = repository_field(manifest.get("repository"))
    if text is None:
        return None
    link = web_url(normalise_repository(text))
    return Link(link.split("://", 1)[1] if link else text, link)


def _license(manifest: Mapping[str, Any]) -> str:
    value = manifest.get("license")
    if isinstance(value, Mapping):
        value = value.get("type")
    return value if isinstance(value, str) else ""


def resolve_version(packument: Mapping[str, Any], spec: str | None) -> str:
    """The version a page shows for ``spec``: a version, a dist-tag (as npm resolves it), or
    None for ``latest`` (the last listed version when there is no such tag)."""
    versions = packument.get("versions")
    versions = versions if isinstance(versions, Mapping) else {}
    dist_tags = packument.get("dist-tags")
    dist_tags = dist_tags if isinstance(dist_tags, Mapping) else {}
    version: object = spec
    if spec is None:
        version = dist_tags.get("latest")
        if version not in versions:
            version = list(versions)[-1] if versions else None
    elif spec not in versions and spec in dist_tags:
        version = dist_tags[spec]
    if not isinstance(version, str) or version not in versions:
        name = _text(packument.get("name"))
        raise PageNotFound(f"{name} has no version {spec}", name=name, version=spec)
    return version


def package_page(
    packument: Mapping[str, Any],
    version: str | None,
    attestations: AttestationsView | None,
    *,
    registry: str,
    facts: VerifiedFacts | None = None,
    source_check: SourceCheckResult | None = None,
    publishers: Sequence[PublisherView] = (),
    policy: PolicyView | None = None,
    trusted_publish: TrustedPublishView | None = None,
) -> PackagePage:
    """The page of ``version`` (default: the ``latest`` tag) of the package.

    ``publishers`` and ``policy``: its trusted publishers and publish rules, as stored.

    ``attestations``: the shown version's attestations response, read (None when the registry
    has none for it). ``registry``: this registry's origin, for the install command.
    ``facts``: the version's verified facts (web/app.py ``version_origin``), the only source of
    what the provenance panel states. ``source_check``: the publish-time source check, if any.
    """
    name = _text(packument.get("name"))
    versions = packument.get("versions")
    versions = versions if isinstance(versions, Mapping) else {}
    dist_tags = packument.get("dist-tags")
    dist_tags = dist_tags if isinstance(dist_tags, Mapping) else {}
    latest = dist_tags.get("latest")
    latest = latest if isinstance(latest, str) and latest in versions else None
    version = resolve_version(packument, version)
    manifest = versions[version] if isinstance(versions[version], Mapping) else {}
    rows = version_rows(packument)
    row = next(r for r in rows if r.version == version)
    maintainers = packument.get("maintainers")
    npm_user = manifest.get("_npmUser")
    keywords = manifest.get("keywords")
    spec = name if version == latest else f"{name}@{version}"
    present = row.provenance or (attestations is not None and attestations.provenance is not None)
    readme = packument.get("readme")
    return PackagePage(
        name=name,
        version=version,
        latest=latest,
        description=_text(manifest.get("description")) or _text(packument.get("description")),
        readme_html=markdown.render(readme) if isinstance(readme, str) else "",
        readme_of_latest=version != latest,
        versions=tuple(rows),
        dist_tags=tuple((str(t), str(v)) for t, v in dist_tags.items()),
        maintainers=tuple(
            str(m["name"])
            for m in (maintainers if isinstance(maintainers, list) else [])
            if isinstance(m, Mapping) and isinstance(m.get("name"), str)
        ),
        publisher=_text(npm_user.get("name")) if isinstance(npm_user, Mapping) else "",
        published=row.published,
        license=_license(manifest),
        homepage=Link(h, h) if (h := web_url(manifest.get("homepage"))) else None,
        repository=_repository(manifest),
        keywords=tuple(k for k in keywords if isinstance(k, str))
        if isinstance(keywords, list)
        else (),
        deprecated=row.deprecated,
        install_command=f"npm install {spec}",
        registry=f"{registry.rstrip('/')}/",
        provenance=ProvenancePanel(
            present=present,
            downgrade=row.downgrade and not present,
            attestations=attestations,
            verified_by_registry=attestations is not None and attestations.provenance is not None,
            facts=FactsView(facts) if facts is not None else None,
            source_check=SourceCheckView(source_check) if source_check is not None else None,
        ),
        publishers=tuple(publishers),
        policy=policy or PolicyView(),
        trusted_publish=trusted_publish,
    )


# --- the transparency log -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CheckpointView:
    origin: str
    size: int
    root_hash: str
    note: str
    signers: tuple[str, ...]
    created: datetime | None


def checkpoint_view(stored: StoredCheckpoint) -> CheckpointView:
    try:
        parsed, signatures = parse_signed_note(stored.note)
        origin, signers = parsed.origin, tuple(s.name for s in signatures)
    except AssayError:
        origin, signers = "", ()
    return CheckpointView(
        origin=origin,
        size=stored.tree_size,
        root_hash=stored.root_hash.hex(),
        note=stored.note,
        signers=signers,
        created=utc(stored.created_at),
    )


@dataclass(frozen=True, slots=True)
class EntryRow:
    log_index: int
    uuid: str
    kind: str
    api_version: str
    integrated_time: datetime | None


def entry_row(stored: StoredEntry) -> EntryRow:
    return EntryRow(
        log_index=stored.log_index,
        uuid=stored.uuid,
        kind=stored.kind,
        api_version=stored.api_version,
        integrated_time=utc(stored.integrated_time),
    )


@dataclass(frozen=True, slots=True)
class LogPage:
    checkpoint: CheckpointView
    recent: tuple[EntryRow, ...]


def log_page(checkpoint: StoredCheckpoint, recent: Sequence[StoredEntry]) -> LogPage:
    rows = sorted((entry_row(e) for e in recent), key=lambda r: r.log_index, reverse=True)
    return LogPage(checkpoint_view(checkpoint), tuple(rows))


@dataclass(frozen=True, slots=True)
class LogEntryPage:
    entry: EntryRow
    entry_id: str
    body_json: str
    signed_entry_timestamp: str
    inclusion: InclusionView
    checkpoint: CheckpointView | None


def _pretty_body(body: bytes) -> str:
    try:
        return json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    except (ValueError, RecursionError):
        return body.decode("utf-8", errors="replace")


def log_entry_page(stored: StoredEntry, rendered: Mapping[str, Any], entry_id: str) -> LogEntryPage:
    """An entry and its inclusion proof against the newest checkpoint.

    ``rendered`` is the log's Rekor LogEntry object for it (LogService.entry): the proof in it
    is checked here against the root hash it names, and that root against the checkpoint.
    """
    proof = rendered.get("verification", {}).get("inclusionProof", {})
    try:
        root = bytes.fromhex(str(proof.get("rootHash", "")))
        hashes = [bytes.fromhex(str(h)) for h in proof.get("hashes", [])]
        tree_size = int(proof.get("treeSize", 0))
    except (TypeError, ValueError) as exc:
        raise VerificationError(f"the log's inclusion proof is malformed: {exc}") from exc
    note = proof.get("checkpoint")
    inclusion = inclusion_view(
        stored.body,
        log_index=stored.log_index,
        tree_size=tree_size,
        root_hash=root,
        hashes=hashes,
        checkpoint=note if isinstance(note, str) and note else None,
    )
    checkpoint = None
    if isinstance(note, str) and note:
        try:
            parsed, signatures = parse_signed_note(note)
        except AssayError:
            parsed, signatures = None, []
        if isinstance(parsed, Checkpoint):
            checkpoint = CheckpointView(
                origin=parsed.origin,
                size=parsed.size,
                root_hash=parsed.root_hash.hex(),
                note=note,
                signers=tuple(s.name for s in signatures),
                created=None,
            )
            if (parsed.size, parsed.root_hash) != (tree_size, root):
                inclusion = replace(
                    inclusion,
                    valid=False,
                    detail="the proof's tree size or root hash differs from the checkpoint",
                )
    return LogEntryPage(
        entry=entry_row(stored),
        entry_id=entry_id,
        body_json=_pretty_body(stored.body),
        signed_entry_timestamp=base64.b64encode(stored.signed_entry_timestamp).decode("ascii"),
        inclusion=inclusion,
        checkpoint=checkpoint,
    )


@dataclass(frozen=True, slots=True)
class PackageEntry:
    version: str
    what: str
    log_index: int
    integrated_time: datetime | None
    link: Link
    in_this_log: bool


@dataclass(frozen=True, slots=True)
class PackageEntriesPage:
    name: str
    entries: tuple[PackageEntry, ...]
    without: tuple[str, ...]
    """Versions with no attestation in any log."""
    page: int = 1
    """Which page of the package's versions (newest first) this is, of :attr:`pages`."""
    pages: int = 1


def package_entries_page(
    name: str,
    by_version: Sequence[tuple[str, AttestationsView | None]],
    *,
    page: int = 1,
    pages: int = 1,
) -> PackageEntriesPage:
    """The log entries of one page of a package's attestations, newest version first."""
    entries: list[PackageEntry] = []
    without: list[str] = []
    for version, view in by_version:
        found = False
        if view is not None:
            sources = (
                ("SLSA provenance", view.provenance.log_entry if view.provenance else None),
                ("publish attestation", view.publish.log_entry if view.publish else None),
            )
            for what, entry in sources:
                if entry is None:
                    continue
                found = True
                entries.append(
                    PackageEntry(
                        version=version,
                        what=what,
                        log_index=entry.log_index,
                        integrated_time=entry.integrated_time,
                        link=entry.ledger,
                        in_this_log=entry.in_this_log,
                    )
                )
        if not found:
            without.append(version)
    return PackageEntriesPage(name, tuple(entries), tuple(without), page, pages)
