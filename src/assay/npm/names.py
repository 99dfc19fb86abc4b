"""The one package-name validator, and the request paths that carry names.

Names follow validate-npm-package-name@6 (what npm-package-arg, and so ``npm publish``, checks):

* errors (invalid even for old packages): empty, a leading ``.`` or ``_``, leading or trailing
  spaces, ``node_modules`` or ``favicon.ico``, and any character ``encodeURIComponent`` would
  escape — except the one ``/`` of ``@scope/name``, whose two parts must be URL-safe;
* warnings (old packages have them, new ones may not): a Node core module's name, more than 214
  characters, capital letters, and ``~'!()*`` in the last part.

The registry accepts *new* packages only, and is stricter in one place: neither part of a scoped
name may start with ``.`` or ``_`` either, so no name can ever read as a path segment like
``..`` (:meth:`PackageName.parse`). Purls and publishers accept anything valid for old packages.

Paths: npm asks for ``/<name>`` and ``/@scope%2fname`` (npm-package-arg ``escapedName``), and
for tarballs ``/<name>/-/<file>.tgz`` and ``/@scope/name/-/<file>.tgz``. The ASGI server decodes
``%2f`` before routing, so both scoped forms arrive as ``@scope/name``; traversal attempts such
as ``..%2f`` or ``%2e%2e`` arrive as ``..`` and fail the name rules.

Every refusal is a :class:`~assay.errors.ManifestError`; the registry answers it with a 400.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import quote

from assay.errors import ManifestError

__all__ = [
    "MAX_NAME_LENGTH",
    "NameValidity",
    "PackageName",
    "PackagePath",
    "encode_uri_component",
    "escaped_name",
    "name_problem",
    "parse_package_path",
    "validate",
]

MAX_NAME_LENGTH = 214
# The registry's stricter rule for each part of a scoped name: what a new unscoped name may be.
_PART = re.compile(r"[a-z0-9-][a-z0-9._-]*")
_SCOPED = re.compile(r"@([^/]+?)/([^/]+?)")  # validate-npm-package-name scopedPackagePattern
_SPECIAL = re.compile(r"[~'!()*]")
# `module.builtinModules` of Node 20 (validate-npm-package-name refuses them as names).
_CORE_MODULES = frozenset(
    [
        "assert",
        "async_hooks",
        "buffer",
        "child_process",
        "cluster",
        "console",
        "constants",
        "crypto",
        "dgram",
        "diagnostics_channel",
        "dns",
        "domain",
        "events",
        "fs",
        "http",
        "http2",
        "https",
        "inspector",
        "module",
        "net",
        "os",
        "path",
        "perf_hooks",
        "process",
        "punycode",
        "querystring",
        "readline",
        "repl",
        "stream",
        "string_decoder",
        "sys",
        "timers",
        "tls",
        "trace_events",
        "tty",
        "url",
        "util",
        "v8",
        "vm",
        "wasi",
        "worker_threads",
        "zlib",
    ]
)
_BLOCKED = frozenset({"node_modules", "favicon.ico"})


@dataclass(frozen=True, slots=True)
class PackageName:
    """A valid package name; :meth:`parse` is the only way to make one."""

    name: str

    @classmethod
    def parse(cls, text: str) -> PackageName:
        """A name valid for a new package, or :class:`~assay.errors.ManifestError`."""
        problem = name_problem(text)
        if problem is not None:
            raise ManifestError(f"Invalid package name {text!r}: {problem}", name=text)
        return cls(text)

    @property
    def scope(self) -> str | None:
        return self.name[1:].split("/", 1)[0] if self.name.startswith("@") else None

    @property
    def bare(self) -> str:
        """The name without its scope (``@scope/pkg`` → ``pkg``)."""
        return self.name.rsplit("/", 1)[-1]

    @property
    def escaped(self) -> str:
        """``@scope%2fpkg``, as npm puts a scoped name into a URL path."""
        return escaped_name(self.name)

    def tarball_filename(self, version: str) -> str:
        """npmjs.org's file name: ``pkg-1.0.0.tgz`` (no scope) under ``/@scope/pkg/-/``."""
        return f"{self.bare}-{version}.tgz"

    def attachment_key(self, version: str) -> str:
        """libnpmpublish's ``_attachments`` key: ``<name>-<version>.tgz`` with the scope."""
        return f"{self.name}-{version}.tgz"

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class NameValidity:
    """validate-npm-package-name's verdict: ``errors`` refuse the name outright, ``warnings``
    only for new packages."""

    errors: tuple[str, ...] = field(default=())
    warnings: tuple[str, ...] = field(default=())

    @property
    def valid_for_new_packages(self) -> bool:
        return not self.errors and not self.warnings

    @property
    def valid_for_old_packages(self) -> bool:
        return not self.errors


