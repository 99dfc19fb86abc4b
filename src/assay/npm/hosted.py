"""Git host URLs as npm's hosted-git-info reads and rewrites them (GitHub, GitLab, Bitbucket).

npm normalizes ``repository.url``, git dependency specs, ``bugs`` and ``homepage`` through
hosted-git-info (hosted-git-info@9 ``lib/from-url.js``, ``lib/hosts.js``) while it prepares the
manifest it publishes. This is the subset of it that package.json files meet in practice: the
three big hosts, the shortcut forms (``owner/repo``, ``github:owner/repo``), ``https``,
``git+https``, ``git``, ``ssh``/``git+ssh`` URLs and scp-style ``git@host:owner/repo.git``.
Other hosts (gist, sourcehut) and anything unparseable give ``None``, so npm's callers leave
the value as it was; that is what npm does for every host it does not know.

It is also home of the one repository normaliser (:func:`normalise_repository`): the https URL
a ``repository`` value names, which the registry's provenance check, audit policies, the
verifier and the web pages all compare or link by.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote, unquote, urlsplit

__all__ = ["HostedGit", "from_url", "normalise_repository", "repository_field", "repository_key"]


@dataclass(frozen=True, slots=True)
class _Host:
    name: str
    domain: str
    protocols: tuple[str, ...]
    treepath: str


_HOSTS: Final = {
    "github": _Host(
        "github", "github.com", ("git", "http", "git+ssh", "git+https", "ssh", "https"), "tree"
    ),
    "bitbucket": _Host(
        "bitbucket", "bitbucket.org", ("git+ssh", "git+https", "ssh", "https"), "src"
    ),
    "gitlab": _Host("gitlab", "gitlab.com", ("git+ssh", "git+https", "ssh", "https"), "tree"),
}
_BY_DOMAIN: Final = {host.domain: host for host in _HOSTS.values()}
# from-url.js protocols: which representation each scheme defaults to, and which keep auth.
_REPRESENTATION: Final = {"git+ssh": "sshurl", "ssh": "sshurl", "git+https": "https"}
_AUTH_SCHEMES: Final = {"git+https", "git", "http", "https", "git+http"}
_KNOWN_SCHEMES: Final = {"git+ssh", "ssh", "git+https", "git", "http", "https", "git+http"} | {
    f"{name}" for name in _HOSTS
}


def _is_github_shorthand(arg: str) -> bool:
    """from-url.js ``isGitHubShorthand``: ``owner/repo[#committish]``."""
    hash_at = arg.find("#")
    slash = arg.find("/")
    second_slash = arg.find("/", slash + 1)
    colon = arg.find(":")
    space = re.search(r"\s", arg)
    at = arg.find("@")

    def only_after_hash(index: int) -> bool:
        return index == -1 or (hash_at > -1 and index > hash_at)

    space_ok = space is None or (hash_at > -1 and space.start() > hash_at)
    ends_ok = arg[hash_at - 1] != "/" if hash_at > -1 else not arg.endswith("/")
    return (
        space_ok
        and slash > 0
        and ends_ok
        and not arg.startswith(".")
        and only_after_hash(at)
        and only_after_hash(colon)
        and only_after_hash(second_slash)
    )


def _correct_protocol(arg: str) -> str:
    """parse-url.js ``correctProtocol``."""
    colon = arg.find(":")
    scheme = arg[:colon]
    if colon > -1 and scheme in _KNOWN_SCHEMES:
        return arg if arg[colon : colon + 3] == "://" else f"{scheme}://{arg[colon + 1 :]}"
    if arg[colon : colon + 3] == "://":
        return arg
    at = arg.find("@")
    if at > -1:
        return f"git+ssh://{arg}" if at > colon else arg
    return f"{arg[: colon + 1]}//{arg[colon + 1 :]}"


def _correct_url(url: str) -> str:
    """parse-url.js ``correctUrl``: scp-style ``user@host:path`` becomes a URL."""
    hash_at = url.find("#")
    before = url if hash_at == -1 else url[:hash_at]
    at = before.rfind("@")
    colon = before.rfind(":")
    if colon > at:
        url = url[:colon] + "/" + url[colon + 1 :]
        before = url if hash_at == -1 else url[:hash_at]
    if before.rfind(":") == -1 and "//" not in url:
        url = f"git+ssh://{url}"
    return url


@dataclass(frozen=True, slots=True)
class HostedGit:
    """One repository on a known host, with the representation its URL was written in."""

    host: str
    user: str
    project: str
    committish: str = ""
    auth: str = ""
    default: str = "sshurl"

    @property
    def _domain(self) -> str:
        return _HOSTS[self.host].domain

    def _hash(self) -> str:
        return f"#{self.committish}" if self.committish else ""

    def https(self) -> str:
        auth = f"{self.auth}@" if self.auth else ""
        return f"git+https://{auth}{self._domain}/{self.user}/{self.project}.git{self._hash()}"

    def sshurl(self) -> str:
        return f"git+ssh://git@{self._domain}/{self.user}/{self.project}.git{self._hash()}"

    def git(self) -> str:
        auth = f"{self.auth}@" if self.auth else ""
        return f"git://{auth}{self._domain}/{self.user}/{self.project}.git{self._hash()}"

    def shortcut(self) -> str:
        return f"{self.host}:{self.user}/{self.project}{self._hash()}"

    def bugs(self) -> str:
        return f"https://{self._domain}/{self.user}/{self.project}/issues"

    def browse(self) -> str:
        """hosted-git-info ``browse()`` without a committish: the repository's web page."""
        return f"https://{self._domain}/{self.user}/{self.project}"

    def docs(self) -> str:
        tree = ""
        if self.committish:
            tree = f"/{_HOSTS[self.host].treepath}/{quote(self.committish, safe='')}"
        return f"https://{self._domain}/{self.user}/{self.project}{tree}#readme"

    def __str__(self) -> str:
        """hosted-git-info ``toString``: the default representation, else ``sshurl``."""
        method = {"https": self.https, "sshurl": self.sshurl, "shortcut": self.shortcut}.get(
            self.default
        )
        if method is None and self.default == "git" and self.host == "github":
            method = self.git
        return (method or self.sshurl)()


def from_url(url: object) -> HostedGit | None:
    """hosted-git-info ``fromUrl`` for the hosts above, or ``None``."""
    if not isinstance(url, str) or not url:
        return None
    corrected = f"github:{url}" if _is_github_shorthand(url) else url
    scheme_name, colon, rest = corrected.partition(":")
    try:
        if colon and scheme_name in _HOSTS:
            return _shortcut(_HOSTS[scheme_name], rest)
        parsed = _parse(_correct_protocol(corrected)) or _parse(
            _correct_url(_correct_protocol(corrected))
        )
        if parsed is None:
            return None
        scheme, netloc_user, hostname, path, fragment = parsed
        domain = hostname.removeprefix("www.")
        known = _BY_DOMAIN.get(domain)
        if known is None or scheme not in known.protocols:
            return None
        segments = _extract(known, path, fragment)
        if segments is None:
            return None
        user, project, committish = segments
        auth = netloc_user if scheme in _AUTH_SCHEMES else ""
        return HostedGit(
            known.name,
            unquote(user, errors="strict"),
            unquote(project, errors="strict"),
            unquote(committish, errors="strict"),
            auth,
            _REPRESENTATION.get(scheme, scheme),
        )
    except UnicodeDecodeError:
        return None


def _shortcut(host: _Host, rest: str) -> HostedGit | None:
    """``github:owner/repo#ref``: any auth before an ``@`` is dropped (from-url.js)."""
    pathname, _, fragment = rest.partition("#")
    pathname = pathname.removeprefix("//").lstrip("/")
    if "@" in pathname:
        pathname = pathname.split("@", 1)[1]
    user, _, project = pathname.rpartition("/")
    project = unquote(project, errors="strict").removesuffix(".git")
    user = unquote(user, errors="strict")
    if not user or not project:
        return None
    return HostedGit(host.name, user, project, unquote(fragment, errors="strict"), "", "shortcut")


def _parse(url: str) -> tuple[str, str, str, str, str] | None:
    try:
        parts = urlsplit(url)
        hostname = parts.hostname or ""
    except ValueError:
        return None
    if not parts.scheme or not re.fullmatch(r"[a-zA-Z][a-zA-Z0-9+.-]*", parts.scheme):
        return None
    userinfo = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else ""
    return parts.scheme.lower(), userinfo, hostname, parts.path, parts.fragment


def _extract(host: _Host, path: str, fragment: str) -> tuple[str, str, str] | None:
    """hosts.js ``extract`` for each host."""
    if host.name == "github":
        parts = path.split("/")[1:5]
        parts += [""] * (4 - len(parts))
        user, project, kind, committish = parts
        if kind and kind != "tree":
            return None
        if not kind:
            committish = fragment
        project = project.removesuffix(".git")
        return (user, project, committish) if user and project else None
    if host.name == "bitbucket":
        parts = path.split("/")[1:4]
        parts += [""] * (3 - len(parts))
        user, project, aux = parts
        if aux == "get":
            return None
        project = project.removesuffix(".git")
        return (user, project, fragment) if user and project else None
    # gitlab: subgroups allowed, the last segment is the project.
    rest = path[1:]
    if "/-/" in rest or "/archive.tar.gz" in rest:
        return None
    user, _, project = rest.rpartition("/")
    project = project.removesuffix(".git")
    return (user, project, fragment) if user and project else None


# `scheme:` with no `//` (javascript:, mailto:), as opposed to `host:port/…`.
_OPAQUE_SCHEME = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*:(?!\d)")


def repository_field(value: object) -> str | None:
    """The URL text of package.json ``repository``: a string, or an object's ``url``
    (normalize-package-data); stripped, None when absent or blank."""
    if isinstance(value, Mapping):
        value = value.get("url")
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()


def normalise_repository(value: str) -> str:
    """The https URL a repository value names: ``git+https://github.com/o/r.git``,
    ``git@github.com:o/r.git``, ``github:o/r``, ``o/r``, ``github.com/o/r/`` →
    ``https://github.com/o/r``.

    GitHub, GitLab and Bitbucket forms go through hosted-git-info (:func:`from_url`), so every
    form npm accepts for them — shorthands, scp-style, ``git+ssh``, a ``#committish`` — names the
    same page. Other hosts get the textual rule: no ``git+``, ``git://`` and ``http://`` become
    ``https://``, a missing scheme is ``https://`` (a ``javascript:``-like one is kept, so it
    never turns into a link), no trailing ``/`` or ``.git``. Case is kept;
    callers that compare lower-case both sides (GitHub and GitLab paths are case-insensitive).
    """
    text = value.strip()
    hosted = from_url(text)
    if hosted is not None:
        return hosted.browse()
    text = text.removeprefix("git+")
    for scheme in ("git://", "http://"):
        if text.startswith(scheme):
            text = "https://" + text[len(scheme) :]
    if "://" not in text and not _OPAQUE_SCHEME.match(text):
        text = "https://" + text
    return text.rstrip("/").removesuffix(".git")


def repository_key(value: str) -> str:
    """What two repository values are compared by: :func:`normalise_repository`, lower-cased,
    because GitHub and GitLab ignore case in repository paths (npm compares them so too)."""
    return normalise_repository(value).lower()
