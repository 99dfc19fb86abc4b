"""Package names and the request paths that carry them.

Names follow validate-npm-package-name's rules for *new* packages (the only kind this registry
accepts): at most 214 characters, lower case, no leading ``.`` or ``_``, no spaces, only
URL-safe characters (``encodeURIComponent(name) === name``, and none of ``~'!()*``), not a Node
core module, not ``node_modules`` or ``favicon.ico``; a scoped name is ``@scope/name`` with both
parts URL-safe. We are stricter in one place: neither part of a scoped name may start with ``.``
or ``_`` either, so no name can ever read as a path segment like ``..``.

Paths: npm asks for ``/<name>`` and ``/@scope%2fname`` (npm-package-arg ``escapedName``), and
for tarballs ``/<name>/-/<file>.tgz`` and ``/@scope/name/-/<file>.tgz``. The ASGI server decodes
``%2f`` before routing, so both scoped forms arrive as ``@scope/name``; traversal attempts such
as ``..%2f`` or ``%2e%2e`` arrive as ``..`` and fail the name rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from assay.registry.errors import BadRequest

MAX_NAME_LENGTH = 214
_PART = re.compile(r"[a-z0-9-][a-z0-9._-]*")
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
        problem = name_problem(text)
        if problem is not None:
            raise BadRequest(f"Invalid package name {text!r}: {problem}", name=text)
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
        return self.name.replace("/", "%2f")

    def tarball_filename(self, version: str) -> str:
        """npmjs.org's file name: ``pkg-1.0.0.tgz`` (no scope) under ``/@scope/pkg/-/``."""
        return f"{self.bare}-{version}.tgz"

    def attachment_key(self, version: str) -> str:
        """libnpmpublish's ``_attachments`` key: ``<name>-<version>.tgz`` with the scope."""
        return f"{self.name}-{version}.tgz"

    def __str__(self) -> str:
        return self.name


def name_problem(text: str) -> str | None:
    """Why `text` is not a valid new package name, or None if it is."""
    if not text:
        return "name length must be greater than zero"
    if len(text) > MAX_NAME_LENGTH:
        return "name can no longer contain more than 214 characters"
    if text != text.strip():
        return "name cannot contain leading or trailing spaces"
    if text.startswith("."):
        return "name cannot start with a period"
    if text.startswith("_"):
        return "name cannot start with an underscore"
    if text != text.lower():
        return "name can no longer contain capital letters"
    if text.lower() in _BLOCKED:
        return f"{text} is not a valid package name"
    if text in _CORE_MODULES:
        return f"{text} is a core module name"
    if text.startswith("@"):
        scope, sep, rest = text[1:].partition("/")
        if not sep or not _PART.fullmatch(scope) or not _PART.fullmatch(rest):
            return "scoped name must be @scope/name, both parts url-safe"
        return None
    if not _PART.fullmatch(text):
        return "name can only contain URL-friendly characters"
    return None


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
    :class:`BadRequest` for names that break the rules, including any traversal attempt."""
    if "\\" in path or "\0" in path:
        raise BadRequest("Invalid package name: backslashes and NUL are not allowed")
    segments = path.split("/")
    if segments and segments[0].startswith("@"):
        if len(segments) < 2:
            raise BadRequest(f"Invalid package name {segments[0]!r}: missing the name after @")
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
    raise BadRequest(f"Unsupported path below {name.name}: /{'/'.join(rest)}")


def _safe_filename(text: str) -> bool:
    return (
        text.endswith(".tgz")
        and not text.startswith(".")
        and re.fullmatch(r"[A-Za-z0-9._+-]+", text) is not None
    )