def validate(text: object) -> NameValidity:
    """validate-npm-package-name ``validate(name)``, its checks in its order and wording."""
    if text is None:
        return NameValidity(errors=("name cannot be null",))
    if not isinstance(text, str):
        return NameValidity(errors=("name must be a string",))
    errors: list[str] = []
    warnings: list[str] = []
    if not text:
        errors.append("name length must be greater than zero")
    if text.startswith("."):
        errors.append("name cannot start with a period")
    if text.startswith("_"):
        errors.append("name cannot start with an underscore")
    if text.strip() != text:
        errors.append("name cannot contain leading or trailing spaces")
    if text.lower() in _BLOCKED:
        errors.append(f"{text.lower()} is not a valid package name")
    if text.lower() in _CORE_MODULES:
        warnings.append(f"{text} is a core module name")
    if len(text) > MAX_NAME_LENGTH:
        warnings.append(f"name can no longer contain more than {MAX_NAME_LENGTH} characters")
    if text.lower() != text:
        warnings.append("name can no longer contain capital letters")
    if _SPECIAL.search(text.split("/")[-1]):
        warnings.append('name can no longer contain special characters ("~\'!()*")')
    if encode_uri_component(text) != text:
        scoped = _SCOPED.fullmatch(text)
        if not scoped or any(encode_uri_component(part) != part for part in scoped.groups()):
            errors.append("name can only contain URL-friendly characters")
    return NameValidity(tuple(errors), tuple(warnings))


def name_problem(text: str) -> str | None:
    """Why `text` may not name a new package on this registry, or None if it may."""
    validity = validate(text)
    problems = validity.errors + validity.warnings
    if problems:
        return problems[0]
    if text.startswith("@"):
        scope, _, rest = text[1:].partition("/")
        if not _PART.fullmatch(scope) or not _PART.fullmatch(rest):
            return "scoped name must be @scope/name, both parts url-safe"
    return None


def escaped_name(name: str) -> str:
    """npm-package-arg ``escapedName``: ``@scope/pkg`` → ``@scope%2fpkg``."""
    return name.replace("/", "%2f")


def encode_uri_component(text: str) -> str:
    """JavaScript's ``encodeURIComponent`` (leaves ``A-Za-z0-9-_.!~*'()``): the test of a
    URL-friendly name, and how tuf-js names the target files it caches."""
    return quote(text, safe="-_.!~*'()")


@dataclass(frozen=True, slots=True)
class PackagePath:
    """A request path below a package: the name and what is asked of it.

    ``kind`` is ``doc`` (``/<name>`` or ``/<name>/-rev/<rev>``), ``version`` (``/<name>/<v>``),
    ``tarball`` (``/<name>/-/<file>`` or ``/<name>/-/<file>/-rev/<rev>``).
    """

    name: PackageName
    kind: str
    rev: str | None = None
    filename: str | None = None
    version: str | None = None


def parse_package_path(path: str) -> PackagePath:
    """Split a decoded request path (without the leading ``/``) into a :class:`PackagePath`;
    :class:`~assay.errors.ManifestError` for names that break the rules, including any
    traversal attempt."""
    if "\\" in path or "\0" in path:
        raise ManifestError("Invalid package name: backslashes and NUL are not allowed")
    segments = path.split("/")
    if segments and segments[0].startswith("@"):
        if len(segments) < 2:
            raise ManifestError(f"Invalid package name {segments[0]!r}: missing the name after @")
        name_text, rest = segments[0] + "/" + segments[1], segments[2:]
    else:
        name_text, rest = segments[0], segments[1:]
    name = PackageName.parse(name_text)
    if not rest:
        return PackagePath(name, "doc")
    if len(rest) == 2 and rest[0] == "-rev" and rest[1]:
        return PackagePath(name, "doc", rev=rest[1])
    if rest[0] == "-" and len(rest) in (2, 4) and _safe_filename(rest[1]):
        if len(rest) == 2:
            return PackagePath(name, "tarball", filename=rest[1])
        if rest[2] == "-rev" and rest[3]:
            return PackagePath(name, "tarball", filename=rest[1], rev=rest[3])
    if len(rest) == 1 and rest[0] and rest[0] not in {"-", "-rev"}:
        return PackagePath(name, "version", version=rest[0])
    raise ManifestError(f"Unsupported path below {name.name}: /{'/'.join(rest)}")


def _safe_filename(text: str) -> bool:
    return (
        text.endswith(".tgz")
        and not text.startswith(".")
        and re.fullmatch(r"[A-Za-z0-9._+-]+", text) is not None
    )
